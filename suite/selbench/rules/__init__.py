"""Selection rules: pure functions from per-example scores (and embeddings) to picked indices.

A rule never sees the pool, a model or a context: it takes arrays and returns a :class:`Pick`
(row indices in preference order plus a note when it had to fall back), so each rule can be
tested on hand-made inputs with known answers and reused by any selector.

- :func:`top_k`, :func:`threshold_then_top_k` (Alpagasus): :mod:`selbench.rules.topk`;
- :func:`ifd_filter` (Cherry): :mod:`selbench.rules.ifd`;
- :func:`diversity_greedy` (DEITA): :mod:`selbench.rules.diversity`.
"""

from __future__ import annotations

from selbench.rules.common import Pick, RuleError, ShortfallError
from selbench.rules.diversity import diversity_greedy
from selbench.rules.ifd import ifd_filter
from selbench.rules.topk import descending_order, threshold_then_top_k, top_k

__all__ = [
    "Pick", "RuleError", "ShortfallError", "descending_order", "diversity_greedy", "ifd_filter",
    "threshold_then_top_k", "top_k",
]
