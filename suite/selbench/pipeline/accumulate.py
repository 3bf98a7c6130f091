"""A run folder accumulates over runs: rows and cell states are keyed by cell, not by invocation.

``selbench run --selector A`` then ``selbench run --selector B --out DIR`` must leave both A's and
B's rows in ``results.jsonl`` (and both on the page, and both submittable); a rerun of the same
cell replaces its row. Reference rows (random, full, zero-shot) are cells like any other, so they
are shared by every selector of the folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from selbench.jsonl import read_json_objects
from selbench.results.schema import ResultRow

RowKey = tuple[Any, ...]


def row_key(row: ResultRow) -> RowKey:
    """What names a row's cell and benchmark (everything but the measured values)."""
    data = row.model_dump(mode="json", by_alias=True)
    return tuple((name, json.dumps(data.get(name), sort_keys=True)) for name in
                 ("kind", "spec", "pool", "budget", "selector", "seed", "benchmark", "target"))


def read_rows(path: Path) -> list[ResultRow]:
    """The rows of an earlier run's ``results.jsonl``; lines that no longer validate are dropped
    (their cells are rerun by whoever asks for them again)."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text("utf-8").splitlines():
        if not line.strip():
            continue
        try:
            rows.append(ResultRow.model_validate_json(line))
        except ValidationError:
            continue
    return rows


def merge_rows(earlier: list[ResultRow], new: list[ResultRow]) -> list[ResultRow]:
    """Earlier rows whose cell was not rerun, then the new rows (a rerun replaces its cell's row)."""
    fresh = {row_key(r) for r in new}
    return [r for r in earlier if row_key(r) not in fresh] + list(new)


def cell_key(cell: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(cell.get(k) for k in ("pool", "budget", "selector", "seed", "target"))


def read_cells(path: Path) -> list[dict[str, Any]]:
    return read_json_objects(path)


def merge_cells(earlier: list[dict[str, Any]], current: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Earlier cells this run did not plan, then this run's cells."""
    planned = {cell_key(c) for c in current}
    return [c for c in earlier if cell_key(c) not in planned] + current
