"""Run a spec's grid: select -> train -> evaluate every cell, then write results and a page.

Every stage is content-addressed and atomic (see each stage), so this module only orchestrates:
a rerun reuses what is finished, a killed run resumes, and a cell that fails at any stage is
recorded with its reason while the others go on. Evaluation serves the base model and every
adapter of the run from ONE vLLM server (server start-up dominates at the tiny scale).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selbench.atomic import atomic_write_text
from selbench.errors import SelbenchError
from selbench.grid import Cell, expand
from selbench.pipeline.cell_state import CellState
from selbench.pipeline.results import result_rows
from selbench.pools.loader import load_pool
from selbench.pools.pool import Pool
from selbench.results.schema import ResultRow
from selbench.selection.isolation import Limits
from selbench.selection.stage import run_selection
from selbench.specs.models import Spec

REFERENCE_KINDS = {"random": "random", "full": "full"}
ZERO_SHOT = "zero-shot"

Report = Callable[[str, int], None]  # (message, cells advanced)


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


def plan(spec: Spec, selectors: list[str] | None, pools: list[str] | None, budgets: list[int] | None) -> list[CellState]:
    """The run's cells: the requested selectors (default: the spec's), always with the reference
    rows (random with every seed of the spec, the full pool, the zero-shot base)."""
    wanted = list(dict.fromkeys([*(selectors or spec.selectors), "random", "full"]))
    cells, _ = expand(spec, wanted, pools, budgets)
    states = [CellState(c, REFERENCE_KINDS.get(c.selector, "selector")) for c in cells]
    for pool in dict.fromkeys(c.pool for c in cells):
        states.append(CellState(Cell(pool, None, ZERO_SHOT, 0), ZERO_SHOT))
    return states


def _write_states(run_dir: Path, states: list[CellState]) -> None:
    atomic_write_text(run_dir / "cells.jsonl", "".join(json.dumps(s.to_dict()) + "\n" for s in states))


def _stopped(run_dir: Path, states: list[CellState]) -> RunOutcome:
    """Stopped early on request: cells that got through every requested stage are done."""
    for st in states:
        if st.status == "pending" and st.kind != ZERO_SHOT:
            st.status = "done"
    _write_states(run_dir, states)
    return RunOutcome(run_dir, states)


def run_grid(
    spec: Spec,
    run_dir: Path,
    *,
    selectors: list[str] | None = None,
    pools: list[str] | None = None,
    budgets: list[int] | None = None,
    limits: Limits = Limits(),
    stages: tuple[str, ...] = ("select", "train", "evaluate"),
    report: Report = lambda msg, n: None,
    states: list[CellState] | None = None,
) -> RunOutcome:
    states = states if states is not None else plan(spec, selectors, pools, budgets)
    run_dir.mkdir(parents=True, exist_ok=True)
    loaded: dict[str, Pool] = {}
    selections: dict[int, dict[str, Any]] = {}
    trainings: dict[int, dict[str, Any]] = {}

    def pool_of(name: str) -> Pool:
        if name not in loaded:
            loaded[name] = load_pool(spec.pool(name))
        return loaded[name]

    # select
    for i, st in enumerate(states):
        if st.kind == ZERO_SHOT:
            continue
        report(f"select {st.cell.label}", 0)
        t0 = time.perf_counter()
        try:
            pool = pool_of(st.cell.pool)
            art = run_selection(pool, st.cell.selector, st.cell.budget or len(pool), st.cell.seed, run_dir,
                                cost_model=spec.cost_model, spec_id=spec.id, limits=limits)
            st.selection, st.stage = str(art.path / "selection.json"), "select"
            selections[i] = art.data
        except SelbenchError as exc:
            st.fail("select", str(exc))
        st.timings["select_s"] = round(time.perf_counter() - t0, 2)
        _write_states(run_dir, states)
    if "train" not in stages:
        return _stopped(run_dir, states)

    # train
    from selbench.training.stage import run_training

    for i, st in enumerate(states):
        if st.kind == ZERO_SHOT or st.status == "failed":
            continue
        report(f"train {st.cell.label}", 0)
        t0 = time.perf_counter()
        try:
            art = run_training(selections[i], spec, run_dir, seed=st.cell.seed, pool=pool_of(st.cell.pool), progress=False)
            st.train, st.stage = str(art.adapter_dir), "train"
            trainings[i] = art.record
        except SelbenchError as exc:
            st.fail("train", str(exc))
        st.timings["train_s"] = round(time.perf_counter() - t0, 2)
        _write_states(run_dir, states)
    if "evaluate" not in stages:
        return _stopped(run_dir, states)

    # evaluate: one server for the base and every adapter
    from selbench.evaluation.stage import run_evaluation_many

    targets: dict[str, Path | None] = {}
    for i, st in enumerate(states):
        if st.status == "failed":
            continue
        targets[f"cell{i}"] = None if st.kind == ZERO_SHOT else Path(st.train or "")
    report(f"evaluate {len(targets)} model(s) on {', '.join(spec.grid_benchmarks)}", 0)
    t0 = time.perf_counter()
    try:
        evals = run_evaluation_many(spec, targets=targets, benchmarks=list(spec.grid_benchmarks), out_dir=run_dir,
                                    progress=lambda msg: report(msg, 0))
    except SelbenchError as exc:
        for i, st in enumerate(states):
            if f"cell{i}" in targets:
                st.fail("evaluate", str(exc))
        _write_states(run_dir, states)
        return RunOutcome(run_dir, states)
    elapsed = round(time.perf_counter() - t0, 2)

    rows: list[ResultRow] = []
    for i, st in enumerate(states):
        name = f"cell{i}"
        if name not in evals:
            continue
        st.evaluation, st.status, st.stage = str(evals[name].folder), "done", "evaluate"
        st.timings["evaluate_s"] = round(elapsed / max(1, len(targets)), 2)
        pool = pool_of(st.cell.pool)
        sel = selections.get(i)
        rows += result_rows(
            spec, run_dir, kind=st.kind, pool=pool.name, pool_fingerprint=pool.fingerprint,
            budget=None if st.kind in ("full", ZERO_SHOT) else st.cell.budget,
            selector=(sel or {}).get("selector", {}).get("name", st.cell.selector),
            selector_version=(sel or {}).get("selector", {}).get("version", "0"),
            seed=st.cell.seed, evaluation_dir=evals[name].folder, selection=sel,
            selection_path=Path(st.selection) if st.selection else None, training=trainings.get(i),
        )
    _write_states(run_dir, states)
    atomic_write_text(run_dir / "results.jsonl", "".join(r.to_json_line() for r in rows))
    from selbench.submissions.provenance import current_provenance

    atomic_write_text(run_dir / "provenance.json", json.dumps(current_provenance(), indent=2) + "\n")
    return RunOutcome(run_dir, states, rows)
