"""The same grid, select -> train -> evaluate, under local, Ray and submitit's local executor:
identical selection hashes, adapters, per-item scores and results tables.

The grid is the tiny spec made small (an 8-person world: 256 pool rows, 64 held-out pairs;
budget 64; random with 3 seeds, longest, the full pool and the zero-shot base; 2 epochs), so
each fine-tune takes seconds; each executor runs its own selections, fine-tunes and ONE vLLM
server into its own run folder. Only the base model (pretrained once) and the pool's Arrow
cache are shared, through ``SELBENCH_CACHE``.

The local run is also the kill test of the later stages: its driver (a subprocess) is killed
with ``kill -9`` once mid-training (a complete checkpoint on disk) and once mid-evaluation
(items already scored), and each time what is on disk must be complete or scratch, no process
of the run may survive (the vLLM server runs in a session of its own), and the run finished
afterwards must equal the uninterrupted Ray and submitit runs bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from selbench.executors import make_executor
from selbench.pipeline.run import RunOutcome, plan, run_grid
from selbench.results.schema import PhaseCost, ResultRow
from selbench.specs.loader import load_spec
from selbench.specs.models import Spec

pytestmark = pytest.mark.slow

#: what a result row measures rather than computes: per-phase dollars and CPU/GPU seconds (priced
#: from measured time). Everything else of the row (scores, item-score hashes, ids hashes, tokens,
#: FLOPs, relative paths of content-keyed artifacts) must be identical across executors.
VOLATILE_COST = ("usd", "cpu_s", "gpu_s")

_DRIVER = """
import json, sys
from pathlib import Path
from selbench.executors import make_executor
from selbench.pipeline.run import run_grid
from selbench.specs.models import Spec

spec = Spec.model_validate(json.loads(Path(sys.argv[1]).read_text()))
with make_executor("local", Path(sys.argv[2])) as ex:
    outcome = run_grid(spec, Path(sys.argv[2]), executor=ex)
print("FAILED" if outcome.failed else "OK", [s.reason for s in outcome.failed], flush=True)
"""


@pytest.fixture(scope="module")
def full_spec() -> Spec:
    base = load_spec("tiny").model_dump(mode="json")
    pool = {**base["pools"][0], "generator_args": {**base["pools"][0]["generator_args"], "entities": 8}}
    return Spec.model_validate({**base, "pools": [pool], "budgets": [64], "random_seeds": [0, 1, 2], "train_seeds": [0],
                                "selectors": ["random", "longest"], "recipe": {**base["recipe"], "epochs": 2}})


@pytest.fixture(scope="module")
def base_model(full_spec: Spec) -> Path:
    """The tiny base model, built (pretrained) once into the shared cache before any run, so
    that no executor's tasks build it concurrently."""
    from selbench.models.loader import resolve_base_model

    return Path(resolve_base_model(full_spec.base_model).source)


def _run(spec: Spec, run_dir: Path, executor: Any) -> tuple[RunOutcome, float]:
    t0 = time.perf_counter()
    outcome = run_grid(spec, run_dir, states=plan(spec, None, None, None), executor=executor)
    return outcome, time.perf_counter() - t0


def _run_processes(run_dir: Path) -> list[str]:
    """Processes whose command line names the run folder (a vLLM server names its adapters)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
        except psutil.Error:
            continue
        if str(run_dir) in cmd and proc.pid != os.getpid():
            found.append(f"{proc.pid}: {cmd[:160]}")
    return found


def _kill_when(args: list[str], ready: Callable[[], bool], what: str, timeout: float = 400) -> float:
    driver = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ))
    t0 = time.perf_counter()
    while not ready():
        if driver.poll() is not None:
            raise AssertionError(f"the driver ended before {what}: {driver.stdout.read().decode()[-3000:]}")
        assert time.perf_counter() - t0 < timeout, f"never reached {what}"
        time.sleep(0.05)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    return round(time.perf_counter() - t0, 1)


def _no_run_process_survives(run_dir: Path) -> list[str]:
    deadline = time.time() + 15
    while (left := _run_processes(run_dir)) and time.time() < deadline:
        time.sleep(0.5)
    return left


@pytest.fixture(scope="module")
def killed_then_finished(full_spec: Spec, base_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The local run: killed mid-training, killed mid-evaluation, then finished."""
    work = tmp_path_factory.mktemp("local-killed")
    run_dir = work / "tiny"
    spec_file = work / "spec.json"
    spec_file.write_text(json.dumps(full_spec.model_dump(mode="json")))
    args = [sys.executable, "-c", _DRIVER, str(spec_file), str(run_dir)]
    report: dict[str, Any] = {"run_dir": run_dir}

    # 1. mid-training: one cell trained, another with a complete checkpoint in its work folder
    def unfinished() -> list[Path]:
        """Work folders of cells not trained yet (a finished cell's work folder lives on for
        the moment between its artifact's rename and the folder's removal)."""
        return [w for w in run_dir.glob("train/*/*/*.work") if not w.with_name(w.name.removesuffix(".work")).exists()]

    def training() -> bool:
        return (any(run_dir.glob("train/*/*/*/training.json"))
                and any(any(w.glob("checkpoints/checkpoint-*/selbench_cost.json")) for w in unfinished()))

    report["train_kill_s"] = _kill_when(args, training, "a checkpoint mid-training")
    report["after_train_kill"] = {
        "left": _no_run_process_survives(run_dir),
        "trained": {p.parent.name: p.stat().st_mtime_ns for p in run_dir.glob("train/*/*/*/training.json")},
        "resumable": sorted(w.name.removesuffix(".work") for w in unfinished()
                            if any(w.glob("checkpoints/checkpoint-*/selbench_cost.json"))),
        "folders": sorted(p.name for p in run_dir.glob("train/*/*/*")),
        "incomplete": [p.name for p in run_dir.glob("train/*/*/*")
                       if not p.name.startswith(".tmp-") and not p.name.endswith(".work")
                       and not ((p / "training.json").is_file() and (p / "adapter" / "adapter_model.safetensors").is_file())],
        "cells_parse": [json.loads(line)["status"] for line in (run_dir / "cells.jsonl").read_text().splitlines()],
    }

    # 2. mid-evaluation: the server up and some items scored
    def scoring() -> bool:
        return any(p.stat().st_size > 0 for p in run_dir.glob("eval/tiny/*/known-answer/records.jsonl"))

    report["eval_kill_s"] = _kill_when(args, scoring, "items scored mid-evaluation")
    report["after_eval_kill"] = {
        "left": _no_run_process_survives(run_dir),
        "scored": sum(len(p.read_text().splitlines()) for p in run_dir.glob("eval/tiny/*/known-answer/records.jsonl")),
        "summaries_parse": [json.loads(p.read_text())["benchmark"]["name"]
                            for p in run_dir.glob("eval/tiny/*/*/summary.json")],
        "results_written": (run_dir / "results.jsonl").exists(),
    }

    # 3. finished in this process (same local executor, guarded)
    with make_executor("local", run_dir) as ex:
        outcome, wall = _run(full_spec, run_dir, ex)
    report.update(outcome=outcome, wall_s=round(wall, 1))
    return report


@pytest.fixture(scope="module")
def runs(full_spec: Spec, base_model: Path, killed_then_finished: dict, ray_executor: Any,
         tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, RunOutcome]]:
    out = {"local": (killed_then_finished["run_dir"], killed_then_finished["outcome"])}
    walls = {"local (killed twice, then finished)": killed_then_finished["wall_s"]}
    ray_dir = tmp_path_factory.mktemp("ray") / "tiny"
    outcome, walls["ray"] = _run(full_spec, ray_dir, ray_executor)
    out["ray"] = (ray_dir, outcome)
    slurm_dir = tmp_path_factory.mktemp("slurm") / "tiny"
    with make_executor("slurm", slurm_dir, slurm_cluster="local", slurm_time_min=15) as ex:
        outcome, walls["slurm"] = _run(full_spec, slurm_dir, ex)
    out["slurm"] = (slurm_dir, outcome)
    print("full-grid wall seconds per executor:", {k: round(v, 1) for k, v in walls.items()})
    return out


# --- what is compared ------------------------------------------------------------------------

def stable_rows(run_dir: Path) -> list[dict]:
    """results.jsonl without the measured costs (see VOLATILE_COST)."""
    rows = []
    for line in (run_dir / "results.jsonl").read_text().splitlines():
        row = ResultRow.model_validate_json(line).model_dump(mode="json", by_alias=True)
        for stage in ("selection_cost", "finetune_cost"):
            for phase in ("amortised", "per_budget"):
                for key in VOLATILE_COST:
                    row[stage][phase].pop(key)
        rows.append(row)
    return rows


def _cells(run_dir: Path) -> list[dict]:
    """cells.jsonl without timings; artifact paths relative to the run. An evaluation folder's
    key hashes the adapter's absolute path too, so only its kind (adapter/base) is kept."""
    rows = []
    for line in (run_dir / "cells.jsonl").read_text().splitlines():
        row = json.loads(line)
        row.pop("timings")
        for key in ("selection", "train"):
            if row[key]:
                row[key] = Path(row[key]).relative_to(run_dir).as_posix()
        row["evaluation"] = Path(row["evaluation"]).name.split("-")[0] if row["evaluation"] else None
        rows.append(row)
    return rows


def _selections(run_dir: Path) -> dict[str, tuple[str, str]]:
    out = {}
    for path in sorted(run_dir.glob("selections/**/selection.json")):
        data = json.loads(path.read_text())
        out[path.relative_to(run_dir).as_posix()] = (data["key"], data["ids_sha256"])
    return out


def _adapters(run_dir: Path) -> dict[str, str]:
    return {p.relative_to(run_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run_dir.glob("train/*/*/*/adapter/adapter_model.safetensors"))}


def _records(run_dir: Path) -> list[dict[str, dict]]:
    """Per cell, its known-answer records by item id (margins, log-probabilities, outputs)."""
    out = []
    for line in (run_dir / "cells.jsonl").read_text().splitlines():
        folder = Path(json.loads(line)["evaluation"]) / "known-answer"
        rows = [json.loads(r) for r in (folder / "records.jsonl").read_text().splitlines()]
        out.append({r["id"]: r for r in rows})
    return out


# --- the tests ---------------------------------------------------------------------------------

def test_volatile_fields_are_only_measured_costs() -> None:
    """The comparison drops nothing but measured costs: every other field of the row contract
    (including any added later) is compared."""
    assert set(VOLATILE_COST) <= set(PhaseCost.model_fields)
    assert {"score", "item_scores_sha256", "selection_ids_sha256", "n_items"} <= set(ResultRow.model_fields)


def test_every_executor_selects_trains_and_evaluates_every_cell(runs, full_spec: Spec) -> None:
    expected = len(plan(full_spec, None, None, None))  # 3 random, longest, full, zero-shot
    for name, (run_dir, outcome) in runs.items():
        assert not outcome.failed, (name, [(s.cell.label, s.stage, s.reason) for s in outcome.failed])
        assert len(outcome.states) == expected == 6
        assert {(s.status, s.stage) for s in outcome.states} == {("done", "evaluate")}, name
        assert len(stable_rows(run_dir)) == expected, name
        assert not list(run_dir.rglob(".tmp-*")) and not list(run_dir.glob("train/*/*/*.work")), name
    slurm = runs["slurm"][0]
    for stage in ("select", "train", "evaluate"):  # each stage was a submitit job (array)
        assert list((slurm / ".submitit" / stage).glob("*/*result.pkl")), stage


def test_results_tables_are_identical(runs) -> None:
    """The local run is the one killed twice and resumed: it must equal Ray's and submitit's
    uninterrupted runs too."""
    reference = stable_rows(runs["local"][0])
    assert len({r["score"] for r in reference}) > 2, "the cells should not all score the same"
    for name in ("ray", "slurm"):
        assert stable_rows(runs[name][0]) == reference, name


def test_selection_hashes_and_cells_are_identical(runs) -> None:
    reference = runs["local"][0]
    for name in ("ray", "slurm"):
        assert _selections(runs[name][0]) == _selections(reference), name
        assert _cells(runs[name][0]) == _cells(reference), name


def test_adapters_and_per_item_records_are_bit_identical(runs) -> None:
    """Stronger than the table: the adapter bytes and every item's log-probability margin and
    greedy output (each task runs with its stage's cpus as threads under every executor)."""
    reference = runs["local"][0]
    assert len(_adapters(reference)) == 5
    for name in ("ray", "slurm"):
        assert _adapters(runs[name][0]) == _adapters(reference), name
        assert _records(runs[name][0]) == _records(reference), name


def test_a_driver_killed_mid_training_leaves_complete_or_scratch_folders(killed_then_finished) -> None:
    seen = killed_then_finished["after_train_kill"]
    assert not seen["left"], seen["left"]
    assert seen["trained"] and seen["resumable"], seen
    assert not seen["incomplete"], seen
    assert all(status in ("pending", "done", "failed") for status in seen["cells_parse"])


def test_the_rerun_resumes_training_and_reuses_what_was_finished(killed_then_finished) -> None:
    run_dir = killed_then_finished["run_dir"]
    seen = killed_then_finished["after_train_kill"]
    for name, stamp in seen["trained"].items():  # finished before the kill: reused, not retrained
        (path,) = run_dir.glob(f"train/*/*/{name}/training.json")
        assert path.stat().st_mtime_ns == stamp, name
    for name in seen["resumable"]:  # interrupted after a complete checkpoint: resumed from it
        (path,) = run_dir.glob(f"train/*/*/{name}/training.json")
        assert json.loads(path.read_text())["trainer"]["resumed_from_step"], name


def test_a_driver_killed_mid_evaluation_leaves_no_server_and_no_partial_summary(killed_then_finished) -> None:
    seen = killed_then_finished["after_eval_kill"]
    assert not seen["left"], f"processes of the killed run survived: {seen['left']}"
    assert seen["scored"] > 0 and not seen["results_written"], seen
    assert all(name == "known-answer" for name in seen["summaries_parse"])
