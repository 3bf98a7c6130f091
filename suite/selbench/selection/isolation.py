"""Run a selector in its own process with a time limit and a memory limit.

Submitted selectors are untrusted code: the selection stage never imports them in its own
process. The worker runs in a new session (so the whole process group can be killed), its
resident memory (summed over its process tree) is polled, and a hang, an out-of-memory or a
crash fails that cell with a clear message while the caller goes on.

Evaluation data and the network are kept out of the worker's reach as far as Linux allows
without root:

- the worker's environment does not name the evaluation data (``SELBENCH_EVAL_DATA`` is removed);
- it is started through :mod:`selbench.sandbox.launch`, which, before anything is imported,
  hides the evaluation data roots that exist (:func:`selbench.data_paths.evaluation_roots`:
  ``SELBENCH_EVAL_DATA``, ``<SELBENCH_DATA_DIR>/eval``, ``SELBENCH_DENY_READ``)
  with Landlock, so the kernel refuses them to the plugin and to anything it spawns, and moves
  it into a network namespace with loopback only unless the selection may use the network
  (:attr:`Limits.network`: a remote API judge in the spec, or ``--selector-network``);
- inside, a Python audit hook names the attempt, so a plugin that tries to read evaluation data
  fails its cell with "tried to read evaluation data" (see :mod:`selbench.selection.worker`);
- the worker dies with the process that started it (``PR_SET_PDEATHSIG``), so a killed driver
  leaves no selector running on; its temporary files go to a private folder removed afterwards.

Where the kernel lacks a feature (unprivileged user namespaces off, no Landlock) the worker runs
without it and ``selection.json`` records that under ``isolation``. In the container the
selection step also runs with ``--network none`` and without the evaluation data mounted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from selbench.atomic import atomic_write_bytes
from selbench.data_paths import evaluation_roots
from selbench.errors import BudgetError, SelectorError
from selbench.sandbox.policy import SandboxPolicy
from selbench.selection.registry import absolute_selector

_POLL_S = 0.2
_LOG_TAIL = 8


@dataclass(frozen=True)
class Limits:
    """What the selector worker may use: wall-clock seconds, resident bytes, the network."""

    timeout_s: float | None = None
    memory_bytes: int | None = None
    network: bool = False


def judge_is_remote(spec_json: dict[str, Any] | None) -> bool:
    """A spec whose judge is an API endpoint: its selectors need the network."""
    judge = (spec_json or {}).get("judge") or {}
    return bool(judge.get("api_base"))


def _sandboxed(policy: SandboxPolicy, module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "selbench.sandbox.launch", policy.to_json(), "-m", module, *args]


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        for p in [proc, *proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return total


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _tail(log: Path) -> str:
    if not log.is_file():
        return ""
    lines = [ln for ln in log.read_text("utf-8", errors="replace").splitlines() if ln.strip()]
    return " | ".join(lines[-_LOG_TAIL:])


_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Any:
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl  # loaded in the parent: no dlopen after fork
    except (OSError, AttributeError):  # not Linux: the time limit still applies
        return None


_PRCTL = _load_prctl() if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _deny_list(*keep: str | None) -> list[str]:
    """The evaluation roots, minus any that would hide what the worker must read (its pool cache,
    its scratch folder), e.g. when SELBENCH_EVAL_DATA is set to a folder above the cache."""
    kept = [os.path.realpath(k) for k in keep if k]
    return [r for r in evaluation_roots()
            if not any(k == r or k.startswith(r.rstrip(os.sep) + os.sep) for k in kept)]


_SECRET = re.compile(r"(API_?KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)", re.I)


def worker_env(network: bool = False) -> dict[str, str]:
    """The worker's environment: this one without the variables that name evaluation data and,
    for a worker without network, without credentials (``*_API_KEY``, ``*_TOKEN``, ...): offline
    they are of no use to it, and whatever a selector returns in ``info`` is published."""
    env = {k: v for k, v in os.environ.items() if k not in ("SELBENCH_EVAL_DATA", "SELBENCH_DENY_READ")
           and (network or not _SECRET.search(k))}
    return {**env, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}


_KEPT_LOG_BYTES = 256 * 1024


def keep_log(log: Path, keep_as: Path | None) -> Path:
    """Copy the last 256 KiB of a failed worker's log to ``keep_as`` (the scratch folder holding
    ``log`` is removed when the selection fails); return the path that exists afterwards."""
    if keep_as is None or not log.is_file():
        return log
    keep_as.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - _KEPT_LOG_BYTES))
        tail = handle.read()
    atomic_write_bytes(keep_as, tail)
    return keep_as.resolve()


def run_in_subprocess(request: dict[str, Any], workdir: Path, limits: Limits,
                      keep_log_as: Path | None = None) -> tuple[dict[str, Any], dict[str, float]]:
    """Run the worker on ``request``; return its result and what the parent measured.

    On failure the worker's log is kept at ``keep_log_as`` (when given) and the error points there."""
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    label = request["selector"]  # as the user typed it, for messages
    request = {**request, "selector": absolute_selector(request["selector"]), "result_path": str(workdir / "result.json")}
    request.setdefault("deny_read", _deny_list(request.get("pool_cache_dir"), str(workdir)))
    request_path = workdir / "request.json"
    request_path.write_text(json.dumps(request), "utf-8")
    log = workdir / "worker.log"
    policy = SandboxPolicy(deny=tuple(request["deny_read"]),
                           network=limits.network or judge_is_remote(request.get("spec")))
    # the worker's temporary files: a folder that exists before the sandbox is made (Landlock
    # makes new entries in the hidden folders' parents unreachable, /tmp among them in tests)
    private_tmp = tempfile.mkdtemp(prefix="selbench-worker-")
    env = {**worker_env(policy.network), "TMPDIR": private_tmp}
    start = time.perf_counter()
    cpu_before = _children_cpu()
    peak = 0
    try:
        with open(log, "wb") as log_handle:
            proc = subprocess.Popen(
                _sandboxed(policy, "selbench.selection.worker", str(request_path)),
                stdout=log_handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                env=env, cwd=workdir, preexec_fn=_die_with_parent if _PRCTL is not None else None,
            )
            watched = psutil.Process(proc.pid)
            while proc.poll() is None:
                peak = max(peak, _tree_rss(watched))
                elapsed = time.perf_counter() - start
                if limits.memory_bytes is not None and peak > limits.memory_bytes:
                    _kill_group(proc)
                    raise SelectorError(label, f"exceeded the memory limit of {limits.memory_bytes / 2**30:.1f} GiB "
                                               f"(killed; log: {keep_log(log, keep_log_as)})")
                if limits.timeout_s is not None and elapsed > limits.timeout_s:
                    _kill_group(proc)
                    raise SelectorError(label, f"timed out after {limits.timeout_s:g} s (killed; log: {keep_log(log, keep_log_as)})")
                time.sleep(_POLL_S)
    finally:
        shutil.rmtree(private_tmp, ignore_errors=True)
    measured = {"wall_s": time.perf_counter() - start, "cpu_s": _children_cpu() - cpu_before, "peak_rss_bytes": float(peak)}
    result_path = Path(request["result_path"])
    if not result_path.is_file():
        code = proc.returncode
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        raise SelectorError(label, f"worker {how} without a result; log: {_tail(log) or '(empty)'} "
                                   f"({keep_log(log, keep_log_as)})")
    result = json.loads(result_path.read_text("utf-8"))
    if not result.get("ok"):
        raise_failure(label, result, details=str(keep_log(log, keep_log_as)))
    return result, measured


def raise_failure(label: str, result: dict[str, Any], details: str | None = None) -> None:
    """Re-raise a worker's failure in the caller: a bad budget stays a BudgetError."""
    problem = result.get("problem", "failed")
    if result.get("error_kind") == "BudgetError":
        raise BudgetError(problem)
    raise SelectorError(label, f"{problem} (details: {details})" if details else problem)


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def describe_in_subprocess(selector: str, timeout_s: float = 120.0) -> dict[str, Any]:
    """A selector's metadata, read in a throwaway process (plugin code never runs here)."""
    try:
        deny = _deny_list()
        selector = absolute_selector(selector)
        proc = subprocess.run(
            _sandboxed(SandboxPolicy(deny=tuple(deny)), "selbench.selection.worker",
                       "--describe", selector, "--deny-read", json.dumps(deny)),
            capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL, env=worker_env(),
        )
    except subprocess.TimeoutExpired:
        raise SelectorError(selector, f"importing it took more than {timeout_s:g} s") from None
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = " | ".join(proc.stderr.strip().splitlines()[-_LOG_TAIL:])
        raise SelectorError(selector, f"could not be loaded: {tail or 'no output'}")
    result = json.loads(lines[-1])
    if not result["ok"]:
        raise SelectorError(selector, result["problem"])
    return result["metadata"]
