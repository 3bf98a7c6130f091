"""``selbench leaderboard build``."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.markup import escape

from selbench.cli.console import err, out
from selbench.leaderboard.aggregate import N_BOOT

leaderboard_app = typer.Typer(help="Build the static leaderboard site.", no_args_is_help=True)


@leaderboard_app.command("build")
def build(
    submissions: Path = typer.Option(Path("submissions"), "--submissions", help="Folder of submission folders."),
    out_dir: Path = typer.Option(Path("leaderboard/site"), "--out", help="Where the site is written (replaced). The default, leaderboard/site/, is ignored by git (CI publishes it)."),
    verified: Path = typer.Option(Path("leaderboard/verified.json"), "--verified", help="Verification records (from `selbench submissions verify`)."),
    spec: str | None = typer.Option(None, "--spec", help="Spec version to compare, e.g. chasing-random-v1@v1 (default: the one most submissions use)."),
    n_boot: int = typer.Option(N_BOOT, "--bootstrap", min=100, help="Bootstrap replicates."),
) -> None:
    """Validate submissions, aggregate (gain over random, CIs, cost-adjusted gain) and write the site."""
    from selbench.leaderboard.build import build as do_build

    start = time.perf_counter()
    with err.status("building the leaderboard…"):
        res = do_build(submissions, out_dir, verified=verified, spec_id=spec, n_boot=n_boot)
    for slug, reason in res.rejected:
        err.print(f"[yellow]skipped[/] {escape(slug)}: {escape(reason)}", soft_wrap=True)
    lb = res.leaderboard
    out.print(f"[green]built[/] {escape(str(res.site / 'index.html'))}: {len(lb.selectors)} selectors, {len(lb.cells)} cells, "
              f"spec {escape(lb.spec_id)}, {time.perf_counter() - start:.1f}s")


def register(app: typer.Typer) -> None:
    app.add_typer(leaderboard_app, name="leaderboard")
