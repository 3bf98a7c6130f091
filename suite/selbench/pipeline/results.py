"""Result rows (``selbench.results.schema.ResultRow``) from a run's artifacts.

One row per (cell, benchmark) (AlpacaEval: per reference): the benchmark's score, scale and
direction and the per-item scores as :mod:`selbench.evaluation.row_scores` reads them from the
evaluation folder (a summary that cannot become a row raises, naming the benchmark), the
per-item scores as a gzip JSONL beside ``results.jsonl``, the selection and fine-tuning costs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selbench.evaluation.row_scores import RowScore, row_scores
from selbench.hashing import sha256_file
from selbench.results.items import write_item_scores
from selbench.results.schema import ResultRow, StageCost
from selbench.specs.models import Spec

def result_rows(
    spec: Spec,
    run_dir: Path,
    *,
    kind: str,
    pool: str,
    pool_fingerprint: str,
    budget: int | None,
    selector: str,
    selector_version: str,
    seed: int,
    evaluation_dir: Path,
    selection: dict[str, Any] | None,
    selection_path: Path | None,
    training: dict[str, Any] | None,
    benchmarks: list[str] | None = None,
    target: str | None = None,
) -> list[ResultRow]:
    """Rows for ``benchmarks`` (default: the spec's grid benchmarks); ``target`` is the target task
    of a targeted selector's cell (recorded in each row)."""
    rows = []
    wanted = set(spec.grid_benchmarks if benchmarks is None else benchmarks)
    for bench in spec.benchmarks:
        if bench.name not in wanted:
            continue
        for scored in row_scores(bench.name, bench.kind, evaluation_dir / bench.name):
            rows.append(_row(spec, run_dir, scored, kind=kind, pool=pool, pool_fingerprint=pool_fingerprint,
                             budget=budget, selector=selector, selector_version=selector_version, seed=seed,
                             selection=selection, selection_path=selection_path, training=training, target=target))
    return rows


def _row(spec: Spec, run_dir: Path, scored: RowScore, *, kind: str, pool: str, pool_fingerprint: str,
         budget: int | None, selector: str, selector_version: str, seed: int, selection: dict[str, Any] | None,
         selection_path: Path | None, training: dict[str, Any] | None, target: str | None) -> ResultRow:
    label = f"{kind}-{pool}-{'full' if budget is None else budget}-{selector}-s{seed}-{scored.benchmark}"
    label += f"-t{target}" if target else ""
    label = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in label)[:120]
    item_rel = f"items/{label}.jsonl.gz"
    write_item_scores(run_dir / item_rel, scored.ids, scored.items)
    data: dict[str, Any] = {
        "kind": kind, "spec": spec.name, "spec_version": spec.version, "track": spec.track, "pool": pool,
        "pool_fingerprint": pool_fingerprint, "budget": budget, "selector": selector,
        "selector_version": selector_version, "seed": seed, "benchmark": scored.benchmark,
        "metric": scored.metric.replace(",", "_"), "score": scored.score, "scale": scored.scale,
        "direction": scored.direction, "aggregate": scored.aggregate, "extra_metrics": scored.extra,
        "n_items": len(scored.ids), "item_scores": item_rel,
        "item_scores_sha256": sha256_file(run_dir / item_rel),
    }
    if target is not None:
        data["target"] = target
    if selection is not None and selection_path is not None:
        data |= {"selection": selection_path.relative_to(run_dir).as_posix(),
                 "selection_ids_sha256": selection["ids_sha256"],
                 "selection_cost": StageCost.from_cost_record(selection["cost"]).model_dump()}
    if training is not None:
        data["finetune_cost"] = StageCost.from_cost_record(training["cost"]).model_dump()
    return ResultRow.model_validate(data)
