"""Start a module inside the sandbox: ``python -m selbench.sandbox.launch POLICY_JSON -m MODULE ARGS...``.

Applies :class:`~selbench.sandbox.policy.SandboxPolicy` first, while this process still has a
single thread and has imported nothing but the standard library:

1. new user, network (loopback only, unless the policy allows the network), PID and mount
   namespaces (:mod:`selbench.sandbox.namespaces`); the host's pathname Unix sockets are covered
   (:mod:`selbench.sandbox.unix_sockets`);
2. a fork: the child is PID 1 of the new PID namespace, so it sees and signals no process
   outside, and when it exits the kernel kills everything it left behind (``setsid``, daemons);
   this launcher only waits for it and passes its exit status on;
3. in the child, Landlock (:mod:`selbench.sandbox.landlock`): evaluation data hidden, writes
   only where the policy says, signals and abstract sockets scoped to the sandbox;
4. what was applied is written to the policy's ``report_fd`` and that pipe is closed *before*
   the module (and with it any plugin code) runs: the driver records this report, and nothing
   the plugin does can change it. The module also gets it, informatively, in
   ``SELBENCH_SANDBOX_REPORT``.
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import sys
import tempfile

from selbench.sandbox.landlock import NOTHING_TO_HIDE
from selbench.sandbox.policy import ENV_REPORT, SandboxPolicy, enabled
_PR_SET_PDEATHSIG = 1


def _namespaces(policy: SandboxPolicy, report: dict[str, str]) -> bool:
    """Enter the namespaces; return whether a PID namespace awaits the next child."""
    from selbench.sandbox.namespaces import NamespacesUnavailable, enter_namespaces
    from selbench.sandbox.unix_sockets import cover, host_socket_paths, mask_runtime_dirs

    sockets = host_socket_paths()  # the host's view, read before leaving its network namespace
    try:
        enter_namespaces(network=policy.network, pids=True, mounts=True)
    except NamespacesUnavailable as exc:
        report["network"] = "host (allowed)" if policy.network else f"host (could not isolate: {exc})"
        report["processes"] = f"process group only (no PID namespace: {exc})"
        report["unix_sockets"] = f"host's reachable (no mount namespace: {exc})"
        return False
    report["network"] = "host (allowed)" if policy.network else "none (network namespace, loopback only)"
    report["processes"] = "own PID namespace (signals nothing outside; nothing outlives the worker)"
    blank = tempfile.NamedTemporaryFile(prefix="selbench-socket-cover-", delete=False)
    blank.close()
    covered = cover(sockets, blank.name)
    masked = [] if policy.network else mask_runtime_dirs(_needed_paths(policy, blank.name))
    report["unix_sockets"] = (f"host's pathname sockets covered ({covered} of {len(sockets)})"
                              + (f"; {', '.join(masked)} replaced by an empty tmpfs (later sockets there too)" if masked else "")
                              + "; abstract ones " + ("separate (network namespace)" if not policy.network else "scoped by Landlock"))
    return True


def _needed_paths(policy: SandboxPolicy, *extra: str) -> list[str]:
    """What the worker must still reach after runtime folders are masked: where it writes and
    what it hides (Landlock opens those by path), its interpreter, code and working folder."""
    caches = (os.environ.get(k) for k in ("SELBENCH_CACHE", "HF_HOME", "HF_HUB_CACHE", "VIRTUAL_ENV", "HOME"))
    return [*(policy.writable or ()), *policy.deny, sys.prefix, sys.base_prefix, os.getcwd(),
            *(p for p in sys.path if p), tempfile.gettempdir(), *(c for c in caches if c), *extra]


def _landlock(policy: SandboxPolicy, report: dict[str, str]) -> None:
    from selbench.sandbox.landlock import LandlockUnavailable, existing_roots, restrict

    try:
        report.update(restrict(list(policy.deny), None if policy.writable is None else list(policy.writable)))
    except LandlockUnavailable as exc:
        hidden = bool(existing_roots(list(policy.deny)))
        report["filesystem"] = f"audit hook only (Landlock unavailable: {exc})" if hidden else NOTHING_TO_HIDE
        report["writes"] = f"not confined (Landlock unavailable: {exc})"


def _die_with_parent() -> None:
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _wait_and_exit(child: int) -> None:
    """The launcher's part after the fork: wait for the sandboxed child, exit as it did."""
    _, status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)


def apply(policy: SandboxPolicy) -> dict[str, str]:
    """Confine this process (forking once, see the module doc); return what was applied. Only the
    sandboxed child returns from this function."""
    if not enabled():
        return {"network": "host (sandbox switched off)", "filesystem": "open (sandbox switched off)",
                "writes": "not confined (sandbox switched off)", "processes": "process group only (sandbox switched off)"}
    if not sys.platform.startswith("linux"):  # neither namespaces nor Landlock exist there
        return {"network": "host (not Linux)", "filesystem": "audit hook only (not Linux)",
                "writes": "not confined (not Linux)", "processes": "process group only (not Linux)"}
    if len(os.listdir("/proc/self/task")) > 1:  # every thread of the process, not only Python's
        return {"network": "host (process already had threads)", "filesystem": "open (process already had threads)",
                "writes": "not confined (process already had threads)", "processes": "process group only"}
    report: dict[str, str] = {}
    if _namespaces(policy, report):
        child = os.fork()
        if child:
            if policy.report_fd is not None:
                os.close(policy.report_fd)
            _wait_and_exit(child)
        _die_with_parent()
    _landlock(policy, report)
    return report


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "-m":
        print("usage: python -m selbench.sandbox.launch POLICY_JSON -m MODULE [ARGS...]", file=sys.stderr)
        return 2
    policy = SandboxPolicy.from_json(argv[1])
    report = apply(policy)
    if policy.report_fd is not None:  # the driver's record, closed before any plugin code runs
        with os.fdopen(policy.report_fd, "w", encoding="utf-8") as channel:
            channel.write(json.dumps(report))
    os.environ[ENV_REPORT] = json.dumps(report)
    sys.argv = [argv[3], *argv[4:]]
    runpy.run_module(argv[3], run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
