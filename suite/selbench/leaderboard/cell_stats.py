"""Gain over random in one cell (pool, budget, benchmark), with a calibrated 95% interval.

Why not a plain bootstrap: a cell has few runs per arm (3 training seeds of the selector, 3-5
random seeds). A bootstrap of 3 runs sees only 10 distinct resamples and shrinks the between-run
variance by (k-1)/k, so with model-level seed shifts (7B runs differ by 0.7-0.9 points) its
interval under-covers badly (measured in ``benchmarks/leaderboard_calibration.py``). We use the
variance components of a two-way (run x item) layout instead, i.e. a mixed model on run means
fitted by the method of moments, and a t quantile with Satterthwaite degrees of freedom:

- ``gain = mean(selector run scores) - mean(random run scores)``;
- run component: the between-run variance of run means, pooled over both arms
  (``s2_run``, ``k_s + k_r - 2`` degrees of freedom; both arms fine-tune the same recipe, so
  they share its seed noise). It holds the item noise of each run too, so it is not floored or
  pre-tested: a floor at the item noise alone over-covers (97.8% measured) and a pre-test
  under-covers small seed shifts;
- item component: the paired item-level differences (``mean over runs`` per arm, per item), their
  variance *minus* the within-item run noise already counted in the run component, stratified by
  task when item ids carry one (``mmlu/abstract_algebra/12`` -> task ``mmlu``, the first segment,
  as the results schema's ``task-macro`` aggregate defines it); a task-macro score weighs each
  task equally, so its items are weighted ``1 / (tasks x items of the task)``;
- ``se^2 = (1/k_s + 1/k_r) s2_run + v_item``; interval ``gain +- t(df) se``.

Its calibration (ties of a selector identical to random, coverage of the true gain, power) is
simulated by :mod:`selbench.leaderboard.calibration`, in the tests and the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05
POWER = 0.80
EPS = 1e-9  # float noise must not turn an exact tie into a loss


@dataclass(frozen=True)
class CellStat:
    """The gain of one cell and its uncertainty (all in the benchmark's own units)."""

    gain: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    mde: float  # smallest true gain this cell detects with 80% power (two-sided 5% test)
    run_sd: float  # between-run sd of run means (pooled over arms)
    selector_runs: int
    random_runs: int

    @property
    def outcome(self) -> str:
        return outcome(self.ci_low, self.ci_high)


def outcome(lo: float, hi: float) -> str:
    """win if the interval is above 0, loss if below, tie otherwise."""
    return "win" if lo > EPS else "loss" if hi < -EPS else "tie"


def task_strata(ids: list[str]) -> np.ndarray | None:
    """Task code per item (the first '/' segment of its id) when there are several tasks, else None."""
    if not ids or any("/" not in i for i in ids):
        return None
    _, codes = np.unique([i.split("/", 1)[0] for i in ids], return_inverse=True)
    return codes if codes.max() > 0 else None


def item_weights(n: int, strata: np.ndarray | None, macro: bool = False) -> np.ndarray:
    """Weight of each item in the score: 1/n, or 1/(tasks x n_task) for a task-macro average."""
    if strata is None or not macro:
        return np.full(n, 1.0 / n)
    counts = np.bincount(strata)
    return 1.0 / (np.count_nonzero(counts) * counts[strata])


def _residual_var(x: np.ndarray) -> tuple[float, int]:
    """Within-item run noise: residual variance of the (run x item) layout, and its df."""
    k, n = x.shape
    if k < 2 or n < 2:
        return 0.0, 0
    r = x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + x.mean()
    df = (k - 1) * (n - 1)
    return float((r * r).sum() / df), df


def _item_var(d: np.ndarray, w: np.ndarray, strata: np.ndarray | None) -> float:
    """Variance of the weighted mean ``w @ d`` over resampled items (within each task when given)."""
    if strata is None:
        strata = np.zeros(d.shape[0], dtype=int)
    total = 0.0
    for h in np.unique(strata):
        m = strata == h
        if m.sum() > 1:
            total += float((w[m] ** 2).sum() * d[m].var(ddof=1))
    return total


def t_quantile(df: float, q: float) -> float:
    return float(stats.t.ppf(q, df)) if np.isfinite(df) else float(stats.norm.ppf(q))


def mde(se: float, df: float, *, alpha: float = ALPHA, power: float = POWER) -> float:
    """Minimum detectable effect: (t_{1-alpha/2} + t_{power}) x se."""
    return (t_quantile(df, 1 - alpha / 2) + t_quantile(df, power)) * se


def cell_gain(selector: np.ndarray, random: np.ndarray, *, selector_scores: np.ndarray | None = None,
              random_scores: np.ndarray | None = None, strata: np.ndarray | None = None,
              macro: bool = False, alpha: float = ALPHA) -> CellStat:
    """Gain of ``selector`` over ``random`` in one cell.

    ``selector``: (k_s, n) per-item scores of the selector's runs; ``random``: (k_r, n) of the
    random runs, items aligned (paired). ``*_scores``: the rows' reported scores when they are not
    the item means (e.g. a length-controlled win rate); the gain is taken from them and the
    uncertainty from the items (pass items in the score's units: x100 for a 0-100 score).
    ``strata``: task code per item (see :func:`task_strata`); ``macro``: the score is the mean of
    the task means.
    """
    s = np.atleast_2d(np.asarray(selector, dtype=float))
    r = np.atleast_2d(np.asarray(random, dtype=float))
    ks, kr, n = s.shape[0], r.shape[0], s.shape[1]
    w = item_weights(n, strata, macro)
    w2 = float((w * w).sum())
    s_means = s @ w if selector_scores is None else np.asarray(selector_scores, dtype=float)
    r_means = r @ w if random_scores is None else np.asarray(random_scores, dtype=float)
    gain = float(s_means.mean() - r_means.mean())

    # run component: pooled between-run variance of run means (item noise of each run included)
    df_run = (ks - 1) + (kr - 1)
    ss = float(((s_means - s_means.mean()) ** 2).sum() + ((r_means - r_means.mean()) ** 2).sum())
    s2 = ss / df_run if df_run > 0 else 0.0
    v_run = (1.0 / ks + 1.0 / kr) * s2

    # item component: paired differences, minus the within-item run noise counted above
    es, _ = _residual_var(s)
    er, _ = _residual_var(r)
    d = s.mean(axis=0) - r.mean(axis=0)
    v_item = max(_item_var(d, w, strata) - (es / ks + er / kr) * w2, 0.0)

    v = v_run + v_item
    se = float(np.sqrt(v))
    df_item = max(n - 1, 1)
    if v <= 0:
        df = np.inf
    elif df_run > 0:
        df = v * v / (v_run * v_run / df_run + v_item * v_item / df_item)
    else:  # one run per arm: no run variance to see; only the item component (anti-conservative, flagged partial)
        df = float(df_item)
    half = t_quantile(df, 1 - alpha / 2) * se
    return CellStat(gain, se, float(df), gain - half, gain + half, mde(se, df, alpha=alpha), float(np.sqrt(s2)), ks, kr)


def replicates(stat: CellStat, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """Draws of the gain from its sampling distribution (gain + se x t(df)): the resamples that
    rank intervals and the headline's interval are taken from, consistent with the cell's CI."""
    if stat.se <= 0:
        return np.full(n_boot, stat.gain)
    t = rng.standard_t(stat.df, n_boot) if np.isfinite(stat.df) else rng.standard_normal(n_boot)
    return stat.gain + stat.se * t
