"""Simulated cells that check the leaderboard's intervals are honest (used by tests and benchmarks).

A simulated cell: ``n`` items drawn afresh (difficulty ~ N(0, 1)); each run (a fine-tuned
model) has a model-level seed shift ``b ~ N(0, shift)`` in log-odds; item i of run r is solved
with probability ``sigmoid(quality + b_r - difficulty_i)``, 0/1 scored. The random arm has
``quality = 0``. The true gain is the expectation over items and seeds, computed once by Monte
Carlo. Every interval is obtained through :func:`selbench.leaderboard.cell_stats.cell_gain`, the
function the leaderboard's aggregation calls for each cell.

:func:`naive_bootstrap` is the interval the first leaderboard used (resample items, and runs
within each arm, percentiles); it is kept here only to show, side by side, why it was replaced.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from selbench.leaderboard.cell_stats import cell_gain, outcome


@dataclass(frozen=True)
class Setting:
    n_items: int = 500
    shift: float = 0.0  # sd of the model-level seed shift, log-odds
    quality: float = 0.0  # selector log-odds above random
    selector_runs: int = 3
    random_runs: int = 3


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def true_gain(setting: Setting, samples: int = 2_000_000, seed: int = 99) -> float:
    if setting.quality == 0:
        return 0.0
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(samples)
    b = setting.shift * rng.standard_normal(samples)
    return float((_sigmoid(setting.quality + b - a) - _sigmoid(b - a)).mean())


def run_mean_sd(setting: Setting, samples: int = 400, seed: int = 98) -> float:
    """The between-run sd of a run's score this setting implies (in score units, 0-1)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(setting.n_items)
    x = [_draw(rng, a, 0.0, setting.shift, 1).mean() for _ in range(samples)]
    return float(np.std(x, ddof=1))


def _draw(rng: np.random.Generator, difficulty: np.ndarray, quality: float, shift: float, runs: int) -> np.ndarray:
    b = shift * rng.standard_normal((runs, 1))
    return (rng.random((runs, difficulty.shape[0])) < _sigmoid(quality + b - difficulty)).astype(float)


def simulate_cell(setting: Setting, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    a = rng.standard_normal(setting.n_items)
    return (_draw(rng, a, setting.quality, setting.shift, setting.selector_runs),
            _draw(rng, a, 0.0, setting.shift, setting.random_runs))


def naive_bootstrap(sel: np.ndarray, rand: np.ndarray, rng: np.random.Generator, n_boot: int = 400) -> tuple[float, float]:
    """Percentile CI of a two-stage bootstrap: items (paired) and runs within each arm."""
    n = sel.shape[1]
    idx = rng.integers(0, n, (n_boot, n))
    s_runs = rng.integers(0, sel.shape[0], (n_boot, sel.shape[0]))
    r_runs = rng.integers(0, rand.shape[0], (n_boot, rand.shape[0]))
    out = np.empty(n_boot)
    for b in range(n_boot):
        out[b] = sel[s_runs[b]][:, idx[b]].mean() - rand[r_runs[b]][:, idx[b]].mean()
    lo, hi = np.quantile(out, [0.025, 0.975])
    return float(lo), float(hi)


@dataclass(frozen=True)
class Calibration:
    setting: Setting
    truth: float
    cells: int
    tie_rate: float  # share of cells with outcome "tie"
    coverage: float  # share of cells whose 95% interval holds the true gain
    power: float  # share of cells called a win
    mean_mde: float
    naive_coverage: float | None = None
    naive_tie_rate: float | None = None


def calibrate(setting: Setting, cells: int = 400, seed: int = 0, *, naive: bool = False) -> Calibration:
    """Simulate ``cells`` cells of ``setting`` and score the intervals of :func:`cell_gain`."""
    rng = np.random.default_rng(seed)
    truth = true_gain(setting)
    ties = covered = wins = 0
    n_cov = n_tie = 0
    mdes = []
    for _ in range(cells):
        sel, rand = simulate_cell(setting, rng)
        st = cell_gain(sel, rand)
        o = st.outcome
        ties += o == "tie"
        wins += o == "win"
        covered += st.ci_low <= truth <= st.ci_high
        mdes.append(st.mde)
        if naive:
            lo, hi = naive_bootstrap(sel, rand, rng)
            n_cov += lo <= truth <= hi
            n_tie += outcome(lo, hi) == "tie"
    return Calibration(setting, truth, cells, ties / cells, covered / cells, wins / cells, float(np.mean(mdes)),
                       n_cov / cells if naive else None, n_tie / cells if naive else None)
