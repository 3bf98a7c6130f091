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

from selbench.data_paths import evaluation_roots, generated_evaluation_paths
from selbench.errors import BudgetError, SelectorError
from selbench.models.builder_kit import ENV_SELECTOR_BUILDS
from selbench.paths import cache_root
from selbench.sandbox.policy import SandboxPolicy
from selbench.safe_text import printable
from selbench.selection.output_tail import OutputTail
from selbench.selection.registry import absolute_selector
from selbench.selection.worker_env import worker_env

_POLL_S = 0.2


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


def _deny_list(*keep: str | None, run_dir: str | None = None) -> list[str]:
    """The evaluation roots and the evaluation files the suite wrote, minus any that would hide
    what the worker must read (its pool cache, its scratch folder), e.g. when SELBENCH_EVAL_DATA
    is set to a folder above the cache."""
    kept = [os.path.realpath(k) for k in keep if k]
    return [r for r in dict.fromkeys([*evaluation_roots(), *generated_evaluation_paths(run_dir)])
            if not any(k == r or k.startswith(r.rstrip(os.sep) + os.sep) for k in kept)]


def _keep_output(output: OutputTail, log: Path, keep_as: Path | None) -> Path:
    """Write the worker's (already bounded) output to ``log`` and, when given, to ``keep_as``,
    which outlives the failed scratch folder holding ``log``; return the path that stays."""
    output.join(timeout=1.0)
    output.write(log)
    if keep_as is None:
        return log
    keep_as.parent.mkdir(parents=True, exist_ok=True)
    output.write(keep_as)
    return keep_as.resolve()


def writable_paths(request: dict[str, Any], workdir: Path, private_tmp: str, network: bool) -> list[str]:
    """The only folders a worker may write: its scratch and work folders, its private TMPDIR, the
    per-pool score cache (selectors share it; no later stage reads it), its own model builds
    and, with the network, the hub cache (downloads). The pool cache, the shared model cache,
    ``runs/`` and every other cell stay read-only."""
    scores = Path(request.get("cache_dir") or cache_root() / "scores")
    paths = [workdir, Path(request["scratch_dir"]) if request.get("scratch_dir") else None, Path(private_tmp),
             scores, _selector_builds()]
    if network:
        paths.append(Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface"))
    out = []
    for p in paths:
        if p is None:
            continue
        p.mkdir(parents=True, exist_ok=True)
        out.append(str(p.resolve()))
    return out


def _selector_builds() -> Path:
    """Where a sandboxed selector builds the models the shared (read-only to it) cache lacks."""
    return cache_root() / "selector-models"


def _read_report(fd: int) -> dict[str, str]:
    """What the launcher applied, from its channel (closed before plugin code ran)."""
    with os.fdopen(fd, "r", encoding="utf-8") as channel:
        raw = channel.read(65536)
    try:
        report = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        report = {}
    return report if isinstance(report, dict) else {}


def run_in_subprocess(request: dict[str, Any], workdir: Path, limits: Limits,
                      keep_log_as: Path | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the worker on ``request``; return its result and what the parent measured and applied
    (``measured["isolation"]``: the launcher's report, never the worker's word).

    On failure the worker's log (its last 256 KiB) is kept at ``keep_log_as`` (when given) and the
    error points there."""
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    label = request["selector"]  # as the user typed it, for messages
    request = {**request, "selector": absolute_selector(request["selector"]), "result_path": str(workdir / "result.json")}
    request.setdefault("deny_read", _deny_list(request.get("pool_cache_dir"), str(workdir), run_dir=request.get("run_dir")))
    request_path = workdir / "request.json"
    request_path.write_text(json.dumps(request), "utf-8")
    log = workdir / "worker.log"
    network = limits.network or judge_is_remote(request.get("spec"))
    # the worker's temporary files: a folder that exists before the sandbox is made (Landlock
    # makes new entries in the hidden folders' parents unreachable, /tmp among them in tests)
    private_tmp = tempfile.mkdtemp(prefix="selbench-worker-")
    report_read, report_write = os.pipe()
    policy = SandboxPolicy(deny=tuple(request["deny_read"]), network=network,
                           writable=tuple(writable_paths(request, workdir, private_tmp, network)), report_fd=report_write)
    env = {**worker_env(network, private_tmp), ENV_SELECTOR_BUILDS: str(_selector_builds())}
    start = time.perf_counter()
    cpu_before = _children_cpu()
    peak = 0
    try:
        proc = subprocess.Popen(
            _sandboxed(policy, "selbench.selection.worker", str(request_path)),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env=env, cwd=workdir, pass_fds=(report_write,),
            preexec_fn=_die_with_parent if _PRCTL is not None else None,
        )
        os.close(report_write)
        assert proc.stdout is not None
        output = OutputTail(proc.stdout)
        watched = psutil.Process(proc.pid)
        while proc.poll() is None:
            peak = max(peak, _tree_rss(watched))
            elapsed = time.perf_counter() - start
            if limits.memory_bytes is not None and peak > limits.memory_bytes:
                _kill_group(proc)
                raise SelectorError(label, f"exceeded the memory limit of {limits.memory_bytes / 2**30:.1f} GiB "
                                           f"(killed; log: {_keep_output(output, log, keep_log_as)})")
            if limits.timeout_s is not None and elapsed > limits.timeout_s:
                _kill_group(proc)
                raise SelectorError(label, f"timed out after {limits.timeout_s:g} s (killed; log: {_keep_output(output, log, keep_log_as)})")
            time.sleep(_POLL_S)
        _kill_group(proc)  # whatever it left in its process group (the PID namespace took the rest)
        output.join()
    except BaseException:
        os.close(report_read)
        raise
    finally:
        shutil.rmtree(private_tmp, ignore_errors=True)
    isolation = _read_report(report_read)  # closes the pipe
    measured: dict[str, Any] = {"wall_s": time.perf_counter() - start, "cpu_s": _children_cpu() - cpu_before,
                                "peak_rss_bytes": float(peak), "isolation": isolation}
    result = _read_result(Path(request["result_path"]))
    if result is None:
        code = proc.returncode
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        raise SelectorError(label, f"worker {how} without a result; log: {output.last_lines() or '(empty)'} "
                                   f"({_keep_output(output, log, keep_log_as)})")
    if not result.get("ok"):
        raise_failure(label, result, details=str(_keep_output(output, log, keep_log_as)))
    output.write(log)  # kept inside the artifact, bounded like the output
    return result, measured


_RESULT_BYTES = 512 * 2**20


def _read_result(path: Path) -> dict[str, Any] | None:
    """The worker's result.json, or ``None`` when missing, oversized or not a JSON object."""
    if not path.is_file() or path.stat().st_size > _RESULT_BYTES:
        return None
    try:
        result = json.loads(path.read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return result if isinstance(result, dict) else None


def raise_failure(label: str, result: dict[str, Any], details: str | None = None) -> None:
    """Re-raise a worker's failure in the caller: a bad budget stays a BudgetError."""
    problem = printable(str(result.get("problem", "failed")))
    if result.get("error_kind") == "BudgetError":
        raise BudgetError(problem)
    raise SelectorError(label, f"{problem} (details: {details})" if details else problem)


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def describe_in_subprocess(selector: str, timeout_s: float = 120.0) -> dict[str, Any]:
    """A selector's metadata, read in a throwaway sandboxed process (plugin code never runs here);
    its output is bounded like a selection's."""
    label = selector
    deny = _deny_list()
    selector = absolute_selector(selector)
    private_tmp = tempfile.mkdtemp(prefix="selbench-describe-")
    try:
        policy = SandboxPolicy(deny=tuple(deny), writable=(private_tmp,))
        proc = subprocess.Popen(
            _sandboxed(policy, "selbench.selection.worker", "--describe", selector, "--deny-read", json.dumps(deny)),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env=worker_env(False, private_tmp), preexec_fn=_die_with_parent if _PRCTL is not None else None)
        assert proc.stdout is not None
        output = OutputTail(proc.stdout)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise SelectorError(label, f"importing it took more than {timeout_s:g} s") from None
        _kill_group(proc)
        output.join()
    finally:
        shutil.rmtree(private_tmp, ignore_errors=True)
    text = output.text().decode("utf-8", errors="replace")
    lines = [ln for ln in text.splitlines() if ln.startswith('{"ok"')]
    if proc.returncode != 0 or not lines:
        raise SelectorError(label, f"could not be loaded: {output.last_lines() or 'no output'}")
    try:
        result = json.loads(lines[-1])
    except json.JSONDecodeError:
        raise SelectorError(label, f"could not be loaded: {output.last_lines()}") from None
    if not result.get("ok"):
        raise SelectorError(label, printable(str(result.get("problem"))))
    return result["metadata"]
