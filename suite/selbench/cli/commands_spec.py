"""``selbench spec validate|show``."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml

from selbench.cli.console import out
from selbench.errors import SpecError
from selbench.specs.loader import load_spec

spec_app = typer.Typer(help="Check and show benchmark specs (versioned YAML).", no_args_is_help=True)


@spec_app.command("validate")
def validate(files: list[Path] = typer.Argument(..., help="Spec YAML files (or built-in names) to check.")) -> None:
    """Check spec files; every error is reported with its field path (e.g. `pools[1](dolly).revision`)."""
    failures = []
    for file in files:
        try:
            spec = load_spec(str(file))
        except SpecError as exc:
            failures.append(str(exc))
            continue
        out.print(f"[green]ok[/] {file}: {spec.id}, {len(spec.pools)} pool(s), budgets {list(spec.budgets)}")
    if failures:
        raise SpecError("\n".join(failures))


@spec_app.command("show")
def show(name: str = typer.Argument("tiny", help="Built-in spec name or YAML path.")) -> None:
    """Print a spec with every default filled in."""
    spec = load_spec(name)
    out.print(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False), highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(spec_app, name="spec")
