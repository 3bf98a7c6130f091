"""Exact nearest-neighbour search for the targeted rules, and the input checks they share.

The targeted rules (arXiv 2602.14696) all start from an M x N query-pool similarity matrix and
need, per query, its most similar pool examples in order; KNN-KDE also needs each candidate's
nearest *pool* neighbours to estimate how crowded its neighbourhood is. This module holds:

- :func:`check_similarity` / :func:`check_budget`: the one place that rejects bad inputs, with a
  :class:`SimilarityInputError` (a :class:`~selbench.rules.RuleError` *and* a ``ValueError``);
- :func:`top_l`: each row's ``L`` most similar columns, most similar first, **ties to the lower
  index** (exactly: equal values at the cut are resolved by index too), in O(N) per row plus
  O(L log L), so a rule never re-scans the pool;
- :func:`order_by_score`: the same tie rule for one score vector, with an optional snap that makes
  scores equal up to BLAS rounding noise count as ties (so float noise never decides an order);
- :class:`FlatIPIndex`: exact inner-product search over float32 features, faiss ``IndexFlatIP``
  when faiss imports and a batched numpy fallback otherwise; :class:`PoolNeighbours` wraps it into
  the ``pool_neighbours`` callable that :func:`~selbench.rules.tsds.knn_kde` takes.

Features whose inner product is the similarity can encode a weighted sum of cosines over several
views (LESS's 4 checkpoints): concatenate ``sqrt(w_t) * x_t``, as ``Features.pool_matrix`` does.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from selbench.rules.common import RuleError

BACKENDS = ("auto", "faiss", "numpy")


class SimilarityInputError(RuleError, ValueError):
    """A targeted rule got a malformed similarity matrix, budget or parameter."""


def check_similarity(S: Any, name: str = "S") -> np.ndarray:
    """``S`` as a finite 2-D float array (float32/float64 kept, other numbers become float64)."""
    arr = np.asarray(S)
    if arr.ndim != 2:
        raise SimilarityInputError(f"{name} must be a 2-D (queries x pool) similarity matrix, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise SimilarityInputError(f"{name} must have at least one query row and one pool column, got {arr.shape}")
    if arr.dtype.kind not in "fiu":
        raise SimilarityInputError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise SimilarityInputError(f"{name} has {bad} NaN or infinite entries; similarities must be finite")
    return arr


def check_budget(k: Any, n: int) -> int:
    """``k`` as an int in 1..n (the pool size)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise SimilarityInputError(f"k must be an integer, got {k!r}")
    if not 1 <= k <= n:
        raise SimilarityInputError(f"k must be between 1 and the pool size {n}, got {k}")
    return int(k)


def check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise SimilarityInputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _sort_selected(row: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``cols`` ordered by (-row[cols], cols)."""
    cols = np.sort(cols)
    return cols[np.argsort(-row[cols], kind="stable")]


def top_l(S: np.ndarray, L: int) -> np.ndarray:
    """Per row, the ``L`` columns with the highest values, highest first, ties to the lower column.

    Returns an (M, L) int64 array. ``L`` is clipped to the number of columns. Exact for ties: when
    several columns share the value at the cut, the lowest-indexed ones are kept.
    """
    S = np.asarray(S)
    m, n = S.shape
    L = min(int(L), n)
    if L <= 0:
        return np.empty((m, 0), dtype=np.int64)
    neg = -S
    if 4 * L >= n:  # a full stable sort is about as cheap, and exact by construction
        return np.argsort(neg, axis=1, kind="stable")[:, :L].astype(np.int64, copy=False)
    part = np.argpartition(neg, L - 1, axis=1)[:, :L]
    part.sort(axis=1)
    vals = np.take_along_axis(S, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    out = np.take_along_axis(part, order, axis=1).astype(np.int64, copy=False)
    # argpartition picks arbitrarily among values equal to the L-th largest: fix those rows.
    cut = vals.min(axis=1)
    at_cut_kept = (vals == cut[:, None]).sum(axis=1)
    at_cut_all = (S == cut[:, None]).sum(axis=1)
    for i in np.flatnonzero(at_cut_all > at_cut_kept):
        row = S[i]
        above = np.flatnonzero(row > cut[i])
        equal = np.flatnonzero(row == cut[i])[: L - len(above)]
        out[i] = _sort_selected(row, np.concatenate([above, equal]))
    return out


def snap(x: np.ndarray, bits: int = 40) -> np.ndarray:
    """Round each value to ``bits`` mantissa bits (float64 has 52): values that differ only by
    accumulated rounding noise become equal, so ties are decided by index, not by BLAS."""
    mant, exp = np.frexp(np.asarray(x, dtype=np.float64))
    return np.ldexp(np.round(np.ldexp(mant, bits)), exp - bits)


def order_by_score(score: np.ndarray, k: int | None = None) -> np.ndarray:
    """Indices of the ``k`` highest scores (all when None), highest first, ties to the lower index."""
    score = np.asarray(score)
    n = len(score)
    return top_l(score[None, :], n if k is None else k)[0]


# --------------------------------------------------------------------------------------- search


def _faiss() -> Any | None:
    try:
        import faiss  # type: ignore[import-untyped]
    except ImportError:  # the numpy path below gives the same answers, only slower
        return None
    return faiss


def _features(x: Any, name: str) -> np.ndarray:
    arr = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise SimilarityInputError(f"{name} must be a non-empty 2-D (rows x dim) array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise SimilarityInputError(f"{name} has NaN or infinite entries")
    return arr


class FlatIPIndex:
    """Exact maximum-inner-product search over float32 ``features`` (rows = items).

    ``backend``: ``"faiss"`` (``IndexFlatIP``), ``"numpy"`` (blocked matrix products, exact ties
    to the lower index) or ``"auto"`` (faiss when importable). Queries are searched
    ``batch_size`` at a time, so memory stays at ``batch_size x n`` floats. Both backends return
    each query's neighbours by decreasing similarity with equal similarities ordered by index;
    with faiss, *which* of several items tied at the k-th place make the cut is faiss's choice.
    """

    def __init__(self, features: Any, *, backend: str = "auto", batch_size: int = 2048) -> None:
        if backend not in BACKENDS:
            raise SimilarityInputError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.features = _features(features, "features")
        faiss = _faiss() if backend in ("auto", "faiss") else None
        if backend == "faiss" and faiss is None:
            raise SimilarityInputError("backend='faiss' but faiss is not importable (pip install faiss-cpu)")
        self.backend = "faiss" if faiss is not None else "numpy"
        self._index = None
        if faiss is not None:
            self._index = faiss.IndexFlatIP(self.features.shape[1])
            self._index.add(self.features)

    @property
    def ntotal(self) -> int:
        return int(self.features.shape[0])

    def search(self, queries: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(similarities float32, indices int64), each (n_queries, min(k, ntotal)), best first."""
        q = _features(queries, "queries")
        if q.shape[1] != self.features.shape[1]:
            raise SimilarityInputError(f"queries have dimension {q.shape[1]}, the index {self.features.shape[1]}")
        k = min(check_positive_int(k, "k"), self.ntotal)
        sims = np.empty((len(q), k), dtype=np.float32)
        idx = np.empty((len(q), k), dtype=np.int64)
        # the numpy path holds a batch x ntotal block of similarities: keep it under ~256 MB
        step = self.batch_size if self._index is not None else max(1, min(self.batch_size, 2**26 // self.ntotal))
        for start in range(0, len(q), step):
            block = q[start:start + step]
            if self._index is not None:
                d, i = self._index.search(block, k)
                i = i.astype(np.int64, copy=False)
                # re-order each row by (-similarity, index): faiss leaves equal values unordered
                o = np.argsort(i, axis=1, kind="stable")
                d, i = np.take_along_axis(d, o, axis=1), np.take_along_axis(i, o, axis=1)
                o = np.argsort(-d, axis=1, kind="stable")
                d, i = np.take_along_axis(d, o, axis=1), np.take_along_axis(i, o, axis=1)
            else:
                full = block @ self.features.T
                i = top_l(full, k)
                d = np.take_along_axis(full, i, axis=1)
            sims[start:start + len(block)] = d
            idx[start:start + len(block)] = i
        return sims, idx


class NeighbourSimilarities(Protocol):
    """What :func:`~selbench.rules.tsds.knn_kde` needs from the pool: for pool rows ``rows``, the
    similarities of their ``k`` most similar pool examples among ``among`` (the whole pool when
    None), the row itself included when it is in ``among``; shape (len(rows), min(k, |among|)),
    each row in decreasing order."""

    def __call__(self, rows: np.ndarray, k: int, among: np.ndarray | None = None) -> np.ndarray: ...


class PoolNeighbours:
    """Pool-pool nearest neighbours by the inner product of pool ``features`` (N x D).

    Calling it returns neighbour similarities (the :class:`NeighbourSimilarities` protocol);
    :meth:`neighbours` also returns their pool indices. ``among`` restricts the neighbours to a
    subset of the pool (TSDS computes the density among the prefetched candidates only); the
    index over the whole pool is built once and reused.
    """

    def __init__(self, features: Any, *, backend: str = "auto", batch_size: int = 2048) -> None:
        self.features = _features(features, "pool features")
        self.backend = backend
        self.batch_size = batch_size
        self._full: FlatIPIndex | None = None

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def _rows(self, rows: Any, name: str) -> np.ndarray:
        arr = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(arr) and (arr.min() < 0 or arr.max() >= len(self)):
            raise SimilarityInputError(f"{name} must be pool indices in 0..{len(self) - 1}")
        return arr

    def neighbours(self, rows: Any, k: int, among: Any | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(similarities, pool indices) of each row's ``k`` nearest pool examples among ``among``."""
        rows = self._rows(rows, "rows")
        if among is None:
            if self._full is None:
                self._full = FlatIPIndex(self.features, backend=self.backend, batch_size=self.batch_size)
            return self._full.search(self.features[rows], k)
        among = np.unique(self._rows(among, "among"))
        index = FlatIPIndex(self.features[among], backend=self.backend, batch_size=self.batch_size)
        sims, local = index.search(self.features[rows], k)
        return sims, among[local]

    def __call__(self, rows: np.ndarray, k: int, among: np.ndarray | None = None) -> np.ndarray:
        return self.neighbours(rows, k, among)[0]
