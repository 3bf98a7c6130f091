"""Per-item score files: gzip-compressed JSONL, one ``{"id": str, "score": float}`` per line.

Reading is on the leaderboard's hot path (thousands of files), so canonical lines are parsed
with one regular expression over the whole text; anything else falls back to strict
``json.loads`` per line, so a hand-written file is read correctly or rejected with its line.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import zlib
from pathlib import Path

import numpy as np

# the canonical line json.dumps writes: {"id": "...", "score": 1.0}
_LINE = re.compile(r'\{"id": "([^"\\\n]{1,200})", "score": (-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)\}\n')
_FIXED = len('{"id": "", "score": }\n')


class ItemScoresError(ValueError):
    """A per-item file is not gzip JSONL of {"id", "score"} with unique ids and finite scores."""


def encode_item_scores(ids: list[str], scores: list[float] | np.ndarray) -> bytes:
    """The gzip bytes for ``ids``/``scores`` (deterministic: mtime 0)."""
    text = "".join(json.dumps({"id": i, "score": float(s)}) + "\n" for i, s in zip(ids, scores, strict=True))
    return gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0)


def write_item_scores(path: str | Path, ids: list[str], scores: list[float] | np.ndarray) -> None:
    from selbench.atomic import atomic_write_bytes

    atomic_write_bytes(path, encode_item_scores(ids, scores))


def decode_item_scores(data: bytes, *, max_uncompressed: int = 256 << 20) -> tuple[list[str], np.ndarray]:
    try:
        inflater = zlib.decompressobj(wbits=31)  # gzip container
        raw = inflater.decompress(data, max_uncompressed + 1)
    except zlib.error as exc:
        raise ItemScoresError(f"not a gzip file ({exc})") from None
    if len(raw) > max_uncompressed:
        raise ItemScoresError(f"uncompressed size exceeds {max_uncompressed} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ItemScoresError(f"not UTF-8 ({exc})") from None
    if text and not text.endswith("\n"):
        text += "\n"
    found = _LINE.findall(text)
    ids_t, vals_t = zip(*found) if found else ((), ())
    # matches never overlap, so if their lengths add up to the text, every line is canonical
    if found and sum(map(len, ids_t)) + sum(map(len, vals_t)) + _FIXED * len(found) == len(text):
        ids = list(ids_t)
        scores = np.array(vals_t, dtype=np.float64)
    else:
        ids, values = [], []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ItemScoresError(f"line {n}: malformed JSON ({exc.msg})") from None
            if not isinstance(obj, dict) or set(obj) != {"id", "score"}:
                raise ItemScoresError(f"line {n}: expected exactly the keys 'id' and 'score'")
            if not isinstance(obj["id"], str) or not isinstance(obj["score"], (int, float)) or isinstance(obj["score"], bool):
                raise ItemScoresError(f"line {n}: 'id' must be a string and 'score' a number")
            if not math.isfinite(obj["score"]):
                raise ItemScoresError(f"line {n}: score is not finite")
            ids.append(obj["id"])
            values.append(float(obj["score"]))
        scores = np.array(values, dtype=np.float64)
    if not ids:
        raise ItemScoresError("no items")
    if len(set(ids)) != len(ids):
        raise ItemScoresError("duplicate item ids")
    if not np.all(np.isfinite(scores)):
        raise ItemScoresError("a score is not finite")
    return ids, scores


def read_item_scores(path: str | Path) -> tuple[list[str], np.ndarray]:
    return decode_item_scores(Path(path).read_bytes())
