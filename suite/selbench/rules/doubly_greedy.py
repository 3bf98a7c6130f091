"""Doubly greedy (DG in arXiv 2602.14696): rank the pool by its best similarity to any query.

score_j = max_i S[i, j]; take the top ``k`` by score. This is LESS's original selection rule
(Xia et al. 2024). It is "doubly" greedy because both the per-example score (the single closest
query) and the selection (plain top-k) are greedy: queries whose neighbourhoods are very similar
to the pool can take the whole budget, which round-robin (:mod:`selbench.rules.round_robin`) and
UOT (:mod:`selbench.rules.uot`) avoid.

Ties in score go to the lower pool index (the reference ``np.argsort(-score)`` is not stable, so
its tie order is unspecified). The order is independent of ``k``, so budgets are nested.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from selbench.rules.knn_search import check_budget, check_similarity, order_by_score


def doubly_greedy_scores(S: Any) -> np.ndarray:
    """score_j = max over queries of S[i, j] (length N)."""
    return check_similarity(S).max(axis=0)


def doubly_greedy(S: Any, k: int) -> np.ndarray:
    """The ``k`` pool indices with the highest max-over-queries similarity, highest first (int64)."""
    S = check_similarity(S)
    k = check_budget(k, S.shape[1])
    return order_by_score(S.max(axis=0), k)
