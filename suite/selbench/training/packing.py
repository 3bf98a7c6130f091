"""Constant-length packing: the rendered examples concatenated and cut into ``max_length`` blocks.

This is the packing of the Chasing Random paper (TRL's ``packing=True`` with a 512-token
``max_seq_length``): nothing is truncated, every token of every selected example is trained on,
and a training row is a block of ``max_length`` tokens (so ``effective_batch_size`` counts
blocks, as it did in the paper). Unlike that TRL version, examples packed into one block never
attend to each other: each block carries ``position_ids`` that restart at 0 wherever an example
(or the continuation of an example cut at a block boundary) begins, and the model is run without
an ``attention_mask``, so transformers (>= 4.54) builds its causal mask per packed sequence
(``masking_utils.find_packed_sequence_indices``; flash-attention-2 uses the same position ids as
variable-length boundaries). The first label of every piece is -100: a piece's first token has no
context inside its block, so nothing predicts it (in a per-example run, the example's first token
is never predicted either; a cut costs one labelled token more).

``pack_examples`` is pure Python over token lists (tested without a model); ``BlockCollator``
stacks blocks into a batch and pads only the last, shorter block of an epoch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

IGNORE_INDEX = -100


@dataclass
class PackStats:
    blocks: int = 0
    pieces: int = 0
    cut_examples: int = 0
    tokens: int = 0
    label_tokens: int = 0
    lost_label_tokens: int = 0  # first tokens of continuation pieces that were labelled
    last_block_tokens: int = 0


@dataclass
class Packed:
    input_ids: list[list[int]] = field(default_factory=list)
    labels: list[list[int]] = field(default_factory=list)
    position_ids: list[list[int]] = field(default_factory=list)
    stats: PackStats = field(default_factory=PackStats)


def pack_examples(examples: Iterable[tuple[Sequence[int], Sequence[int]]], max_length: int) -> Packed:
    """Concatenate ``(input_ids, labels)`` pairs in order and cut them into ``max_length`` blocks.

    Every input token lands in exactly one block, in order. Position ids restart at 0 at each
    piece (an example, or the part of one that spills into the next block); a piece's first label
    is set to -100 (nothing in its block can predict it).
    """
    if max_length < 2:
        raise ValueError("max_length must be at least 2 to pack")
    out = Packed()
    ids: list[int] = []
    labs: list[int] = []
    pos: list[int] = []

    def flush() -> None:
        if ids:
            out.input_ids.append(list(ids))
            out.labels.append(list(labs))
            out.position_ids.append(list(pos))
            ids.clear(), labs.clear(), pos.clear()

    for example_ids, example_labels in examples:
        if len(example_ids) != len(example_labels):
            raise ValueError("input_ids and labels differ in length")
        start, pieces = 0, 0
        while start < len(example_ids):
            room = max_length - len(ids)
            piece = example_ids[start: start + room]
            piece_labels = list(example_labels[start: start + room])
            if piece_labels[0] != IGNORE_INDEX:
                if start > 0:
                    out.stats.lost_label_tokens += 1
                piece_labels[0] = IGNORE_INDEX
            ids.extend(piece)
            labs.extend(piece_labels)
            pos.extend(range(len(piece)))
            start += len(piece)
            pieces += 1
            if len(ids) == max_length:
                flush()
        out.stats.pieces += pieces
        out.stats.cut_examples += pieces > 1
        out.stats.tokens += len(example_ids)
    flush()
    out.stats.blocks = len(out.input_ids)
    out.stats.label_tokens = sum(1 for block in out.labels for t in block if t != IGNORE_INDEX)
    out.stats.last_block_tokens = len(out.input_ids[-1]) if out.input_ids else 0
    return out


class BlockCollator:
    """Stacks packed blocks (``input_ids``, ``labels``, ``position_ids``) into one batch, no attention mask.

    Only the last block of a pass can be shorter than the rest; it is padded with ``pad_id``
    (labels -100, position ids of a separate trailing sequence, which no real token attends to,
    the mask being causal).
    """

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        ids, labels, pos = [], [], []
        for f in features:
            pad = width - len(f["input_ids"])
            ids.append(list(f["input_ids"]) + [self.pad_id] * pad)
            labels.append(list(f["labels"]) + [IGNORE_INDEX] * pad)
            pos.append(list(f["position_ids"]) + list(range(pad)))
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "position_ids": torch.tensor(pos)}
