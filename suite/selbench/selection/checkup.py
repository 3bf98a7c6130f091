"""``selbench validate-selector``: run a plugin the way the suite will, before submitting it.

The plugin runs isolated on a small generated pool (or a pool the author names), twice with the
same seed and once with another; each check is reported, so an author learns about a
non-deterministic or contract-breaking selector on a laptop, not in CI.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selbench.errors import SelbenchError
from selbench.pools.pool import Pool
from selbench.selection.isolation import Limits
from selbench.selection.stage import run_selection


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def checkup(
    selector: str, pool: Pool, budget: int, params: dict[str, Any] | None = None, limits: Limits = Limits()
) -> tuple[list[Check], dict[str, Any] | None]:
    """Run the checks; returns them and the selector's metadata (None if it never ran)."""
    checks: list[Check] = []
    with tempfile.TemporaryDirectory(prefix="selbench-checkup-") as tmp:
        runs = {}
        for label, seed in (("first", 0), ("repeat", 0), ("other-seed", 1)):
            try:
                runs[label] = run_selection(pool, selector, budget, seed, Path(tmp) / label, params=params, limits=limits)
            except SelbenchError as exc:
                checks.append(Check(f"run (seed {seed})", False, str(exc)))
                return checks, None
        first = runs["first"].data
        checks.append(Check("loads and runs isolated", True, f"{first['cost']['total']['wall_s']:.2f} s wall"))
        checks.append(Check("valid output", True, f"{first['size']} unique ids from the pool (budget {budget})"))
        same = runs["repeat"].data["ids_sha256"] == first["ids_sha256"]
        checks.append(Check("deterministic for a seed", same, "same ids for seed 0 twice" if same else "seed 0 gave different ids on a rerun; seed your randomness from ctx.seed / ctx.rng()"))
        differs = runs["other-seed"].data["ids_sha256"] != first["ids_sha256"]
        seeded = bool(first["selector"]["seeded"])
        if seeded:
            checks.append(Check("seed changes the selection", differs, "declared seeded=True" + ("" if differs else ", but seeds 0 and 1 gave the same ids")))
        else:
            checks.append(Check("seed-independent", not differs, "declared seeded=False" + ("" if not differs else ", but seeds 0 and 1 differ: set seeded=True")))
        return checks, first["selector"]
