"""The executor interface: how a stage's per-cell work is dispatched.

A stage hands the executor a top-level (picklable) function and one payload per cell; the
executor runs them (in order here, as Ray tasks, or as a Slurm job array) and calls
``on_done(index, result)`` as each finishes, so the caller can write ``cells.jsonl`` after every
cell exactly as before. The per-cell functions catch the suite's own errors and return them as
results; an executor turns a crash of the machinery itself (a lost Ray worker, a Slurm job
killed at its time limit) into a failed result too, so one bad cell never stops the grid.
Every artifact is content-addressed and written atomically by the stage that makes it, so the
executors need no bookkeeping of their own for caching or resume.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

#: stages and what they need; ``gpus`` is filled from the executor's options
STAGE_NAMES = ("select", "train", "evaluate")

#: environment variables forwarded to remote workers (paths of caches and data; never secrets)
FORWARDED_ENV = ("SELBENCH_CACHE", "SELBENCH_HUB_MIRROR", "SELBENCH_DATA_DIR", "SELBENCH_EVAL_DATA",
                 "HF_HOME", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TOKENIZERS_PARALLELISM",
                 "VLLM_CPU_KVCACHE_SPACE", "VLLM_NO_USAGE_STATS", "VLLM_HOST_IP", "NLTK_DATA")


def forwarded_env() -> dict[str, str]:
    return {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}


def apply_env(env: dict[str, str]) -> None:
    """In a remote worker: the driver's cache and data locations (shared storage)."""
    for key, value in env.items():
        os.environ[key] = value


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

    def close(self) -> None:
        """Release what the executor started (a local Ray cluster)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
