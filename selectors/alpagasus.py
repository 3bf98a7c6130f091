"""``alpagasus``: keep what an LLM judge rates accurate (AlpaGasus, arXiv 2307.08701).

As Chasing Random ran it (``scorer.py``): the judge rates every (instruction, response) pair 0-5
for accuracy with the paper's prompt (``max_tokens=3``), examples rated ``>= threshold`` (4 there;
the paper used 4.5) are sorted by rating, highest first, and the first N kept. Differences, on
purpose: the reply is parsed robustly (the original read "5.0" as 0, see
:func:`selbench.representations.judge_rating.parse_score`); the judge is the spec's (an open
model served by vLLM by default, or an OpenAI-compatible API when the spec's judge names
``api_base``); the whole pool is scored (``max_scored`` samples a scoring pool as the original's
``--budget 40000`` did); when fewer than N pass, the best below the threshold fill the rest and
``info.rule.note`` says so. Ties keep pool order after a fixed shuffle (seed 42), as ``longest``.
"""

from __future__ import annotations

import numpy as np

from selbench.pools.pool import Pool
from selbench.representations.judge_rating import judge_ratings
from selbench.rules import threshold_then_top_k
from selbench.selection.base import Selection, Selector
from selbench.selection.context import SelectionContext


class AlpagasusSelector(Selector):
    """LLM-judge accuracy rating 0-5, keep >= threshold, then top-N."""

    name = "alpagasus"
    version = "1.0.0"
    paper = "arXiv:2307.08701"
    needs_gpu = False  # the tiny judge runs on CPU; a 7B judge wants a GPU
    uses_api = False   # an open judge served by vLLM unless the spec's judge names an API endpoint
    external_models = ("judge model from the spec (chasing-random-v1: Qwen/Qwen2.5-7B-Instruct)",)

    def __init__(self, threshold: float = 4.0, max_tokens: int = 3, constrain: bool | None = None,
                 fallback: str = "fill", shuffle_seed: int = 42, concurrency: int = 4) -> None:
        super().__init__(threshold=threshold, max_tokens=max_tokens, constrain=constrain, fallback=fallback,
                         shuffle_seed=shuffle_seed, concurrency=concurrency)
        self.threshold, self.max_tokens, self.constrain = float(threshold), int(max_tokens), constrain
        self.fallback, self.shuffle_seed, self.concurrency = fallback, shuffle_seed, int(concurrency)

    def select(self, pool: Pool, budget: int, ctx: SelectionContext) -> Selection:
        scores, score_info = judge_ratings(pool, ctx, max_tokens=self.max_tokens, constrain=self.constrain,
                                           concurrency=self.concurrency)
        order = np.random.default_rng(self.shuffle_seed).permutation(len(pool))
        pick = threshold_then_top_k(scores[order], self.threshold, budget, fallback=self.fallback)
        chosen = order[pick.indices]
        ids = pool.data["id"]
        values, counts = np.unique(scores[np.isfinite(scores)], return_counts=True)
        return Selection(
            ids=[ids[int(i)] for i in chosen],
            scores=[float(scores[i]) if np.isfinite(scores[i]) else -1.0 for i in chosen],
            info={"ratings": score_info, "rating_histogram": {f"{v:g}": int(c) for v, c in zip(values, counts)},
                  "rule": pick.info()},
        )
