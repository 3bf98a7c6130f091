"""The canonical pool schema every selector sees.

Columns: ``id`` (content hash), ``source`` (sub-dataset or file the row came from),
``instruction``, ``input``, ``output`` (flat text, as the Alpaca-style recipe and most
selectors want it) and ``messages`` (the conversation, as the chat recipes want it). Both views
are always filled, so a selector never branches on the pool's original layout.
"""

from __future__ import annotations

from typing import Any

import datasets

from selbench.hashing import sha256_json

# Bump when canonicalisation changes: it is part of every pool cache key and example id.
CANON_VERSION = 1
ID_HEX_CHARS = 16

FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "source": datasets.Value("string"),
        "instruction": datasets.Value("string"),
        "input": datasets.Value("string"),
        "output": datasets.Value("string"),
        "messages": datasets.List({"role": datasets.Value("string"), "content": datasets.Value("string")}),
    }
)
COLUMNS = tuple(FEATURES)


def content_id(row: dict[str, Any]) -> str:
    """Stable id of an example: a hash of its canonical content (not of its position)."""
    content = {k: row[k] for k in ("instruction", "input", "output", "messages")}
    return sha256_json(content)[:ID_HEX_CHARS]


def user_text(instruction: str, input_text: str) -> str:
    """The user turn built from instruction + optional input (Alpaca's two-field layout)."""
    return f"{instruction}\n\n{input_text}" if input_text else instruction
