"""Small facts the evaluation stages share: where a benchmark's data is, how long a served model's
context may be, whether CUDA is there (one module, so the AlpacaEval stage and the main stage
need not import each other)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from selbench.data_paths import eval_data_root, resolve_eval_path
from selbench.specs.models import BenchmarkSpec, Spec


def resolve_path(bench: BenchmarkSpec) -> Path | None:
    """A benchmark's local data (``None``: it comes from the hub); see :mod:`selbench.data_paths`.

    A relative path with no evaluation data folder set falls back to the benchmark's pinned hub
    dataset when it has one (``openllm``: lm-eval's stock tasks)."""
    if bench.path is None:
        return None
    relative = not Path(os.path.expandvars(bench.path)).expanduser().is_absolute()
    if relative and eval_data_root() is None and (bench.hub_id or bench.kind == "openllm"):
        return None
    return resolve_eval_path(bench.path, f"benchmark '{bench.name}'")


def served_max_len(source: str, spec: Spec) -> int:
    try:
        config = json.loads((Path(source) / "config.json").read_text())
        native = int(config.get("max_position_embeddings", 4096))
    except (OSError, ValueError):
        native = 4096
    return min(native, 4096)


def cuda_available() -> bool:
    from selbench.evaluation.server import _has_cuda

    return _has_cuda()


