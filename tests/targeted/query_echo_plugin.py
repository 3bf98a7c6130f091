"""A test plugin on the targeted track that reports the query set it was handed (no models)."""

from __future__ import annotations

from selbench.selection.base import Selection, Selector


class QueryEcho(Selector):
    """Picks the first ``budget`` rows; echoes the query set it was handed."""

    name = "query-echo"
    track = "targeted"

    def select(self, pool, budget, ctx):  # noqa: ANN001, ANN201
        if ctx.query_set is None:
            raise ValueError("no query set was handed to this targeted selector")
        ids = list(pool.data["id"][:budget])
        return Selection(ids=ids, info={"query_name": ctx.query_set.name, "query_items": len(ctx.query_set),
                                        "query_fingerprint": ctx.query_set.fingerprint,
                                        "first_prompt": ctx.query_set.items[0].prompt})
