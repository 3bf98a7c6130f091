"""Each pool's provenance as a submission's selection files state it.

Rows name a pool by its fingerprint only; the provenance (generator, version, arguments and, for
the tiny world, the fingerprint of the install key it was made with) lives in the selection files.
The leaderboard and ``verify`` read it to say *why* two pools differ: another version, or the
same version in another tiny world (:mod:`selbench.tinyworld.key`).
"""

from __future__ import annotations

import json
from typing import Any

from selbench.submissions.schema import LIMITS
from selbench.submissions.validate import Submission

#: the provenance field naming the tiny world's key (its fingerprint)
WORLD = "world_key"


def pool_provenance(sub: Submission) -> dict[str, dict[str, Any]]:
    """Each pool's provenance as the submission's selection files state it (one file per pool,
    size-bounded: they are untrusted input). Pools whose file is unreadable are left out."""
    out: dict[str, dict[str, Any]] = {}
    for row in sub.rows:
        if row.pool in out or not row.selection:
            continue
        path = (sub.path / row.selection).resolve()
        try:
            if not path.is_relative_to(sub.path.resolve()) or path.stat().st_size > LIMITS["selections"]:
                continue
            provenance = json.loads(path.read_text("utf-8"))["pool"]["provenance"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(provenance, dict):
            out[row.pool] = provenance
    return out
