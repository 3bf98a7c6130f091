"""Reading JSON-lines files that a killed process may have left with a torn last line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json_objects(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of ``path``, one per line; a missing file is empty, and a torn or
    non-object line (a run killed mid-write) is skipped: whoever wrote it redoes that work."""
    if not path.is_file():
        return []
    out: list[dict[str, Any]] = []
    for line in path.read_text("utf-8").splitlines():
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out
