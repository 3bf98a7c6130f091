"""The statistics against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from selbench.leaderboard.aggregate import aggregate, bootstrap_deltas, outcome, resample_weights
from selbench.leaderboard.site import pareto_front
from selbench.submissions.validate import load_submission

from lb_helpers import small_submission


def _ci(sel, rand, n_boot=2000, seed=0):
    b = bootstrap_deltas(np.asarray(sel, float)[None, :], np.asarray(rand, float), n_boot=n_boot, rng=np.random.default_rng(seed))
    return np.quantile(b[:, 0], [0.025, 0.975])


def test_resample_weights_are_bootstrap_counts() -> None:
    w = resample_weights(np.random.default_rng(0), 500, 7)
    assert w.shape == (500, 7)
    assert np.allclose(w.sum(axis=1), 1.0)
    assert np.allclose(w * 7, np.round(w * 7))  # integer counts / n
    assert abs(w.mean() - 1 / 7) < 0.01


def test_selector_equal_to_random_is_a_tie() -> None:
    rng = np.random.default_rng(1)
    items = (rng.random(400) < 0.5).astype(float)
    lo, hi = _ci(items, np.stack([items, items, items]))
    assert lo == pytest.approx(0, abs=1e-12) and hi == pytest.approx(0, abs=1e-12)  # paired: identical scores give a zero-width interval at 0
    assert outcome(lo, hi) == "tie"
    noisy = np.stack([(rng.random(400) < 0.5).astype(float) for _ in range(3)])
    lo, hi = _ci((rng.random(400) < 0.5).astype(float), noisy)
    assert lo < 0 < hi and outcome(lo, hi) == "tie"


def test_clear_winner_wins_and_clear_loser_loses() -> None:
    rng = np.random.default_rng(2)
    rand = np.stack([(rng.random(500) < 0.4).astype(float) for _ in range(3)])
    lo, hi = _ci((rng.random(500) < 0.7).astype(float), rand)
    assert 0.15 < lo < hi < 0.45 and outcome(lo, hi) == "win"
    lo, hi = _ci((rng.random(500) < 0.1).astype(float), rand)
    assert outcome(lo, hi) == "loss"


def test_ci_shrinks_with_more_items() -> None:
    widths = []
    for n in (100, 400, 1600):
        rng = np.random.default_rng(n)
        rand = np.stack([(rng.random(n) < 0.5).astype(float) for _ in range(3)])
        lo, hi = _ci((rng.random(n) < 0.55).astype(float), rand)
        widths.append(hi - lo)
    assert widths[0] > widths[1] > widths[2]
    assert widths[0] / widths[2] == pytest.approx(4.0, rel=0.35)  # ~ 1/sqrt(n)


def test_ci_includes_random_seed_variation() -> None:
    """Paired items but disagreeing random seeds: the seed resample widens the interval."""
    rng = np.random.default_rng(3)
    base = (rng.random(300) < 0.5).astype(float)
    same = _ci(base, np.stack([base, base, base]))
    spread = np.stack([base, np.clip(base + (rng.random(300) < 0.2), 0, 1), np.clip(base - (rng.random(300) < 0.2), 0, 1)])
    wide = _ci(base, spread)
    assert (wide[1] - wide[0]) > (same[1] - same[0])


def test_aggregate_hand_computed(tmp_path) -> None:
    subs = [
        load_submission(small_submission(tmp_path, "Winner", quality=1.5, selection_usd=2.0)),
        load_submission(small_submission(tmp_path, "Same As Random", quality=0.0, selection_usd=0.0)),
        load_submission(small_submission(tmp_path, "Expensive", quality=1.5, selection_usd=50000.0)),
    ]
    lb = aggregate(subs, n_boot=500)
    sel = lb.selectors.set_index("slug")
    cells = lb.cells
    # delta = score - mean(random seeds), recomputed by hand from the rows
    row = next(r for r in subs[0].rows if r.kind == "selector" and r.pool == "alpaca" and r.budget == 1000 and r.benchmark == "ifeval")
    rand = [r.score for r in subs[0].rows if r.kind == "random" and r.pool == "alpaca" and r.budget == 1000 and r.benchmark == "ifeval"]
    got = cells[(cells.slug == "winner") & (cells.pool == "alpaca") & (cells.budget == 1000) & (cells.benchmark == "ifeval")].iloc[0]
    assert got["delta"] == pytest.approx(row.score - sum(rand) / len(rand))
    assert got["ci_low"] <= got["delta"] <= got["ci_high"]
    assert sel.loc["winner", "wins"] == sel.loc["winner", "cells"] == 8
    assert sel.loc["same-as-random", "wins"] <= 1 and sel.loc["same-as-random", "ties"] >= 6
    # cost-adjusted gain = mean gain / (1 + selection $ / fine-tune $)
    w = sel.loc["winner"]
    ft = cells[cells.slug == "winner"]["finetune_usd"].mean()
    assert w["selection_usd"] == pytest.approx(2.0) and w["finetune_usd"] == pytest.approx(ft)
    assert w["cost_adjusted_gain"] == pytest.approx(w["mean_gain"] / (1 + 2.0 / ft))
    assert sel.loc["same-as-random", "cost_adjusted_gain"] == pytest.approx(sel.loc["same-as-random", "mean_gain"])
    # break-even: 50000 $ > fine-tuning on the full pool (51760 or 15011 examples x 2.5e-3 $)
    assert bool(sel.loc["expensive", "break_even"]) and not bool(sel.loc["winner", "break_even"])
    assert sel.loc["expensive", "cost_adjusted_gain"] < sel.loc["winner", "cost_adjusted_gain"]
    # ranking by cost-adjusted gain, with intervals holding the point rank
    assert list(lb.selectors.slug[:1]) == ["winner"]
    for _, r in lb.selectors.iterrows():
        assert r["rank_low"] <= r["rank"] <= r["rank_high"] or r["rank_low"] <= r["rank_high"]
    assert sel.loc["winner", "rank_low"] == sel.loc["winner", "rank_high"] == 1
    # references: full and zero-shot against the pooled random mean
    kinds = set(lb.references.kind)
    assert {"full", "zero-shot", "random"} <= kinds


def test_only_one_spec_version_is_compared(tmp_path) -> None:
    a = load_submission(small_submission(tmp_path, "A", quality=0.5))
    b = load_submission(small_submission(tmp_path, "B", quality=0.5))
    c = load_submission(small_submission(tmp_path, "C v2", quality=0.5, spec_version=2))
    lb = aggregate([a, b, c], n_boot=200)
    assert lb.spec_id == "chasing-random-v1@v1" and set(lb.selectors.slug) == {"a", "b"}
    assert any(s == "c-v2" and "only chasing-random-v1@v1" in r for s, r in lb.skipped)
    lb2 = aggregate([a, b, c], n_boot=200, spec_id="chasing-random-v1@v2")
    assert set(lb2.selectors.slug) == {"c-v2"}


def test_bootstrap_is_seeded(tmp_path) -> None:
    a = load_submission(small_submission(tmp_path, "A", quality=0.2))
    x = aggregate([a], n_boot=200, seed=5).cells
    y = aggregate([a], n_boot=200, seed=5).cells
    assert x[["ci_low", "ci_high"]].equals(y[["ci_low", "ci_high"]])


def test_pareto_front() -> None:
    pts = [(1, 0.1, "a"), (2, 0.05, "b"), (3, 0.3, "c"), (4, 0.2, "d"), (0.5, -0.1, "e")]
    assert [k for *_, k in pareto_front(pts)] == ["e", "a", "c"]
