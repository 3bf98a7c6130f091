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
from selbench.submissions.errors import VerificationError
from selbench.submissions.validate import Submission, load_submission

VERIFIED_SCHEMA = "selbench.verification/v1"


def verify(folder: str | Path, *, out: str | Path, max_selections: int | None = None,
           limits: Limits = Limits()) -> dict[str, Any]:
    """Re-run (isolated) the selections behind the submission's selector rows; return the record.

    Raises :class:`VerificationError` when a selection differs or cannot be re-run.
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
    pools: dict[str, Any] = {}
    for (pool_name, budget, seed), expected in items:
        if pool_name not in pools:
            pools[pool_name] = load_pool(spec.pool(pool_name))
        pool = pools[pool_name]
        fingerprint = next(r.pool_fingerprint for r in sub.rows if r.pool == pool_name)
        if pool.fingerprint != fingerprint:
            raise VerificationError(f"{sub.slug}: pool {pool_name} has fingerprint {pool.fingerprint[:12]} here, "
                                    f"the submission used {fingerprint[:12]}")
        try:
            art = run_selection(pool, selector, budget, seed, Path(out), cost_model=spec.cost_model,
                                spec_id=spec.id, limits=limits, spec=spec)
        except SelbenchError as exc:
            raise VerificationError(f"{sub.slug}: re-running {meta.plugin.name} failed: {exc}") from None
        got = art.data["ids_sha256"]
        checks.append({"pool": pool_name, "budget": budget, "seed": seed, "expected": expected, "got": got, "ok": got == expected})
    record = {
        "status": "verified" if checks and all(c["ok"] for c in checks) else "failed",
        "content_sha256": sub.content_sha256, "plugin": meta.plugin.name, "plugin_version": meta.plugin.version,
        "plugin_sha256": meta.plugin.sha256,
        "checks": checks, "suite_version": __version__,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return record


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
