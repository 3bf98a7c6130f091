"""The executor interface: how a stage's per-cell work is dispatched.

A stage hands the executor a top-level (picklable) function and one payload per cell; the
executor runs them (in order here, as Ray tasks, or as a Slurm job array) and calls
``on_done(index, result)`` as each finishes, so the caller can write ``cells.jsonl`` after every
cell exactly as before. The per-cell functions catch the suite's own errors and return them as
results; an executor turns a crash of the machinery itself (a lost Ray worker, a Slurm job
killed at its time limit) into a failed result too, so one bad cell never stops the grid.
Every artifact is content-addressed and written atomically by the stage that makes it, so the
executors need no bookkeeping of their own for caching or resume.

Every executor runs a task through :func:`run_task`, which gives it exactly its stage's
``Resources.cpus`` arithmetic threads (torch, OpenMP/MKL/OpenBLAS, inherited by the selector
worker and the vLLM server). CPU float reductions depend on the thread count, so this is what
makes an adapter (and every score after it) bit-identical whether the cell ran in this process,
in a Ray worker (which would otherwise get ``OMP_NUM_THREADS=num_cpus``) or in a Slurm job (the
node's core count): measured, a tiny-scale fine-tune gives different adapter bytes with 1 and 2
threads. On the tiny scale one thread is also the fastest (tiny matrices).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

#: stages and what they need; ``gpus`` is filled from the executor's options
STAGE_NAMES = ("select", "train", "evaluate")

#: stages whose tasks start long-lived processes of their own (``vllm serve``), killed with the task
GUARDED_STAGES = ("evaluate",)

#: environment variables forwarded to remote workers (paths of caches and data, the tiny world's
#: key so every stage sees one world; never credentials). Selector workers drop the key again.
FORWARDED_ENV = ("SELBENCH_CACHE", "SELBENCH_HUB_MIRROR", "SELBENCH_DATA_DIR", "SELBENCH_EVAL_DATA",
                 "SELBENCH_DENY_READ", "SELBENCH_MAX_POOL_BYTES", "SELBENCH_SANDBOX", "SELBENCH_TINYWORLD_KEY",
                 "HF_HOME", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TOKENIZERS_PARALLELISM",
                 "VLLM_CPU_KVCACHE_SPACE", "VLLM_NO_USAGE_STATS", "VLLM_HOST_IP", "NLTK_DATA")
#: settings a user hands their plugin (``SELBENCH_PLUGIN_*``) travel with the cell too
FORWARDED_PREFIX = "SELBENCH_PLUGIN_"


def forwarded_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in FORWARDED_ENV or k.startswith(FORWARDED_PREFIX)}


def apply_env(env: dict[str, str]) -> None:
    """In a remote worker: the driver's cache and data locations (shared storage)."""
    for key, value in env.items():
        os.environ[key] = value


#: thread-count variables read by OpenMP / MKL / OpenBLAS (and by torch when it is first imported)
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@contextmanager
def task_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` arithmetic threads, then restore the previous setting.

    The variables reach child processes (selector worker, vLLM server) and a torch imported
    later in the block (torch reads ``OMP_NUM_THREADS`` when it is imported: a fresh Slurm job);
    a torch already imported (a long-lived Ray worker, the local driver) is set directly."""
    threads = max(1, int(threads))
    saved = {k: os.environ.get(k) for k in THREAD_ENV}
    for key in THREAD_ENV:
        os.environ[key] = str(threads)
    torch = sys.modules.get("torch")
    previous = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if torch is not None and previous is not None:
            torch.set_num_threads(previous)


@dataclass(frozen=True)
class Resources:
    """What one task of a stage asks the scheduler for."""

    cpus: int = 1
    gpus: float = 0
    memory_gb: float | None = None


@dataclass
class StageResult:
    """What a per-cell function returns (picklable; no Path subclasses from other hosts needed)."""

    ok: bool
    value: Any = None
    reason: str | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def run_task(fn: Callable[[Any], StageResult], payload: Any, threads: int = 1, stage: str = "") -> StageResult:
    """What every executor runs for one task (top-level, so Ray and submitit can pickle it).

    A task of a :data:`GUARDED_STAGES` stage runs under a :class:`~selbench.executors.guard.ChildGuard`:
    the processes it starts (the evaluation's vLLM server, in a session of its own) die with it
    when its process is killed (a driver killed with ``kill -9``, a lost Ray worker, a cancelled job)."""
    from selbench.executors.guard import ChildGuard

    guard = ChildGuard() if stage in GUARDED_STAGES else nullcontext()
    with guard, task_threads(threads):
        return fn(payload)


Done = Callable[[int, StageResult], None]
Start = Callable[[int], None]


class Executor:
    """Run a stage's per-cell functions; subclasses decide where."""

    name = "base"

    def __init__(self, resources: dict[str, Resources] | None = None) -> None:
        self.resources = {s: Resources() for s in STAGE_NAMES}
        self.resources.update(resources or {})

    def map(self, stage: str, fn: Callable[[Any], StageResult], payloads: Sequence[Any], *,
            on_start: Start = lambda i: None, on_done: Done = lambda i, r: None) -> list[StageResult]:
        raise NotImplementedError

    def call(self, stage: str, fn: Callable[[Any], StageResult], payload: Any) -> StageResult:
        """One task for the whole stage (evaluation: one server for every adapter)."""
        return self.map(stage, fn, [payload])[0]

    def threads(self, stage: str) -> int:
        """Arithmetic threads of one task of ``stage``: its ``cpus``."""
        return max(1, int(self.resources[stage].cpus))

    def close(self) -> None:
        """Release what the executor started (a local Ray cluster)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
