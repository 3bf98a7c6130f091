"""``--executor ray``: each cell of a stage is a Ray task with that stage's resources.

With ``--ray-address`` the tasks go to an existing cluster (artifacts must then be on storage
every node sees: ``--out``/the runs directory and ``SELBENCH_CACHE``); without it a local cluster
is started and bound to 127.0.0.1 only (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` makes every Ray
socket listen on loopback, see the CPU-stack notes), with no dashboard and a small object store,
and shut down when the run ends; a :class:`~selbench.executors.guard.ChildGuard` then watches
the driver, because a driver killed with ``kill -9`` left Ray's dashboard and runtime-env agents
running, and the vLLM server's EngineCore and Worker with them. The grid's order is kept by the
driver: a stage's tasks are all submitted at once and the next stage starts when they have all
finished; evaluation is one task (one vLLM server serving every adapter), which starts ``vllm serve`` as a child process of
the Ray worker (on 127.0.0.1, in its own process group, stopped when the task ends).

Each task runs with its stage's ``num_cpus`` as arithmetic threads (:func:`run_task`; Ray would
set ``OMP_NUM_THREADS`` itself, but a reused worker that already imported torch would keep its
old count), so a cell computes bit for bit what it computes under the local executor.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from selbench.errors import SelbenchError
from selbench.executors.base import Done, Executor, Resources, Start, StageResult, run_task
from selbench.executors.guard import ChildGuard


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, address: str | None = None, resources: dict[str, Resources] | None = None,
                 num_cpus: int | None = None, object_store_mb: int = 200) -> None:
        super().__init__(resources)
        try:
            import ray
        except ImportError:
            raise SelbenchError("--executor ray needs Ray: pip install 'selbench[cluster]'") from None
        self._ray = ray
        self._started = False
        self._guard = ChildGuard()
        if not ray.is_initialized():
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                # loopback only; documented in ../shared/notes/cpu-stack.md §5
                os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
                self._guard.start()
                ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False,
                         object_store_memory=object_store_mb * 2**20, _node_ip_address="127.0.0.1",
                         log_to_driver=False)
            self._started = True
        self._remote = ray.remote(run_task)

    def _options(self, stage: str) -> dict[str, Any]:
        res = self.resources[stage]
        opts: dict[str, Any] = {"num_cpus": res.cpus, "num_gpus": res.gpus, "max_retries": 0}
        if res.memory_gb:
            opts["memory"] = int(res.memory_gb * 2**30)
        return opts

    def map(self, stage: str, fn: Callable[[Any], StageResult], payloads: Sequence[Any], *,
            on_start: Start = lambda i: None, on_done: Done = lambda i, r: None) -> list[StageResult]:
        ray = self._ray
        remote = self._remote.options(**self._options(stage))
        refs = {}
        for i, payload in enumerate(payloads):
            on_start(i)
            refs[remote.remote(fn, payload, self.threads(stage), stage)] = i
        results: dict[int, StageResult] = {}
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                i = refs[ref]
                try:
                    result = ray.get(ref)
                except Exception as exc:  # the task or its worker died: that cell fails, the rest go on
                    result = StageResult(False, reason=f"ray task failed: {type(exc).__name__}: {_first_line(exc)}")
                results[i] = result
                on_done(i, result)
        return [results[i] for i in range(len(payloads))]

    def close(self) -> None:
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
        self._guard.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else ""
