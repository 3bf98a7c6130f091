"""``selbench submit``, ``selbench submissions validate`` and ``selbench submissions verify``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from selbench.cli.console import err, out
from selbench.cli.options import MEMORY, NETWORK, TIMEOUT, limits
from selbench.errors import SelbenchError
from selbench.submissions.errors import SubmissionError, VerificationError
from selbench.submissions.submit import submit as do_submit
from selbench.submissions.validate import discover, load_submission
from selbench.submissions.verify import RETRAIN_TOLERANCE, save_record, verify as do_verify

submissions_app = typer.Typer(help="Validate and verify leaderboard submissions.", no_args_is_help=True)


def submit(
    run_dir: Path = typer.Argument(..., help="Run folder with results.jsonl (per-cell result rows), items/ and selection files."),
    name: str = typer.Option(..., "--name", help="Method name shown on the leaderboard; the folder is its slug."),
    authors: list[str] = typer.Option(..., "--authors", help="Author(s); repeat the option or separate with commas."),
    paper: str | None = typer.Option(None, "--paper", help="http(s) URL of the paper."),
    code: str = typer.Option(..., "--code", help="http(s) URL of the code."),
    description: str = typer.Option("", "--description", help="One paragraph shown on the selector's page."),
    plugin_install: str | None = typer.Option(None, "--plugin-install", help="pip requirement CI installs to re-run the plugin (e.g. 'my-sel==1.0')."),
    out_dir: Path = typer.Option(Path("submissions"), "--out", help="Submissions folder. The default is the repository's tracked submissions/ folder (run from a clone: the folder a pull request adds to); pass --out elsewhere for a private copy."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing submission of the same name."),
    selector: str | None = typer.Option(None, "--selector", help="The selector to submit when the run holds several (e.g. `selbench run` with the spec's selectors); the reference rows come along."),
) -> None:
    """Package a run as a submission folder (validated), ready for a pull request."""
    names = [a.strip() for part in authors for a in part.split(",") if a.strip()]
    sub = do_submit(run_dir, name=name, authors=names, paper=paper, code=code, out=out_dir, description=description, only_selector=selector,
                    plugin_install=plugin_install, overwrite=overwrite)
    out.print(f"[green]ok[/] {escape(str(sub.path))}: {len(sub.rows)} result rows, plugin {escape(sub.metadata.plugin.name)} "
              f"{escape(sub.metadata.plugin.version)}, spec {escape(sub.metadata.spec)}@v{sub.metadata.spec_version}")
    out.print("next: open a pull request adding this folder; CI validates it and re-runs the selection to verify it.")


@submissions_app.command("validate")
def validate(
    path: Path = typer.Argument(Path("submissions"), help="A submissions folder, or one submission folder."),
) -> None:
    """Validate every submission (schema, files, hashes, sizes); reasons name the file and field."""
    folders = [path] if (path / "results.jsonl").exists() or (path / "metadata.json").exists() or (path / "metadata.yaml").exists() else discover(path)
    if not folders:
        raise SubmissionError(str(path), "no submission folders found")
    bad = []
    for folder in folders:
        try:
            sub = load_submission(folder)
            out.print(f"[green]ok[/]      {escape(folder.name)} ({len(sub.rows)} rows)")
            for why in sub.partial:
                out.print(f"[yellow]partial[/] {escape(folder.name)}: {escape(why)}", soft_wrap=True)
        except SubmissionError as exc:
            out.print(f"[red]invalid[/] {escape(folder.name)}: {escape(str(exc))}", soft_wrap=True)
            bad.append(folder.name)
    if bad:
        raise SubmissionError(str(path), f"{len(bad)} of {len(folders)} submission(s) invalid: {', '.join(bad)}")


@submissions_app.command("verify")
def verify(
    submission: Path = typer.Argument(..., help="One submission folder."),
    record: Path | None = typer.Option(Path("leaderboard/verified.json"), "--record", help="Verification record file to update (maintainers); --no-record to skip."),
    no_record: bool = typer.Option(False, "--no-record", help="Do not write the record."),
    out_dir: Path = typer.Option(Path("runs/verify"), "--out", help="Where the re-run selections go."),
    max_selections: int | None = typer.Option(None, "--max-selections", help="Re-run at most this many selections."),
    timeout: float | None = TIMEOUT,
    memory_limit_gb: float | None = MEMORY,
    selector_network: bool = NETWORK,
    retrain: int = typer.Option(0, "--retrain", min=0, help="Also re-train and re-evaluate this many sampled selector rows (a sample fixed by the submission's content) and compare their scores."),
    tolerance: float = typer.Option(RETRAIN_TOLERANCE, "--tolerance", min=0.0, help="Largest score difference a re-trained row may show, as a share of its scale (0.02 = 2 points on 0-100)."),
    container: bool = typer.Option(False, "--container/--no-container", help="Re-run inside the cpu image (podman or docker) with --network none, the submission read-only, no evaluation data mounted."),
    container_image: str = typer.Option("selbench:cpu", "--container-image", help="Image for --container (one built FROM selbench:cpu with the plugin's package installed)."),
    record_json: Path | None = typer.Option(None, "--record-json", hidden=True, help="Also write the record here (used by --container)."),
) -> None:
    """Recompute every score from its per-item file, re-run the plugin's selections (isolated) and
    compare ids_sha256, and with --retrain N re-train and re-evaluate N cells: the only way to 'verified'."""
    if container and retrain:
        raise SelbenchError("--retrain re-trains on this machine, not in the container: run it without --container")
    with err.status(f"re-running the selections of {escape(submission.name)}{' in ' + container_image if container else ''}…"):
        if container:
            from selbench.submissions.container import verify_in_container

            rec = verify_in_container(submission, out=out_dir, image=container_image, max_selections=max_selections,
                                      timeout=timeout, memory_limit_gb=memory_limit_gb)
        else:
            rec = do_verify(submission, out=out_dir, max_selections=max_selections,
                            limits=limits(timeout, memory_limit_gb, selector_network), retrain=retrain, tolerance=tolerance)
    if record_json is not None:
        from selbench.atomic import atomic_write_json

        atomic_write_json(record_json, rec)
    out.print(f"scores: {rec.get('scores', 'recomputed on load')}")
    for c in rec["checks"]:
        mark = "[green]same[/]" if c["ok"] else "[red]DIFFERENT[/]"
        out.print(f"{escape(c['pool'])} budget {c['budget']} seed {c['seed']}: {mark} ids_sha256 {c['got'][:16]}")
    for c in rec.get("retrained", []):
        mark = "[green]within tolerance[/]" if c["ok"] else "[red]DIFFERENT[/]"
        out.print(f"re-trained {escape(c['pool'])} budget {c['budget']} seed {c['seed']} {escape(c['benchmark'])}: "
                  f"{mark} (submitted {c['submitted']:.4g}, re-trained {c['retrained']:.4g})")
    if record is not None and not no_record:
        save_record(record, submission.name, rec)
        out.print(f"recorded in {escape(str(record))}")
    if rec["status"] != "verified":
        raise VerificationError(f"{submission.name}: the re-run selection or a re-trained score differs from the submitted one")
    out.print(f"[green]verified[/] {escape(submission.name)}")


def register(app: typer.Typer) -> None:
    app.command("submit")(submit)
    app.add_typer(submissions_app, name="submissions")
