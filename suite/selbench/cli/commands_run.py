"""``selbench run`` and ``selbench status``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from selbench.cli.console import err, out
from selbench.cli.options import MEMORY, NETWORK, OUT, TIMEOUT, limits
from selbench.cli.run_progress import LiveProgress, PlainProgress
from selbench.errors import SelbenchError
from selbench.executors import EXECUTORS, make_executor
from selbench.pipeline.cell_state import STAGES
from selbench.pipeline.run import plan, run_grid
from selbench.safe_text import printable
from selbench.selection.registry import absolute_selector
from selbench.specs.loader import DEFAULT_SPEC, load_spec


def _stages(text: str) -> tuple[str, ...]:
    chosen = tuple(s.strip() for s in text.split(",") if s.strip())
    bad = [s for s in chosen if s not in STAGES]
    if bad or not chosen:
        raise SelbenchError(f"--stages takes a comma list of {', '.join(STAGES)} (got {text!r})")
    # a later stage needs the earlier ones
    return STAGES[: max(STAGES.index(s) for s in chosen) + 1]


def _cells_table(title: str, cells: list[dict[str, Any]], scores: dict[tuple, str]) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("pool", "budget", "selector", "seed", "status", "stage", "score / reason"):
        table.add_column(col)
    for c in cells:
        status = {"failed": "[red]failed[/]", "done": "[green]done[/]"}.get(c["status"], c["status"])
        key = (c["pool"], c["budget"], c["selector"], c["seed"], c.get("target"))
        detail = escape(printable(c["reason"] or "")) if c["status"] == "failed" else scores.get(key, "")
        name = str(c["selector"]) + (f"@{c['target']}" if c.get("target") else "")
        table.add_row(c["pool"], "full" if c["budget"] is None else str(c["budget"]), escape(printable(name)),
                      str(c["seed"]), status, c["stage"], detail)
    return table


def run(
    spec: str = typer.Option(DEFAULT_SPEC, "--spec", "-s", help="Built-in spec name or spec YAML path."),
    selector: list[str] | None = typer.Option(None, "--selector", help="Selector(s) under test (default: the spec's list), repeatable: a name or path/to/file.py:Class. Random (every seed of the spec), full-pool and zero-shot reference rows are always added."),
    pools: list[str] | None = typer.Option(None, "--pools", help="Only these pools of the spec; repeatable."),
    budgets: list[int] | None = typer.Option(None, "--budgets", help="Only these budgets of the spec; repeatable."),
    targets: list[str] | None = typer.Option(None, "--targets", help="Targeted track: only these target tasks of the spec (default: all); repeatable."),
    stages: str = typer.Option(",".join(STAGES), "--stages", help="Stop after these stages: select, select,train or select,train,evaluate."),
    out_dir: Path = OUT,
    timeout: float | None = TIMEOUT,
    memory_limit_gb: float | None = MEMORY,
    selector_network: bool = NETWORK,
    executor: str = typer.Option("local", "--executor", "-x", help="Where cells run: local (in order, here), ray (Ray tasks) or slurm (submitit job arrays). Artifacts go under --out, which must be shared storage for ray/slurm on several machines."),
    cpus: int = typer.Option(1, "--cpus", min=1, help="CPU threads per task (every stage runs with exactly this many arithmetic threads, so results do not depend on the executor; 1 is fastest for the tiny model)."),
    gpus: float | None = typer.Option(None, "--gpus", help="GPUs per training/evaluation task for ray/slurm (default: 0 when the spec's cost model says no GPU, else 1)."),
    ray_address: str | None = typer.Option(None, "--ray-address", help="An existing Ray cluster (e.g. ray://head:10001 or auto); default: a local cluster bound to 127.0.0.1."),
    slurm_partition: str | None = typer.Option(None, "--slurm-partition", help="Slurm partition for every job array."),
    slurm_time: int = typer.Option(240, "--slurm-time", help="Slurm time limit per job, minutes."),
    slurm_array_parallelism: int = typer.Option(64, "--slurm-array-parallelism", help="Most jobs of one array running at once."),
    slurm_folder: Path | None = typer.Option(None, "--slurm-folder", help="submitit's job files and logs (default OUT/SPEC/.submitit)."),
    slurm_cluster: str | None = typer.Option(None, "--slurm-cluster", help="submitit cluster: slurm, local (local processes) or debug (in-process); default: slurm when sbatch is found, else local."),
) -> None:
    """Run a spec's grid: select -> train -> evaluate every cell, then results and a page.

    Default: the offline `tiny` spec and its selectors (random with every seed, longest, full). Results go to
    `OUT/SPEC/results.jsonl` (one row per cell and benchmark), the page to
    `OUT/SPEC/site/index.html`. Finished stages are reused, so a second run does nothing
    and a killed run resumes; a failing cell is recorded with its reason and the others go on.
    """
    the_spec = load_spec(spec)
    chosen = _stages(stages)
    lim = limits(timeout, memory_limit_gb, selector_network)
    run_dir = out_dir / the_spec.name
    start = time.perf_counter()
    with err.status("planning cells…"):
        states = plan(the_spec, [absolute_selector(s) for s in selector] if selector else None, pools, budgets, targets)
    if executor not in EXECUTORS:
        raise SelbenchError(f"--executor takes one of {', '.join(EXECUTORS)} (got {executor!r})")
    if gpus is None:
        gpus = 0.0 if the_spec.cost_model.gpu_type.lower().startswith("none") else 1.0
    with err.status(f"starting the {executor} executor…"):
        ex = make_executor(executor, run_dir, gpus=gpus, cpus=cpus, ray_address=ray_address, slurm_partition=slurm_partition,
                           slurm_time_min=slurm_time, slurm_array_parallelism=slurm_array_parallelism,
                           slurm_cluster=slurm_cluster, slurm_folder=slurm_folder)
    title = f"{the_spec.id} ({len(states)} cells: {' -> '.join(chosen)})"
    if err.is_terminal:
        with ex, LiveProgress(err, title) as live:
            outcome = run_grid(the_spec, run_dir, limits=lim, stages=chosen, states=states, executor=ex, events=live)
    else:  # a log: one plain line per event
        with ex:
            outcome = run_grid(the_spec, run_dir, limits=lim, stages=chosen, states=states, executor=ex,
                               events=PlainProgress(err, title))
    scores: dict[tuple, str] = {}
    for row in outcome.rows:
        key = (row.pool, row.budget if row.kind not in ("full",) else None, row.selector, row.seed, row.target)
        scores.setdefault(key, "")
        scores[key] += f"{row.benchmark} {row.metric}={row.score:.3f} "
    cells = [s.to_dict() for s in outcome.states]
    for c, st in zip(cells, outcome.states):  # rows name file plugins by their registry name
        if st.kind == "selector" and st.selection:
            c["selector"] = json.loads(Path(st.selection).read_text())["selector"]["name"]
    out.print(_cells_table(f"{the_spec.id}: {' -> '.join(chosen)}", cells, scores))
    if outcome.rows:
        from selbench.pipeline.page import build_run_page

        try:
            with err.status("building the run's leaderboard page…"):
                page = build_run_page(run_dir, outcome.rows)
            out.print(f"page:    {page}")
        except SelbenchError as exc:
            out.print(f"[yellow]page not built:[/] {escape(str(exc))}")
        out.print(f"results: {run_dir / 'results.jsonl'}")
    failed = len(outcome.failed)
    out.print(f"cells:   {run_dir / 'cells.jsonl'}  ({len(cells) - failed} ok, {failed} failed) in {time.perf_counter() - start:.0f} s")
    if failed:
        raise typer.Exit(1)


def status(run_dir: Path = typer.Argument(Path("runs"), help="A run folder (OUT/SPEC) or the folder holding several.")) -> None:
    """What is done, what failed and why, for each cell of a run."""
    files = [run_dir / "cells.jsonl"] if (run_dir / "cells.jsonl").is_file() else sorted(run_dir.glob("*/cells.jsonl"))
    if not files:
        raise SelbenchError(f"no run found under {run_dir} (expected cells.jsonl written by `selbench run`)")
    for file in files:
        cells = [json.loads(line) for line in file.read_text("utf-8").splitlines() if line.strip()]
        out.print(_cells_table(str(file.parent), cells, {}))
        done = sum(c["status"] == "done" for c in cells)
        failed = sum(c["status"] == "failed" for c in cells)
        out.print(f"{done} done, {failed} failed, {len(cells) - done - failed} pending or stopped after an earlier stage")


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("status")(status)
