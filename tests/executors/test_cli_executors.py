"""``selbench run --executor ...`` as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from sb_testing import alpaca_rows, assert_user_error, run_cli, write_jsonl
from selbench.specs.loader import load_spec
from selbench.specs.models import PoolSpec


def _spec_file(tmp_path: Path) -> Path:
    pool = write_jsonl(tmp_path / "pool.jsonl", alpaca_rows(40))
    spec = load_spec("tiny").model_copy(update={"pools": (PoolSpec(name="p", path=str(pool)),), "budgets": (10,),
                                                "random_seeds": (0, 1, 2), "train_seeds": (0,), "selectors": ("longest",)})
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True)))
    return path


def test_run_help_lists_the_executor_options() -> None:
    proc = run_cli("run", "--help", env={"COLUMNS": "200"})
    for option in ("--executor", "--ray-address", "--gpus", "--slurm-partition", "--slurm-time"):
        assert option in proc.stdout


def test_unknown_executor_is_one_error_line(tmp_path: Path) -> None:
    proc = run_cli("run", "--spec", str(_spec_file(tmp_path)), "--executor", "mpi", "--stages", "select",
                   "--out", str(tmp_path / "runs"))
    assert_user_error(proc, "--executor takes one of local, ray, slurm")


def test_slurm_then_local_reuses_every_selection(tmp_path: Path) -> None:
    spec = _spec_file(tmp_path)
    common = ("run", "--spec", str(spec), "--stages", "select", "--out", str(tmp_path / "runs"))
    first = run_cli(*common, "--executor", "slurm", "--slurm-cluster", "local", "--slurm-time", "5")
    assert first.returncode == 0, first.stdout + first.stderr
    cells = tmp_path / "runs" / "tiny" / "cells.jsonl"
    rows = [json.loads(line) for line in cells.read_text().splitlines()]
    assert sum(r["status"] == "done" for r in rows) == 5  # 3 random seeds, longest, full
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("tiny/selections/**/selection.json")}
    second = run_cli(*common)  # --executor local (the default) on the same runs folder
    assert second.returncode == 0, second.stdout + second.stderr
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
