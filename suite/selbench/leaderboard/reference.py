"""The leaderboard's own reference rows: gains are never computed against a submitter's.

A submission carries random, full-pool and zero-shot rows, and a submitter could lower their
own random rows to inflate every gain. The leaderboard therefore keeps, per spec version, the
reference rows the maintainers ran once, in the repository (``leaderboard/reference/<folder>/``,
a submission folder made by ``selbench submit`` from their run, validated like any other). Every
submission of that spec is ranked with its own selector rows and *these* reference rows; its
own reference rows are validated and ignored. A submission whose pool versions or evaluation
items differ from the reference's cannot be compared and is skipped with the reason. Without a
reference for the spec the board says so and falls back to each submission's own rows.

The tiny world is secret per install (:mod:`selbench.tinyworld.key`): a run made with another key
has the same pool version and evaluation items but other facts, so it is skipped with a reason of
its own ("another tiny world"); only runs on the machine (or key) that made the reference rows
compare with them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from selbench.safe_text import printable
from selbench.submissions.errors import SubmissionError
from selbench.submissions.pool_provenance import WORLD, pool_provenance
from selbench.submissions.validate import Submission, discover, load_submission

REFERENCE_ROOT = Path("leaderboard/reference")
REFERENCE_KINDS = ("random", "full", "zero-shot")


def load_reference(root: str | Path, spec: str, version: int) -> Submission | None:
    """The reference submission for ``spec`` v``version`` under ``root``, if the repository has one."""
    root = Path(root)
    if not root.is_dir():
        return None
    for folder in discover(root):
        try:
            sub = load_submission(folder, check_selections=False)
        except SubmissionError:
            continue
        if sub.metadata.spec == spec and sub.metadata.spec_version == version:
            return sub
    return None


def mismatch(sub: Submission, ref: Submission) -> str | None:
    """Why ``sub`` cannot be compared with ``ref`` (pool versions, evaluation items, the tiny
    world's key), or ``None``. The world is checked last, so "another tiny world" means the rest
    (generator, version, arguments, evaluation items) matched."""
    mine, theirs = pool_provenance(sub), pool_provenance(ref)
    for pool, provenance in mine.items():
        if pool in theirs and _without_world(provenance) != _without_world(theirs[pool]):
            return f"pool '{pool}' is another version than the leaderboard's reference ({printable(str(_without_world(provenance)))[:200]})"
    ref_items = {r.benchmark: frozenset(ref.items[r.item_scores][0]) for r in ref.rows if r.item_scores in ref.items}
    for row in sub.rows:
        if row.kind == "selector" and row.benchmark in ref_items and row.item_scores in sub.items:
            if frozenset(sub.items[row.item_scores][0]) != ref_items[row.benchmark]:
                return f"benchmark '{row.benchmark}' was evaluated on other items than the leaderboard's reference"
    for pool, provenance in mine.items():
        if pool in theirs and provenance.get(WORLD) != theirs[pool].get(WORLD):
            return (f"pool '{pool}' was made in another tiny world (world key {printable(str(provenance.get(WORLD)))[:16]}, "
                    f"the reference's {printable(str(theirs[pool].get(WORLD)))[:16]}): the tiny world's facts are secret "
                    "per install, so only runs made with the reference's key compare with its rows")
    pools = {r.pool: r.pool_fingerprint for r in ref.rows}
    for row in sub.rows:
        if row.pool in pools and pools[row.pool] != row.pool_fingerprint:
            return f"pool '{row.pool}' is another version than the leaderboard's reference ({row.pool_fingerprint[:12]})"
    return None


def _without_world(provenance: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in provenance.items() if k != WORLD}


def with_reference(sub: Submission, ref: Submission) -> Submission:
    """``sub`` with its reference rows replaced by the leaderboard's (their per-item files too)."""
    prefix = "reference:"
    own = [r for r in sub.rows if r.kind not in REFERENCE_KINDS]
    theirs = [r.model_copy(update={"item_scores": prefix + r.item_scores}) for r in ref.rows if r.kind in REFERENCE_KINDS]
    items = {k: v for k, v in sub.items.items() if any(r.item_scores == k for r in own)}
    items |= {prefix + k: v for k, v in ref.items.items()}
    return replace(sub, rows=own + theirs, items=items)
