"""Grid overhead per cell for the executors (local, Ray, submitit) and a GPU-hours projection.

At the tiny scale (a 60-row jsonl pool, cheap selectors, select stage only) each executor runs
the same grid twice into a fresh run folder: cold (every selector runs in its isolated worker)
and warm (every selection is already there, so what is left is scheduling + pool loading +
artifact I/O: the executor's overhead per cell). Executor start-up (a local Ray cluster) is
timed separately. Then the full chasing-random-v1 grid's GPU-hours are projected from the
H100 anchors in ../shared/notes/gpu-anchors.md (training) and a stated assumption (evaluation).

    python benchmarks/executor_overhead.py                      # ~2-3 minutes on 2 cores
    python benchmarks/executor_overhead.py --only local --out /tmp/overhead.json
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

# H100 anchors (gpu-anchors.md): LoRA r=64 all linear, batch 8 x 512, LLaMA-7B shape, bf16
ANCHOR_TRAIN_TOKENS_PER_S = (7_800 + 8_700) / 2
POOL_ROWS = {"alpaca": 51_800, "dolly": 15_000, "evol-instruct": 143_000, "flan": 100_000}  # flan: assumed


def measure(only: list[str], work: Path) -> dict:
    from selbench.executors import make_executor
    from selbench.pipeline.run import plan, run_grid
    from selbench.specs.loader import load_spec
    from selbench.specs.models import PoolSpec

    pool = work / "pool.jsonl"
    pool.write_text("".join(json.dumps({"instruction": f"Say {i}.", "input": "", "output": "x" * (1 + i % 17)}) + "\n"
                            for i in range(60)))
    os.environ.setdefault("SELBENCH_CACHE", str(work / "cache"))
    spec = load_spec("tiny").model_copy(update={"pools": (PoolSpec(name="p", path=str(pool)),), "budgets": (10, 20),
                                                "random_seeds": (0, 1, 2), "selectors": ("longest",)})
    planned = plan(spec, None, None, None)
    cells = sum(s.kind != "zero-shot" for s in planned)
    out: dict = {"cells": cells, "executors": {}}
    for name in only:
        run_dir = work / name / "grid"
        t0 = time.perf_counter()
        extra = {"num_cpus": 2} if name == "ray" else {}
        ex = make_executor(name, run_dir, slurm_cluster="local", slurm_time_min=10, **extra)
        startup = time.perf_counter() - t0
        times = {}
        with ex:
            for phase in ("cold", "warm"):
                t0 = time.perf_counter()
                outcome = run_grid(spec, run_dir, states=copy.deepcopy(planned), stages=("select",), executor=ex)
                times[phase] = time.perf_counter() - t0
                assert not outcome.failed, [s.reason for s in outcome.failed]
        out["executors"][name] = {"startup_s": round(startup, 2), "cold_s": round(times["cold"], 2),
                                  "warm_s": round(times["warm"], 2),
                                  "cold_per_cell_s": round(times["cold"] / cells, 3),
                                  "overhead_per_cell_s": round(times["warm"] / cells, 3)}
        print(name, out["executors"][name], flush=True)
    return out


def project(tokens_per_example: int, eval_gpu_h_per_model: float) -> dict:
    """chasing-random-v1: 4 pools x budgets 1k/5k/10k; random (3 seeds) and longest per budget,
    full pool once per pool; LoRA 3 epochs; every adapter + the base evaluated on the battery."""
    from selbench.specs.loader import load_spec

    spec = load_spec("chasing-random-v1")
    epochs = spec.recipe.epochs
    seeds = len(spec.random_seeds)
    train_examples = 0
    trainings = 0
    for pool in spec.pools:
        rows = POOL_ROWS.get(pool.name, 100_000)
        per_pool = [b for b in spec.budgets for _ in range(seeds)] + list(spec.budgets) + [rows]
        trainings += len(per_pool)
        train_examples += sum(per_pool)
    tokens = train_examples * epochs * tokens_per_example
    train_h = tokens / ANCHOR_TRAIN_TOKENS_PER_S / 3600
    models = trainings + 1  # every adapter and the zero-shot base (one server serves them all)
    eval_h = models * eval_gpu_h_per_model
    return {"pools": [p.name for p in spec.pools], "budgets": list(spec.budgets), "random_seeds": seeds,
            "trainings": trainings, "training_examples_per_epoch": train_examples, "epochs": epochs,
            "tokens_per_example": tokens_per_example, "train_tokens": tokens,
            "anchor_tokens_per_s": ANCHOR_TRAIN_TOKENS_PER_S, "train_gpu_hours": round(train_h, 1),
            "models_evaluated": models, "eval_gpu_hours_per_model_assumed": eval_gpu_h_per_model,
            "eval_gpu_hours": round(eval_h, 1), "total_gpu_hours": round(train_h + eval_h, 1),
            "pool_rows_used": POOL_ROWS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", default=["local", "ray", "slurm"])
    ap.add_argument("--tokens-per-example", type=int, default=512,
                    help="padded length per example (max_length 512, no packing: the upper bound)")
    ap.add_argument("--eval-gpu-hours-per-model", type=float, default=0.25,
                    help="assumed, not anchored: the battery on one 7B adapter through a shared vLLM server")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="executor-overhead-") as tmp:
        result = measure(args.only, Path(tmp))
    result["projection"] = project(args.tokens_per_example, args.eval_gpu_hours_per_model)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
