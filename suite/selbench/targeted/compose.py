"""Targeted selection = a data representation x a selection rule (arXiv 2602.14696's split).

A representation turns the pool and the query set into :class:`~selbench.representations.features.Features`
(LESS gradients, RDS+ hidden states, sentence embeddings; the pool side is cached per pool and
charged as amortised cost); a rule turns their similarity matrix into an ordered list of pool
indices whose prefixes are the selections at every budget. The selectors in
``selectors/targeted.py`` are one line each on top of :func:`targeted_order`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from selbench.errors import SelbenchError
from selbench.representations.features import Features

REPRESENTATIONS = ("less", "rds", "embed")
RULES = ("rr", "dg", "uot", "knn-unif", "knn-kde")


class TargetedSetupError(SelbenchError):
    """The spec lacks what a targeted representation needs (a LESS section, an embedding model)."""


def compute_features(representation: str, pool: Any, ctx: Any) -> Features:
    """The representation's features of ``pool`` and ``ctx.query_set``, with the spec's settings."""
    spec = ctx.spec
    if spec is None or spec.targeted is None:
        raise TargetedSetupError("targeted selectors need a targeted spec (e.g. --spec tiny-targeted)")
    settings = spec.targeted
    if representation == "less":
        if settings.less is None:
            raise TargetedSetupError(f"spec {spec.id} has no `targeted.less` section (the LESS warm-up recipe)")
        from selbench.representations.less.features import less_features

        return less_features(pool, ctx.query_set, ctx, settings.less)
    if representation == "rds":
        from selbench.representations.rds import rds_features

        return rds_features(pool, ctx.query_set, ctx, max_length=settings.rds_max_length)
    if representation == "embed":
        if settings.embedding_model is None:
            raise TargetedSetupError(f"spec {spec.id} has no `targeted.embedding_model` (gtr-t5-base in the paper)")
        from selbench.representations.sentence_embed import embed_features

        return embed_features(pool, ctx.query_set, ctx, model=settings.embedding_model,
                              query_prefix=settings.embed_query_prefix)
    raise TargetedSetupError(f"unknown representation {representation!r} (known: {', '.join(REPRESENTATIONS)})")


def _rule(rule: str, features: Features, options: dict[str, Any]) -> Callable[[np.ndarray, int], np.ndarray]:
    if rule == "rr":
        from selbench.rules.round_robin import round_robin

        return round_robin
    if rule == "dg":
        from selbench.rules.doubly_greedy import doubly_greedy

        return doubly_greedy
    if rule == "uot":
        from selbench.rules.uot import unbalanced_ot

        return lambda s, k: unbalanced_ot(s, k, **options)
    if rule == "knn-unif":
        from selbench.rules.tsds import knn_uniform

        return lambda s, k: knn_uniform(s, k, **options)
    if rule == "knn-kde":
        from selbench.rules.knn_search import PoolNeighbours
        from selbench.rules.tsds import knn_kde

        neighbours = PoolNeighbours(features.pool_matrix())
        return lambda s, k: knn_kde(s, k, pool_neighbours=neighbours, **options)
    raise TargetedSetupError(f"unknown rule {rule!r} (known: {', '.join(RULES)})")


def targeted_order(representation: str, rule: str, pool: Any, budget: int, ctx: Any,
                   rule_options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """The first ``budget`` pool indices in the rule's order, and what the representation reported."""
    if ctx.query_set is None:
        raise TargetedSetupError("this selector is on the targeted track and needs a query set: run it "
                                 "through a targeted spec with a target (selbench run --spec tiny-targeted, "
                                 "or selbench select --spec tiny-targeted --target pet ...)")
    features = compute_features(representation, pool, ctx)  # pool side amortised (cached per pool)
    similarity = features.similarity()  # the rest is per query set and budget
    order = np.asarray(_rule(rule, features, dict(rule_options or {}))(similarity, budget), dtype=np.int64)
    info = {"representation": representation, "rule": rule, "query_set": ctx.query_set.name,
            "query_items": len(ctx.query_set), "features": features.info}
    return order, info

