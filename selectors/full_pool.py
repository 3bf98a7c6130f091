"""``full``: the whole pool, the reference row that says what selection is competing with."""

from __future__ import annotations

from selbench.pools.pool import Pool
from selbench.selection.base import Selection, Selector
from selbench.selection.context import SelectionContext


class FullPoolSelector(Selector):
    """Every example of the pool; the budget is ignored (and recorded)."""

    name = "full"
    version = "1.0.0"
    ignores_budget = True

    def select(self, pool: Pool, budget: int, ctx: SelectionContext) -> Selection:
        return Selection(ids=list(pool.data["id"]), info={"requested_budget": budget})
