"""DEITA's score-first diversity-greedy filter, vectorised in chunks with torch.

Walk the pool by score (highest first) and keep an example only if its cosine similarity to
every example kept so far is at most ``threshold`` (DEITA: 0.9), until ``k`` are kept.

The naive walk is O(N x |S|) Python steps. Here candidates are taken ``chunk`` at a time: one
matrix product compares the whole chunk with everything kept so far, then the (few) survivors
are resolved against each other in order with a chunk x chunk similarity matrix, so the answer
is exactly the sequential one. Runs on ``device`` (a GPU when given) in float32.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from selbench.rules.common import Pick, RuleError, as_scores, check_fallback, check_k, shortfall
from selbench.rules.topk import descending_order


def diversity_greedy(
    scores: Any,
    embeddings: Any,
    k: int,
    *,
    threshold: float = 0.9,
    chunk: int = 2048,
    device: str | None = None,
    fallback: str = "fill",
) -> Pick:
    """Indices of up to ``k`` examples, score-first, no two with cosine similarity > ``threshold``.

    When the pool runs out before ``k``: ``fill`` adds the skipped (too similar) examples in
    score order, ``error`` raises :class:`~selbench.rules.ShortfallError` (DEITA's README
    advises lowering the threshold), ``short`` returns fewer.
    """
    import torch

    arr = as_scores(scores)
    check_fallback(fallback)
    k = check_k(k, len(arr))
    emb = torch.as_tensor(np.asarray(embeddings), dtype=torch.float32)
    if emb.ndim != 2 or emb.shape[0] != len(arr):
        raise RuleError(f"embeddings must have shape (n, d) with n = {len(arr)} scores, got {tuple(emb.shape)}")
    if chunk <= 0:
        raise RuleError(f"chunk must be positive, got {chunk}")
    emb = emb.to(device or "cpu")
    emb = emb / emb.norm(dim=1, keepdim=True).clamp_min(1e-12)
    order = descending_order(arr)
    kept: list[int] = []
    kept_emb = emb.new_empty((0, emb.shape[1]))
    skipped: list[np.ndarray] = []
    pos = 0
    while len(kept) < k and pos < len(order):
        cand = order[pos:pos + chunk]
        pos += len(cand)
        cand_t = torch.as_tensor(cand, device=emb.device)
        block = emb[cand_t]
        if len(kept_emb):
            ok = ((block @ kept_emb.T).max(dim=1).values <= threshold).cpu().numpy()
        else:
            ok = np.ones(len(cand), dtype=bool)
        survivors = np.flatnonzero(ok)
        decided = len(cand)
        taken = np.empty(0, dtype=np.int64)
        if len(survivors):
            sub = block[torch.as_tensor(survivors, device=emb.device)]
            conflict = ((sub @ sub.T) > threshold).cpu().numpy()
            accepted: list[int] = []
            for j in range(len(survivors)):
                if len(kept) + len(accepted) >= k:
                    break
                if not accepted or not conflict[j, accepted].any():
                    accepted.append(j)
            if accepted:
                taken = survivors[accepted]
                kept.extend(int(i) for i in cand[taken])
                kept_emb = torch.cat([kept_emb, sub[torch.as_tensor(accepted, device=emb.device)]])
                if len(kept) >= k:
                    decided = int(taken[-1]) + 1
        mask = np.ones(decided, dtype=bool)
        mask[taken] = False
        skipped.append(cand[:decided][mask])
    indices = np.asarray(kept, dtype=np.int64)
    stats = {"threshold": threshold, "scanned": int(pos)}
    if len(indices) >= k:
        return Pick(indices, passed=k, stats=stats)
    note = shortfall("diversity_greedy", len(indices), k, fallback,
                     "the skipped (too similar) examples in score order", f"lower the threshold ({threshold:g})")
    if fallback != "fill":
        return Pick(indices, passed=len(indices), note=note, stats=stats)
    rest = np.concatenate(skipped) if skipped else np.empty(0, dtype=np.int64)
    return Pick(np.concatenate([indices, rest[: k - len(indices)]]), passed=len(indices), note=note, stats=stats)
