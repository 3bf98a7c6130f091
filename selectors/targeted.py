"""The targeted track's selectors: representation x rule (arXiv 2602.14696, §2.3-2.4).

``less-*`` use LESS gradient features (warm-up LoRA, Adam-preconditioned per-example gradients,
random projection, LR-weighted cosine over checkpoints) with each of the paper's five rules;
``rds-rr`` and ``embed-rr`` use the base model's position-weighted hidden states and a
sentence-embedding model with round-robin, the only rule the paper runs them with. Each reads
its settings from the spec's ``targeted`` section and the query set from ``ctx.query_set``;
the pool-side features are cached per pool and charged as amortised cost. Budgets are nested:
the selection at a budget is a prefix of the selection at any larger budget.
"""

from __future__ import annotations

from typing import Any, ClassVar

from selbench.pools.pool import Pool
from selbench.selection.base import Selection, Selector
from selbench.selection.context import SelectionContext
from selbench.targeted.compose import targeted_order

PAPER = "arXiv:2602.14696"


class _TargetedSelector(Selector):
    track = "targeted"
    version = "1.0.0"
    paper = PAPER
    representation: ClassVar[str]
    rule: ClassVar[str]

    def __init__(self, **rule_options: Any) -> None:
        super().__init__(**rule_options)
        self.rule_options = rule_options

    def select(self, pool: Pool, budget: int, ctx: SelectionContext) -> Selection:
        order, info = targeted_order(self.representation, self.rule, pool, budget, ctx, self.rule_options)
        ids = pool.data["id"]
        return Selection(ids=[ids[int(i)] for i in order], info=info)


class LessRoundRobin(_TargetedSelector):
    """LESS gradients, greedy round-robin over the queries."""

    name, representation, rule = "less-rr", "less", "rr"


class LessDoublyGreedy(_TargetedSelector):
    """LESS gradients, top-k of the maximum similarity over queries (the original LESS rule)."""

    name, representation, rule = "less-dg", "less", "dg"


class LessUnbalancedOT(_TargetedSelector):
    """LESS gradients, entropic unbalanced optimal transport from the queries to the pool."""

    name, representation, rule = "less-uot", "less", "uot"


class LessKnnUniform(_TargetedSelector):
    """LESS gradients, TSDS k-nearest-neighbour selection with uniform mass."""

    name, representation, rule = "less-knn-unif", "less", "knn-unif"


class LessKnnKde(_TargetedSelector):
    """LESS gradients, TSDS k-nearest-neighbour selection down-weighted by a kernel density."""

    name, representation, rule = "less-knn-kde", "less", "knn-kde"


class RdsRoundRobin(_TargetedSelector):
    """RDS+ (position-weighted mean of the base model's last hidden states), round-robin."""

    name, representation, rule = "rds-rr", "rds", "rr"


class EmbedRoundRobin(_TargetedSelector):
    """Sentence embeddings (gtr-t5-base in the paper), round-robin."""

    name, representation, rule = "embed-rr", "embed", "rr"
