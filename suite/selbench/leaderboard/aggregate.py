"""Aggregate submissions into the leaderboard tables (DESIGN §6), with pandas and numpy.

Per cell (pool, budget, benchmark) and submission (see :mod:`.cell_stats`):

- **gain** = mean over the selector's runs (training seeds, and selection seeds for seeded
  selectors: one row per seed) - mean over the submission's random runs, in the benchmark's
  own units, oriented so larger is better (:mod:`.units`);
- a calibrated 95% interval (mixed model on run means: run and item variance components, t
  quantile) and the **minimum detectable effect** at 80% power; **win** / **tie** / **loss** by
  whether the interval excludes 0;
- the **compute-matched value** (:mod:`.compute_matched`): the gain minus what random would have
  gained with the selection's compute spent on more random examples.

Per submission, the **headline** = mean over its higher-is-better cells of the compute-matched
value divided by the benchmark's between-run sd of random (pooled over the board: "how many
seed-sds above compute-matched random"); its interval, MDE and the **rank intervals** come from
replicates drawn from each cell's sampling distribution (:func:`.cell_stats.replicates`).
Losses (query loss, nats) are reported per cell but kept out of the headline.

A submission with fewer training seeds than the spec asks, or missing cells of the board's grid,
is **partial**: shown, but ranked apart from complete ones. Zero-shot and full-pool rows are
references (gain against the pooled random mean), not ranked. One spec version at a time.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from selbench.errors import SelbenchError
from selbench.hashing import sha256_json
from selbench.leaderboard import units
from selbench.leaderboard.cell_stats import ALPHA, POWER, CellStat, cell_gain, replicates, task_strata, t_quantile
from selbench.leaderboard.cell_stats import outcome as outcome  # re-exported: the W/T/L rule
from selbench.leaderboard.compute_matched import matched_budget, penalty
from selbench.results.schema import ResultRow
from selbench.submissions.validate import Submission

N_BOOT = 1000
CELL_COLUMNS = [
    "slug", "pool", "budget", "benchmark", "metric", "scale", "direction", "in_headline", "score", "random_mean",
    "random_std", "selector_runs", "random_runs", "seeds", "n_items", "delta", "se", "df", "ci_low", "ci_high", "mde",
    "outcome", "run_sd", "bench_sd", "std_gain", "matched_budget", "matched_penalty", "value", "value_ci_low",
    "value_ci_high", "std_value", "selection_usd", "selection_amortised_usd", "selection_per_budget_usd",
    "selection_gpu_h", "selection_flops", "finetune_usd", "full_finetune_usd", "selection_share_of_full",
]


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
    verdict: dict[str, Any] = field(default_factory=dict)
    #: whose random / full / zero-shot rows the gains are computed against (see .reference)
    reference_rows: str = ""


def _rng(seed: int, key: tuple[Any, ...]) -> np.random.Generator:
    return np.random.default_rng(int(sha256_json([seed, *key])[:16], 16))


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


def _oriented_items(sub: Submission, rows: list[ResultRow], order: list[str], index: dict[str, int]) -> np.ndarray | None:
    arrays = [_aligned(sub, r, order, index) for r in rows]
    if any(a is None for a in arrays):
        return None
    return np.stack([units.sign(r) * units.item_unit(r) * a for r, a in zip(rows, arrays)])  # type: ignore[misc]


def _pooled_sd(groups: list[np.ndarray]) -> float:
    num = sum(float(((g - g.mean()) ** 2).sum()) for g in groups if len(g) > 1)
    den = sum(len(g) - 1 for g in groups if len(g) > 1)
    return float(np.sqrt(num / den)) if den else float("nan")


def _rank_intervals(values: np.ndarray, boots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point ranks (1 = best, ties share the best rank) and 95% intervals from joint replicates (B, m)."""
    point = pd.Series(values).rank(ascending=False, method="min").to_numpy().astype(int)
    ranks = (-boots).argsort(axis=1).argsort(axis=1) + 1
    lo = np.floor(np.quantile(ranks, ALPHA / 2, axis=0)).astype(int)
    hi = np.ceil(np.quantile(ranks, 1 - ALPHA / 2, axis=0)).astype(int)
    return point, np.minimum(lo, point), np.maximum(hi, point)


def aggregate(subs: list[Submission], *, statuses: dict[str, str] | None = None, spec_id: str | None = None,
              n_boot: int = N_BOOT, seed: int = 0) -> Leaderboard:
    statuses = statuses or {}
    spec_id, subs, skipped = _choose_spec(subs, spec_id)
    by_slug = {s.slug: s for s in subs}

    sel_rows: dict[tuple[str, int, str], dict[str, list[ResultRow]]] = defaultdict(lambda: defaultdict(list))
    rand_rows: dict[tuple[str, str, int, str], list[ResultRow]] = defaultdict(list)
    full_rows: dict[tuple[str, str, str], list[ResultRow]] = defaultdict(list)
    ref_rows: list[tuple[Submission, ResultRow]] = []
    for sub in subs:
        for row in sub.rows:
            if row.kind == "selector":
                sel_rows[(row.pool, row.budget, row.benchmark)][sub.slug].append(row)  # type: ignore[index]
            elif row.kind == "random":
                rand_rows[(sub.slug, row.pool, row.budget, row.benchmark)].append(row)  # type: ignore[index]
            else:
                ref_rows.append((sub, row))
                if row.kind == "full":
                    full_rows[(sub.slug, row.pool, row.benchmark)].append(row)

    # the benchmark's scale: between-run sd of random, pooled over every random cell of the board
    by_bench: dict[str, list[np.ndarray]] = defaultdict(list)
    for (_, _, _, bench), rows in rand_rows.items():
        by_bench[bench].append(np.array([units.sign(r) * r.score for r in rows]))
    bench_sd = {b: _pooled_sd(g) for b, g in by_bench.items()}

    # random curves (oriented) and per-example fine-tune cost, per submission and pool
    curves: dict[tuple[str, str, str], list[tuple[float, float]]] = defaultdict(list)
    usd_per_ex: dict[tuple[str, str], list[float]] = defaultdict(list)
    for (slug, pool, budget, bench), rows in rand_rows.items():
        curves[(slug, pool, bench)].append((float(budget), float(np.mean([units.sign(r) * r.score for r in rows]))))
        usd_per_ex[(slug, pool)].extend(r.finetune_cost.usd / budget for r in rows)
    c_ft = {k: float(np.mean(v)) for k, v in usd_per_ex.items()}
    full_usd_pool: dict[str, list[float]] = defaultdict(list)
    for (slug, pool, bench), rows in full_rows.items():
        full_usd_pool[pool].extend(r.finetune_cost.usd for r in rows)

    def full_point(slug: str, pool: str, bench: str) -> tuple[float | None, float | None]:
        """(pool size in examples, oriented full-pool score) for the curve's last point."""
        rows = full_rows.get((slug, pool, bench))
        cost = c_ft.get((slug, pool))
        if not rows or not cost:
            return None, None
        return float(np.mean([r.finetune_cost.usd for r in rows])) / cost, float(np.mean([units.sign(r) * r.score for r in rows]))

    records: list[dict[str, Any]] = []
    boots: dict[str, list[np.ndarray]] = defaultdict(list)  # replicates of std value, headline cells
    for key in sorted(sel_rows):
        pool, budget, bench = key
        members = sel_rows[key]
        first_slug = next(iter(sorted(members)))
        first_sub = by_slug[first_slug]
        order = first_sub.items[members[first_slug][0].item_scores][0]
        index = {i: n for n, i in enumerate(order)}
        strata = task_strata(order)
        for slug in sorted(members):
            sub, rows = by_slug[slug], sorted(members[slug], key=lambda r: r.seed)
            rands = sorted(rand_rows.get((slug, pool, budget, bench), []), key=lambda r: r.seed)
            s_items = _oriented_items(sub, rows, order, index)
            r_items = _oriented_items(sub, rands, order, index) if rands else None
            if s_items is None or r_items is None:
                why = "no random rows" if not rands else f"evaluated on different items than {first_slug}"
                skipped.append((slug, f"{pool}/{budget}/{bench}: {why}"))
                continue
            head = rows[0]
            sgn = units.sign(head)
            stat: CellStat = cell_gain(s_items, r_items, selector_scores=np.array([sgn * r.score for r in rows]),
                                       random_scores=np.array([sgn * r.score for r in rands]), strata=strata,
                                       macro=units.macro_of(head))
            sel_usd = float(np.mean([r.selection_cost.usd for r in rows]))
            pool_size, full_score = full_point(slug, pool, bench)
            cost = c_ft.get((slug, pool), 0.0)
            curve = list(curves[(slug, pool, bench)]) + ([(pool_size, full_score)] if pool_size and full_score is not None else [])
            n_prime = matched_budget(budget, sel_usd, cost, pool_size)
            pen = penalty(curve, budget, n_prime)
            sd = bench_sd.get(bench, float("nan"))
            scale = sd if np.isfinite(sd) and sd > 0 else (stat.se if stat.se > 0 else 1.0)
            full_ft = float(np.mean([r.finetune_cost.usd for r in full_rows[(slug, pool, bench)]])) if full_rows.get((slug, pool, bench)) \
                else (float(np.mean(full_usd_pool[pool])) if full_usd_pool.get(pool) else float("nan"))
            rand_scores = np.array([r.score for r in rands])
            rec = {
                "slug": slug, "pool": pool, "budget": budget, "benchmark": bench, "metric": head.metric,
                "scale": units.scale_of(head), "direction": units.direction_of(head), "in_headline": units.in_headline(head),
                "score": float(np.mean([r.score for r in rows])), "random_mean": float(rand_scores.mean()),
                "random_std": float(rand_scores.std(ddof=1)) if len(rands) > 1 else 0.0,
                "selector_runs": stat.selector_runs, "random_runs": stat.random_runs,
                "seeds": " ".join(str(r.seed) for r in rows), "n_items": len(order),
                "delta": stat.gain, "se": stat.se, "df": stat.df, "ci_low": stat.ci_low, "ci_high": stat.ci_high,
                "mde": stat.mde, "outcome": stat.outcome, "run_sd": stat.run_sd, "bench_sd": scale,
                "std_gain": stat.gain / scale, "matched_budget": n_prime, "matched_penalty": pen,
                "value": stat.gain - pen, "value_ci_low": stat.ci_low - pen, "value_ci_high": stat.ci_high - pen,
                "std_value": (stat.gain - pen) / scale,
                "selection_usd": sel_usd,
                "selection_amortised_usd": float(np.mean([r.selection_cost.amortised.usd for r in rows])),
                "selection_per_budget_usd": float(np.mean([r.selection_cost.per_budget.usd for r in rows])),
                "selection_gpu_h": float(np.mean([r.selection_cost.gpu_s for r in rows])) / 3600.0,
                "selection_flops": float(np.mean([r.selection_cost.flops for r in rows])),
                "finetune_usd": float(np.mean([r.finetune_cost.usd for r in rows])), "full_finetune_usd": full_ft,
                "selection_share_of_full": sel_usd / full_ft if np.isfinite(full_ft) and full_ft > 0 else float("nan"),
            }
            records.append(rec)
            if rec["in_headline"]:
                boots[slug].append((replicates(stat, _rng(seed, (slug, *key)), n_boot) - pen) / scale)
    cells = pd.DataFrame(records, columns=CELL_COLUMNS)
    if cells.empty:
        raise LeaderboardError(f"no comparable cells for {spec_id}")

    references = _references(rand_rows, ref_rows, bench_sd)
    summary = _summaries(cells, boots, by_slug, statuses, n_boot)
    summary = summary.sort_values(["partial", "headline", "slug"], ascending=[True, False, True], ignore_index=True)
    return Leaderboard(spec_id, summary, cells.sort_values(["slug", "pool", "budget", "benchmark"], ignore_index=True),
                       references, skipped, n_boot, _verdict(summary))


def _grid_gaps(cells: pd.DataFrame) -> dict[str, int]:
    """Cells of the board's grid (the union over submissions) each submission lacks."""
    grid = set(map(tuple, cells[["pool", "budget", "benchmark"]].drop_duplicates().to_numpy().tolist()))
    have = cells.groupby("slug").apply(lambda g: set(map(tuple, g[["pool", "budget", "benchmark"]].to_numpy().tolist())),
                                       include_groups=False)
    return {slug: len(grid - h) for slug, h in have.items()}


def _summaries(cells: pd.DataFrame, boots: dict[str, list[np.ndarray]], by_slug: dict[str, Submission],
               statuses: dict[str, str], n_boot: int) -> pd.DataFrame:
    g = cells.groupby("slug")
    head = cells[cells["in_headline"]]
    hg = head.groupby("slug")
    z = t_quantile(np.inf, 1 - ALPHA / 2) + t_quantile(np.inf, POWER)
    summary = pd.DataFrame({
        "cells": g.size(),
        "wins": g["outcome"].apply(lambda o: int((o == "win").sum())),
        "ties": g["outcome"].apply(lambda o: int((o == "tie").sum())),
        "losses": g["outcome"].apply(lambda o: int((o == "loss").sum())),
        "headline_cells": hg.size(),
        "mean_std_gain": hg["std_gain"].mean(),
        "selector_runs_min": g["selector_runs"].min(),
        "selector_runs_max": g["selector_runs"].max(),
        "random_runs_min": g["random_runs"].min(),
        "selection_usd": g["selection_usd"].mean(),
        "selection_amortised_usd": g["selection_amortised_usd"].mean(),
        "selection_per_budget_usd": g["selection_per_budget_usd"].mean(),
        "selection_gpu_h": g["selection_gpu_h"].mean(),
        "selection_flops": g["selection_flops"].mean(),
        "finetune_usd": g["finetune_usd"].mean(),
        "full_finetune_usd": g["full_finetune_usd"].mean(),
        "selection_share_of_full": g["selection_share_of_full"].mean(),
        "break_even": g["selection_share_of_full"].max() > 1.0,
    })
    summary["headline_cells"] = summary["headline_cells"].fillna(0).astype(int)
    slugs = list(summary.index)
    point = np.full(len(slugs), np.nan)
    reps = np.zeros((n_boot, len(slugs)))
    for j, s in enumerate(slugs):
        if boots.get(s):
            reps[:, j] = np.mean(boots[s], axis=0)
            point[j] = float(head.loc[head.slug == s, "std_value"].mean())
        else:
            reps[:, j] = np.nan
    summary["headline"] = point
    summary["headline_ci_low"] = np.quantile(reps, ALPHA / 2, axis=0)
    summary["headline_ci_high"] = np.quantile(reps, 1 - ALPHA / 2, axis=0)
    summary["headline_se"] = reps.std(axis=0, ddof=1)
    summary["headline_mde"] = z * summary["headline_se"]
    summary["headline_outcome"] = [
        "win" if lo > 0 else "loss" if hi < 0 else "tie" for lo, hi in zip(summary["headline_ci_low"], summary["headline_ci_high"])]
    hours = summary["selection_gpu_h"]
    summary["gain_per_gpu_h"] = np.where((summary["headline_ci_low"] > 0) & (hours > 0), summary["headline"] / hours.where(hours > 0, 1.0), np.nan)

    # partial: fewer training seeds than the spec asks, or cells of the board's grid missing
    gaps = _grid_gaps(cells)
    reasons = {}
    for s in slugs:
        why = list(getattr(by_slug[s], "partial", []) or [])
        if gaps.get(s):
            why.append(f"{gaps[s]} cell(s) of the board's grid missing")
        reasons[s] = "; ".join(why)
    summary["partial"] = [bool(reasons[s]) for s in slugs]
    summary["partial_reason"] = [reasons[s] for s in slugs]

    # ranks: complete submissions among themselves, partial ones apart; intervals from joint replicates
    summary["rank"], summary["rank_low"], summary["rank_high"] = 0, 0, 0
    for flag in (False, True):
        idx = np.flatnonzero((summary["partial"].to_numpy() == flag) & np.isfinite(point))
        if len(idx):
            p, lo, hi = _rank_intervals(point[idx], reps[:, idx])
            for col, v in (("rank", p), ("rank_low", lo), ("rank_high", hi)):
                summary.iloc[idx, summary.columns.get_loc(col)] = v
    for col, fn in (("name", lambda m: m.name), ("authors", lambda m: ", ".join(m.authors)), ("paper", lambda m: m.paper),
                    ("code", lambda m: m.code), ("plugin", lambda m: m.plugin.name), ("plugin_version", lambda m: m.plugin.version),
                    ("track", lambda m: m.track), ("uses_api", lambda m: m.uses_api),
                    ("uses_external_model", lambda m: bool(m.external_models))):
        summary[col] = [fn(by_slug[s].metadata) for s in slugs]
    summary["status"] = [statuses.get(s, "community") for s in slugs]
    return summary.reset_index(names="slug")


def _references(rand_rows: dict[tuple[str, str, int, str], list[ResultRow]], ref_rows: list[tuple[Submission, ResultRow]],
                bench_sd: dict[str, float]) -> pd.DataFrame:
    """Full-pool and zero-shot rows against the pooled random mean per cell, and random itself."""
    rand_df = pd.DataFrame([{"pool": r.pool, "budget": r.budget, "benchmark": r.benchmark, "score": units.sign(r) * r.score}
                            for rows in rand_rows.values() for r in rows])
    rand_mean = rand_df.groupby(["pool", "budget", "benchmark"])["score"].agg(["mean", "std", "count"]).reset_index()
    ref_df = pd.DataFrame([{"slug": s.slug, "kind": r.kind, "pool": r.pool, "benchmark": r.benchmark, "score": units.sign(r) * r.score,
                            "finetune_usd": r.finetune_cost.usd} for s, r in ref_rows],
                          columns=["slug", "kind", "pool", "benchmark", "score", "finetune_usd"])
    ref_scores = ref_df.groupby(["kind", "pool", "benchmark"]).agg(score=("score", "mean"), finetune_usd=("finetune_usd", "mean")).reset_index()
    references = ref_scores.merge(rand_mean, on=["pool", "benchmark"], how="inner")
    references["delta"] = references["score"] - references["mean"]
    references = references.rename(columns={"mean": "random_mean", "std": "random_std", "count": "random_runs"})
    rand_cells = rand_mean.rename(columns={"mean": "random_mean", "std": "random_std", "count": "random_runs"})
    rand_cells["kind"], rand_cells["score"], rand_cells["delta"], rand_cells["finetune_usd"] = "random", rand_cells["random_mean"], 0.0, np.nan
    references = pd.concat([references, rand_cells], ignore_index=True)
    sd = references["benchmark"].map(bench_sd).astype(float)
    references["std_delta"] = references["delta"] / sd.where(sd > 0)
    return references


def _verdict(summary: pd.DataFrame) -> dict[str, Any]:
    """The answer at the top of the page: the best complete method and whether anything beats random."""
    complete = summary[~summary["partial"] & summary["headline"].notna()]
    pool = complete if len(complete) else summary[summary["headline"].notna()]
    if pool.empty:
        return {}
    best = pool.sort_values(["headline", "slug"], ascending=[False, True]).iloc[0]
    winners = int((pool["headline_ci_low"] > 0).sum())
    return {
        "slug": best["slug"], "name": best["name"], "headline": float(best["headline"]),
        "ci_low": float(best["headline_ci_low"]), "ci_high": float(best["headline_ci_high"]), "mde": float(best["headline_mde"]),
        "wins": int(best["wins"]), "ties": int(best["ties"]), "losses": int(best["losses"]),
        "rank_low": int(best["rank_low"]), "rank_high": int(best["rank_high"]), "beats_random": winners,
        "compared": int(len(pool)), "partial_only": bool(complete.empty),
    }
