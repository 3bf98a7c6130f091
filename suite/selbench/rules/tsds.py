"""TSDS's nearest-neighbour transport rules: KNN-Uniform and KNN-KDE (arXiv 2410.11303, as run in 2602.14696).

TSDS (Liu et al. 2024) picks a sampling distribution p over the pool that is close in optimal
transport to the query set: each query spreads its 1/M of mass over its K* nearest pool
examples, where K* is the largest neighbourhood whose transport cost stays within budget. With
distances d = 1 - S sorted per query (d_{i,1} <= d_{i,2} <= ...), K grows while

    (alpha / C) * sum_i sum_{k <= K} (d_{i,K+1} - d_{i,k})  <  (1 - alpha) * M        (alpha = 0.01, C = 5)

i.e. while moving every query's mass one neighbour further out is still cheap. The targeted paper
ranks the pool by p instead of sampling from it, so the first ``k`` of one order are the
selections at every budget (nested prefixes).

- :func:`knn_uniform`: each query's K* nearest (among its L = min(max_k, N) nearest, max_k =
  5000; no N/10 cap, as in the reference ``run_tsds_knn_uniform``) get 1/(K* M) each.
- :func:`knn_kde`: the same transport, but a candidate's share is divided by its kernel density
  among the prefetched candidates, so a cluster of near-duplicates shares roughly what one lone
  example gets. Kernel max(0, 1 - 2 d_cos / sigma^2) (2 d_cos is the squared L2 distance of unit
  vectors, TSDS's original metric), sigma = 0.75, over each candidate's ``kde_k`` = 1000 most
  similar candidates (itself included); ``max_k`` and ``kde_k`` are capped at N // 10
  (``pool_cap``), as in the reference ``run_tsds_kde``. The neighbourhood size per query then
  comes from TSDS's heap-based water-filling: a common level s rises, each query's next neighbour
  joins when the query's cumulative 1/density reaches s, and the first join that breaks the cost
  budget fixes s; a query's first neighbours get 1/(M s density) and the rest of its 1/M goes to
  the next one. With sigma = 0 (all densities 1) this reduces to KNN-Uniform.

The reference script compared ``selection_method == "knn_uniform_cos"`` while its CLI only
offers ``knn_uniform``, so "knn_uniform" silently ran KNN-KDE; here each function computes what
its name says (a test shows the two differ when density matters).

Order: by mass, highest first, ties to the lower pool index (KNN-Uniform compares exact integer
counts; KNN-KDE snaps away float noise, see :func:`~selbench.rules.knn_search.snap`). Pool
examples with no mass (outside every query's neighbourhood) follow, by their best similarity to
any query (the doubly-greedy score), ties to the lower index, so any ``k`` <= N is answered.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any

import numpy as np

from selbench.rules.knn_search import (
    NeighbourSimilarities, SimilarityInputError, check_budget, check_positive_int, check_similarity,
    order_by_score, snap, top_l,
)

KDE_SCOPES = ("candidates", "pool")


@dataclass(frozen=True)
class TsdsMass:
    """TSDS's distribution over the pool.

    ``probs`` (N, sums to 1); ``neighbours[i]``: how many of query i's nearest examples got mass;
    ``level``: K* for KNN-Uniform, the water level s for KNN-KDE; ``prefetched``: the L nearest
    examples looked at per query.
    """

    probs: np.ndarray
    neighbours: np.ndarray
    level: float
    prefetched: int


def _check_tsds(alpha: float, c: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise SimilarityInputError(f"alpha must be in (0, 1), got {alpha!r}")
    if not c > 0.0:
        raise SimilarityInputError(f"c must be positive, got {c!r}")


def _rank(mass: np.ndarray, S: np.ndarray, k: int) -> np.ndarray:
    """Positive mass first (highest first), then the rest by max similarity; ties to lower index."""
    positive = np.flatnonzero(mass > 0)
    if k <= len(positive):
        return positive[order_by_score(mass[positive], k)]
    rest = np.flatnonzero(mass <= 0)
    best = S.max(axis=0)[rest]
    return np.concatenate([positive[order_by_score(mass[positive])],
                           rest[order_by_score(best, k - len(positive))]]).astype(np.int64)


def _neighbour_distances(S: np.ndarray, L: int) -> tuple[np.ndarray, np.ndarray]:
    """Each query's ``L`` nearest pool indices (ties to the lower index) and d = 1 - S, float64."""
    idx = top_l(S, L)
    return idx, 1.0 - np.take_along_axis(S, idx, axis=1).astype(np.float64)


# ------------------------------------------------------------------------------------ KNN-Uniform


def _uniform_counts(S: np.ndarray, max_k: int, alpha: float, c: float) -> tuple[np.ndarray, int, int]:
    """(how many queries have each pool example among their K* nearest, K*, L)."""
    _check_tsds(alpha, c)
    m, n = S.shape
    L = min(check_positive_int(max_k, "max_k"), n)
    idx, d = _neighbour_distances(S, L)
    K = L
    if L > 1:
        # gap(K) = sum_i [K d_{i,K+1} - sum_{k<=K} d_{i,k}] for K = 1..L-1 (nondecreasing in K);
        # the reference loop stops at the first K where the budget breaks, or at K = L.
        csum = np.cumsum(d, axis=1)
        ks = np.arange(1, L)
        gap = (ks * d[:, ks] - csum[:, ks - 1]).sum(axis=0)
        broken = np.flatnonzero((alpha / c) * gap >= (1.0 - alpha) * m)
        K = int(ks[broken[0]]) if len(broken) else L
    return np.bincount(idx[:, :K].ravel(), minlength=n), K, L


def knn_uniform_mass(S: Any, *, max_k: int = 5000, alpha: float = 0.01, c: float = 5.0) -> TsdsMass:
    """KNN-Uniform's distribution: each query's K* nearest get 1/(K* M)."""
    S = check_similarity(S)
    counts, K, L = _uniform_counts(S, max_k, alpha, c)
    return TsdsMass(counts / (K * S.shape[0]), np.full(S.shape[0], K, dtype=np.int64), float(K), L)


def knn_uniform(S: Any, k: int, *, max_k: int = 5000, alpha: float = 0.01, c: float = 5.0) -> np.ndarray:
    """The first ``k`` pool indices by KNN-Uniform mass (int64); see the module doc."""
    S = check_similarity(S)
    k = check_budget(k, S.shape[1])
    counts, _, _ = _uniform_counts(S, max_k, alpha, c)  # mass = counts / (K* M): rank exact integers
    return _rank(counts, S, k)


# --------------------------------------------------------------------------------------- KNN-KDE


def _densities(candidates: np.ndarray, pool_neighbours: NeighbourSimilarities, kde_k: int, sigma: float,
               scope: str) -> np.ndarray:
    among = candidates if scope == "candidates" else None
    sims = np.asarray(pool_neighbours(candidates, kde_k, among=among), dtype=np.float64)
    if sims.ndim != 2 or sims.shape[0] != len(candidates) or sims.shape[1] == 0:
        raise SimilarityInputError(f"pool_neighbours returned shape {sims.shape} for {len(candidates)} rows "
                                   f"and k={kde_k}; expected ({len(candidates)}, 1..{kde_k})")
    dist = np.maximum(1.0 - sims, 0.0)
    kernel = np.maximum(1.0 - 2.0 * dist / sigma**2, 0.0)
    kde = kernel.sum(axis=1)
    if not (kde > 0).all():
        raise SimilarityInputError("a candidate has zero kernel density (not even itself within the kernel): "
                                   "pool features must be unit-normalised so that self-similarity is 1")
    return kde


def knn_kde_mass(
    S: Any,
    *,
    pool_neighbours: NeighbourSimilarities,
    sigma: float = 0.75,
    kde_k: int = 1000,
    max_k: int = 5000,
    alpha: float = 0.01,
    c: float = 5.0,
    pool_cap: bool = True,
    kde_scope: str = "candidates",
) -> TsdsMass:
    """KNN-KDE's distribution (TSDS ``tsds.py``, cosine version of ``run_tsds_kde``)."""
    S = check_similarity(S)
    _check_tsds(alpha, c)
    if not sigma >= 0.0:
        raise SimilarityInputError(f"sigma must be >= 0 (0 turns the density off), got {sigma!r}")
    if kde_scope not in KDE_SCOPES:
        raise SimilarityInputError(f"kde_scope must be one of {KDE_SCOPES}, got {kde_scope!r}")
    m, n = S.shape
    cap = max(1, n // 10) if pool_cap else n
    max_k = min(check_positive_int(max_k, "max_k"), cap)
    kde_k = min(check_positive_int(kde_k, "kde_k"), cap)
    if n == 1:
        return TsdsMass(np.ones(1), np.ones(m, dtype=np.int64), 1.0, 1)
    L = min(max(max_k, 2), n)  # the walk reads neighbour K+1, so at least 2 are prefetched
    idx, d = _neighbour_distances(S, L)
    d = np.maximum(d, 0.0)
    if sigma == 0.0:
        kde = np.ones_like(d)
    else:
        candidates = np.unique(idx)
        kde = _densities(candidates, pool_neighbours, kde_k, sigma, kde_scope)[np.searchsorted(candidates, idx)]

    # Heap-based water-filling, step for step as in TSDS (heap entries: level, neighbour, query).
    dl, kl = d.tolist(), kde.tolist()
    last = [0] * m
    heap = [(1.0 / kl[j][0], 0, j) for j in range(m)]
    heapq.heapify(heap)
    weighted = [dl[j][0] / kl[j][0] for j in range(m)]
    cost = [0.0] * m
    total, level = 0.0, 0.0
    budget, ratio = (1.0 - alpha) * m, alpha / c
    while heap:
        count, kk, j = heapq.heappop(heap)
        level = count
        total -= cost[j]
        cost[j] = dl[j][kk + 1] * count - weighted[j]  # cost of moving query j's mass out to kk + 1
        total += cost[j]
        if ratio * total >= budget:
            break
        last[j] = kk
        if kk < max_k - 2:
            heapq.heappush(heap, (count + 1.0 / kl[j][kk + 1], kk + 1, j))
            weighted[j] += dl[j][kk + 1] / kl[j][kk + 1]

    lastk = np.asarray(last, dtype=np.int64)
    inside = np.arange(L)[None, :] <= lastk[:, None]
    share = np.where(inside, 1.0 / m / level / kde, 0.0)
    probs = np.bincount(idx[inside], weights=share[inside], minlength=n)
    rest = np.maximum(1.0 / m - share.sum(axis=1), 0.0)
    rest[rest < 1e-9 / m] = 0.0  # floating-point dust of a query whose share is already complete
    probs += np.bincount(idx[np.arange(m), lastk + 1], weights=rest, minlength=n)
    return TsdsMass(probs, lastk + 1 + (rest > 0), float(level), L)


def knn_kde(S: Any, k: int, *, pool_neighbours: NeighbourSimilarities, **options: Any) -> np.ndarray:
    """The first ``k`` pool indices by KNN-KDE probability (int64); see the module doc.

    ``pool_neighbours(rows, k, among=...)`` gives pool-pool neighbour similarities, e.g.
    :class:`~selbench.rules.knn_search.PoolNeighbours` over the pool features whose inner product
    is the similarity. ``options`` are :func:`knn_kde_mass`'s keywords (``sigma``, ``kde_k``,
    ``max_k``, ``alpha``, ``c``, ``pool_cap``, ``kde_scope``); their defaults live there only.
    ``kde_scope='candidates'`` (TSDS) looks for each candidate's neighbours among the union of the
    queries' prefetched neighbours; ``'pool'`` among the whole pool.
    """
    S = check_similarity(S)
    k = check_budget(k, S.shape[1])
    return _rank(snap(knn_kde_mass(S, pool_neighbours=pool_neighbours, **options).probs), S, k)
