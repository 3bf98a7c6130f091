"""Wall time and memory of the all-benchmark tiny run (`selbench run --benchmarks all`).

    python benchmarks/eval_battery.py [--limit 20] [--small] [--spec tiny]

Runs ``selbench run --spec SPEC --benchmarks all --limit N`` in a fresh output folder (the model
and pool caches under SELBENCH_CACHE are reused, so the tiny base model's one-off pretraining is
not counted) and prints:

- the whole command's wall time, and per stage the sum of the cells' select / train times and
  the evaluation stage's wall time (one vLLM server for every model);
- per benchmark, the summed wall time over the models (AlpacaEval split into generation and
  judging), and the vLLM server's start time;
- the peak resident memory of the vLLM server's process tree (API server, EngineCore, workers)
  and of the whole run, sampled every 0.5 s with psutil.

``--small`` is the CI-sized grid of tests/evaluation/test_run_all_benchmarks.py (an 8-person
world, budget 64, random x 3, longest, full, zero-shot; 2 epochs) instead of the whole tiny spec.
Needs the evaluation data folder (SELBENCH_EVAL_DATA, or ../shared/data beside the repository).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
for k, v in {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
             "VLLM_HOST_IP": "127.0.0.1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1",
             "VLLM_CPU_KVCACHE_SPACE": "1"}.items():
    os.environ.setdefault(k, v)
if not os.environ.get("SELBENCH_EVAL_DATA") and (REPO.parent / "shared" / "data" / "eval").is_dir():
    os.environ["SELBENCH_EVAL_DATA"] = str(REPO.parent / "shared" / "data")  # development machines


class Sampler(threading.Thread):
    """Peak RSS of a process tree, and of its vLLM processes, every ``every`` seconds."""

    def __init__(self, pid: int, every: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.root, self.every = psutil.Process(pid), every
        self.peak_total = self.peak_vllm = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            total = vllm = 0
            for p in procs:
                try:
                    rss = p.memory_info().rss
                    cmd = " ".join(p.cmdline())
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                total += rss
                # the server's group: `vllm serve` and the EngineCore / worker processes it spawns
                if "vllm" in cmd or p.name().startswith(("VLLM", "EngineCore")):
                    vllm += rss
            self.peak_total, self.peak_vllm = max(self.peak_total, total), max(self.peak_vllm, vllm)
            time.sleep(self.every)


def small_spec(folder: Path) -> str:
    sys.path.insert(0, str(REPO / "tests" / "evaluation"))
    from test_run_all_benchmarks import small_spec as make  # the CI grid

    return str(make(folder, Path(os.environ["SELBENCH_EVAL_DATA"])))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--spec", default="tiny")
    ap.add_argument("--small", action="store_true", help="the CI-sized grid instead of the whole spec")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spec = small_spec(Path(tmp)) if args.small else args.spec
        out = Path(tmp) / "runs"
        cmd = [str(Path(sys.executable).with_name("selbench")), "run", "--spec", spec, "--benchmarks", "all",
               "--limit", str(args.limit), "--out", str(out)]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sampler = Sampler(proc.pid)
        sampler.start()
        stdout, stderr = proc.communicate()
        wall = time.perf_counter() - t0
        sampler.stopped.set()
        if proc.returncode != 0:
            print(stdout[-3000:], stderr[-3000:])
            raise SystemExit(proc.returncode)
        [run_dir] = [p for p in out.iterdir() if (p / "cells.jsonl").is_file()]
        cells = [json.loads(line) for line in (run_dir / "cells.jsonl").read_text().splitlines()]
        stages = {s: round(sum(c["timings"].get(f"{s}_s", 0.0) for c in cells), 1) for s in ("select", "train")}
        stages["evaluate"] = round(sum(c["timings"].get("evaluate_s", 0.0) for c in cells), 1)
        per: dict[str, float] = defaultdict(float)
        server_start: list[float] = []
        for folder in {c["evaluation"] for c in cells if c.get("evaluation")}:
            for summary in Path(folder).glob("*/summary.json"):
                data = json.loads(summary.read_text())
                name = summary.parent.name
                if "judge_wall_s" in data:
                    per[f"{name} (generate)"] += data["generation_wall_s"]
                    per[f"{name} (judge)"] += data["judge_wall_s"]
                else:
                    per[name] += data["wall_s"]
                server_start = data["server"]["start_seconds"] or server_start
        rows = sum(1 for _ in (run_dir / "results.jsonl").open())
    print(json.dumps({
        "machine": f"{platform.processor() or platform.machine()}, {psutil.cpu_count()} CPUs, "
                   f"{psutil.virtual_memory().total / 2**30:.0f} GiB", "spec": args.spec if not args.small else "tiny (small grid)",
        "limit": args.limit, "models": len(cells), "result_rows": rows, "total_wall_s": round(wall, 1),
        "stage_wall_s": stages, "per_benchmark_wall_s (summed over models)": {k: round(v, 1) for k, v in sorted(per.items())},
        "vllm_start_s": server_start, "peak_rss_gib": {"vllm_server": round(sampler.peak_vllm / 2**30, 2),
                                                       "whole_run": round(sampler.peak_total / 2**30, 2)},
    }, indent=1))


if __name__ == "__main__":
    main()
