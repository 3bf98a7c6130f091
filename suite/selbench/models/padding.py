"""Right-padded batches of token-id lists, shared by the services and the tiny-model pretraining.

Examples are grouped by length (longest first) so a batch wastes little compute on padding, and
each batch becomes an ``input_ids`` / ``attention_mask`` pair padded on the right.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def length_sorted_batches(lengths: Sequence[int], size: int) -> list[np.ndarray]:
    """Indices grouped into batches of ``size``, longest examples first (stable for ties)."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[i:i + size] for i in range(0, len(order), size)]


def right_pad(seqs: Sequence[Sequence[int]], pad: int) -> tuple[Any, Any]:
    """``(input_ids, attention_mask)`` long tensors of shape (len(seqs), longest), padded on the right."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = torch.tensor(list(seq), dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask
