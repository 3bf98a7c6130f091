"""Grid overhead per cell for the executors (local, Ray, submitit) and a GPU-hours projection.

1. Select stage (a 60-row jsonl pool, cheap selectors): each executor runs the same grid twice
   into a fresh run folder: cold (every selector runs in its isolated worker) and warm (every
   selection is already there, so what is left is scheduling + pool loading + artifact I/O:
   the executor's overhead per cell). Executor start-up (a local Ray cluster) is timed apart.
2. Select -> train -> evaluate (``--full``, the default): the tiny spec made small, as in
   tests/executors/test_full_grid_executors.py (an 8-person world, budget 64, random x 3 seeds,
   longest, the full pool and the zero-shot base, 2 epochs; 5 fine-tunes and one vLLM server
   evaluating 6 models). Each executor runs it cold into its own folder (the base model and the
   pool cache are shared and built first), timing each stage's wall time and the seconds spent
   inside the tasks, then warm (everything reused: the per-cell cost of a rerun). The results
   tables are checked to be identical across executors.
3. The full chasing-random-v1 grid's GPU-hours, projected from the H100 anchors in
   ../shared/notes/gpu-anchors.md (training) and a stated assumption (evaluation).

    python benchmarks/executor_overhead.py                      # ~8-10 minutes on 2 cores
    python benchmarks/executor_overhead.py --only local --no-full --out /tmp/overhead.json
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


def full_spec():
    """The tiny spec made small (the full-grid executor test's grid)."""
    from selbench.specs.loader import load_spec
    from selbench.specs.models import Spec

    base = load_spec("tiny").model_dump(mode="json")
    pool = {**base["pools"][0], "generator_args": {**base["pools"][0]["generator_args"], "entities": 8}}
    return Spec.model_validate({**base, "pools": [pool], "budgets": [64], "random_seeds": [0, 1, 2],
                                "selectors": ["random", "longest"], "recipe": {**base["recipe"], "epochs": 2}})


def _stable_rows(run_dir: Path) -> list[dict]:
    rows = []
    for line in (run_dir / "results.jsonl").read_text().splitlines():
        row = json.loads(line)
        for stage in ("selection_cost", "finetune_cost"):
            for phase in ("amortised", "per_budget"):
                for key in ("usd", "cpu_s", "gpu_s"):
                    row[stage][phase].pop(key)
        rows.append(row)
    return rows


def measure_full(only: list[str], work: Path) -> dict:
    from selbench.executors import make_executor
    from selbench.models.loader import resolve_base_model
    from selbench.pipeline.events import RunEvents
    from selbench.pipeline.run import plan, run_grid

    class StageMarks(RunEvents):
        """When each stage started (the driver announces a stage before its first cell)."""

        def __init__(self) -> None:
            self.at: dict[str, float] = {}

        def stage(self, name: str, total: int) -> None:
            self.at.setdefault(name, time.perf_counter())

    spec = full_spec()
    t0 = time.perf_counter()
    resolve_base_model(spec.base_model)  # built (pretrained) once, shared by every executor
    out: dict = {"grid": "tiny, 8-person world, budget 64, random x3 + longest + full + zero-shot, 2 epochs",
                 "base_model_s": round(time.perf_counter() - t0, 1), "executors": {}}
    tables = {}
    for name in only:
        run_dir = work / f"full-{name}" / "tiny"
        extra = {"num_cpus": 2} if name == "ray" else {}
        t0 = time.perf_counter()
        ex = make_executor(name, run_dir, slurm_cluster="local", slurm_time_min=20, **extra)
        startup = time.perf_counter() - t0
        result: dict = {"startup_s": round(startup, 2)}
        with ex:
            for phase in ("cold", "warm"):
                marks = StageMarks()
                states = plan(spec, None, None, None)
                t0 = time.perf_counter()
                outcome = run_grid(spec, run_dir, states=states, executor=ex, events=marks)
                end = time.perf_counter()
                assert not outcome.failed, [(s.cell.label, s.stage, s.reason) for s in outcome.failed]
                walls = {"select": marks.at["train"] - t0, "train": marks.at["evaluate"] - marks.at["train"],
                         "evaluate": end - marks.at["evaluate"]}
                # seconds measured inside the tasks (evaluation: one task, spread over its models)
                inside = {stage: sum(s.timings.get(f"{stage}_s", 0.0) for s in outcome.states)
                          for stage in ("select", "train", "evaluate")}
                result[phase] = {"wall_s": round(end - t0, 1),
                                 "stage_wall_s": {k: round(v, 1) for k, v in walls.items()},
                                 "inside_tasks_s": {k: round(v, 1) for k, v in inside.items()}}
                if phase == "warm":
                    result["warm_per_cell_s"] = round((end - t0) / len(states), 3)
        tables[name] = _stable_rows(run_dir)
        out["executors"][name] = result
        print("full", name, json.dumps(result), flush=True)
    first = next(iter(tables.values()), None)
    out["identical_results_tables"] = all(t == first for t in tables.values())
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
    ap.add_argument("--full", action=argparse.BooleanOptionalAction, default=True,
                    help="also time select -> train -> evaluate on a small tiny-world grid")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="executor-overhead-") as tmp:
        result = measure(args.only, Path(tmp))
        if args.full:
            result["full_grid"] = measure_full(args.only, Path(tmp))
    result["projection"] = project(args.tokens_per_example, args.eval_gpu_hours_per_model)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
