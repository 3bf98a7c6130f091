"""``selbench run``: the grid of a spec, stage by stage, cached and resumable.

This version runs the selection stage for every cell (training and evaluation stages plug in
here as they land) and writes ``<out>/<spec>/cells.jsonl``: one line per cell with its status,
the artifact path, or the reason it failed. A failing cell never stops the others.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from selbench.atomic import atomic_write_text
from selbench.cli.console import err, out
from selbench.cli.options import MEMORY, OUT, TIMEOUT, limits
from selbench.errors import SelbenchError
from selbench.grid import Cell, expand
from selbench.pools.loader import load_pool
from selbench.pools.pool import Pool
from selbench.selection.stage import run_selection
from selbench.specs.loader import DEFAULT_SPEC, load_spec


def _row(cell: Cell, status: str, **extra: Any) -> dict[str, Any]:
    return {"pool": cell.pool, "budget": cell.budget, "selector": cell.selector, "seed": cell.seed, "status": status, **extra}


def run(
    spec: str = typer.Option(DEFAULT_SPEC, "--spec", "-s", help="Built-in spec name or spec YAML path."),
    selector: list[str] | None = typer.Option(None, "--selector", help="Selector(s) to run (default: the spec's list); repeatable; name or path/to/file.py:Class."),
    pools: list[str] | None = typer.Option(None, "--pools", help="Only these pools of the spec; repeatable."),
    budgets: list[int] | None = typer.Option(None, "--budgets", help="Only these budgets of the spec; repeatable."),
    out_dir: Path = OUT,
    timeout: float | None = TIMEOUT,
    memory_limit_gb: float | None = MEMORY,
) -> None:
    """Run the spec's grid (default: the offline `tiny` spec with every built-in selector).

    Cells are (pool, budget, selector, seed); random runs once per random seed. Finished
    artifacts are reused, so a second run does nothing and a killed run resumes.
    """
    the_spec = load_spec(spec)
    with err.status("planning cells…"):
        cells, _ = expand(the_spec, selector, pools, budgets)
    lim = limits(timeout, memory_limit_gb)
    results_path = out_dir / the_spec.name / "cells.jsonl"
    rows: list[dict[str, Any]] = []
    loaded: dict[str, Pool] = {}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task(f"{the_spec.id}: select", total=len(cells))
        for cell in cells:
            progress.update(task, description=f"{the_spec.id}: select {escape(cell.label)}")
            try:
                if cell.pool not in loaded:
                    loaded[cell.pool] = load_pool(the_spec.pool(cell.pool))
                pool = loaded[cell.pool]
                artifact = run_selection(
                    pool, cell.selector, cell.budget or len(pool), cell.seed, out_dir,
                    cost_model=the_spec.cost_model, spec_id=the_spec.id, limits=lim,
                )
                rows.append(_row(cell, "reused" if artifact.reused else "done",
                                 selection=str(artifact.path / "selection.json"), size=artifact.data["size"],
                                 ids_sha256=artifact.data["ids_sha256"], selection_usd=artifact.data["cost"]["usd"].get("total")))
            except SelbenchError as exc:
                rows.append(_row(cell, "failed", reason=str(exc)))
            atomic_write_text(results_path, "".join(json.dumps(r) + "\n" for r in rows))
            progress.advance(task)
    table = Table(title=f"{the_spec.id}: selection stage", title_justify="left")
    for col in ("pool", "budget", "selector", "seed", "status", "size / reason"):
        table.add_column(col)
    for r in rows:
        status = {"failed": "[red]failed[/]", "done": "[green]done[/]"}.get(r["status"], r["status"])
        detail = str(r.get("size")) if r["status"] != "failed" else escape(r["reason"])
        table.add_row(r["pool"], "full" if r["budget"] is None else str(r["budget"]), escape(r["selector"]), str(r["seed"]), status, detail)
    out.print(table)
    failed = sum(r["status"] == "failed" for r in rows)
    out.print(f"results: {results_path}  ({len(rows) - failed} ok, {failed} failed)")
    out.print("[dim]training and evaluation stages are not part of this version yet: selections are ready for `selbench train` when it lands.[/]")
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
