"""Selection rules as pure functions, on hand-made inputs with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from selbench.errors import SelbenchError
from selbench.rules import (
    RuleError, ShortfallError, descending_order, diversity_greedy, ifd_filter, threshold_then_top_k, top_k,
)


def test_top_k_ties_by_index_and_nan_last() -> None:
    assert top_k([1.0, 3.0, 3.0, np.nan, 2.0], 4).indices.tolist() == [1, 2, 4, 0]
    assert descending_order([np.nan, 1.0]).tolist() == [1, 0]
    assert top_k([1.0, 2.0], 5).indices.tolist() == [1, 0]  # k larger than the pool: everything


def test_threshold_then_top_k_keeps_only_passing_when_enough() -> None:
    pick = threshold_then_top_k([4.0, 5.0, 3.0, 4.5, 0.0], threshold=4.0, k=2)
    assert pick.indices.tolist() == [1, 3] and pick.passed == 2 and pick.note is None


def test_threshold_then_top_k_fallbacks() -> None:
    scores = [4.0, 5.0, 3.0, np.nan, 2.0]
    fill = threshold_then_top_k(scores, threshold=4.5, k=3)
    assert fill.indices.tolist() == [1, 0, 2] and fill.passed == 1 and fill.filled == 2
    assert "only 1 of the 3" in fill.note and "lower the threshold" in fill.note
    assert threshold_then_top_k(scores, 4.5, 3, fallback="short").indices.tolist() == [1]
    with pytest.raises(ShortfallError, match="only 1 of the 3"):
        threshold_then_top_k(scores, 4.5, 3, fallback="error")
    with pytest.raises(RuleError):
        threshold_then_top_k(scores, 4.5, 3, fallback="maybe")
    assert issubclass(RuleError, SelbenchError)


def test_ifd_filter_drops_above_one_and_keeps_highest() -> None:
    ifd = [0.5, 1.2, 0.9, np.inf, 0.95, np.nan, 1.0]
    pick = ifd_filter(ifd, 3)
    assert pick.indices.tolist() == [6, 4, 2]  # 1.0 is kept (only > 1 is dropped)
    assert pick.stats == {"ifd_above_max": 1, "ifd_not_finite": 2}
    filled = ifd_filter(ifd, 6)
    assert filled.indices.tolist() == [6, 4, 2, 0, 1, 3] and filled.passed == 4


def test_diversity_greedy_known_answer() -> None:
    emb = np.array([[1, 0], [1, 0.01], [0, 1], [0.7, 0.7], [-1, 0]], dtype=float)
    scores = [5, 4, 3, 2, 1]
    # 1 is a near-duplicate of 0 (cos ~ 1); [0.7, 0.7] has cos 0.707 with both axes: kept
    for chunk in (1, 2, 16):
        assert diversity_greedy(scores, emb, 4, chunk=chunk).indices.tolist() == [0, 2, 3, 4]
    short = diversity_greedy(scores, emb, 5, fallback="short")
    assert short.indices.tolist() == [0, 2, 3, 4] and "lower the threshold (0.9)" in short.note
    filled = diversity_greedy(scores, emb, 5)
    assert filled.indices.tolist() == [0, 2, 3, 4, 1] and filled.passed == 4
    # a threshold of 0.6 also rejects the diagonal
    assert diversity_greedy(scores, emb, 3, threshold=0.6, fallback="short").indices.tolist() == [0, 2, 4]
    with pytest.raises(ShortfallError):
        diversity_greedy(scores, emb, 5, fallback="error")
    with pytest.raises(RuleError, match="shape"):
        diversity_greedy(scores, emb[:3], 2)


def _naive(scores: np.ndarray, emb: np.ndarray, k: int, thr: float) -> list[int]:
    emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    kept: list[int] = []
    for i in descending_order(scores):
        if len(kept) == k:
            break
        if not kept or (emb[kept] @ emb[i]).max() <= thr:
            kept.append(int(i))
    return kept


def test_diversity_greedy_chunks_match_the_sequential_walk() -> None:
    rng = np.random.default_rng(0)
    emb, scores = rng.normal(size=(600, 4)), rng.random(600)
    expected = _naive(scores, emb, 120, 0.8)
    for chunk in (1, 7, 64, 1000):
        got = diversity_greedy(scores, emb, 120, threshold=0.8, chunk=chunk, fallback="short").indices.tolist()
        assert got == expected
