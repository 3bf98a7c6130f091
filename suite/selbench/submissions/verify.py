"""``selbench submissions verify``: re-run the plugin's selections and compare ``ids_sha256``.

This is the only way a submission becomes "verified". The outcome is recorded (with the
submission's content hash) in a maintainer-owned file, ``leaderboard/verified.json`` by
default; the leaderboard shows "verified" only while the submission's files still hash to the
recorded value, so editing a verified submission turns it back into "community".
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from selbench import __version__
from selbench.atomic import atomic_write_json
from selbench.errors import SelbenchError
from selbench.selection.isolation import Limits
from selbench.safe_text import printable
from selbench.submissions.errors import VerificationError
from selbench.submissions.pool_provenance import WORLD, pool_provenance
from selbench.submissions.validate import Submission, load_submission

VERIFIED_SCHEMA = "selbench.verification/v1"


#: Largest difference a re-trained cell's score may show, as a share of its scale's unit (GPU
#: kernels are not bit-reproducible; the tiny scale on CPU reproduces exactly).
RETRAIN_TOLERANCE = 0.02


def verify(folder: str | Path, *, out: str | Path, max_selections: int | None = None,
           limits: Limits = Limits(), retrain: int = 0, tolerance: float = RETRAIN_TOLERANCE) -> dict[str, Any]:
    """Re-run (isolated) the selections behind the submission's selector rows; return the record.

    Loading the submission recomputes every score from its per-item file. With ``retrain`` > 0,
    that many selector rows (a sample fixed by the submission's content hash) are also
    re-trained from their re-run selection and re-evaluated, and their scores must agree within
    ``tolerance`` of the scale's unit. Raises :class:`VerificationError` when a selection cannot
    be re-run.
    """
    from selbench.pools.loader import load_pool
    from selbench.selection.stage import run_selection
    from selbench.specs.loader import load_spec

    sub = load_submission(folder)
    meta = sub.metadata
    spec = load_spec(meta.spec)
    if spec.version != meta.spec_version:
        raise VerificationError(f"{sub.slug}: spec {meta.spec} is version {spec.version} here, the submission is v{meta.spec_version}")
    todo: dict[tuple[str, int, int], str] = {}
    for row in sub.rows:
        if row.kind == "selector" and row.budget is not None and row.selection_ids_sha256:
            todo.setdefault((row.pool, row.budget, row.seed), row.selection_ids_sha256)
    items = sorted(todo.items())[: max_selections or None]
    selector = meta.plugin.name
    if meta.plugin.file is not None:  # a file plugin runs from the copy inside the submission (hash checked on load)
        selector = str((sub.path / meta.plugin.file).resolve()) + (f":{meta.plugin.attr}" if meta.plugin.attr else "")
    checks = []
    selections: dict[tuple[str, int, int], Any] = {}
    pools: dict[str, Any] = {}
    for (pool_name, budget, seed), expected in items:
        if pool_name not in pools:
            pools[pool_name] = load_pool(spec.pool(pool_name))
        pool = pools[pool_name]
        fingerprint = next(r.pool_fingerprint for r in sub.rows if r.pool == pool_name)
        if pool.fingerprint != fingerprint:
            theirs = pool_provenance(sub).get(pool_name, {}).get(WORLD)
            if pool.provenance.get(WORLD) is not None and theirs != pool.provenance.get(WORLD):
                raise VerificationError(f"{sub.slug}: pool {pool_name} was made in another tiny world (world key "
                                        f"{printable(str(theirs))[:16]}, this machine's {pool.provenance[WORLD]}): the "
                                        "tiny world is secret per install, so only runs made with this machine's key "
                                        "can be verified here")
            raise VerificationError(f"{sub.slug}: pool {pool_name} has fingerprint {pool.fingerprint[:12]} here, "
                                    f"the submission used {fingerprint[:12]}")
        try:
            art = run_selection(pool, selector, budget, seed, Path(out), cost_model=spec.cost_model,
                                spec_id=spec.id, limits=limits, spec=spec)
        except SelbenchError as exc:
            raise VerificationError(f"{sub.slug}: re-running {meta.plugin.name} failed: {exc}") from None
        got = art.data["ids_sha256"]
        checks.append({"pool": pool_name, "budget": budget, "seed": seed, "expected": expected, "got": got, "ok": got == expected})
        selections[(pool_name, budget, seed)] = art
    retrained = _retrain(sub, spec, selections, Path(out), retrain, tolerance) if retrain > 0 else []
    record = {
        "status": "verified" if checks and all(c["ok"] for c in checks) and all(c["ok"] for c in retrained) else "failed",
        "scores": f"recomputed from {len(sub.items)} per-item files",
        "retrained": retrained,
        "content_sha256": sub.content_sha256, "plugin": meta.plugin.name, "plugin_version": meta.plugin.version,
        "plugin_sha256": meta.plugin.sha256,
        "checks": checks, "suite_version": __version__,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return record


def _retrain(sub: Submission, spec: Any, selections: dict[tuple[str, int, int], Any], out: Path, n: int,
             tolerance: float) -> list[dict[str, Any]]:
    """Re-train and re-evaluate ``n`` sampled selector rows whose selection was re-run."""
    import numpy as np

    from selbench.evaluation.row_scores import row_scores
    from selbench.evaluation.stage import run_evaluation
    from selbench.training.stage import run_training

    rows = sorted((r for r in sub.rows if r.kind == "selector" and (r.pool, r.budget, r.seed) in selections),
                  key=lambda r: (r.pool, r.budget or 0, r.seed, r.benchmark))
    rng = np.random.default_rng(int(sub.content_sha256[:12], 16))
    picked = [rows[i] for i in sorted(rng.choice(len(rows), size=min(n, len(rows)), replace=False))] if rows else []
    checks = []
    for row in picked:
        art = selections[(row.pool, row.budget, row.seed)]
        bench_name = row.benchmark.split("/", 1)[0]
        try:
            trained = run_training(art.data, spec, out, seed=row.seed, progress=False)
            ev = run_evaluation(spec, adapter=trained.adapter_dir, benchmarks=[bench_name], out_dir=out)
            bench = next(b for b in spec.benchmarks if b.name == bench_name)
            score = next(r.score for r in row_scores(bench.name, bench.kind, ev.folder / bench.name)
                         if r.benchmark == row.benchmark)
        except (SelbenchError, StopIteration) as exc:
            raise VerificationError(f"{sub.slug}: re-training {row.pool}/{row.budget}/seed {row.seed} for "
                                    f"{row.benchmark} failed: {exc or 'no such benchmark in the spec'}") from None
        unit = 100.0 if getattr(row, "scale", "0-1") == "0-100" else 1.0
        checks.append({"pool": row.pool, "budget": row.budget, "seed": row.seed, "benchmark": row.benchmark,
                       "submitted": row.score, "retrained": score, "ok": abs(score - row.score) <= tolerance * unit})
    return checks


def load_records(path: str | Path) -> dict[str, dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        return {}
    data = json.loads(path.read_text("utf-8"))
    if data.get("schema") != VERIFIED_SCHEMA:
        raise SelbenchError(f"{path}: not a verification record file (schema {VERIFIED_SCHEMA})")
    return dict(data.get("submissions", {}))


def save_record(path: str | Path, slug: str, record: dict[str, Any]) -> None:
    records = load_records(path)
    records[slug] = record
    atomic_write_json(path, {"schema": VERIFIED_SCHEMA, "submissions": dict(sorted(records.items()))})


def status_of(sub: Submission, records: dict[str, dict[str, Any]]) -> str:
    """'verified' only if a verification record matches the submission's current content."""
    rec = records.get(sub.slug)
    if rec and rec.get("status") == "verified" and rec.get("content_sha256") == sub.content_sha256:
        return "verified"
    return "community"
