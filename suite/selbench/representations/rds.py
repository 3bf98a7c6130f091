"""RDS+: the base model's own hidden states as the targeted representation (arXiv 2602.14696 §2.3).

After Ivison et al. 2025 (arXiv 2503.01807), as the targeted paper runs it
(``representation/rds/compute_rds_embeds.py``, pooling ``weighted_mean``):

- the spec's **base model** (the model that is fine-tuned), final-layer hidden states;
- **position-weighted mean pooling** (SGPT): the t-th of the T real tokens has weight
  ``t / sum(1..T)`` (:func:`selbench.services.embed.position_weights`);
- the **full example** rendered as in training: the row's conversation (every turn) through the
  recipe's chat template (``spec.recipe.template``; Tulu in the paper), trailing whitespace
  stripped as open-instruct does, truncated to ``max_length`` tokens (``targeted.rds_max_length``,
  2048 in the paper) keeping the beginning; the template writes the BOS token itself, so the
  tokenizer adds no special token;
- a **query** is its prompt + label, as the paper's ``construct_test_sample`` builds it: the
  chat-formatted prompt followed by the label and the end-of-turn marker, i.e. the same template
  rendering a user turn (the prompt) and an assistant turn (the label);
- L2-normalised; cosine similarity (:func:`selbench.representations.features.single`).

The paper embeds with batch size 1. Here rows are batched (right padding, length-sorted): with
a causal model and the attention mask, padding changes nothing (a test checks it).

Pool vectors are computed once per (pool, model weights, template, max_length, pooling) and
cached through ``ctx.services.cache`` (amortised cost); query vectors are computed per query set
(per-selection cost).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from selbench.representations.features import Features, single

#: bump when the pool vectors of the same inputs change
RDS_VERSION = 1
POOLING = "position_weighted"
CACHE_NAME = "rds-pool"


def row_messages(conversation: Sequence[dict[str, str]], first_turn_only: bool = False) -> list[dict[str, str]]:
    """A pool row's conversation as the training stage renders it (first user/assistant pair only
    for first-turn-only templates)."""
    messages = [{"role": m["role"], "content": m["content"]} for m in conversation]
    if first_turn_only:
        first_user = next((i for i, m in enumerate(messages) if m["role"] == "user"), None)
        if first_user is not None:
            messages = messages[: first_user + 2]
    return messages


def render_conversation(tokenizer: Any, chat_template: str, messages: Sequence[dict[str, str]]) -> str:
    """The whole conversation in the template (answers and their end markers included), stripped."""
    return tokenizer.apply_chat_template(list(messages), chat_template=chat_template, tokenize=False).strip()


def pool_conversations(pool: Any) -> list[list[dict[str, str]]]:
    """Every pool row's ``messages`` column (the canonical chat view of the row)."""
    return list(pool.data["messages"])


def query_conversation(item: Any) -> list[dict[str, str]]:
    """A query item (prompt, label) as a user turn and the assistant's answer."""
    return [{"role": "user", "content": item.prompt}, {"role": "assistant", "content": item.label}]


def resolve_template(ctx: Any, template: str | None, what: str) -> Any:
    """The named template, or the spec recipe's (the format the selected data is trained in)."""
    from selbench.training.templates import get_template

    if template is None:
        template = ctx.services.require_spec(what).recipe.template
    return get_template(template)


def rds_features(pool: Any, query_set: Any, ctx: Any, *, max_length: int, template: str | None = None,
                 batch_size: int = 16) -> Features:
    """RDS+ features of ``pool`` (a loaded Pool) and ``query_set`` (a QuerySet) on the spec's base model.

    ``max_length``: tokens per example (``spec.targeted.rds_max_length``). ``template``: a
    template name (default: ``spec.recipe.template``). ``batch_size`` changes speed only.
    """
    tmpl = resolve_template(ctx, template, "RDS+ (the base model's hidden states)")
    embedder = ctx.services.embedder(max_length=max_length, batch_size=batch_size, add_special_tokens=False)
    tokenizer = embedder.loaded.tokenizer
    key = {"pool": pool.fingerprint, "model": embedder.loaded.identity, "template": tmpl.sha256,
           "first_turn_only": tmpl.first_turn_only, "max_length": int(max_length), "pooling": POOLING,
           "text": "conversation", "version": RDS_VERSION}

    def compute() -> dict[str, np.ndarray]:
        texts = [render_conversation(tokenizer, tmpl.chat_template, row_messages(m, tmpl.first_turn_only))
                 for m in pool_conversations(pool)]
        return {"vectors": embedder.embed(texts, pooling=POOLING)}

    arrays, cache_info = ctx.services.cache.get_or_compute(CACHE_NAME, key, compute)
    query_texts = [render_conversation(tokenizer, tmpl.chat_template, query_conversation(q)) for q in query_set.items]
    query_vectors = embedder.embed(query_texts, pooling=POOLING)
    return single(arrays["vectors"], query_vectors, representation="rds+", model=embedder.loaded.name,
                  model_identity=embedder.loaded.identity, template=tmpl.name, max_length=int(max_length),
                  pooling=POOLING, pool_cache=cache_info, query_set=getattr(query_set, "name", None))
