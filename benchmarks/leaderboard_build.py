"""Leaderboard build time: 200 synthetic submissions x the chasing-random-v1 grid.

4 pools x 3 budgets x 4 benchmarks (IFEval 541, AlpacaEval 805, LLMBar 419, OpenLLM 1000 items),
each submission with 3 selector runs (the spec's train seeds) and its own 3 random seeds per cell,
full-pool and zero-shot rows (320 per-item files per submission, 64,000 in all; 224 / 44,800 when
a cell had one selector run). Generation is not timed; the build (validate, hash every file,
aggregate with 1000 replicates per cell, render) is. Must stay under a minute on a quiet machine.

    python benchmarks/leaderboard_build.py [--submissions 200] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from selbench.leaderboard.build import build
from selbench.submissions.fixture import make_synthetic_submission


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--submissions", type=int, default=200)
    ap.add_argument("--keep", type=Path, default=None)
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="selbench-lb-bench-"))
    subs = root / "submissions"
    t0 = time.perf_counter()
    if not subs.is_dir() or len(list(subs.iterdir())) != args.submissions:
        shutil.rmtree(subs, ignore_errors=True)
        for i in range(args.submissions):
            make_synthetic_submission(subs, f"method {i:03d}", quality=((i * 37) % 21 - 10) / 20,
                                      selection_usd=10 ** ((i % 7) - 2), amortised_usd=(i % 3) * 5.0, seed=i)
    gen = time.perf_counter() - t0
    t1 = time.perf_counter()
    res = build(subs, root / "site", verified=root / "verified.json")
    dt = time.perf_counter() - t1
    print(f"generated {args.submissions} submissions in {gen:.1f}s (not timed)")
    print(f"leaderboard build: {args.submissions} submissions, {len(res.leaderboard.cells)} cells, "
          f"{len(res.rejected)} rejected: {dt:.1f}s ({'OK' if dt < 60 else 'OVER'} the 60s target)")
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
