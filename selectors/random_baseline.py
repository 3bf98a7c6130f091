"""``random``: the baseline every method must beat (Chasing Random, arXiv 2410.15225).

Shuffle the pool with the cell's seed and take the first ``budget`` ids; each seed is one
random trial, and the leaderboard averages several.
"""

from __future__ import annotations

from selbench.pools.pool import Pool
from selbench.selection.base import Selection, Selector
from selbench.selection.context import SelectionContext


class RandomSelector(Selector):
    """Uniform random subset, seeded by the cell's seed."""

    name = "random"
    version = "1.0.0"
    paper = "arXiv:2410.15225"
    seeded = True

    def select(self, pool: Pool, budget: int, ctx: SelectionContext) -> Selection:
        order = ctx.np_rng().permutation(len(pool))[:budget]
        ids = pool.data["id"]
        return Selection(ids=[ids[int(i)] for i in order])
