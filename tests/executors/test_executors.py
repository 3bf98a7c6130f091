"""The same grid under local, ray and slurm (submitit's local executor) gives the same artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selbench.executors import make_executor
from selbench.pipeline.run import run_grid

PLUGINS = Path(__file__).with_name("plugins.py")


def _cells(run_dir: Path) -> list[dict]:
    """cells.jsonl without what legitimately differs between runs (timings, the run folder)."""
    rows = []
    for line in (run_dir / "cells.jsonl").read_text().splitlines():
        row = json.loads(line)
        row.pop("timings")
        for key in ("selection", "train", "evaluation"):
            if row[key]:
                row[key] = str(Path(row[key]).relative_to(run_dir))
        rows.append(row)
    return rows


def _selections(run_dir: Path) -> dict[str, tuple[str, str]]:
    out = {}
    for path in sorted(run_dir.glob("selections/**/selection.json")):
        data = json.loads(path.read_text())
        out[str(path.relative_to(run_dir))] = (data["key"], data["ids_sha256"])
    return out


@pytest.fixture(scope="module")
def local_run(grid_spec, planned, tmp_path_factory):
    import copy

    run_dir = tmp_path_factory.mktemp("local") / "grid"
    outcome = run_grid(grid_spec, run_dir, states=copy.deepcopy(planned), stages=("select",))
    assert not outcome.failed, [s.reason for s in outcome.failed]
    return run_dir


def test_local_is_the_default_and_selects_every_cell(local_run, planned) -> None:
    cells = _cells(local_run)
    assert len(cells) == len(planned) and {c["status"] for c in cells} == {"done", "pending"}
    assert len(_selections(local_run)) == sum(s.kind != "zero-shot" for s in planned)
    assert not list(local_run.rglob(".tmp-*"))


def test_ray_gives_the_same_cells_and_selection_hashes(local_run, grid_spec, states, tmp_path, ray_executor) -> None:
    run_dir = tmp_path / "grid"
    outcome = run_grid(grid_spec, run_dir, states=states, stages=("select",), executor=ray_executor)
    assert not outcome.failed, [s.reason for s in outcome.failed]
    assert _cells(run_dir) == _cells(local_run)
    assert _selections(run_dir) == _selections(local_run)


def test_slurm_local_submitit_gives_the_same_cells_and_selection_hashes(local_run, grid_spec, states, tmp_path) -> None:
    run_dir = tmp_path / "grid"
    with make_executor("slurm", run_dir, slurm_cluster="local", slurm_time_min=5) as ex:
        outcome = run_grid(grid_spec, run_dir, states=states, stages=("select",), executor=ex)
    assert not outcome.failed, [s.reason for s in outcome.failed]
    assert _cells(run_dir) == _cells(local_run)
    assert _selections(run_dir) == _selections(local_run)
    # one job array per stage; the job files live beside the run
    assert (run_dir / ".submitit" / "select").is_dir()


def test_a_cell_finished_elsewhere_is_not_recomputed(local_run, grid_spec, planned, ray_executor) -> None:
    import copy

    before = {p: p.stat().st_mtime_ns for p in local_run.glob("selections/**/selection.json")}
    outcome = run_grid(grid_spec, local_run, states=copy.deepcopy(planned), stages=("select",), executor=ray_executor)
    assert not outcome.failed
    after = {p: p.stat().st_mtime_ns for p in local_run.glob("selections/**/selection.json")}
    assert after == before  # reused, not rewritten


def test_a_failing_cell_fails_alone_under_ray(grid_spec, tmp_path, ray_executor, eval_folder) -> None:
    from selbench.pipeline.run import plan

    states = [s for s in plan(grid_spec, [f"{PLUGINS}:ReadsEval"], None, [10]) if s.kind in ("selector", "full")]
    outcome = run_grid(grid_spec, tmp_path / "grid", states=states, stages=("select",), executor=ray_executor)
    by_kind = {s.kind: s for s in outcome.states}
    assert by_kind["full"].status == "done"
    assert by_kind["selector"].status == "failed" and "evaluation data" in (by_kind["selector"].reason or "")


def test_unknown_executor_is_a_user_error(tmp_path) -> None:
    from selbench.errors import SelbenchError

    with pytest.raises(SelbenchError, match="unknown executor"):
        make_executor("kubernetes", tmp_path)
