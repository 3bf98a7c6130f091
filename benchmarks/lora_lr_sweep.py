"""Which LoRA learning rate? A sweep at the tiny scale, measured with the known-answer signal.

For each learning rate, ``benchmarks/tiny_world_signal.py`` fine-tunes the tiny spec's recipe
(LoRA r=16, alpha=32, every other setting the spec's) on the clean-only oracle, the
corrupted-first oracle and ``--random-seeds`` random selections of one budget, and scores the
held-out likelihood pairs. Reported per learning rate: the clean oracle's gain over the random
mean (95% paired bootstrap CI), random's pair accuracy minus the zero-shot base's (did random
learn anything?), and the final training loss of the clean run. The question it answers: how
far below the recipe's rate can LoRA go before every selector ties with random because nothing
was learned (the paper-scale recipes once ran LoRA at the full fine-tuning rate, 10x lower).

    python benchmarks/lora_lr_sweep.py                         # 4 rates x 5 runs, ~5-10 min on 2 cores
    python benchmarks/lora_lr_sweep.py --lrs 3e-4,3e-3 --random-seeds 5 --json /tmp/sweep.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lrs", default="3e-4,1e-3,3e-3,1e-2", help="comma-separated learning rates")
    ap.add_argument("--random-seeds", type=int, default=3)
    ap.add_argument("--budget", type=int, default=None, help="default: the tiny spec's first budget")
    ap.add_argument("--out", default="/tmp/lora-lr-sweep", help="work folder (the built base model is shared by every rate)")
    ap.add_argument("--json", default=None, help="write the table here too")
    opts = ap.parse_args()

    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for lr in [float(x) for x in opts.lrs.split(",")]:
        result = out / f"lr-{lr:g}.json"
        if not result.is_file():
            cmd = [sys.executable, str(HERE / "tiny_world_signal.py"), "--random-seeds", str(opts.random_seeds), "--no-em",
                   "--out", str(out / "work"), "--json", str(result), "--recipe", json.dumps({"learning_rate": lr})]
            if opts.budget:
                cmd += ["--budget", str(opts.budget)]
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            print(f"lr {lr:g}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        table = json.loads(result.read_text())
        r = table["rows"]
        randoms = [v["pair_acc"] for k, v in r.items() if k.startswith("random-")]
        random_mean = sum(randoms) / len(randoms)
        clean = table["gains"]["clean-only"]["acc"]
        corrupt = table["gains"]["corrupted-first"]["acc"]
        rows.append({"lr": lr, "zero_shot": r["zero-shot base"]["pair_acc"], "random_mean": round(random_mean, 4),
                     "random_minus_zero_shot": round(random_mean - r["zero-shot base"]["pair_acc"], 4),
                     "clean_gain": clean, "corrupt_gain": corrupt, "clean_acc": r["clean-only"]["pair_acc"],
                     "random_seeds": len(randoms), "budget": table["config"]["budget"],
                     "recipe": {k: table["config"]["recipe"][k] for k in ("epochs", "effective_batch_size", "lora")}})

    def ci(v: list[float]) -> str:
        return f"{v[0]:+.3f} [{v[1]:+.3f}, {v[2]:+.3f}]"

    print(f"tiny scale, budget {rows[0]['budget']}, {rows[0]['random_seeds']} random seeds, "
          f"LoRA r={rows[0]['recipe']['lora']['r']} alpha={rows[0]['recipe']['lora']['alpha']}, "
          f"{rows[0]['recipe']['epochs']:g} epochs, batch {rows[0]['recipe']['effective_batch_size']}")
    print("| lr | random - zero-shot (pair acc) | clean oracle - random [95% CI] | corrupted-first - random [95% CI] |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['lr']:g} | {row['random_minus_zero_shot']:+.3f} ({row['random_mean']:.3f} vs {row['zero_shot']:.3f}) "
              f"| {ci(row['clean_gain'])} | {ci(row['corrupt_gain'])} |")
    if opts.json:
        Path(opts.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
