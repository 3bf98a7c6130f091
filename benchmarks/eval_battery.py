"""Wall time of the full evaluation battery at the tiny scale (one `selbench evaluate` run).

    python benchmarks/eval_battery.py [--limit 20] [--adapter DIR]

Without --adapter a LoRA adapter with random weights is made for the tiny model. Prints the wall
time of the whole command and of each benchmark (from the summaries), and the server start time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for k, v in {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
             "VLLM_HOST_IP": "127.0.0.1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1",
             "VLLM_CPU_KVCACHE_SPACE": "1"}.items():
    os.environ.setdefault(k, v)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--adapter", type=Path)
    ap.add_argument("--benchmarks", default="ifeval,alpaca_eval,llmbar,openllm")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        adapter = args.adapter
        if adapter is None:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "evaluation"))
            from conftest import make_adapter  # the test helper: random A and B

            from selbench.models.loader import resolve_base_model
            from selbench.specs.loader import load_spec

            base = Path(resolve_base_model(load_spec("tiny").base_model).source)
            adapter = make_adapter(base, Path(tmp) / "adapter")
        t0 = time.perf_counter()
        cmd = [str(Path(sys.executable).with_name("selbench")), "evaluate", "--spec", "tiny", "--adapter", str(adapter),
               "--benchmarks", args.benchmarks, "--limit", str(args.limit), "--out", tmp, "--json"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            print(proc.stdout[-3000:], proc.stderr[-3000:])
            raise SystemExit(proc.returncode)
        [folder] = list((Path(tmp) / "eval" / "tiny").iterdir())
        per = {}
        server = None
        for summary in folder.glob("*/summary.json"):
            data = json.loads(summary.read_text())
            per[summary.parent.name] = data["wall_s"]
            server = data["server"]["start_seconds"]
    print(json.dumps({"limit": args.limit, "benchmarks": args.benchmarks, "total_wall_s": round(wall, 1),
                      "per_benchmark_wall_s": per, "server_start_s": server}, indent=1))


if __name__ == "__main__":
    main()
