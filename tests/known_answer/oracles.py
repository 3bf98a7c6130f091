"""Test-only selectors that know the tiny world's hidden answer key.

They regenerate the labelled pool from the spec's generator arguments (the key never reaches
ordinary selectors) and pick by it: ``oracle-clean`` keeps only uncorrupted examples,
``oracle-corrupt`` takes corrupted ones first. The known-answer test needs the first to beat
random and the second to lose, through the whole pipeline.
"""

from __future__ import annotations

import random

from selbench.selection import Selection, Selector
from selbench.specs import load_spec
from selbench.tinyworld.pool import labelled_rows

SPEC = "tiny"


def _kinds(pool) -> list[str]:
    spec = load_spec(SPEC)
    args = next(p.generator_args for p in spec.pools if p.generator == "tiny-world")
    key = {(r["instruction"], r["output"]): r["kind"] for r in labelled_rows(**args)}
    return [key[(i, o)] for i, o in zip(pool.data["instruction"], pool.data["output"])]


class OracleClean(Selector):
    """Uncorrupted examples only (a seeded shuffle of them)."""

    name = "oracle-clean"

    def select(self, pool, budget, ctx):
        ids = pool.data["id"]
        clean = [i for i, k in zip(ids, _kinds(pool)) if k == "clean"]
        random.Random(0).shuffle(clean)
        return Selection(ids=clean[:budget])


class OracleCorrupt(Selector):
    """Corrupted examples first, then clean ones if the budget needs more."""

    name = "oracle-corrupt"

    def select(self, pool, budget, ctx):
        ids = pool.data["id"]
        kinds = _kinds(pool)
        bad = [i for i, k in zip(ids, kinds) if k != "clean"]
        good = [i for i, k in zip(ids, kinds) if k == "clean"]
        random.Random(0).shuffle(bad)
        random.Random(0).shuffle(good)
        return Selection(ids=(bad + good)[:budget])
