"""Unbalanced optimal transport from the queries to the pool (UOT in arXiv 2602.14696).

Cost C = (1 - S) / 2 (in [0, 1] for cosine S), uniform masses a = 1/M on the queries and
b = 1/N on the pool, and the entropic unbalanced problem solved by POT's
``ot.unbalanced.sinkhorn_unbalanced`` (``reg_type='kl'``, i.e. entropy relative to a b^T):

    min_T <T, C> + reg KL(T | a b^T) + inf KL(T 1 | a) + reg_m_pool KL(T^T 1 | b),

with ``reg_m=(inf, reg_m_pool)`` (POT's documented semi-relaxed form): every query must ship
exactly its 1/M (a hard marginal), while the pool side is almost free (1e-4 << reg = 0.01), so
an example may receive much more or much less than 1/N. score_j = sum_i T_ij (the mass example j
receives); take the top ``k``. With the pool side this loose the plan is close to a per-query
softmax of S at temperature 2 reg = 0.02 averaged over queries: each query spreads the same
total mass over its nearest examples, so (unlike :mod:`~selbench.rules.doubly_greedy`) a query
with many near-duplicates does not crowd out the others.

Numerics: the default ``method='sinkhorn'`` is the reference code's. With C in [0, 1] and
reg = 0.01 the kernel exp(-C / reg) >= e^-100 stays well inside float64 (it would underflow for
C > ~7, i.e. S far below -1), so the plain scaling is safe; pass
``method='sinkhorn_stabilized'`` (log-domain absorption) for similarities outside [-1, 1] or a
smaller ``reg``. S is cast to float64 first: in float32, e^-100 is below the smallest normal.

Scores equal up to BLAS rounding noise count as tied (see :func:`~selbench.rules.knn_search.snap`);
ties go to the lower pool index. The order does not depend on ``k``, so budgets are nested.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from selbench.rules.knn_search import SimilarityInputError, check_budget, check_similarity, order_by_score, snap

METHODS = ("sinkhorn", "sinkhorn_stabilized", "sinkhorn_translation_invariant")


def uot_plan(
    S: Any,
    *,
    reg: float = 0.01,
    reg_m_pool: float = 1e-4,
    method: str = "sinkhorn",
    num_iter_max: int = 1000,
    stop_thr: float = 1e-6,
) -> np.ndarray:
    """The M x N transport plan T (float64): rows sum to 1/M, columns are relaxed towards 1/N."""
    import ot

    S = check_similarity(S)
    if not reg > 0:
        raise SimilarityInputError(f"reg must be positive, got {reg!r}")
    if not reg_m_pool > 0:
        raise SimilarityInputError(f"reg_m_pool must be positive (the pool side is the relaxed one), got {reg_m_pool!r}")
    if method not in METHODS:
        raise SimilarityInputError(f"method must be one of {METHODS}, got {method!r}")
    m, n = S.shape
    cost = (1.0 - S.astype(np.float64)) / 2.0
    a = np.full(m, 1.0 / m)
    b = np.full(n, 1.0 / n)
    plan = ot.unbalanced.sinkhorn_unbalanced(
        a, b, cost, reg=reg, reg_m=(float("inf"), float(reg_m_pool)), method=method, reg_type="kl",
        numItermax=num_iter_max, stopThr=stop_thr,
    )
    plan = np.asarray(plan, dtype=np.float64)
    if not np.isfinite(plan).all():
        raise SimilarityInputError("UOT plan is not finite; try method='sinkhorn_stabilized' or a larger reg")
    return plan


def uot_mass(S: Any, **options: Any) -> np.ndarray:
    """score_j = sum_i T_ij, the mass pool example j receives (length N)."""
    return uot_plan(S, **options).sum(axis=0)


def unbalanced_ot(S: Any, k: int, **options: Any) -> np.ndarray:
    """The ``k`` pool indices that receive the most UOT mass, most first (int64).

    ``options`` are :func:`uot_plan`'s keywords (``reg``, ``reg_m_pool``, ``method``,
    ``num_iter_max``, ``stop_thr``); their defaults live there only.
    """
    S = check_similarity(S)
    k = check_budget(k, S.shape[1])
    return order_by_score(snap(uot_mass(S, **options)), k)
