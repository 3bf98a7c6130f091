"""``longest``: the longest responses ("Long Is More for Alignment", arXiv 2402.04833).

As Chasing Random's ``sampler.py --length_sorted``: shuffle with a fixed seed (42) so ties break
the same way every time, then sort by the response's character length, descending.
"""

from __future__ import annotations

import numpy as np

from selbench.pools.pool import Pool
from selbench.selection.base import Selection, Selector
from selbench.selection.context import SelectionContext


class LongestSelector(Selector):
    """Top-k examples by response length in characters."""

    name = "longest"
    version = "1.0.0"
    paper = "arXiv:2402.04833"

    def __init__(self, shuffle_seed: int = 42) -> None:
        super().__init__(shuffle_seed=shuffle_seed)
        self.shuffle_seed = shuffle_seed

    def select(self, pool: Pool, budget: int, ctx: SelectionContext) -> Selection:
        lengths = np.fromiter((len(o) for o in pool.data["output"]), dtype=np.int64, count=len(pool))
        shuffled = np.random.default_rng(self.shuffle_seed).permutation(len(pool))
        # stable sort of the shuffled order by descending length
        order = shuffled[np.argsort(-lengths[shuffled], kind="stable")][:budget]
        ids = pool.data["id"]
        return Selection(ids=[ids[int(i)] for i in order], scores=[float(lengths[i]) for i in order])
