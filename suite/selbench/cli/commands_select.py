"""``selbench select``, ``selbench validate-selector`` and ``selbench pool info``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from selbench.cli.console import err, out
from selbench.cli.options import MEMORY, NETWORK, OUT, PARAM, SPEC, TIMEOUT, limits, parse_params
from selbench.cli.pool_arg import resolve_pool_arg
from selbench.errors import SelbenchError
from selbench.pools.loader import load_pool
from selbench.pools.pool import Pool
from selbench.selection.checkup import checkup
from selbench.selection.registry import absolute_selector
from selbench.selection.stage import run_selection
from selbench.specs.loader import load_spec
from selbench.specs.models import CostModelSpec, PoolSpec, Spec

pool_app = typer.Typer(help="Inspect pools.", no_args_is_help=True)


def _load(pool_spec: PoolSpec) -> Pool:
    with err.status(f"loading pool [bold]{escape(pool_spec.name)}[/]…"):
        return load_pool(pool_spec)


def select(
    pool: str = typer.Option(..., "--pool", help="Pool name from a built-in spec (e.g. alpaca) or a .json/.jsonl/.parquet file or folder."),
    budget: int = typer.Option(..., "--budget", "-b", help="Number of examples to select."),
    selector: str = typer.Option(..., "--selector", help="Built-in name, installed plugin name, or path/to/file.py:Class."),
    seed: int = typer.Option(0, "--seed", help="Seed handed to the selector (ctx.seed)."),
    spec: str | None = SPEC,
    param: list[str] | None = PARAM,
    out_dir: Path = OUT,
    timeout: float | None = TIMEOUT,
    memory_limit_gb: float | None = MEMORY,
    selector_network: bool = NETWORK,
    as_json: bool = typer.Option(False, "--json", help="Print the artifact summary as JSON."),
    target: str | None = typer.Option(None, "--target", help="Targeted track: the spec's target task whose query set the selector gets (e.g. --spec tiny-targeted --target pet)."),
) -> None:
    """Run one selector on one pool at one budget and write `selection.json`.

    The artifact holds the ordered ids, their sha256, the selector's metadata and parameters,
    the pool fingerprint and the metered cost. The same inputs reuse the existing artifact.
    Targeted selectors (less-rr, rds-rr, ...) need a targeted spec and `--target`.
    """
    pool_spec, owner = resolve_pool_arg(pool, spec)
    loaded = _load(pool_spec)
    owner_spec: Spec | None = owner or (load_spec(spec) if spec else None)
    with err.status(f"running selector [bold]{escape(selector)}[/] (isolated)…"):
        artifact = run_selection(
            loaded, absolute_selector(selector), budget, seed, out_dir, params=parse_params(param),
            cost_model=owner_spec.cost_model if owner_spec else CostModelSpec(),
            spec_id=owner_spec.id if owner_spec else None, limits=limits(timeout, memory_limit_gb, selector_network),
            spec=owner_spec, target=target,
        )
    data = artifact.data
    summary = {
        "path": str(artifact.path / "selection.json"), "reused": artifact.reused, "selector": data["selector"]["name"],
        "pool": data["pool"]["name"], "pool_fingerprint": data["pool"]["fingerprint"], "budget": data["budget"],
        "size": data["size"], "seed": data["seed"], "ids_sha256": data["ids_sha256"],
        "wall_s": round(data["cost"]["total"]["wall_s"], 3), "usd": data["cost"]["usd"].get("total"),
    }
    if as_json:
        out.print_json(json.dumps(summary))
        return
    table = Table(show_header=False, title="selection" + (" (reused)" if artifact.reused else ""), title_justify="left")
    for key, value in summary.items():
        table.add_row(key, escape(str(value)))
    out.print(table)


def validate_selector(
    selector: str = typer.Argument(..., help="path/to/file.py:Class, an installed plugin name, or a built-in name."),
    pool: str | None = typer.Option(None, "--pool", help="Check on this pool instead of a generated one."),
    budget: int = typer.Option(50, "--budget", "-b", help="Budget for the check runs."),
    spec: str | None = SPEC,
    param: list[str] | None = PARAM,
    timeout: float | None = TIMEOUT,
    memory_limit_gb: float | None = MEMORY,
    selector_network: bool = NETWORK,
) -> None:
    """Check a selector plugin before you submit it: it loads, runs isolated, returns exactly
    `budget` unique ids from the pool, and is deterministic for a seed."""
    pool_spec = (
        resolve_pool_arg(pool, spec)[0] if pool
        else PoolSpec(name="checkup", generator="tiny-synthetic", generator_args={"size": 300, "seed": 7},
                      fields={"instruction": "instruction", "input": "input", "output": "output", "source": "category"})
    )
    loaded = _load(pool_spec)
    with err.status(f"checking [bold]{escape(selector)}[/] on {escape(loaded.name)} ({len(loaded)} examples)…"):
        checks, meta = checkup(absolute_selector(selector), loaded, budget, parse_params(param), limits(timeout, memory_limit_gb, selector_network))
    table = Table(title=f"validate-selector {escape(selector)}", title_justify="left")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail")
    for check in checks:
        table.add_row(check.name, "[green]ok[/]" if check.ok else "[red]FAIL[/]", escape(check.detail))
    out.print(table)
    if meta:
        out.print("metadata: " + escape(json.dumps({k: meta[k] for k in ("name", "version", "track", "needs_gpu", "uses_api", "seeded")})))
    failed = [c for c in checks if not c.ok]
    if failed:
        raise SelbenchError(f"{len(failed)} check(s) failed: " + "; ".join(f"{c.name}: {c.detail}" for c in failed))


@pool_app.command("info")
def pool_info(
    pool: str = typer.Argument(..., help="Pool name from a built-in spec, or a data file/folder."),
    spec: str | None = SPEC,
) -> None:
    """Load a pool (cached after the first time) and report rows, fingerprint and exact duplicates."""
    pool_spec, _ = resolve_pool_arg(pool, spec)
    start = time.perf_counter()
    loaded = _load(pool_spec)
    info = loaded.describe() | {"load_s": round(time.perf_counter() - start, 3), "cache": loaded.cache_dir}
    out.print_json(json.dumps(info))


def register(app: typer.Typer) -> None:
    app.command("select")(select)
    app.command("validate-selector")(validate_selector)
    app.add_typer(pool_app, name="pool")
