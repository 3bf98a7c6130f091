"""Pooled hidden-state embeddings of pool rows, cached per (pool, model, text, pooling)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from selbench.hashing import sha256_bytes
from selbench.representations.text import render_prompt, rows, user_turn

TextField = Literal["instruction", "conversation"]


def row_texts(pool: Any, tokenizer: Any, text: TextField, chat_template: str | None) -> list[str]:
    """``instruction``: the user turn alone; ``conversation``: the templated user turn + answer."""
    items = rows(pool)
    if text == "instruction":
        return [user_turn(r) for r in items]
    return [render_prompt(tokenizer, chat_template, user_turn(r)) + r["output"] for r in items]


def pool_embeddings(pool: Any, ctx: Any, *, model: Any = None, pooling: str = "mean", text: TextField = "conversation",
                    chat_template: str | None = None, max_length: int = 512, batch_size: int = 16,
                    name: str = "embeddings") -> tuple[np.ndarray, dict[str, Any]]:
    """float32 (n, d) embeddings; ``model`` is a ModelSpec (default: the spec's base model)."""
    embedder = ctx.services.embedder(model, max_length=max_length, batch_size=batch_size)
    key = {"pool": pool.fingerprint, "model": embedder.loaded.identity, "pooling": pooling, "text": text,
           "template": sha256_bytes((chat_template or "").encode()), "max_length": max_length}

    def compute() -> dict[str, np.ndarray]:
        texts = row_texts(pool, embedder.loaded.tokenizer, text, chat_template)
        return {"embeddings": embedder.embed(texts, pooling=pooling)}  # type: ignore[arg-type]

    arrays, info = ctx.services.cache.get_or_compute(name, key, compute)
    return arrays["embeddings"], info
