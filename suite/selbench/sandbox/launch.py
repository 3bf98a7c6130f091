"""Start a module inside the sandbox: ``python -m selbench.sandbox.launch POLICY_JSON -m MODULE ARGS...``.

Applies :class:`~selbench.sandbox.policy.SandboxPolicy` first, while this process still has a
single thread and has imported nothing but the standard library, then runs ``MODULE`` as
``__main__`` with ``ARGS``. What was applied (or why not) goes to the module in the
``SELBENCH_SANDBOX_REPORT`` environment variable, so the selection can record it.
"""

from __future__ import annotations

import json
import os
import runpy
import sys

from selbench.sandbox.policy import ENV_REPORT, SandboxPolicy, enabled

NOTHING_TO_HIDE = "nothing to hide (no evaluation data on this machine)"


def apply(policy: SandboxPolicy) -> dict[str, str]:
    """Confine this process as ``policy`` says; return what was applied, per boundary."""
    if not enabled():
        return {"network": "host (sandbox switched off)", "filesystem": "open (sandbox switched off)"}
    if not sys.platform.startswith("linux"):  # neither namespaces nor Landlock exist there
        return {"network": "host (not Linux)", "filesystem": "audit hook only (not Linux)"}
    if len(os.listdir("/proc/self/task")) > 1:  # every thread of the process, not only Python's
        return {"network": "host (process already had threads)", "filesystem": "open (process already had threads)"}
    report: dict[str, str] = {}
    if policy.network:
        report["network"] = "host (allowed)"
    else:
        from selbench.sandbox.netns import NetworkIsolationUnavailable, leave_network

        try:
            leave_network()
            report["network"] = "none (network namespace, loopback only)"
        except NetworkIsolationUnavailable as exc:
            report["network"] = f"host (could not isolate: {exc})"
    from selbench.sandbox.landlock import LandlockUnavailable, existing_roots, restrict

    if not existing_roots(list(policy.deny)):  # a missing folder is dropped: never deny everything
        report["filesystem"] = NOTHING_TO_HIDE
    else:

        try:
            report["filesystem"] = f"evaluation data hidden (Landlock ABI {restrict(list(policy.deny))})"
        except LandlockUnavailable as exc:
            report["filesystem"] = f"audit hook only (Landlock unavailable: {exc})"
    return report


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "-m":
        print("usage: python -m selbench.sandbox.launch POLICY_JSON -m MODULE [ARGS...]", file=sys.stderr)
        return 2
    report = apply(SandboxPolicy.from_json(argv[1]))
    os.environ[ENV_REPORT] = json.dumps(report)
    sys.argv = [argv[3], *argv[4:]]
    runpy.run_module(argv[3], run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
