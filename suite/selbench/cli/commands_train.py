"""``selbench train``: fine-tune the spec's base model on a selection with the spec's recipe."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from selbench.cli.console import err, out
from selbench.cli.options import OUT
from selbench.errors import SelbenchError
from selbench.specs.loader import DEFAULT_SPEC, load_spec


def train(
    selection: Path = typer.Option(..., "--selection", help="A selection.json written by `selbench select` (or its folder)."),
    spec: str = typer.Option(DEFAULT_SPEC, "--spec", "-s", help="Built-in spec name or spec YAML path (base model, recipe, cost model)."),
    seed: int = typer.Option(0, "--seed", help="Training seed (LoRA init, data order)."),
    out_dir: Path = OUT,
    max_steps: int | None = typer.Option(None, "--max-steps", help="Override the recipe's step count (a different recipe, so a different artifact)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar with ETA."),
    as_json: bool = typer.Option(False, "--json", help="Print the artifact summary as JSON."),
) -> None:
    """Fine-tune with the spec's fixed recipe (LoRA by default) on the selected examples.

    Writes `OUT/train/POOL/SELECTOR/bBUDGET-sSEED-tSEED-KEY/` with `adapter/`
    (peft; vLLM --enable-lora loads it), `tokenizer/` (with the training chat template) and
    `training.json` (recipe, seed, loss curve, tokens, steps, wall/CPU/GPU-seconds, FLOPs,
    dollars). The same inputs reuse the finished artifact; a killed run resumes from its last
    checkpoint.
    """
    if max_steps is not None and max_steps <= 0:
        raise SelbenchError(f"--max-steps must be positive, got {max_steps}")
    loaded = load_spec(spec)
    recipe = loaded.recipe.model_copy(update={"max_steps": max_steps}) if max_steps else loaded.recipe
    with err.status("loading the training stack (torch, transformers, peft)…"):
        from selbench.training.stage import run_training
    artifact = run_training(selection, loaded, out_dir, seed=seed, recipe=recipe, progress=progress)
    record = artifact.record
    curve = record["loss_curve"]
    summary = {
        "path": str(artifact.path), "reused": artifact.reused, "adapter": str(artifact.adapter_dir),
        "base_model": record["base_model"]["name"], "recipe": record["recipe"]["name"],
        "template": record["template"]["name"], "examples": record["data"]["examples"], "steps": record["steps"],
        "loss_first": round(curve[0]["loss"], 4) if curve else None,
        "loss_last": round(curve[-1]["loss"], 4) if curve else None,
        "tokens_seen": record["tokens_seen"], "wall_s": round(record["wall_s"], 2),
        "steps_per_s": record["throughput"]["steps_per_s"], "tokens_per_s": record["throughput"]["tokens_per_s"],
        "flops": record["flops"], "usd": record["usd"],
    }
    if as_json:
        out.print_json(json.dumps(summary))
        return
    table = Table(show_header=False, title="training" + (" (reused)" if artifact.reused else ""), title_justify="left")
    for key, value in summary.items():
        table.add_row(key, escape(str(value)))
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command("train")(train)
