"""Selection rules: pure functions from per-example scores (and embeddings) to picked indices.

A rule never sees the pool, a model or a context: it takes arrays and returns a :class:`Pick`
(row indices in preference order plus a note when it had to fall back), so each rule can be
tested on hand-made inputs with known answers and reused by any selector.

- :func:`top_k`, :func:`threshold_then_top_k` (Alpagasus): :mod:`selbench.rules.topk`;
- :func:`ifd_filter` (Cherry): :mod:`selbench.rules.ifd`;
- :func:`diversity_greedy` (DEITA): :mod:`selbench.rules.diversity`.

Targeted rules (arXiv 2602.14696) take an M x N query-pool similarity matrix and a budget and
return int64 pool indices, most preferred first, nested across budgets:

- :func:`round_robin` (RR): :mod:`selbench.rules.round_robin`;
- :func:`doubly_greedy` (DG, LESS's rule): :mod:`selbench.rules.doubly_greedy`;
- :func:`unbalanced_ot` (UOT): :mod:`selbench.rules.uot`;
- :func:`knn_uniform`, :func:`knn_kde` (TSDS): :mod:`selbench.rules.tsds`, with the faiss/numpy
  neighbour search :class:`PoolNeighbours` in :mod:`selbench.rules.knn_search`.
"""

from __future__ import annotations

from selbench.rules.common import Pick, RuleError, ShortfallError
from selbench.rules.diversity import diversity_greedy
from selbench.rules.doubly_greedy import doubly_greedy
from selbench.rules.ifd import ifd_filter
from selbench.rules.knn_search import FlatIPIndex, PoolNeighbours, SimilarityInputError
from selbench.rules.round_robin import round_robin
from selbench.rules.topk import descending_order, threshold_then_top_k, top_k
from selbench.rules.tsds import knn_kde, knn_uniform
from selbench.rules.uot import unbalanced_ot

__all__ = [
    "FlatIPIndex", "Pick", "PoolNeighbours", "RuleError", "ShortfallError", "SimilarityInputError",
    "descending_order", "diversity_greedy", "doubly_greedy", "ifd_filter", "knn_kde", "knn_uniform",
    "round_robin", "threshold_then_top_k", "top_k", "unbalanced_ot",
]
