"""The statistics: calibration by simulation, hand-computed gains, compute-matched values, partial grids."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from selbench.leaderboard import units
from selbench.leaderboard.aggregate import aggregate
from selbench.leaderboard.calibration import Setting, calibrate
from selbench.leaderboard.cell_stats import cell_gain, item_weights, outcome, task_strata
from selbench.leaderboard.compute_matched import curve_at, matched_budget, penalty
from selbench.leaderboard.site import pareto_front
from selbench.submissions.validate import load_submission

from lb_helpers import small_submission

# model-level seed shifts (log-odds): none, ~1.3 points and ~4 points of run sd on 500 items
SHIFTS = (0.0, 0.1, 0.3)


@pytest.mark.parametrize("shift", SHIFTS)
def test_selector_identical_to_random_ties_at_3_vs_3(shift: float) -> None:
    cal = calibrate(Setting(n_items=500, shift=shift, quality=0.0), cells=1000, seed=11)
    assert cal.tie_rate >= 0.93
    assert 0.93 <= cal.coverage <= 0.97


@pytest.mark.parametrize("shift", SHIFTS)
def test_interval_covers_a_true_gain(shift: float) -> None:
    cal = calibrate(Setting(n_items=500, shift=shift, quality=0.15), cells=1000, seed=12)
    assert cal.truth > 0.02
    assert 0.93 <= cal.coverage <= 0.97


def test_power_and_mde_follow_the_noise() -> None:
    quiet = calibrate(Setting(n_items=500, shift=0.0, quality=0.3), cells=300, seed=13)
    noisy = calibrate(Setting(n_items=500, shift=0.3, quality=0.3), cells=300, seed=13)
    assert quiet.power > noisy.power
    assert quiet.mean_mde < noisy.mean_mde
    # a true gain well above the MDE is detected in most cells
    big = calibrate(Setting(n_items=2000, shift=0.0, quality=0.5), cells=200, seed=14)
    assert big.truth > 1.2 * big.mean_mde and big.power >= 0.8


def test_identical_runs_give_a_zero_width_tie() -> None:
    rng = np.random.default_rng(1)
    items = (rng.random(400) < 0.5).astype(float)
    st = cell_gain(np.stack([items] * 3), np.stack([items] * 3))
    assert st.gain == 0 and st.ci_low == pytest.approx(0, abs=1e-12) and st.outcome == "tie"


def test_gain_is_mean_of_runs_and_more_runs_narrow_the_interval() -> None:
    rng = np.random.default_rng(2)
    a = rng.standard_normal(300)

    def runs(q: float, k: int) -> np.ndarray:
        b = 0.3 * rng.standard_normal((k, 1))
        return (rng.random((k, 300)) < 1 / (1 + np.exp(-(q + b - a)))).astype(float)

    s, r = runs(0.5, 3), runs(0.0, 3)
    st = cell_gain(s, r)
    assert st.gain == pytest.approx(s.mean(axis=1).mean() - r.mean(axis=1).mean())
    assert st.ci_low < st.gain < st.ci_high and st.mde > 0
    wide = [cell_gain(runs(0.5, k), runs(0.0, k)).se for k in (2, 8)]
    assert wide[0] > wide[1]


def test_reported_scores_and_units() -> None:
    """A 0-100 score: items x100 give gain and interval x100; reported scores set the gain."""
    rng = np.random.default_rng(3)
    s, r = (rng.random((3, 200)) < 0.6).astype(float), (rng.random((3, 200)) < 0.5).astype(float)
    one = cell_gain(s, r)
    pct = cell_gain(100 * s, 100 * r)
    assert pct.gain == pytest.approx(100 * one.gain) and pct.se == pytest.approx(100 * one.se)
    shifted = cell_gain(s, r, selector_scores=s.mean(axis=1) + 0.01, random_scores=r.mean(axis=1))
    assert shifted.gain == pytest.approx(one.gain + 0.01) and shifted.se == pytest.approx(one.se)
    row = SimpleNamespace(score=55.0)
    assert units.scale_of(row) == "0-100" and units.item_unit(row) == 100 and units.sign(row) == 1
    assert units.scale_of(SimpleNamespace(score=0.4)) == "0-1"
    loss = SimpleNamespace(score=2.3, scale="nats", direction="lower")
    assert units.sign(loss) == -1 and not units.in_headline(loss)
    old_loss = SimpleNamespace(score=2.3, metric="query_loss")  # a row from before the scale/direction fields
    assert units.scale_of(old_loss) == "nats" and units.sign(old_loss) == -1 and units.item_unit(old_loss) == 1


def test_task_strata_and_macro_weights() -> None:
    ids = [f"mmlu/abstract_algebra/{i}" for i in range(3)] + [f"arc/easy/{i}" for i in range(1)]
    strata = task_strata(ids)
    assert strata is not None and len(set(strata)) == 2
    assert task_strata(["ifeval/1", "ifeval/2"]) is None  # one task: no strata
    w = item_weights(4, strata, macro=True)
    assert w.sum() == pytest.approx(1) and w[-1] == pytest.approx(0.5)  # arc's one item is half the score
    assert np.allclose(item_weights(4, strata), 0.25)


def test_stratified_items_lower_the_variance_of_a_task_mix() -> None:
    """Two tasks with different gains: resampling within each task removes the between-task part
    of the item variance (the runs' variance is the same either way)."""
    rng = np.random.default_rng(4)
    n = 400
    ids = [f"easy/t/{i}" for i in range(n // 2)] + [f"hard/t/{i}" for i in range(n // 2)]
    p = np.full(n, 0.5)
    gain = np.r_[np.zeros(n // 2), np.full(n // 2, 0.4)]
    s = (rng.random((3, n)) < p + gain).astype(float)
    r = (rng.random((3, n)) < p).astype(float)
    strat = cell_gain(s, r, strata=task_strata(ids))
    plain = cell_gain(s, r)
    assert strat.gain == pytest.approx(plain.gain) and strat.se < plain.se


def test_outcome() -> None:
    assert outcome(0.01, 0.2) == "win" and outcome(-0.2, -0.01) == "loss" and outcome(-0.1, 0.1) == "tie"


# --- compute-matched random, by hand ---------------------------------------------------------------


def test_matched_budget_and_curve_by_hand() -> None:
    # c_ft = $0.01 an example: $50 of selection buys 5000 more random examples
    assert matched_budget(1000, 50.0, 0.01, 100_000) == pytest.approx(6000)
    assert matched_budget(1000, 0.0, 0.01, 100_000) == 1000  # free: n' = n
    assert matched_budget(1000, 5000.0, 0.01, 100_000) == 100_000  # capped at the full pool
    pts = [(1000, 0.40), (10_000, 0.50), (100_000, 0.55)]
    assert curve_at(pts, 1000) == pytest.approx(0.40)
    assert curve_at(pts, np.sqrt(1000 * 10_000)) == pytest.approx(0.45)  # halfway in log budget
    assert curve_at(pts, 1e6) == pytest.approx(0.55)  # flat beyond the full pool
    assert penalty(pts, 1000, 1000) == 0.0
    assert penalty(pts, 1000, 100_000) == pytest.approx(0.15)
    # a random curve that dips never turns cost into a bonus
    assert penalty([(1000, 0.5), (10_000, 0.4)], 1000, 10_000) == 0.0


def _twin(src: Path, name: str, selection_usd: float) -> Path:
    """A copy of a submission with identical scores and another selection cost."""
    dst = src.with_name(name)
    shutil.copytree(src, dst)
    rows = [json.loads(line) for line in (dst / "results.jsonl").read_text().splitlines()]
    for row in rows:
        if row["kind"] == "selector":
            row["selection_cost"]["per_budget"]["usd"] = selection_usd
            row["selection_cost"]["amortised"]["usd"] = 0.0
    (dst / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    meta = json.loads((dst / "metadata.json").read_text())
    meta["name"] = name
    (dst / "metadata.json").write_text(json.dumps(meta))
    return dst


def test_compute_matched_ranking_by_hand(tmp_path) -> None:
    loser = small_submission(tmp_path, "Loser", quality=-0.6, selection_usd=0.0)
    winner = small_submission(tmp_path, "Winner", quality=0.6, selection_usd=0.0)
    subs = [load_submission(p) for p in (loser, _twin(loser, "loser-expensive", 400.0), winner,
                                         _twin(winner, "winner-expensive", 400.0))]
    lb = aggregate(subs, n_boot=300)
    sel = lb.selectors.set_index("slug")
    cells = lb.cells.set_index(["slug", "pool", "budget", "benchmark"])
    # a free method's value is its plain gain, cell by cell and in the headline
    free = cells.loc["winner"]
    assert np.allclose(free["value"], free["delta"]) and np.allclose(free["matched_budget"], free.index.get_level_values("budget"))
    assert sel.loc["winner", "headline"] == pytest.approx(sel.loc["winner", "mean_std_gain"])
    # identical gains; cost only lowers the value
    assert np.allclose(cells.loc["loser-expensive", "delta"], cells.loc["loser", "delta"])
    assert (cells.loc["loser-expensive", "value"] <= cells.loc["loser", "value"] + 1e-12).all()
    assert sel.loc["loser-expensive", "headline"] < sel.loc["loser", "headline"]
    assert sel.loc["winner-expensive", "headline"] < sel.loc["winner", "headline"]
    assert sel.loc["loser-expensive", "rank"] > sel.loc["loser", "rank"]
    assert sel.loc["winner-expensive", "rank"] > sel.loc["winner", "rank"]
    # $400 at ~$2.5e-3 an example buys 160k examples: more than either pool, so compared with the full pool
    exp = lb.cells[lb.cells.slug == "winner-expensive"]
    assert (exp["selection_usd"] > exp["full_finetune_usd"]).all()
    sub = subs[3]
    for _, c in exp.iterrows():
        full = [r.score for r in sub.rows if r.kind == "full" and r.pool == c["pool"] and r.benchmark == c["benchmark"]]
        rand = [r.score for r in sub.rows if r.kind == "random" and r.pool == c["pool"] and r.budget == c["budget"] and r.benchmark == c["benchmark"]]
        assert c["matched_penalty"] == pytest.approx(max(0.0, np.mean(full) - np.mean(rand)))
    assert sel.loc["winner-expensive", "break_even"] and not sel.loc["winner", "break_even"]


def test_aggregate_hand_computed(tmp_path) -> None:
    subs = [
        load_submission(small_submission(tmp_path, "Winner", quality=1.5, selection_usd=2.0)),
        load_submission(small_submission(tmp_path, "Same As Random", quality=0.0, selection_usd=0.0)),
    ]
    lb = aggregate(subs, n_boot=500)
    sel = lb.selectors.set_index("slug")
    rows = [r for r in subs[0].rows if r.pool == "alpaca" and r.budget == 1000 and r.benchmark == "ifeval"]
    sel_scores = [r.score for r in rows if r.kind == "selector"]
    rand = [r.score for r in rows if r.kind == "random"]
    assert len(sel_scores) == 3  # every training seed is a run
    got = lb.cells.set_index(["slug", "pool", "budget", "benchmark"]).loc[("winner", "alpaca", 1000, "ifeval")]
    assert got["delta"] == pytest.approx(np.mean(sel_scores) - np.mean(rand))
    assert got["ci_low"] < got["delta"] < got["ci_high"] and got["seeds"] == "0 1 2"
    assert got["mde"] > 0 and got["selector_runs"] == 3 and got["random_runs"] == 3
    assert sel.loc["winner", "wins"] == sel.loc["winner", "cells"] == 8
    assert sel.loc["same-as-random", "ties"] >= 6
    assert sel.loc["winner", "headline_ci_low"] <= sel.loc["winner", "headline"] <= sel.loc["winner", "headline_ci_high"]
    assert sel.loc["winner", "headline_mde"] > 0
    assert sel.loc["winner", "rank_low"] == sel.loc["winner", "rank_high"] == 1
    assert lb.verdict["slug"] == "winner" and lb.verdict["beats_random"] >= 1
    assert {"full", "zero-shot", "random"} <= set(lb.references.kind)


def test_partial_submission_is_flagged_and_ranked_apart(tmp_path) -> None:
    full = load_submission(small_submission(tmp_path, "Complete", quality=0.0))
    old = load_submission(small_submission(tmp_path, "One Seed", quality=1.5, train_seeds=(0,)))
    assert full.partial == []
    assert old.partial and "training seeds" in old.partial[0] and "partial" in old.partial[0]
    lb = aggregate([full, old], n_boot=200)
    sel = lb.selectors.set_index("slug")
    assert bool(sel.loc["one-seed", "partial"]) and not bool(sel.loc["complete", "partial"])
    # better, but partial: it does not take rank 1 from the complete submission
    assert sel.loc["complete", "rank"] == 1 and sel.loc["one-seed", "rank"] == 1
    assert list(lb.selectors.slug) == ["complete", "one-seed"] and lb.verdict["slug"] == "complete"


def test_missing_cells_make_a_submission_partial(tmp_path) -> None:
    a = load_submission(small_submission(tmp_path, "A", quality=0.2))
    b = load_submission(small_submission(tmp_path, "B", quality=0.2, budgets=(1000,)))
    sel = aggregate([a, b], n_boot=200).selectors.set_index("slug")
    assert not sel.loc["a", "partial"] and sel.loc["b", "partial"] and "grid missing" in sel.loc["b", "partial_reason"]


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
    x = aggregate([a], n_boot=200, seed=5).selectors
    y = aggregate([a], n_boot=200, seed=5).selectors
    assert x[["headline_ci_low", "headline_ci_high"]].equals(y[["headline_ci_low", "headline_ci_high"]])


def test_pareto_front() -> None:
    pts = [(1, 0.1, "a"), (2, 0.05, "b"), (3, 0.3, "c"), (4, 0.2, "d"), (0.5, -0.1, "e")]
    assert [k for *_, k in pareto_front(pts)] == ["e", "a", "c"]


def test_lower_is_better_is_flipped_and_kept_out_of_the_headline(tmp_path) -> None:
    folder = small_submission(tmp_path, "Low", quality=-1.0, benchmarks={"ifeval": 60, "qloss": 80})
    rows = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    for row in rows:
        if row["benchmark"] == "qloss":
            row["metric"] = "query_loss"  # an older row without scale/direction: read as nats, lower is better
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    lb = aggregate([load_submission(folder)], n_boot=200)
    cells = lb.cells
    loss, acc = cells[cells.benchmark == "qloss"], cells[cells.benchmark == "ifeval"]
    assert (loss["delta"] > 0).all() and (acc["delta"] < 0).all()  # lower scores: worse accuracy, better loss
    assert not loss["in_headline"].any() and loss["direction"].eq("lower").all()
    sel = lb.selectors.iloc[0]
    assert sel["headline_cells"] == len(acc) and sel["headline"] == pytest.approx(acc["std_value"].mean())


def test_selectors_that_are_all_random_get_overlapping_rank_intervals(tmp_path) -> None:
    """Eight selectors that are random with other seeds: no order between them is settled."""
    subs = [load_submission(small_submission(tmp_path, f"Random Twin {i}", quality=0.0, seed_shift=0.2, seed=i)) for i in range(8)]
    sel = aggregate(subs, n_boot=500).selectors
    lo, hi = sel["rank_low"].to_numpy(), sel["rank_high"].to_numpy()
    assert all(lo[i] <= hi[j] and lo[j] <= hi[i] for i in range(8) for j in range(8))  # every pair overlaps
    assert (sel["headline_outcome"] == "tie").all()
