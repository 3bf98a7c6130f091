"""Greedy round-robin over query rows (RR in arXiv 2602.14696; the paper's default rule).

Cycle over the query rows i = 0, 1, ..., M-1, 0, 1, ...; each query in turn takes its most
similar pool example that no query has taken yet, until ``k`` are taken. Every query thus gets
an (almost) equal share of the budget, however unevenly similar the pool is to each query, which
is why the paper prefers it to the max-similarity rule (:func:`~selbench.rules.doubly_greedy`).

The reference code re-scans the whole pool row (argmax over unused columns) for every pick:
O(k x N). Here each row is sorted once, and a per-query pointer walks down its own list,
skipping examples other queries took. A query never looks past position ``k`` of its list (every
position it passes is an example already in the selection, and there are at most ``k``), so
only each row's top ``k`` is sorted: O(M x N) to partition plus O(M x k log k), and the walk is
O(k) picks plus skipped runs found in numpy chunks.

Ties (equal similarity within a row) go to the lower pool index, as in the reference
``np.argmax``. The order does not depend on ``k`` beyond truncation, so budgets are nested.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from selbench.rules.knn_search import check_budget, check_similarity, top_l

_CHUNK = 256


def _next_free(row: np.ndarray, pos: int, used: np.ndarray) -> int:
    """The first position >= ``pos`` in ``row`` whose pool example is not used yet."""
    while pos < len(row):
        free = np.flatnonzero(~used[row[pos:pos + _CHUNK]])
        if len(free):
            return pos + int(free[0])
        pos += _CHUNK
    raise AssertionError("round_robin: a query ran out of candidates (cannot happen for k <= N)")


def round_robin(S: Any, k: int) -> np.ndarray:
    """The first ``k`` pool indices taken by round-robin over the rows of ``S`` (M x N).

    Query ``i`` takes picks number i, M + i, 2M + i, ...: its most similar not-yet-taken pool
    example, ties to the lower index. Returns int64 indices, first taken first.
    """
    S = check_similarity(S)
    m, n = S.shape
    k = check_budget(k, n)
    order = top_l(S, k)  # each query's k best, best first: a query never needs more (see module doc)
    used = np.zeros(n, dtype=bool)
    pointer = [0] * m
    rows = list(order)
    out = np.empty(k, dtype=np.int64)
    query = 0
    for pick in range(k):
        row = rows[query]
        pos = pointer[query]
        if used[row[pos]]:
            pos = _next_free(row, pos, used)
        j = row[pos]
        used[j] = True
        out[pick] = j
        pointer[query] = pos + 1
        query = query + 1 if query + 1 < m else 0
    return out
