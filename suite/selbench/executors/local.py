"""``--executor local``: every cell in order, in this process (the default), each with its stage's
``cpus`` as arithmetic threads (:func:`selbench.executors.base.run_task`), as under Ray and Slurm.

Used as a context manager (``selbench run`` does) it also starts a
:class:`~selbench.executors.guard.ChildGuard` for the driver: the evaluation runs in this
process and its vLLM server in a session of its own, so without the guard a driver killed with
``kill -9`` during evaluation left the whole server running."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from selbench.executors.base import Done, Executor, Resources, Start, StageResult, run_task
from selbench.executors.guard import ChildGuard


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, resources: dict[str, Resources] | None = None) -> None:
        super().__init__(resources)
        self._guard = ChildGuard()

    def __enter__(self) -> LocalExecutor:
        self._guard.start()
        return self

    def close(self) -> None:
        self._guard.close()

    def map(self, stage: str, fn: Callable[[Any], StageResult], payloads: Sequence[Any], *,
            on_start: Start = lambda i: None, on_done: Done = lambda i, r: None) -> list[StageResult]:
        results = []
        for i, payload in enumerate(payloads):
            on_start(i)
            # an unexpected exception propagates, as before executors existed
            result = run_task(fn, payload, self.threads(stage), stage)
            on_done(i, result)
            results.append(result)
        return results
