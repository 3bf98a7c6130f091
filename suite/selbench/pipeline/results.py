"""Result rows (``selbench.results.schema.ResultRow``) from a run's artifacts.

One row per (cell, benchmark): the benchmark's primary metric as ``score``, the per-item scores
(from the evaluation records) as a gzip JSONL beside ``results.jsonl``, the selection and
fine-tuning cost records.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selbench.hashing import sha256_file
from selbench.results.items import write_item_scores
from selbench.results.schema import ResultRow, StageCost
from selbench.specs.models import Spec

#: summary metric used as the row's score, per benchmark kind (higher is better).
PRIMARY_METRIC = {
    "known_answer": "pair_accuracy",
    "llmbar": "accuracy",
    "ifeval": "prompt_level_strict_acc",
    "alpaca_eval": "win_rate",
    "openllm": "average",
}


def _score(summary: dict[str, Any], kind: str) -> tuple[str, float] | None:
    metric = summary.get("primary_metric") or PRIMARY_METRIC.get(kind)
    metrics = summary.get("metrics") or {}
    value = metrics.get(metric) if isinstance(metrics, dict) else None
    if value is None and kind == "openllm":
        value = summary.get("average")
    if isinstance(value, dict):  # e.g. llmbar {"overall": {...}}
        return None
    if not isinstance(value, (int, float)):
        return None
    return metric, float(value)


def _item_scores(bench_dir: Path) -> tuple[list[str], list[float]]:
    path = bench_dir / "records.jsonl"
    ids, scores = [], []
    if not path.is_file():
        return ids, scores
    seen = set()
    for line in path.read_text("utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(row.get("score"), (int, float)) or str(row.get("id")) in seen:
            continue
        seen.add(str(row["id"]))
        ids.append(str(row["id"]))
        scores.append(float(row["score"]))
    return ids, scores


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
        bdir = evaluation_dir / bench.name
        summary_path = bdir / "summary.json"
        if not summary_path.is_file():
            continue
        summary = json.loads(summary_path.read_text("utf-8"))
        scored = _score(summary, bench.kind)
        ids, scores = _item_scores(bdir)
        if scored is None or not ids:
            continue
        metric, score = scored
        label = f"{kind}-{pool}-{'full' if budget is None else budget}-{selector}-s{seed}-{bench.name}"
        label += f"-t{target}" if target else ""
        label = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in label)[:120]
        item_rel = f"items/{label}.jsonl.gz"
        write_item_scores(run_dir / item_rel, ids, scores)
        data: dict[str, Any] = {
            "kind": kind, "spec": spec.name, "spec_version": spec.version, "track": spec.track, "pool": pool,
            "pool_fingerprint": pool_fingerprint, "budget": budget, "selector": selector,
            "selector_version": selector_version, "seed": seed, "benchmark": bench.name,
            "metric": metric.replace(",", "_"), "score": score, "n_items": len(ids), "item_scores": item_rel,
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
        rows.append(ResultRow.model_validate(data))
    return rows
