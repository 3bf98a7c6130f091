"""``selbench ls selectors|pools|specs``."""

from __future__ import annotations

from enum import Enum

import typer
from rich.markup import escape
from rich.table import Table

from selbench.cli.console import out
from selbench.errors import SelectorError
from selbench.selection.registry import BUILTIN, known_selectors, resolve_selector
from selbench.specs.loader import builtin_spec_names, load_spec


class What(str, Enum):
    selectors = "selectors"
    pools = "pools"
    specs = "specs"


def _selectors() -> Table:
    table = Table(title="selectors", title_justify="left")
    for col in ("name", "version", "from", "track", "needs GPU", "uses API"):
        table.add_column(col, no_wrap=True)
    table.add_column("description", ratio=1)
    for name, target in sorted(known_selectors().items()):
        origin = "built-in" if name in BUILTIN else "plugin"
        try:
            cls, _ = resolve_selector(name)
        except SelectorError as exc:
            table.add_row(escape(name), "?", origin, "", "", "", f"[red]{escape(exc.problem)}[/]")
            continue
        meta = cls.metadata()
        table.add_row(
            escape(name), escape(meta["version"]), origin, meta["track"],
            "yes" if meta["needs_gpu"] else "no", "yes" if meta["uses_api"] else "no", escape(meta["description"]),
        )
    return table


def _pools() -> Table:
    table = Table(title="pools of the built-in specs", title_justify="left")
    for col in ("spec", "pool", "source", "fields"):
        table.add_column(col, no_wrap=True)
    for spec_name in builtin_spec_names():
        spec = load_spec(spec_name)
        for pool in spec.pools:
            source = (f"{pool.hub_id}@{pool.revision[:10]}" if pool.hub_id and pool.revision
                      else pool.path or f"generator:{pool.generator}")
            fields = pool.fields if isinstance(pool.fields, str) else "custom"
            table.add_row(spec.id, pool.name, escape(source), fields)
    return table


def _specs() -> Table:
    table = Table(title="built-in specs", title_justify="left")
    for col in ("spec", "track", "pools", "budgets", "random seeds", "base model"):
        table.add_column(col)
    for spec_name in builtin_spec_names():
        spec = load_spec(spec_name)
        table.add_row(
            spec.id, spec.track, ", ".join(p.name for p in spec.pools), ", ".join(map(str, spec.budgets)),
            str(len(spec.random_seeds)), spec.base_model.hub_id or spec.base_model.name,
        )
    return table


def ls(what: What = typer.Argument(..., help="What to list: selectors, pools or specs.")) -> None:
    """List the selectors (built-in and installed plugins), the built-in specs' pools, or the specs."""
    out.print({What.selectors: _selectors, What.pools: _pools, What.specs: _specs}[what]())


def register(app: typer.Typer) -> None:
    app.command("ls")(ls)
