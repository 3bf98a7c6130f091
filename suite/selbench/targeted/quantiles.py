"""The distance-quantile experiment (arXiv 2602.14696 §2.5): does similarity predict query loss?

For a representation: round-robin order the *entire* pool against the target's query set, cut
the order into ``quantiles`` equal parts (quantile 0 = the most similar), fine-tune on the first
``per_quantile`` examples of each part, and evaluate every adapter on the target's benchmarks
(its query loss and test set) through one vLLM server. A representation whose similarity
"tracks" the target orders the quantiles by loss: the Spearman correlation between the quantile
index and the query loss is then strongly positive (farther data, higher loss). The paper finds
this holds consistently only for gradient (LESS) representations.

Everything goes through the suite's stages (the selection stage for the full order, the
fine-tuning stage, the evaluation stage), so every artifact is cached and a rerun resumes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selbench.atomic import atomic_write_json
from selbench.errors import SelbenchError
from selbench.hashing import ids_sha256


@dataclass
class QuantileOutcome:
    representation: str
    target: str
    quantiles: list[dict[str, Any]] = field(default_factory=list)
    spearman: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"representation": self.representation, "target": self.target,
                "quantiles": self.quantiles, "spearman": self.spearman}


def _spearman(x: list[float], y: list[float]) -> dict[str, float]:
    from scipy.stats import spearmanr

    res = spearmanr(x, y)
    return {"rho": float(res.statistic), "p_value": float(res.pvalue)}


def quantile_slices(order: list[str], quantiles: int, per_quantile: int) -> list[list[str]]:
    """The first ``per_quantile`` ids of each of ``quantiles`` equal parts of ``order``."""
    n = len(order)
    if quantiles < 2 or quantiles > n:
        raise SelbenchError(f"--quantiles must be between 2 and the pool size ({n})")
    size = n // quantiles
    if per_quantile < 1 or per_quantile > size:
        raise SelbenchError(f"--per-quantile must be between 1 and the quantile size ({size} = {n} // {quantiles})")
    return [order[q * size: q * size + per_quantile] for q in range(quantiles)]


def run_quantiles(spec: Any, run_dir: Path, *, representation: str, target: str, pool_name: str | None = None,
                  quantiles: int = 10, per_quantile: int | None = None, seed: int = 0,
                  report: Any = lambda msg: None) -> QuantileOutcome:
    from selbench.evaluation.stage import run_evaluation_many
    from selbench.pools.loader import load_pool
    from selbench.selection.stage import run_selection
    from selbench.training.stage import run_training

    if spec.targeted is None:
        raise SelbenchError(f"spec {spec.id} is not on the targeted track")
    pool_spec = spec.pool(pool_name) if pool_name else spec.pools[0]
    pool = load_pool(pool_spec)
    per_quantile = per_quantile or min(spec.budgets)
    selector = f"{representation}-rr"
    report(f"ordering the whole pool with {selector}@{target}…")
    art = run_selection(pool, selector, len(pool), seed, run_dir, spec=spec, target=target,
                        cost_model=spec.cost_model)
    slices = quantile_slices(list(art.ids), quantiles, per_quantile)
    adapters: dict[str, Path | None] = {}
    for q, ids in enumerate(slices):
        report(f"fine-tuning on quantile {q} ({len(ids)} examples)…")
        selection = {"ids": ids, "ids_sha256": ids_sha256(ids), "budget": len(ids), "seed": seed,
                     "pool": {"name": pool.name, "fingerprint": pool.fingerprint},
                     "selector": {"name": f"{selector}-{target}-q{q}of{quantiles}"}}
        trained = run_training(selection, spec, run_dir, seed=seed, pool=pool, progress=False)
        adapters[f"q{q}"] = trained.adapter_dir
    benches = list(spec.targeted.target(target).benchmarks)
    report(f"evaluating {len(adapters)} adapters on {', '.join(benches)}…")
    evals = run_evaluation_many(spec, targets=adapters, benchmarks=benches, out_dir=run_dir, progress=report)
    outcome = QuantileOutcome(representation, target)
    kinds = {b.name: b.kind for b in spec.benchmarks}
    for q in range(quantiles):
        summaries = evals[f"q{q}"].summaries
        row: dict[str, Any] = {"quantile": q, "examples": len(slices[q])}
        for name, summary in summaries.items():
            metrics = summary.get("metrics") or {}
            if kinds.get(name) == "query_loss":
                row[f"{name}:mean_token_ce"] = float(metrics["mean_token_ce"])
            elif summary.get("primary_metric") in metrics:
                row[f"{name}:{summary['primary_metric']}"] = float(metrics[summary["primary_metric"]])
        outcome.quantiles.append(row)
    index = [float(q) for q in range(quantiles)]
    for key in [k for k in outcome.quantiles[0] if ":" in k]:
        outcome.spearman[key] = _spearman(index, [r[key] for r in outcome.quantiles])
    atomic_write_json(run_dir / "quantiles" / target / f"{representation}.json", outcome.to_json())
    return outcome
