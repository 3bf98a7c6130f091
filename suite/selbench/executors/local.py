"""``--executor local``: every cell in order, in this process (the default)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from selbench.executors.base import Done, Executor, Start, StageResult


class LocalExecutor(Executor):
    name = "local"

    def map(self, stage: str, fn: Callable[[Any], StageResult], payloads: Sequence[Any], *,
            on_start: Start = lambda i: None, on_done: Done = lambda i, r: None) -> list[StageResult]:
        results = []
        for i, payload in enumerate(payloads):
            on_start(i)
            result = fn(payload)  # an unexpected exception propagates, as before executors existed
            on_done(i, result)
            results.append(result)
        return results
