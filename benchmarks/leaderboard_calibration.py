"""Are the leaderboard's intervals honest? Tie rate, coverage and power per noise level.

Each simulated cell (see ``selbench.leaderboard.calibration``): items drawn afresh, a model-level
seed shift per run (log-odds sd ``shift``), 0/1 item scores; the selector arm has ``quality``
log-odds above random. Every interval comes from ``cell_gain``, the function the leaderboard's
aggregation calls per cell. Beside it, the first leaderboard's interval (a two-stage percentile
bootstrap over items and runs) on fewer cells, to show why it was replaced.

Then the headline's unit: 10 selectors on 4 benchmarks of different units and noise; how often
the truly best selector is ranked first by (a) the raw mean gain, (b) the mean of gains divided
by each benchmark's pooled random between-run sd (what the leaderboard does), (c) the mean of
per-benchmark ranks.

    python benchmarks/leaderboard_calibration.py [--cells 1000] [--naive-cells 200]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from selbench.leaderboard.calibration import Setting, calibrate, run_mean_sd


def calibration_table(cells: int, naive_cells: int) -> None:
    print(f"{'items':>5} {'runs':>5} {'shift':>5} {'run sd':>7} {'q':>4} {'truth':>7} {'tie':>6} {'cover':>6} "
          f"{'power':>6} {'MDE':>7} | {'naive cover':>11} {'naive tie':>9}")
    for n, runs in ((500, 3), (2000, 3), (500, 5)):
        for shift in (0.0, 0.1, 0.2, 0.3):
            for q in (0.0, 0.1, 0.2):
                s = Setting(n_items=n, shift=shift, quality=q, selector_runs=runs, random_runs=runs)
                c = calibrate(s, cells=cells, seed=1)
                nv = calibrate(s, cells=naive_cells, seed=2, naive=True) if naive_cells and runs == 3 else None
                naive = f"{nv.naive_coverage:11.3f} {nv.naive_tie_rate:9.3f}" if nv else f"{'':>11} {'':>9}"
                print(f"{n:5d} {runs:>2}v{runs:<2} {shift:5.2f} {100 * run_mean_sd(s):6.2f}p {q:4.1f} {100 * c.truth:6.2f}p "
                      f"{c.tie_rate:6.3f} {c.coverage:6.3f} {c.power:6.3f} {100 * c.mean_mde:6.2f}p | {naive}", flush=True)


def headline_units(replicates: int = 400, seed: int = 0) -> None:
    """Which headline finds the truly best selector? Benchmarks: (unit scale, run sd in that unit)."""
    rng = np.random.default_rng(seed)
    benches = [(1.0, 0.01), (1.0, 0.02), (100.0, 1.5), (1.0, 0.005)]  # accuracies and a 0-100 win rate
    m = 10
    true_sd_gain = rng.normal(0, 0.5, (replicates, m, len(benches)))  # true gains in seed-sds
    true_sd_gain[:, 0, :] += 1.0  # selector 0 is best on every benchmark, by one seed-sd
    hits = {"raw mean gain": 0, "standardised (leaderboard)": 0, "mean per-benchmark rank": 0}
    for r in range(replicates):
        sd = np.array([b[1] for b in benches])
        observed = (true_sd_gain[r] + rng.normal(0, 0.6, (m, len(benches)))) * sd  # estimation noise ~0.6 sd
        pooled_sd = sd * np.sqrt(rng.chisquare(200, len(benches)) / 200)  # pooled over the board: ~200 df
        raw = observed.mean(axis=1)
        std = (observed / pooled_sd).mean(axis=1)
        ranks = (-observed).argsort(axis=0).argsort(axis=0).mean(axis=1)
        hits["raw mean gain"] += int(np.argmax(raw) == 0)
        hits["standardised (leaderboard)"] += int(np.argmax(std) == 0)
        hits["mean per-benchmark rank"] += int(np.argmin(ranks) == 0)
    for k, v in hits.items():
        print(f"  {k:28s} ranks the best selector first in {v / replicates:6.1%} of {replicates} boards")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=1000)
    ap.add_argument("--naive-cells", type=int, default=200)
    args = ap.parse_args()
    print(f"machine: {platform.machine()} {platform.processor() or ''}, python {platform.python_version()}")
    t = time.perf_counter()
    calibration_table(args.cells, args.naive_cells)
    print(f"(calibration: {time.perf_counter() - t:.0f}s; run sd, truth and MDE in points of a 0-100 score)")
    print("headline unit:")
    headline_units()


if __name__ == "__main__":
    main()
