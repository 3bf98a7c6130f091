"""``selbench quantiles``: the distance-quantile experiment of the targeted track."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from selbench.cli.console import err, out
from selbench.cli.options import OUT
from selbench.errors import SelbenchError
from selbench.specs.loader import load_spec
from selbench.targeted.compose import REPRESENTATIONS


def quantiles(
    spec: str = typer.Option("tiny-targeted", "--spec", "-s", help="A targeted-track spec (built-in name or YAML path)."),
    target: str | None = typer.Option(None, "--target", help="The target task (default: the spec's first)."),
    representation: list[str] | None = typer.Option(None, "--representation", "-r", help=f"Representation(s): {', '.join(REPRESENTATIONS)} (default: all); repeatable."),
    count: int = typer.Option(10, "--quantiles", help="How many equal distance quantiles the round-robin order is cut into."),
    per_quantile: int | None = typer.Option(None, "--per-quantile", help="Examples fine-tuned on per quantile (default: the spec's smallest budget; the paper: 500)."),
    seed: int = typer.Option(0, "--seed", help="Fine-tuning seed."),
    out_dir: Path = OUT,
) -> None:
    """Does a representation's similarity predict the query loss? (arXiv 2602.14696 §2.5)

    Orders the whole pool by round-robin similarity to the target's query set, fine-tunes on the
    top of each distance quantile, evaluates the query loss and the test set, and prints the
    Spearman correlation between quantile index and each metric (a positive rho for the loss:
    farther data, higher loss). Results: `OUT/SPEC/quantiles/TARGET/REPRESENTATION.json`.
    """
    from selbench.targeted.quantiles import run_quantiles

    the_spec = load_spec(spec)
    if the_spec.targeted is None:
        raise SelbenchError(f"spec {the_spec.id} is not on the targeted track (try --spec tiny-targeted)")
    chosen_target = target or the_spec.targeted.targets[0].name
    reps = representation or list(REPRESENTATIONS)
    unknown = [r for r in reps if r not in REPRESENTATIONS]
    if unknown:
        raise SelbenchError(f"unknown representation(s) {unknown} (known: {', '.join(REPRESENTATIONS)})")
    table = Table(title=f"{the_spec.id} @ {chosen_target}: Spearman(quantile index, metric)", title_justify="left")
    for col in ("representation", "metric", "rho", "p", "per-quantile values (q0 → q_last)"):
        table.add_column(col)
    for rep in reps:
        with err.status(f"{rep}…") as status:
            outcome = run_quantiles(the_spec, out_dir / the_spec.name, representation=rep, target=chosen_target,
                                    quantiles=count, per_quantile=per_quantile, seed=seed,
                                    report=lambda msg: status.update(f"{rep}: {escape(msg)}"))
        for metric, corr in outcome.spearman.items():
            values = " ".join(f"{r[metric]:.3f}" for r in outcome.quantiles)
            table.add_row(rep, metric, f"{corr['rho']:+.3f}", f"{corr['p_value']:.3g}", values)
    out.print(table)
    out.print(f"results: {out_dir / the_spec.name / 'quantiles' / chosen_target}")


def register(app: typer.Typer) -> None:
    app.command("quantiles")(quantiles)
