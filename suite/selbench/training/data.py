"""From a selection to tokenized training rows.

``selection_rows`` picks the selected examples out of the pool in selection order (checking the
pool is the one the selection was made on); ``tokenize_rows`` renders each conversation with the
recipe's template through ``tokenizer.apply_chat_template(..., return_assistant_tokens_mask=True)``
and labels only the ``{% generation %}`` spans when ``loss_on == "response"`` (every other token
gets -100), or every token when ``loss_on == "all"``. Rows are truncated to ``max_length``; a row
left with no labelled token is dropped (as the targeted paper's code does) and counted. With
``packing: constant_length`` nothing is truncated: the rows are packed into ``max_length`` blocks
(``selbench.training.packing``) and the dataset's rows are those blocks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import datasets

from selbench.errors import SelbenchError
from selbench.pools.pool import Pool
from selbench.specs.models import RecipeSpec
from selbench.training.packing import pack_examples
from selbench.training.templates import Template

IGNORE_INDEX = -100


class SelectionMismatchError(SelbenchError):
    """The selection does not belong to the pool it is trained against."""


@dataclass
class DataStats:
    examples: int = 0
    dropped_no_labels: int = 0
    truncated: int = 0
    tokens: int = 0
    label_tokens: int = 0
    max_len: int = 0
    # constant-length packing only: training rows (blocks), examples spread over two or more
    # blocks, and labelled first tokens of continuation pieces (nothing in their block predicts them)
    blocks: int | None = None
    pieces: int | None = None
    cut_examples: int | None = None
    lost_label_tokens: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def selection_rows(selection: dict[str, Any], pool: Pool) -> datasets.Dataset:
    """The selected rows of ``pool``, in selection order."""
    expected = (selection.get("pool") or {}).get("fingerprint")
    if expected and expected != pool.fingerprint:
        raise SelectionMismatchError(
            f"the selection was made on pool '{selection['pool'].get('name')}' with fingerprint {expected[:12]}…, "
            f"but pool '{pool.name}' has fingerprint {pool.fingerprint[:12]}… (a different pool version)"
        )
    ids = selection.get("ids")
    if not isinstance(ids, list) or not ids:
        raise SelectionMismatchError("the selection has no ids")
    index = {id_: i for i, id_ in enumerate(pool.data["id"])}
    missing = [i for i in ids if i not in index]
    if missing:
        raise SelectionMismatchError(
            f"{len(missing)} selected id(s) are not in pool '{pool.name}' (first: {missing[0]!r})"
        )
    return pool.data.select([index[i] for i in ids])


def _conversation(row: dict[str, Any], template: Template) -> list[dict[str, str]]:
    messages = [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
    if template.first_turn_only:
        first_user = next((i for i, m in enumerate(messages) if m["role"] == "user"), None)
        if first_user is not None:
            messages = messages[: first_user + 2]
    return messages


def tokenize_rows(
    rows: datasets.Dataset, tokenizer: Any, template: Template, recipe: RecipeSpec, batch_size: int = 256,
) -> tuple[datasets.Dataset, DataStats]:
    """``input_ids`` and ``labels`` per example (no padding), plus statistics; with constant-length
    packing, ``input_ids``/``labels``/``position_ids`` per ``max_length`` block instead."""
    stats = DataStats()
    pack = recipe.packing == "constant_length"
    input_ids: list[list[int]] = []
    labels: list[list[int]] = []
    for start in range(0, len(rows), batch_size):
        chunk = rows.select(range(start, min(start + batch_size, len(rows))))
        conversations = [_conversation(r, template) for r in chunk]
        encoded = tokenizer.apply_chat_template(
            conversations, chat_template=template.chat_template, tokenize=True, return_dict=True,
            return_assistant_tokens_mask=recipe.loss_on == "response",
        )
        masks = encoded.get("assistant_masks") if recipe.loss_on == "response" else None
        for j, ids in enumerate(encoded["input_ids"]):
            ids = list(ids)
            if masks is not None:
                lab = [tok if m else IGNORE_INDEX for tok, m in zip(ids, masks[j])]
            else:
                lab = list(ids)
            if len(ids) > recipe.max_length and not pack:
                stats.truncated += 1
                ids, lab = ids[: recipe.max_length], lab[: recipe.max_length]
            # position 0 is never predicted (labels are shifted inside the model)
            n_labels = sum(1 for t in lab[1:] if t != IGNORE_INDEX)
            if n_labels == 0:
                stats.dropped_no_labels += 1
                continue
            input_ids.append(ids)
            labels.append(lab)
            stats.examples += 1
            stats.tokens += len(ids)
            stats.label_tokens += n_labels
            stats.max_len = max(stats.max_len, len(ids))
    if not input_ids:
        raise SelbenchError(
            f"no trainable example left: all {len(rows)} rows have no response token within "
            f"max_length={recipe.max_length}"
        )
    if pack:
        packed = pack_examples(zip(input_ids, labels), recipe.max_length)
        stats.blocks, stats.cut_examples = packed.stats.blocks, packed.stats.cut_examples
        stats.pieces = packed.stats.pieces
        stats.lost_label_tokens = packed.stats.lost_label_tokens
        stats.label_tokens = packed.stats.label_tokens
        return datasets.Dataset.from_dict({"input_ids": packed.input_ids, "labels": packed.labels,
                                           "position_ids": packed.position_ids}), stats
    data = datasets.Dataset.from_dict({"input_ids": input_ids, "labels": labels})
    return data, stats
