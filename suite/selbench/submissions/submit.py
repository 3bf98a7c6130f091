"""``selbench submit``: turn a run folder into a validated submission folder.

A run folder holds ``results.jsonl`` (:class:`~selbench.results.ResultRow` lines, paths relative
to the folder), the per-item files and ``selection.json`` files they point to, and optionally
``provenance.json`` (else the current environment is recorded). The submission gets a flat,
predictable layout, metadata from the command line and the selector's own metadata (track,
API use, external models), and is validated before the command returns; a failed validation
leaves nothing behind.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from selbench.atomic import atomic_directory
from selbench.errors import SelbenchError
from selbench.results.schema import ResultRow
from selbench.selection.identity import selector_identity
from selbench.selection.registry import absolute_selector, is_file_spec
from selbench.submissions.errors import SubmissionError
from selbench.submissions.provenance import current_provenance
from selbench.submissions.schema import Metadata
from selbench.submissions.validate import Submission, load_submission


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64].strip("-")
    if not slug:
        raise SubmissionError("--name", "needs at least one letter or digit")
    return slug


def _read_rows(run_dir: Path) -> list[ResultRow]:
    path = run_dir / "results.jsonl"
    if not path.is_file():
        raise SubmissionError(str(path), "not found: a run folder holds results.jsonl (written by `selbench run`)")
    rows = []
    for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(ResultRow.model_validate_json(line))
        except ValidationError as exc:
            first = exc.errors()[0]
            raise SubmissionError(f"{path} line {n}", first["msg"], field=".".join(map(str, first["loc"])) or None) from None
    if not rows:
        raise SubmissionError(str(path), "no result rows")
    return rows


def _inside(run_dir: Path, rel: str) -> Path:
    path = (run_dir / rel).resolve()
    if not path.is_relative_to(run_dir.resolve()) or not path.is_file():
        raise SubmissionError(str(run_dir / rel), "not found inside the run folder")
    return path


def _is_selector(run_dir: Path, row: ResultRow, wanted: str) -> bool:
    """Whether ``row`` comes from ``wanted``: a registry name, or a plugin file (any path form a
    user types) matched by the sha256 its selection recorded; the file is hashed, never imported."""
    if not is_file_spec(wanted):
        return row.selector == wanted
    try:
        code_sha = selector_identity(absolute_selector(wanted))["code_sha256"]
    except SelbenchError as exc:
        raise SubmissionError("--selector", str(exc)) from None
    if row.selection is None:
        return False
    selection = json.loads(_inside(run_dir, row.selection).read_text("utf-8"))
    return (selection.get("selector") or {}).get("identity", {}).get("code_sha256") == code_sha


def submit(run_dir: str | Path, *, name: str, authors: list[str], paper: str | None, code: str,
           out: str | Path = "submissions", description: str = "", plugin_install: str | None = None,
           overwrite: bool = False, only_selector: str | None = None) -> Submission:
    """Copy a run folder's rows (and the files they point to) into ``out/<slug>/`` and validate it.

    ``only_selector`` keeps that selector's rows and the reference rows, for run folders that
    hold several selectors (``selbench run`` builds its page this way)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SubmissionError(str(run_dir), "run folder not found")
    rows = _read_rows(run_dir)
    if only_selector is not None:
        rows = [r for r in rows if r.kind != "selector" or _is_selector(run_dir, r, only_selector)]
    selector_rows = [r for r in rows if r.kind == "selector"]
    if not selector_rows:
        raise SubmissionError(str(run_dir / "results.jsonl"), "no rows of kind 'selector' (only reference rows)")
    plugins = {(r.selector, r.selector_version) for r in selector_rows}
    if len(plugins) != 1:
        raise SubmissionError(str(run_dir / "results.jsonl"), f"one selector per submission; found {sorted(plugins)}")
    plugin_name, plugin_version = plugins.pop()
    specs = {(r.spec, r.spec_version, r.track) for r in rows}
    if len(specs) != 1:
        raise SubmissionError(str(run_dir / "results.jsonl"), f"one spec version per submission; found {sorted(specs)}")
    spec, spec_version, track = specs.pop()

    slug = slugify(name)
    final = Path(out) / slug
    if final.exists():
        if not overwrite:
            raise SubmissionError(str(final), "already exists (use --overwrite to replace it)")
    selector_meta: dict[str, Any] = {}
    new_rows: list[dict[str, Any]] = []
    copies: dict[str, tuple[Path, str]] = {}  # source -> (path, new rel)
    for row in rows:
        data = row.model_dump(by_alias=True, mode="json")
        budget = "full" if row.budget is None else f"b{row.budget}"
        budget += f"-for-{row.target}" if row.target else ""  # targeted track: one selection per target
        src = _inside(run_dir, row.item_scores)
        if str(src) not in copies:
            copies[str(src)] = (src, f"items/{row.kind}-{row.pool}-{budget}-s{row.seed}-{row.benchmark}.jsonl.gz")
        data["item_scores"] = copies[str(src)][1]
        if row.selection is not None:
            ssrc = _inside(run_dir, row.selection)
            if str(ssrc) not in copies:
                copies[str(ssrc)] = (ssrc, f"selections/{row.pool}-{row.selector}-{budget}-s{row.seed}.json")
            data["selection"] = copies[str(ssrc)][1]
            if row.kind == "selector" and not selector_meta:
                selector_meta = json.loads(ssrc.read_text("utf-8")).get("selector", {})
        new_rows.append(data)

    metadata = {
        "schema": "selbench.submission/v1", "name": name, "authors": authors, "paper": paper, "code": code,
        "description": description,
        "plugin": {"name": plugin_name, "version": plugin_version, "install": plugin_install},
        "spec": spec, "spec_version": spec_version, "track": selector_meta.get("track", track),
        "uses_api": bool(selector_meta.get("uses_api", False)),
        "external_models": list(selector_meta.get("external_models", [])),
        "submitted": date.today().isoformat(),
    }
    try:
        Metadata.model_validate(metadata)
    except ValidationError as exc:
        first = exc.errors()[0]
        flag = {"paper": "--paper", "code": "--code", "name": "--name", "authors": "--authors"}.get(str(first["loc"][0]), str(first["loc"][0]))
        raise SubmissionError(flag, first["msg"].removeprefix("Value error, ")) from None
    prov_src = run_dir / "provenance.json"
    provenance = json.loads(prov_src.read_text("utf-8")) if prov_src.is_file() else current_provenance()

    if final.exists():
        shutil.rmtree(final)
    with atomic_directory(final) as scratch:
        for src, rel in copies.values():
            (scratch / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, scratch / rel)
        (scratch / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in new_rows), "utf-8")
        (scratch / "metadata.json").write_text(json.dumps(metadata, indent=2, ensure_ascii=False) + "\n", "utf-8")
        (scratch / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n", "utf-8")
        # validate the scratch copy under its final name: a failure leaves nothing behind
        probe = scratch.parent / f".tmp-validate-{slug}"
        probe.mkdir(exist_ok=True)
        target = probe / slug
        try:
            scratch.rename(target)
            try:
                load_submission(target)
            finally:
                target.rename(scratch)
        finally:
            shutil.rmtree(probe, ignore_errors=True)
    return load_submission(final)
