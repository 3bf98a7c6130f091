"""Top-k and threshold-then-top-k (Alpagasus: keep rating >= 4, then the first N by rating)."""

from __future__ import annotations

from typing import Any

import numpy as np

from selbench.rules.common import Pick, as_scores, check_fallback, check_k, shortfall


def descending_order(scores: Any) -> np.ndarray:
    """All indices by score, highest first; ties keep index order; NaN scores come last."""
    arr = as_scores(scores)
    key = np.where(np.isnan(arr), -np.inf, arr)
    order = np.argsort(-key, kind="stable")
    nan = np.isnan(arr[order])
    return np.concatenate([order[~nan], order[nan]])


def top_k(scores: Any, k: int) -> Pick:
    """The ``k`` highest scores (ties by index, NaN last)."""
    arr = as_scores(scores)
    k = check_k(k, len(arr))
    return Pick(descending_order(arr)[:k], passed=k)


def threshold_then_top_k(scores: Any, threshold: float, k: int, *, fallback: str = "fill") -> Pick:
    """Keep scores ``>= threshold``, highest first, and take the first ``k``.

    When fewer than ``k`` pass: ``fill`` adds the best of the rest (highest score first),
    ``error`` raises :class:`~selbench.rules.ShortfallError`, ``short`` returns fewer.
    """
    arr = as_scores(scores)
    check_fallback(fallback)
    k = check_k(k, len(arr))
    order = descending_order(arr)
    ok = arr[order] >= threshold  # NaN compares False
    passing, rest = order[ok], order[~ok]
    if len(passing) >= k:
        return Pick(passing[:k], passed=k)
    note = shortfall("threshold_then_top_k", len(passing), k, fallback,
                     "the highest-scoring examples below the threshold", f"lower the threshold ({threshold:g})")
    extra = rest[: k - len(passing)] if fallback == "fill" else rest[:0]
    return Pick(np.concatenate([passing, extra]), passed=len(passing), note=note)
