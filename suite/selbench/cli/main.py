"""The ``selbench`` command line (typer + rich).

Every user mistake surfaces as a :class:`~selbench.errors.SelbenchError`, printed here as one
``error:`` line with a non-zero exit; tracebacks are reserved for bugs.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape

from selbench import __version__
from selbench.cli import commands_ls, commands_run, commands_select, commands_spec
from selbench.cli import commands_train
from selbench.cli import commands_leaderboard, commands_submit
from selbench.cli import commands_evaluate, commands_quantiles
from selbench.cli.console import err
from selbench.errors import SelbenchError
from selbench.safe_text import printable


class _App(typer.Typer):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except SelbenchError as exc:
            err.print(f"[bold red]error:[/] {escape(printable(str(exc)))}", highlight=False, soft_wrap=True)
            raise SystemExit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("[yellow]interrupted[/]: finished artifacts are kept; rerun to resume")
            raise SystemExit(130) from None


app = _App(
    name="selbench",
    help=(
        "Benchmark instruction-data selectors fairly: fixed pools and budgets, random baselines, "
        "metered selection cost.\n\n"
        "Start with `selbench ls selectors`, try `selbench select --pool ./pool.jsonl --budget 50 "
        "--selector random`, check your plugin with `selbench validate-selector ./my.py:MyMethod`."
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="markdown",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"selbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """selbench: the instruction data selection benchmark."""


commands_run.register(app)
commands_ls.register(app)
commands_spec.register(app)
commands_select.register(app)
commands_train.register(app)
commands_evaluate.register(app)
commands_submit.register(app)
commands_leaderboard.register(app)
commands_quantiles.register(app)
