"""A run folder accumulates: ``selbench run --selector B`` after ``--selector A`` into the same
``--out`` keeps A's rows and cells; a rerun of a cell replaces its row (the reference rows are
shared, never duplicated)."""

from __future__ import annotations

import json
from pathlib import Path

from selbench.pipeline.accumulate import merge_cells, merge_rows, read_cells, read_rows
from selbench.results.schema import ResultRow
from selbench.submissions.fixture import make_synthetic_submission


def _rows(tmp_path: Path) -> list[ResultRow]:
    folder = make_synthetic_submission(tmp_path, "A", pools=("alpaca",), budgets=(1000,), benchmarks={"ifeval": 20})
    return [ResultRow.model_validate_json(line) for line in (folder / "results.jsonl").read_text().splitlines()]


def test_rows_of_earlier_runs_stay_and_a_rerun_cell_replaces_its_row(tmp_path: Path) -> None:
    first = _rows(tmp_path)
    a = [r for r in first if r.kind == "selector"]
    refs = [r for r in first if r.kind != "selector"]
    b = [r.model_copy(update={"selector": "b_method"}) for r in a]
    rerun_refs = [r.model_copy(update={"score": 0.5}) for r in refs]  # the same cells, measured again
    merged = merge_rows(first, b + rerun_refs)
    assert sorted({r.selector for r in merged if r.kind == "selector"}) == sorted({a[0].selector, "b_method"})
    assert len([r for r in merged if r.kind != "selector"]) == len(refs)  # replaced, not duplicated
    assert all(r.score == 0.5 for r in merged if r.kind != "selector")
    path = tmp_path / "results.jsonl"
    path.write_text("".join(r.to_json_line() for r in merged) + "not json\n")
    assert len(read_rows(path)) == len(merged)  # a torn line is dropped, the rest read


def test_cells_of_earlier_runs_stay(tmp_path: Path) -> None:
    earlier = [{"pool": "p", "budget": 10, "selector": "a", "seed": 0, "status": "done"},
               {"pool": "p", "budget": 10, "selector": "random", "seed": 0, "status": "done"}]
    now = [{"pool": "p", "budget": 10, "selector": "b", "seed": 0, "status": "done"},
           {"pool": "p", "budget": 10, "selector": "random", "seed": 0, "status": "failed"}]
    merged = merge_cells(earlier, now)
    assert [(c["selector"], c["status"]) for c in merged] == [("a", "done"), ("b", "done"), ("random", "failed")]
    path = tmp_path / "cells.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in merged))
    assert read_cells(path) == merged
