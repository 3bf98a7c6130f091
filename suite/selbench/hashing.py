"""Stable hashing of content and configuration.

Artifact directories, example ids, pool fingerprints and selection hashes are all sha256 over
canonical JSON (sorted keys, no whitespace, UTF-8), so they are identical across machines,
Python versions and dict orderings.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


def canonical_json(obj: Any) -> bytes:
    """Serialise ``obj`` deterministically (sorted keys, compact separators, UTF-8)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_json(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj``."""
    return sha256_bytes(canonical_json(obj))


def sha256_file(path: str | Path) -> str:
    """sha256 of a file's bytes, streamed so large pools do not load into memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def ids_sha256(ids: list[str]) -> str:
    """Hash of an ordered id list: newline-joined ids, so it is easy to recompute in any tool
    (``printf '%s\\n' ids... | sha256sum`` gives the same value)."""
    return sha256_bytes("".join(f"{i}\n" for i in ids).encode("utf-8"))
