"""``--executor slurm``: each stage is a Slurm job array, submitted through submitit.

The driver submits one array per stage (selection on CPUs, training and evaluation with
``--gpus``), waits for it, and submits the next stage, so the grid's order holds; evaluation is
one job (one vLLM server for every adapter). Artifacts must be on storage the compute nodes see
(the runs directory and ``SELBENCH_CACHE``). submitit keeps its job files under
``--slurm-folder`` (default ``<run>/.submitit``). ``cluster="local"`` runs the same jobs as
local processes through submitit's LocalExecutor (the tests), ``cluster="debug"`` in-process.

Each job runs with its stage's ``cpus_per_task`` as arithmetic threads (:func:`run_task`), as
under the other executors. submitit's local executor has no array parallelism and would start
every job of a stage at once; here it gets a sliding window of ``cpu_count // cpus`` jobs (at
least one), so a machine is not oversubscribed (five 2-thread fine-tune jobs started at once on
2 loaded cores took about 2 minutes each; 15 s each with the window).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from selbench.errors import SelbenchError
from selbench.executors.base import Done, Executor, Resources, Start, StageResult, run_task

_POLL_S = 0.25


class SlurmExecutor(Executor):
    name = "slurm"

    def __init__(self, folder: Path, *, partition: str | None = None, time_min: int = 240,
                 array_parallelism: int = 64, cluster: str | None = None,
                 resources: dict[str, Resources] | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(resources)
        try:
            import submitit
        except ImportError:
            raise SelbenchError("--executor slurm needs submitit: pip install 'selbench[cluster]'") from None
        self._submitit = submitit
        self.folder = Path(folder)
        self.partition = partition
        self.time_min = time_min
        self.array_parallelism = array_parallelism
        self.cluster = cluster
        self.extra = dict(extra or {})

    def _executor(self, stage: str) -> Any:
        res = self.resources[stage]
        ex = self._submitit.AutoExecutor(folder=self.folder / stage / "%j", cluster=self.cluster)
        params: dict[str, Any] = {"timeout_min": self.time_min, "cpus_per_task": res.cpus,
                                  "name": f"selbench-{stage}", "slurm_array_parallelism": self.array_parallelism}
        if res.gpus:
            params["gpus_per_node"] = int(res.gpus)
        if res.memory_gb:
            params["mem_gb"] = res.memory_gb
        if self.partition:
            params["slurm_partition"] = self.partition
        params.update(self.extra)
        if ex.cluster != "slurm":  # the local/debug executors only know the generic parameters
            params = {k: v for k, v in params.items() if not k.startswith("slurm_")}
        ex.update_parameters(**params)
        return ex

    def _slots(self, stage: str, cluster: str, jobs: int) -> int:
        """Jobs of one stage running at once: Slurm's array parallelism on a cluster, the
        machine's cores over the task's ``cpus`` for the local executors."""
        if cluster == "slurm":
            return jobs
        return max(1, _cores() // self.threads(stage))

    def map(self, stage: str, fn: Callable[[Any], StageResult], payloads: Sequence[Any], *,
            on_start: Start = lambda i: None, on_done: Done = lambda i, r: None) -> list[StageResult]:
        if not payloads:
            return []
        ex = self._executor(stage)
        threads = self.threads(stage)
        slots = self._slots(stage, ex.cluster, len(payloads))
        jobs: dict[int, Any] = {}
        if slots >= len(payloads):  # one job array for the whole stage
            for i in range(len(payloads)):
                on_start(i)
            submitted = ex.map_array(run_task, [fn] * len(payloads), list(payloads), [threads] * len(payloads),
                                     [stage] * len(payloads))
            jobs = dict(enumerate(submitted))
        results: dict[int, StageResult] = {}
        queue = [i for i in range(len(payloads)) if i not in jobs]
        while len(results) < len(payloads):
            while queue and len(jobs) - len(results) < slots:  # the local executors' window
                i = queue.pop(0)
                on_start(i)
                jobs[i] = ex.submit(run_task, fn, payloads[i], threads, stage)
            for i, job in list(jobs.items()):
                if i in results or not job.done():
                    continue
                try:
                    result = job.result()
                except Exception as exc:  # killed at its time limit, out of memory, node lost
                    lines = str(exc).strip().splitlines()
                    result = StageResult(False, reason=f"slurm job {job.job_id} failed: {type(exc).__name__}: "
                                                        f"{lines[-1] if lines else ''}")
                results[i] = result
                on_done(i, result)
            if len(results) < len(payloads):
                time.sleep(_POLL_S)
        return [results[i] for i in range(len(payloads))]


def _cores() -> int:
    """CPUs this process may run on (its affinity mask, e.g. inside a Slurm allocation)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
