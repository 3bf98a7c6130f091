"""Where a grid's cells run: ``local`` (in order, here), ``ray`` (Ray tasks), ``slurm`` (submitit
job arrays). See :mod:`selbench.executors.base` for the contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selbench.errors import SelbenchError
from selbench.executors.base import Executor, Resources, StageResult
from selbench.executors.local import LocalExecutor

EXECUTORS = ("local", "ray", "slurm")


def stage_resources(gpus: float = 0, select_cpus: int = 1, cpus: int = 1) -> dict[str, Resources]:
    """Selection on CPUs (cheap selectors; model-based ones get the node's GPUs only through
    their own services), training and evaluation with ``gpus`` each. ``cpus`` is also each
    task's arithmetic thread count under every executor: results are bit-identical across
    executors for the same ``cpus`` (and may differ in the last bits for another)."""
    return {"select": Resources(cpus=select_cpus), "train": Resources(cpus=cpus, gpus=gpus),
            "evaluate": Resources(cpus=cpus, gpus=gpus)}


def make_executor(name: str, run_dir: Path, *, gpus: float = 0, cpus: int = 1, ray_address: str | None = None,
                  slurm_partition: str | None = None, slurm_time_min: int = 240,
                  slurm_array_parallelism: int = 64, slurm_cluster: str | None = None,
                  slurm_folder: Path | None = None, **extra: Any) -> Executor:
    resources = stage_resources(gpus, cpus=cpus)
    if name == "local":
        return LocalExecutor(resources)
    if name == "ray":
        from selbench.executors.ray_exec import RayExecutor

        return RayExecutor(ray_address, resources, **extra)
    if name == "slurm":
        from selbench.executors.slurm import SlurmExecutor

        return SlurmExecutor(slurm_folder or run_dir / ".submitit", partition=slurm_partition,
                             time_min=slurm_time_min, array_parallelism=slurm_array_parallelism,
                             cluster=slurm_cluster, resources=resources, extra=extra or None)
    raise SelbenchError(f"unknown executor {name!r} (choose from {', '.join(EXECUTORS)})")


__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "Resources", "StageResult", "make_executor", "stage_resources"]
