"""Aggregate submissions into the leaderboard tables (DESIGN §6), with pandas and numpy.

Per cell (spec, pool, budget, benchmark) and submission:

- ``delta = score - mean(score of the submission's random seeds)`` (its own random rows: same
  code, same hardware, paired);
- a 95% **paired bootstrap** CI: each replicate resamples the evaluation items (the same
  resample for the selector and for every random seed: paired) and the random seeds; the
  item-level mean delta of the replicate, shifted so the replicates centre on ``delta``, gives
  the 2.5 / 97.5 percentiles. One item resample per cell is shared by all submissions, so
  replicates are joint across submissions and give rank intervals;
- **win** if the CI is above 0, **loss** if below, else **tie**.

Per submission: win / tie / loss counts; mean delta over its cells; selection cost (dollars,
amortised + per-budget, averaged over cells; GPU-hours, FLOPs); fine-tune cost (dollars of the
fine-tune on the selection); **cost-adjusted gain** = mean delta / (1 + selection $ / fine-tune $);
**break-even** when, for some pool, the selection cost exceeds fine-tuning on the full pool;
**rank interval** = 2.5 / 97.5 percentiles of the submission's rank by cost-adjusted gain over
the bootstrap replicates. Zero-shot and full-pool rows are references (gain against the pooled
random mean), not ranked. Only one spec version is compared at a time.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from selbench.errors import SelbenchError
from selbench.hashing import sha256_json
from selbench.results.schema import ResultRow
from selbench.submissions.validate import Submission

N_BOOT = 1000
ALPHA = 0.05


class LeaderboardError(SelbenchError):
    """No submission can be compared (none, or none of the requested spec version)."""


@dataclass
class Leaderboard:
    spec_id: str
    selectors: pd.DataFrame
    cells: pd.DataFrame
    references: pd.DataFrame
    skipped: list[tuple[str, str]] = field(default_factory=list)
    n_boot: int = N_BOOT


EPS = 1e-9  # float noise of the matrix products must not turn an exact tie into a loss


def outcome(lo: float, hi: float) -> str:
    return "win" if lo > EPS else "loss" if hi < -EPS else "tie"


def _cell_rng(seed: int, key: tuple[Any, ...]) -> np.random.Generator:
    return np.random.default_rng(int(sha256_json([seed, *key])[:16], 16))


def resample_weights(rng: np.random.Generator, n_boot: int, n: int) -> np.ndarray:
    """(n_boot, n) weights of an item bootstrap: counts of each item in n draws with replacement, / n."""
    draws = rng.integers(0, n, size=(n_boot, n)) + (np.arange(n_boot) * n)[:, None]
    return np.bincount(draws.ravel(), minlength=n_boot * n).reshape(n_boot, n) / n


def bootstrap_deltas(selector: np.ndarray, randoms: np.ndarray, *, n_boot: int = N_BOOT,
                     rng: np.random.Generator, weights: np.ndarray | None = None) -> np.ndarray:
    """Bootstrap replicates of ``mean(selector) - mean over seeds(mean(random seed))``.

    ``selector``: (m, n) item scores of m models; ``randoms``: list-like of (k_j, n) per model, or
    one (k, n) array shared by all. Items are resampled once per replicate for everything
    (paired); seeds are resampled per model. Returns (n_boot, m). ``weights`` (n_boot, n) lets
    callers share item resamples.
    """
    selector = np.atleast_2d(selector)
    n = selector.shape[1]
    if weights is None:
        weights = resample_weights(rng, n_boot, n)
    sel_boot = weights @ selector.T  # (B, m)
    rand = np.asarray(randoms)
    if rand.ndim == 2:
        rand = np.broadcast_to(rand, (selector.shape[0], *rand.shape))
    m, k, _ = rand.shape
    rand_boot = (weights @ rand.reshape(m * k, n).T).reshape(-1, m, k)  # (B, m, k)
    picks = rng.integers(0, k, size=rand_boot.shape)
    rand_boot = np.take_along_axis(rand_boot, picks, axis=2).mean(axis=2)
    return sel_boot - rand_boot


def _choose_spec(subs: list[Submission], spec_id: str | None) -> tuple[str, list[Submission], list[tuple[str, str]]]:
    ids = Counter(f"{s.metadata.spec}@v{s.metadata.spec_version}" for s in subs)
    if not ids:
        raise LeaderboardError("no valid submissions to build a leaderboard from")
    if spec_id is None:
        spec_id = max(ids.items(), key=lambda kv: (kv[1], kv[0]))[0]
    elif spec_id not in ids:
        raise LeaderboardError(f"no submission for spec {spec_id} (have: {', '.join(sorted(ids))})")
    keep = [s for s in subs if f"{s.metadata.spec}@v{s.metadata.spec_version}" == spec_id]
    skipped = [(s.slug, f"spec {s.metadata.spec}@v{s.metadata.spec_version}: only {spec_id} is compared") for s in subs if s not in keep]
    return spec_id, keep, skipped


def _aligned(sub: Submission, row: ResultRow, order: list[str], index: dict[str, int]) -> np.ndarray | None:
    ids, scores = sub.items[row.item_scores]
    if ids == order:
        return scores
    if len(ids) != len(order) or any(i not in index for i in ids):
        return None
    out = np.empty(len(order))
    out[[index[i] for i in ids]] = scores
    return out


def aggregate(subs: list[Submission], *, statuses: dict[str, str] | None = None, spec_id: str | None = None,
              n_boot: int = N_BOOT, seed: int = 0) -> Leaderboard:
    statuses = statuses or {}
    spec_id, subs, skipped = _choose_spec(subs, spec_id)

    # group rows by cell
    sel_rows: dict[tuple[str, int, str], list[tuple[Submission, ResultRow]]] = defaultdict(list)
    rand_rows: dict[tuple[str, str, int, str], list[ResultRow]] = defaultdict(list)
    ref_rows: list[tuple[Submission, ResultRow]] = []
    for sub in subs:
        for row in sub.rows:
            if row.kind == "selector":
                sel_rows[(row.pool, row.budget, row.benchmark)].append((sub, row))  # type: ignore[index]
            elif row.kind == "random":
                rand_rows[(sub.slug, row.pool, row.budget, row.benchmark)].append(row)  # type: ignore[index]
            else:
                ref_rows.append((sub, row))

    cell_records: list[dict[str, Any]] = []
    boot_sum: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(n_boot))
    boot_n: Counter[str] = Counter()
    dropped: set[str] = set()
    for key in sorted(sel_rows):
        pool, budget, bench = key
        members = sel_rows[key]
        first_sub, first_row = members[0]
        order = first_sub.items[first_row.item_scores][0]
        index = {i: n for n, i in enumerate(order)}
        x_sel, x_rand, info = [], [], []
        for sub, row in members:
            s = _aligned(sub, row, order, index)
            rands = [(r, _aligned(sub, r, order, index)) for r in rand_rows[(sub.slug, pool, budget, bench)]]
            if s is None or any(a is None for _, a in rands):
                dropped.add(sub.slug)
                skipped.append((sub.slug, f"{pool}/{budget}/{bench}: evaluated on different items than {first_sub.slug}"))
                continue
            x_sel.append(s)
            x_rand.append(np.stack([a for _, a in rands]))
            info.append((sub, row, [r for r, _ in rands]))
        if not info:
            continue
        rng = _cell_rng(seed, key)
        n = len(order)
        weights = resample_weights(rng, n_boot, n)
        sel_arr = np.stack(x_sel)
        # group by number of random seeds so each group is one vectorised call
        by_k: dict[int, list[int]] = defaultdict(list)
        for j, r in enumerate(x_rand):
            by_k[r.shape[0]].append(j)
        boots = np.empty((n_boot, len(info)))
        for k, js in by_k.items():
            boots[:, js] = bootstrap_deltas(sel_arr[js], np.stack([x_rand[j] for j in js]), rng=rng, weights=weights)
        item_delta = sel_arr.mean(axis=1) - np.array([r.mean(axis=1).mean() for r in x_rand])
        for j, (sub, row, rands) in enumerate(info):
            rand_scores = np.array([r.score for r in rands])
            delta = row.score - rand_scores.mean()
            b = boots[:, j] - item_delta[j] + delta
            lo, hi = np.quantile(b, [ALPHA / 2, 1 - ALPHA / 2])
            boot_sum[sub.slug] += b
            boot_n[sub.slug] += 1
            cell_records.append({
                "slug": sub.slug, "pool": pool, "budget": budget, "benchmark": bench, "metric": row.metric,
                "score": row.score, "random_mean": rand_scores.mean(), "random_std": rand_scores.std(ddof=1) if len(rand_scores) > 1 else 0.0,
                "random_seeds": len(rand_scores), "n_items": n, "delta": delta, "ci_low": lo, "ci_high": hi,
                "outcome": outcome(lo, hi), "selection_usd": row.selection_cost.usd,
                "selection_amortised_usd": row.selection_cost.amortised.usd,
                "selection_per_budget_usd": row.selection_cost.per_budget.usd,
                "selection_gpu_h": row.selection_cost.gpu_s / 3600.0, "selection_flops": row.selection_cost.flops,
                "finetune_usd": row.finetune_cost.usd,
            })
    columns = ["slug", "pool", "budget", "benchmark", "metric", "score", "random_mean", "random_std", "random_seeds", "n_items",
               "delta", "ci_low", "ci_high", "outcome", "selection_usd", "selection_amortised_usd", "selection_per_budget_usd",
               "selection_gpu_h", "selection_flops", "finetune_usd"]
    cells = pd.DataFrame(cell_records, columns=columns)
    if cells.empty:
        raise LeaderboardError(f"no comparable cells for {spec_id}")

    # references: pooled random mean per cell; full and zero-shot against it
    rand_df = pd.DataFrame([{"pool": r.pool, "budget": r.budget, "benchmark": r.benchmark, "score": r.score}
                            for rows in rand_rows.values() for r in rows])
    rand_mean = rand_df.groupby(["pool", "budget", "benchmark"])["score"].agg(["mean", "std", "count"]).reset_index()
    ref_df = pd.DataFrame([{"slug": s.slug, "kind": r.kind, "pool": r.pool, "benchmark": r.benchmark, "score": r.score,
                            "finetune_usd": r.finetune_cost.usd} for s, r in ref_rows],
                          columns=["slug", "kind", "pool", "benchmark", "score", "finetune_usd"])
    full_cost = ref_df[ref_df.kind == "full"].groupby(["slug", "pool"])["finetune_usd"].mean()
    full_cost_pooled = ref_df[ref_df.kind == "full"].groupby("pool")["finetune_usd"].mean()
    ref_scores = ref_df.groupby(["kind", "pool", "benchmark"]).agg(score=("score", "mean"), finetune_usd=("finetune_usd", "mean")).reset_index()
    references = ref_scores.merge(rand_mean, on=["pool", "benchmark"], how="inner")
    references["delta"] = references["score"] - references["mean"]
    references = references.rename(columns={"mean": "random_mean", "std": "random_std", "count": "random_runs"})
    rand_cells = rand_mean.rename(columns={"mean": "random_mean", "std": "random_std", "count": "random_runs"})
    rand_cells["kind"], rand_cells["score"], rand_cells["delta"], rand_cells["finetune_usd"] = "random", rand_cells["random_mean"], 0.0, np.nan
    references = pd.concat([references, rand_cells], ignore_index=True)

    # per submission
    by_slug = {s.slug: s for s in subs if s.slug not in dropped or s.slug in set(cells.slug)}
    g = cells.groupby("slug")
    summary = pd.DataFrame({
        "cells": g.size(),
        "wins": g["outcome"].apply(lambda o: int((o == "win").sum())),
        "ties": g["outcome"].apply(lambda o: int((o == "tie").sum())),
        "losses": g["outcome"].apply(lambda o: int((o == "loss").sum())),
        "mean_gain": g["delta"].mean(),
        "selection_usd": g["selection_usd"].mean(),
        "selection_amortised_usd": g["selection_amortised_usd"].mean(),
        "selection_per_budget_usd": g["selection_per_budget_usd"].mean(),
        "selection_gpu_h": g["selection_gpu_h"].mean(),
        "selection_flops": g["selection_flops"].mean(),
        "finetune_usd": g["finetune_usd"].mean(),
    })
    summary["cost_ratio"] = summary["selection_usd"] / summary["finetune_usd"]
    summary["cost_adjusted_gain"] = summary["mean_gain"] / (1.0 + summary["cost_ratio"])
    per_pool_sel = cells.groupby(["slug", "pool"])["selection_usd"].max()
    breaks = {}
    for (slug, pool), usd in per_pool_sel.items():
        full = full_cost.get((slug, pool), full_cost_pooled.get(pool, np.nan))
        breaks[slug] = breaks.get(slug, False) or bool(np.isfinite(full) and usd > full)
    summary["break_even"] = pd.Series(breaks)
    # rank intervals from the joint bootstrap replicates
    slugs = list(summary.index)
    cag = np.stack([boot_sum[s] / boot_n[s] for s in slugs], axis=1) / (1.0 + summary["cost_ratio"].to_numpy())[None, :]
    ranks = (-cag).argsort(axis=1).argsort(axis=1) + 1  # (B, m)
    summary["rank_low"] = np.floor(np.quantile(ranks, ALPHA / 2, axis=0)).astype(int)
    summary["rank_high"] = np.ceil(np.quantile(ranks, 1 - ALPHA / 2, axis=0)).astype(int)
    point = summary["cost_adjusted_gain"].rank(ascending=False, method="min").astype(int)
    summary["rank"] = point
    for col, fn in (("name", lambda m: m.name), ("authors", lambda m: ", ".join(m.authors)), ("paper", lambda m: m.paper),
                    ("code", lambda m: m.code), ("plugin", lambda m: m.plugin.name), ("plugin_version", lambda m: m.plugin.version),
                    ("track", lambda m: m.track), ("uses_api", lambda m: m.uses_api),
                    ("uses_external_model", lambda m: bool(m.external_models))):
        summary[col] = [fn(by_slug[s].metadata) for s in summary.index]
    summary["status"] = [statuses.get(s, "community") for s in summary.index]
    summary = summary.reset_index(names="slug").sort_values(["cost_adjusted_gain", "slug"], ascending=[False, True], ignore_index=True)
    return Leaderboard(spec_id, summary, cells.sort_values(["slug", "pool", "budget", "benchmark"], ignore_index=True),
                       references, skipped, n_boot)
