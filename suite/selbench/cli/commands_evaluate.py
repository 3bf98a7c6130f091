"""``selbench evaluate``: run the spec's benchmarks on an adapter (or the base model) through vLLM."""

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


def evaluate(
    spec: str = typer.Option(DEFAULT_SPEC, "--spec", "-s", help="Built-in spec name or spec YAML path."),
    adapter: Path | None = typer.Option(None, "--adapter", help="A LoRA adapter folder (or a `selbench train` artifact folder)."),
    base_only: bool = typer.Option(False, "--base-only", help="Evaluate the zero-shot base model (no adapter)."),
    benchmarks: str = typer.Option("ifeval,alpaca_eval,llmbar,openllm", "--benchmarks", "-b",
                                   help="Comma-separated benchmark names or kinds (ifeval, alpaca_eval, llmbar, openllm, query_loss)."),
    limit: int | None = typer.Option(None, "--limit", help="At most N items per benchmark task (smoke runs)."),
    out_dir: Path = OUT,
    port: int | None = typer.Option(None, "--port", help="Port for the vLLM server (default: a free one)."),
    start_timeout: float = typer.Option(600.0, "--start-timeout", help="Seconds to wait for the server's /health."),
    random_outputs: list[Path] = typer.Option([], "--random-outputs", help="model_outputs.json of random-subset runs (AlpacaEval pooled-random reference); repeatable."),
    as_json: bool = typer.Option(False, "--json", help="Print the summaries' metrics as JSON."),
) -> None:
    """Evaluate with IFEval, AlpacaEval, LLMBar, OpenLLM (lm-eval) and query loss through one vLLM server.

    Writes `OUT/eval/SPEC/adapter|base-KEY/BENCHMARK/summary.json` and `records.jsonl`
    (prompt id, output, score) with harness versions, decoding, dataset and model hashes and cost.
    """
    if (adapter is None) == (not base_only):
        raise SelbenchError("give exactly one of --adapter DIR or --base-only")
    if limit is not None and limit <= 0:
        raise SelbenchError(f"--limit must be positive, got {limit}")
    loaded = load_spec(spec)
    with err.status("loading the evaluation stack…") as status:
        from selbench.evaluation.stage import run_evaluation

        result = run_evaluation(loaded, adapter=adapter, benchmarks=benchmarks.split(","), out_dir=out_dir,
                                limit=limit, port=port, start_timeout=start_timeout, random_outputs=random_outputs,
                                progress=lambda msg: status.update(escape(msg)))
    brief = {name: {"metrics": s.get("metrics"), "status": s.get("status"), "wall_s": s.get("wall_s")}
             for name, s in result.summaries.items()}
    if as_json:
        out.print_json(json.dumps({"folder": str(result.folder), "benchmarks": brief}, default=str))
        return
    table = Table(title=f"evaluation → {escape(str(result.folder))}", title_justify="left")
    table.add_column("benchmark")
    table.add_column("metrics")
    table.add_column("wall s", justify="right")
    for name, s in brief.items():
        table.add_row(name, escape(json.dumps(s["metrics"], default=str)[:400]), str(s["wall_s"]))
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
