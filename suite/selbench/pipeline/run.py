"""Run a spec's grid: select -> train -> evaluate every cell, then write results and a page.

Every stage is content-addressed and atomic (see each stage), so this module only orchestrates:
a rerun reuses what is finished, a killed run resumes, and a cell that fails at any stage is
recorded with its reason while the others go on. Evaluation serves the base model and every
adapter of the run from ONE vLLM server (server start-up dominates at the tiny scale).

Each stage's per-cell work is a top-level, picklable function (:func:`select_cell`,
:func:`train_cell`; :func:`evaluate_cells` for the one evaluation call) taking one job, so an
executor (:mod:`selbench.executors`: local, Ray, Slurm via submitit) can run it anywhere that
sees the run directory and the caches. The driver keeps the grid's order (every selection,
then every training, then evaluation) and writes ``cells.jsonl`` after each cell.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selbench.atomic import atomic_write_text
from selbench.errors import SelbenchError
from selbench.grid import Cell, expand
from selbench.pipeline.accumulate import merge_cells, merge_rows, read_cells, read_rows
from selbench.pipeline.cell_state import CellState
from selbench.pipeline.pooled_reference import pooled_sources, random_first
from selbench.pipeline.events import RunEvents
from selbench.pipeline.results import result_rows
from selbench.pools.loader import load_pool
from selbench.pools.pool import Pool
from selbench.executors.base import Executor, StageResult, apply_env, forwarded_env
from selbench.results.schema import ResultRow
from selbench.selection.isolation import Limits
from selbench.selection.stage import run_selection
from selbench.specs.models import Spec

REFERENCE_KINDS = {"random": "random", "full": "full"}
ZERO_SHOT = "zero-shot"



@dataclass
class RunOutcome:
    run_dir: Path
    states: list[CellState]
    rows: list[ResultRow] = field(default_factory=list)
    site: Path | None = None
    site_error: str | None = None

    @property
    def failed(self) -> list[CellState]:
        return [s for s in self.states if s.status == "failed"]


def plan(spec: Spec, selectors: list[str] | None, pools: list[str] | None, budgets: list[int] | None,
         targets: list[str] | None = None) -> list[CellState]:
    """The run's cells: the requested selectors (default: the spec's), always with the reference
    rows (random with every seed of the spec, the full pool, the zero-shot base). On the targeted
    track, targeted selectors get a cell per target task (default: every target of the spec)."""
    wanted = list(dict.fromkeys([*(selectors or spec.selectors), "random", "full"]))
    cells, _ = expand(spec, wanted, pools, budgets, targets)
    states = [CellState(c, REFERENCE_KINDS.get(c.selector, "selector")) for c in cells]
    for pool in dict.fromkeys(c.pool for c in cells):
        states.append(CellState(Cell(pool, None, ZERO_SHOT, 0), ZERO_SHOT))
    return states


def _write_states(run_dir: Path, states: list[CellState]) -> None:
    """This run's cells, after the cells of earlier runs in the same folder that it did not plan."""
    path = run_dir / "cells.jsonl"
    cells = merge_cells(read_cells(path), [s.to_dict() for s in states])
    atomic_write_text(path, "".join(json.dumps(c) + "\n" for c in cells))


def _stopped(run_dir: Path, states: list[CellState]) -> RunOutcome:
    """Stopped early on request: cells that got through every requested stage are done."""
    for st in states:
        if st.status == "pending" and st.kind != ZERO_SHOT:
            st.status = "done"
    _write_states(run_dir, states)
    return RunOutcome(run_dir, states)


# --- per-cell work: top-level functions of one picklable job --------------------------------

_POOLS: dict[tuple[str, str], Pool] = {}


def _pool(token: str, spec: Spec, name: str) -> Pool:
    """The pool, loaded once per run and process (``token`` names the run: a long-lived Ray
    worker never hands a later run a pool loaded for an earlier one)."""
    key = (token, name)
    if key not in _POOLS:
        for stale in [k for k in _POOLS if k[0] != token]:
            del _POOLS[stale]
        _POOLS[key] = load_pool(spec.pool(name))
    return _POOLS[key]


@dataclass
class SelectJob:
    spec: Spec
    run_dir: Path
    cell: Cell
    limits: Limits
    token: str
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class TrainJob:
    spec: Spec
    run_dir: Path
    cell: Cell
    selection: dict[str, Any]
    token: str
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class EvaluateJob:
    spec: Spec
    run_dir: Path
    targets: dict[str, Path | None]
    benchmarks: list[str] | dict[str, list[str]]  # one list for all, or per target
    env: dict[str, str] = field(default_factory=dict)
    limit: int | None = None  # at most N items per benchmark task (smoke runs)
    pooled_from: dict[str, list[str]] = field(default_factory=dict)  # AlpacaEval's pooled-random sources


def select_cell(job: SelectJob) -> StageResult:
    """Select (or reuse) one cell; ``value`` is ``(selection.json path, its data)``."""
    apply_env(job.env)
    t0 = time.perf_counter()
    try:
        pool = _pool(job.token, job.spec, job.cell.pool)
        art = run_selection(pool, job.cell.selector, job.cell.budget or len(pool), job.cell.seed, job.run_dir,
                            cost_model=job.spec.cost_model, spec_id=job.spec.id, limits=job.limits, spec=job.spec,
                            target=job.cell.target)
        result = StageResult(True, (str(art.path / "selection.json"), art.data), extra={"reused": art.reused})
    except SelbenchError as exc:
        result = StageResult(False, reason=str(exc))
    result.seconds = round(time.perf_counter() - t0, 2)
    return result


def train_cell(job: TrainJob) -> StageResult:
    """Train (or reuse) one cell's adapter; ``value`` is ``(adapter dir, training record)``."""
    from selbench.training.stage import run_training

    apply_env(job.env)
    t0 = time.perf_counter()
    try:
        art = run_training(job.selection, job.spec, job.run_dir, seed=job.cell.seed,
                           pool=_pool(job.token, job.spec, job.cell.pool), progress=False)
        result = StageResult(True, (str(art.adapter_dir), art.record))
    except SelbenchError as exc:
        result = StageResult(False, reason=str(exc))
    result.seconds = round(time.perf_counter() - t0, 2)
    return result


def evaluate_cells(job: EvaluateJob, progress: Callable[[str], None] | None = None) -> StageResult:
    """Evaluate every target through one vLLM server; ``value`` maps target -> evaluation folder."""
    from selbench.evaluation.stage import run_evaluation_many

    apply_env(job.env)
    t0 = time.perf_counter()
    try:
        evals = run_evaluation_many(job.spec, targets=job.targets, benchmarks=job.benchmarks, out_dir=job.run_dir,
                                    progress=progress, limit=job.limit, pooled_from=job.pooled_from)
        result = StageResult(True, {name: str(ev.folder) for name, ev in evals.items()})
    except SelbenchError as exc:
        result = StageResult(False, reason=str(exc))
    result.seconds = round(time.perf_counter() - t0, 2)
    return result


def cell_benchmarks(spec: Spec, cell: Cell) -> list[str]:
    """What a cell is evaluated on: its target task's benchmarks (a targeted selector's cell), or
    every grid benchmark (general-track cells; on the targeted track, the references that are
    compared with every target's selectors)."""
    if cell.target is None or spec.targeted is None:
        return list(spec.grid_benchmarks)
    own = set(spec.targeted.target(cell.target).benchmarks)
    return [b for b in spec.grid_benchmarks if b in own]


# --- the driver ---------------------------------------------------------------------------------

def run_grid(
    spec: Spec,
    run_dir: Path,
    *,
    selectors: list[str] | None = None,
    pools: list[str] | None = None,
    budgets: list[int] | None = None,
    limits: Limits = Limits(),
    stages: tuple[str, ...] = ("select", "train", "evaluate"),
    states: list[CellState] | None = None,
    executor: Executor | None = None,
    targets: list[str] | None = None,
    limit: int | None = None,
    events: RunEvents | None = None,
) -> RunOutcome:
    """Run the grid with ``executor`` (default: local, every cell in order in this process).

    The executor is not closed here: the caller that made it owns it (without one, a local
    executor is made and entered here, so its guard stops the run's processes if the driver dies)."""
    from selbench.executors.local import LocalExecutor

    if executor is None:
        with LocalExecutor() as own:
            return run_grid(spec, run_dir, selectors=selectors, pools=pools, budgets=budgets, limits=limits,
                            stages=stages, states=states, executor=own, targets=targets, events=events,
                            limit=limit)
    ex = executor
    ev = events or RunEvents()
    local = isinstance(ex, LocalExecutor)
    states = states if states is not None else plan(spec, selectors, pools, budgets, targets)
    run_dir.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    env = {} if local else forwarded_env()
    selections: dict[int, dict[str, Any]] = {}
    trainings: dict[int, dict[str, Any]] = {}

    # select
    todo = [i for i, st in enumerate(states) if st.kind != ZERO_SHOT]

    def select_done(k: int, res: StageResult) -> None:
        st = states[todo[k]]
        if res.ok:
            st.selection, st.stage = res.value[0], "select"
            selections[todo[k]] = res.value[1]
        else:
            st.fail("select", res.reason or "failed")
        st.timings["select_s"] = res.seconds
        _write_states(run_dir, states)
        ev.done("select", st.cell.label, res.ok, res.seconds, reused=bool(res.extra.get("reused")))

    ev.stage("select", len(todo))
    ex.map("select", select_cell, [SelectJob(spec, run_dir, states[i].cell, limits, token, env) for i in todo],
           on_start=lambda k: ev.start("select", states[todo[k]].cell.label), on_done=select_done)
    if "train" not in stages:
        return _stopped(run_dir, states)

    # train
    todo = [i for i, st in enumerate(states) if st.kind != ZERO_SHOT and st.status != "failed"]

    def train_done(k: int, res: StageResult) -> None:
        st = states[todo[k]]
        if res.ok:
            st.train, st.stage = res.value[0], "train"
            trainings[todo[k]] = res.value[1]
        else:
            st.fail("train", res.reason or "failed")
        st.timings["train_s"] = res.seconds
        _write_states(run_dir, states)
        ev.done("train", st.cell.label, res.ok, res.seconds)

    ev.stage("train", len(todo))
    ex.map("train", train_cell, [TrainJob(spec, run_dir, states[i].cell, selections[i], token, env) for i in todo],
           on_start=lambda k: ev.start("train", states[todo[k]].cell.label), on_done=train_done)
    if "evaluate" not in stages:
        return _stopped(run_dir, states)

    # evaluate: one server for the base and every adapter (and one per fully fine-tuned model)
    models: dict[str, Path | None] = {}
    benchmarks: dict[str, list[str]] = {}
    for i, st in enumerate(states):
        if st.status == "failed":
            continue
        models[f"cell{i}"] = None if st.kind == ZERO_SHOT else Path(st.train or "")
        benchmarks[f"cell{i}"] = cell_benchmarks(spec, st.cell)
    ev.stage("evaluate", len(models))
    servers = "one vLLM server" if spec.recipe.method == "lora" else "a vLLM server per fine-tuned model, then the base's"
    ev.start("evaluate", f"{len(models)} model(s) through {servers} on {', '.join(spec.grid_benchmarks)}")

    by_name = {f"cell{i}": st for i, st in enumerate(states) if f"cell{i}" in models}
    models = random_first(models, by_name)  # AlpacaEval's pooled-random reference is made of their outputs
    job = EvaluateJob(spec, run_dir, models, benchmarks, env, limit=limit, pooled_from=pooled_sources(by_name))
    if local:  # in this process, with progress messages
        res = evaluate_cells(job, progress=ev.note)
    else:
        res = ex.call("evaluate", evaluate_cells, job)
    for name in models:
        ev.done("evaluate", states[int(name[4:])].cell.label, res.ok, res.seconds / max(1, len(models)))
    if not res.ok:
        for i, st in enumerate(states):
            if f"cell{i}" in models:
                st.fail("evaluate", res.reason or "failed")
        _write_states(run_dir, states)
        return RunOutcome(run_dir, states)
    evals: dict[str, str] = res.value
    elapsed = res.seconds

    rows: list[ResultRow] = []
    for i, st in enumerate(states):
        name = f"cell{i}"
        if name not in evals:
            continue
        st.evaluation, st.status, st.stage = evals[name], "done", "evaluate"
        st.timings["evaluate_s"] = round(elapsed / max(1, len(models)), 2)
        pool = _pool(token, spec, st.cell.pool)
        sel = selections.get(i)
        rows += result_rows(
            spec, run_dir, kind=st.kind, pool=pool.name, pool_fingerprint=pool.fingerprint,
            budget=None if st.kind in ("full", ZERO_SHOT) else st.cell.budget,
            selector=(sel or {}).get("selector", {}).get("name", st.cell.selector),
            selector_version=(sel or {}).get("selector", {}).get("version", "0"),
            seed=st.cell.seed, evaluation_dir=Path(evals[name]), selection=sel,
            selection_path=Path(st.selection) if st.selection else None, training=trainings.get(i),
            benchmarks=benchmarks[name], target=st.cell.target,
        )
    _write_states(run_dir, states)
    rows = merge_rows(read_rows(run_dir / "results.jsonl"), rows)  # earlier runs' cells stay
    atomic_write_text(run_dir / "results.jsonl", "".join(r.to_json_line() for r in rows))
    from selbench.submissions.provenance import current_provenance

    atomic_write_text(run_dir / "provenance.json", json.dumps(current_provenance(), indent=2) + "\n")
    return RunOutcome(run_dir, states, rows)
