"""Query and pool vectors of a targeted representation, and the similarity they define.

Every targeted representation (LESS gradients, RDS+ hidden states, sentence embeddings) ends in
L2-normalised vectors compared by cosine. LESS compares at several warm-up checkpoints and sums
the cosines weighted by the learning rate; each checkpoint is one :class:`Block`. The
similarity of query i and pool example j is ``sum_t w_t * <q_t[i], p_t[j]>``. The same number is
the inner product of the concatenated, ``sqrt(w_t)``-scaled vectors (:meth:`Features.pool_matrix`),
so pool-pool neighbour search (KNN-KDE) runs on one matrix in faiss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


def l2_normalise(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, eps)


@dataclass(frozen=True)
class Block:
    """One view (a checkpoint) of the pool and the queries: unit rows, and the view's weight."""

    weight: float
    pool: np.ndarray   # N x D, unit rows
    query: np.ndarray  # M x D, unit rows

    def __post_init__(self) -> None:
        if self.pool.ndim != 2 or self.query.ndim != 2 or self.pool.shape[1] != self.query.shape[1]:
            raise ValueError(f"block shapes do not match: pool {self.pool.shape}, query {self.query.shape}")
        if not np.isfinite(self.weight) or self.weight < 0:
            raise ValueError(f"block weight must be finite and >= 0, got {self.weight}")


@dataclass(frozen=True)
class Features:
    """A representation's output: one or more :class:`Block` plus what it cost and how it was made."""

    blocks: tuple[Block, ...]
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.blocks:
            raise ValueError("features need at least one block")
        n = {b.pool.shape[0] for b in self.blocks}
        m = {b.query.shape[0] for b in self.blocks}
        if len(n) != 1 or len(m) != 1:
            raise ValueError("every block must have the same pool and query sizes")

    @property
    def n_pool(self) -> int:
        return self.blocks[0].pool.shape[0]

    @property
    def n_query(self) -> int:
        return self.blocks[0].query.shape[0]

    def similarity(self) -> np.ndarray:
        """The M x N query-pool similarity (weighted sum of per-block cosines), float32."""
        out = np.zeros((self.n_query, self.n_pool), dtype=np.float32)
        for b in self.blocks:
            out += np.float32(b.weight) * (b.query @ b.pool.T)
        return out

    def pool_matrix(self) -> np.ndarray:
        """N x sum(D): concatenated ``sqrt(w_t)``-scaled pool vectors (inner product = similarity)."""
        return np.hstack([np.sqrt(np.float32(b.weight)) * b.pool for b in self.blocks]).astype(np.float32)

    def query_matrix(self) -> np.ndarray:
        """M x sum(D): the queries, scaled like :meth:`pool_matrix`."""
        return np.hstack([np.sqrt(np.float32(b.weight)) * b.query for b in self.blocks]).astype(np.float32)


def single(pool: np.ndarray, query: np.ndarray, **info: Any) -> Features:
    """Features of a one-view representation (RDS+, EMBED): normalised, weight 1."""
    return Features((Block(1.0, l2_normalise(pool), l2_normalise(query)),), dict(info))
