"""Validate a submission folder; every rejection names the file (line, field) and the reason.

The checks, in order: the folder holds only plain files with safe names and sizes under
:data:`~selbench.submissions.schema.LIMITS`; ``metadata`` parses (JSON or YAML) into
:class:`Metadata` with no unknown field (so ``verified`` cannot be set); every line of
``results.jsonl`` is a :class:`ResultRow` of the metadata's spec, track and plugin; every
per-item file exists, matches its sha256, decodes and has the row's item count, and the items
of a benchmark are the same in every row; every selection file matches its row (ids_sha256
recomputed from the ids, pool fingerprint, budget, seed, selector); every selector cell has at
least two random seeds; and no file is left unreferenced.

A selector cell may hold several rows, one per seed (training seeds, and selection seeds of a
seeded selector). A submission with fewer seeds per cell than the spec's ``train_seeds`` (older
submissions carry one) is valid but **partial**: :attr:`Submission.partial` says why, and the
leaderboard ranks it apart from complete ones.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ValidationError

from selbench.errors import SelbenchError
from selbench.hashing import ids_sha256, sha256_bytes, sha256_json
from selbench.results.items import ItemScoresError, decode_item_scores
from selbench.results.recompute import score_mismatch
from selbench.results.schema import ResultRow, check_relative_path
from selbench.submissions.errors import SubmissionError
from selbench.submissions.schema import LIMITS, Metadata, Provenance, Sample

FIXED_FILES = ("metadata.json", "metadata.yaml", "results.jsonl", "provenance.json", "samples.jsonl")
FORBIDDEN_KEYS = {"verified", "status", "verification"}
MIN_RANDOM_SEEDS = 2
DEFAULT_TRAIN_SEEDS = 3  # when the spec is not a built-in one (or another version of it)
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


@dataclass
class Submission:
    """A validated submission, ready for the leaderboard."""

    path: Path
    slug: str
    metadata: Metadata
    rows: list[ResultRow]
    provenance: Provenance
    samples: list[Sample]
    content_sha256: str
    items: dict[str, tuple[list[str], np.ndarray]] = field(default_factory=dict, repr=False)
    #: why this submission is partial (empty when it carries every seed the spec asks for)
    partial: list[str] = field(default_factory=list)


def _field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(root)"


def _pydantic(model: type[BaseModel], data: Any, file: str) -> Any:
    if isinstance(data, dict):
        for key in FORBIDDEN_KEYS & set(data):
            raise SubmissionError(file, "cannot be set by a submission: the verified status comes only from "
                                  "`selbench submissions verify` (a CI re-run of the selection)", field=key)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            msg = "unknown field (not in the schema)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise SubmissionError(file, msg + more, field=_field_path(first["loc"])) from None


def _read(path: Path, rel: str, limit: int) -> bytes:
    size = path.stat().st_size
    if size > limit:
        raise SubmissionError(rel, f"file too large: {size} bytes (limit {limit})")
    return path.read_bytes()


def _json_or_yaml(data: bytes, rel: str) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SubmissionError(rel, "not UTF-8 text") from None
    try:
        if rel.endswith(".yaml"):
            return yaml.safe_load(text)
        return json.loads(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SubmissionError(rel, f"malformed {'YAML' if rel.endswith('.yaml') else 'JSON'}: {str(exc).splitlines()[0]}") from None


def _jsonl(data: bytes, rel: str) -> list[tuple[int, Any]]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SubmissionError(rel, "not UTF-8 text") from None
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append((n, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise SubmissionError(f"{rel} line {n}", f"malformed JSON: {exc.msg}") from None
    return out


def list_files(folder: Path) -> dict[str, Path]:
    """Every file under ``folder`` by relative POSIX path; rejects links, odd names, too many files."""
    name = folder.name
    if folder.is_symlink() or not folder.is_dir():
        raise SubmissionError(name, "not a folder (symlinks are not accepted)")
    files: dict[str, Path] = {}
    total = 0
    for root, dirs, names in os.walk(folder, followlinks=False):
        for entry in dirs + names:
            p = Path(root) / entry
            rel = p.relative_to(folder).as_posix()
            mode = p.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise SubmissionError(f"{name}/{rel}", "symlinks are not accepted")
            try:
                check_relative_path(rel)
            except ValueError as exc:
                raise SubmissionError(f"{name}/{rel}", str(exc)) from None
            if stat.S_ISREG(mode):
                files[rel] = p
                total += p.stat().st_size
            elif not stat.S_ISDIR(mode):
                raise SubmissionError(f"{name}/{rel}", "not a regular file")
        if len(files) > LIMITS["files"]:
            raise SubmissionError(name, f"more than {LIMITS['files']} files")
    if total > LIMITS["total"]:
        raise SubmissionError(name, f"submission too large: {total} bytes (limit {LIMITS['total']})")
    return files


def load_submission(folder: str | Path, *, check_selections: bool = True) -> Submission:
    """Validate ``folder`` and return the :class:`Submission`; raises :class:`SubmissionError`.

    ``check_selections=False`` (used by the leaderboard build) checks that selection files exist
    and are small enough and hashes them (so the content hash, which a verification record
    matches, is the same) but does not parse them; ``selbench submissions validate`` (run on every
    PR) checks them fully.
    """
    folder = Path(folder)
    slug = folder.name
    if not SLUG.match(slug):
        raise SubmissionError(slug, "folder name must be a slug: lowercase letters, digits and '-', at most 64 characters")
    files = list_files(folder)
    sha_of: dict[str, str] = {}

    def read(rel: str, limit: int) -> bytes:
        data = _read(files[rel], f"{slug}/{rel}", limit)
        sha_of[rel] = sha256_bytes(data)
        return data

    metas = [m for m in ("metadata.json", "metadata.yaml") if m in files]
    if len(metas) != 1:
        raise SubmissionError(f"{slug}/metadata.json", "missing" if not metas else "give metadata.json or metadata.yaml, not both")
    meta_rel = metas[0]
    meta_data = _json_or_yaml(read(meta_rel, LIMITS["metadata"]), f"{slug}/{meta_rel}")
    if not isinstance(meta_data, dict):
        raise SubmissionError(f"{slug}/{meta_rel}", "must be a mapping of fields")
    metadata: Metadata = _pydantic(Metadata, meta_data, f"{slug}/{meta_rel}")

    if "provenance.json" not in files:
        raise SubmissionError(f"{slug}/provenance.json", "missing")
    prov_data = _json_or_yaml(read("provenance.json", LIMITS["provenance.json"]), f"{slug}/provenance.json")
    provenance: Provenance = _pydantic(Provenance, prov_data, f"{slug}/provenance.json")

    samples: list[Sample] = []
    if "samples.jsonl" in files:
        lines = _jsonl(read("samples.jsonl", LIMITS["samples.jsonl"]), f"{slug}/samples.jsonl")
        if len(lines) > 50:
            raise SubmissionError(f"{slug}/samples.jsonl", "at most 50 samples")
        samples = [_pydantic(Sample, obj, f"{slug}/samples.jsonl line {n}") for n, obj in lines]

    if "results.jsonl" not in files:
        raise SubmissionError(f"{slug}/results.jsonl", "missing")
    rows: list[ResultRow] = []
    raw_rows = read("results.jsonl", LIMITS["results.jsonl"])
    try:  # fast path: pydantic parses and validates each line in one go
        rows = [ResultRow.model_validate_json(line) for line in raw_rows.splitlines() if line.strip()]
    except ValueError:  # find the first bad line and report it with the slow, precise path
        rows = [_pydantic(ResultRow, obj, f"{slug}/results.jsonl line {n}")
                for n, obj in _jsonl(raw_rows, f"{slug}/results.jsonl")]
    if not rows:
        raise SubmissionError(f"{slug}/results.jsonl", "no result rows")
    partial = _check_rows(slug, metadata, rows)

    referenced: set[str] = {meta_rel, "provenance.json", "results.jsonl", "samples.jsonl"}
    items: dict[str, tuple[list[str], np.ndarray]] = {}
    bench_items: dict[str, tuple[str, frozenset[str]]] = {}
    for n, row in enumerate(rows, 1):
        where = f"{slug}/results.jsonl line {n}"
        rel = row.item_scores
        if not rel.startswith("items/") or not rel.endswith(".jsonl.gz"):
            raise SubmissionError(where, "per-item files live in items/ and end in .jsonl.gz", field="item_scores")
        if rel not in files:
            raise SubmissionError(where, f"file not found: {rel}", field="item_scores")
        referenced.add(rel)
        if rel not in items:
            data = read(rel, LIMITS["items"])
            if sha_of[rel] != row.item_scores_sha256:
                raise SubmissionError(f"{slug}/{rel}", f"sha256 {sha_of[rel]} does not match item_scores_sha256 in results.jsonl line {n}")
            try:
                items[rel] = decode_item_scores(data)
            except ItemScoresError as exc:
                raise SubmissionError(f"{slug}/{rel}", str(exc)) from None
        elif sha_of[rel] != row.item_scores_sha256:
            raise SubmissionError(where, "sha256 does not match the file", field="item_scores_sha256")
        ids, scores = items[rel]
        if len(ids) != row.n_items:
            raise SubmissionError(where, f"n_items is {row.n_items} but {rel} has {len(ids)} items", field="n_items")
        actual = score_mismatch(row.score, ids, scores, scale=getattr(row, "scale", "0-1"),
                                aggregate=getattr(row, "aggregate", "mean"))
        if actual is not None:  # the number on the board is the one the items give, never the stated one
            raise SubmissionError(where, f"score {row.score!r} does not match its per-item file {rel}, "
                                         f"which gives {actual!r}", field="score")
        idset = frozenset(ids)
        first = bench_items.setdefault(row.benchmark, (rel, idset))
        if first[1] != idset:
            raise SubmissionError(f"{slug}/{rel}", f"items differ from {first[0]} (same benchmark '{row.benchmark}'): "
                                  "every model must be evaluated on the same items")

    selections: dict[str, dict[str, Any]] = {}
    for n, row in enumerate(rows, 1):
        if row.selection is None:
            continue
        where = f"{slug}/results.jsonl line {n}"
        rel = row.selection
        if not rel.startswith("selections/") or not rel.endswith(".json"):
            raise SubmissionError(where, "selection files live in selections/ and end in .json", field="selection")
        if rel not in files:
            raise SubmissionError(where, f"file not found: {rel}", field="selection")
        referenced.add(rel)
        if not check_selections:  # hashed (the content hash must match a full check's), not parsed
            if rel not in sha_of:
                read(rel, LIMITS["selections"])
            continue
        if rel not in selections:
            sel = _json_or_yaml(read(rel, LIMITS["selections"]), f"{slug}/{rel}")
            selections[rel] = _check_selection_file(sel, f"{slug}/{rel}")
        _match_selection(selections[rel], row, f"{slug}/{rel}", n)

    plugin_file = metadata.plugin.file
    if plugin_file is not None:
        where = f"{slug}/{meta_rel}"
        if plugin_file not in files:
            raise SubmissionError(where, f"file not found: {plugin_file} (a file plugin travels with its submission)", field="plugin.file")
        referenced.add(plugin_file)
        read(plugin_file, LIMITS["plugin"])
        if sha_of[plugin_file] != metadata.plugin.sha256:
            raise SubmissionError(f"{slug}/{plugin_file}", f"sha256 {sha_of[plugin_file]} does not match plugin.sha256 in {meta_rel}")
    unreferenced = sorted(set(files) - referenced)
    if unreferenced:
        raise SubmissionError(f"{slug}/{unreferenced[0]}", "unexpected file (not referenced by results.jsonl and not one of "
                              f"{', '.join(FIXED_FILES)})")
    content = sha256_json(sorted(sha_of.items()))
    return Submission(folder, slug, metadata, rows, provenance, samples, content, items, partial)


def required_train_seeds(spec: str, version: int) -> int:
    """How many training seeds per selector cell the spec asks for (its ``train_seeds``)."""
    from selbench.specs.loader import builtin_spec_names, load_spec

    try:
        if spec in builtin_spec_names():
            s = load_spec(spec)
            if s.version == version:
                return len(s.train_seeds)
    except SelbenchError:
        pass
    return DEFAULT_TRAIN_SEEDS


def _check_rows(slug: str, meta: Metadata, rows: list[ResultRow]) -> list[str]:
    """Consistency of the rows; returns why the submission is partial (empty when complete)."""
    file = f"{slug}/results.jsonl"
    keys: set[tuple[Any, ...]] = set()
    fingerprints: dict[str, str] = {}
    metrics: dict[str, str] = {}
    random_seeds: dict[tuple[str, int | None, str], set[int]] = defaultdict(set)
    selector_cells: list[tuple[int, tuple[str, int | None, str]]] = []
    for n, row in enumerate(rows, 1):
        where = f"{file} line {n}"
        for fld, want in (("spec", meta.spec), ("spec_version", meta.spec_version), ("track", meta.track)):
            if getattr(row, fld) != want:
                raise SubmissionError(where, f"{getattr(row, fld)!r} differs from metadata ({want!r}): one submission, one spec version", field=fld)
        if row.kind == "selector":
            if row.selector != meta.plugin.name or row.selector_version != meta.plugin.version:
                raise SubmissionError(where, f"selector rows must be the plugin of metadata ({meta.plugin.name} {meta.plugin.version})", field="selector")
            selector_cells.append((n, (row.pool, row.budget, row.benchmark)))
        if row.kind == "random":
            random_seeds[(row.pool, row.budget, row.benchmark)].add(row.seed)
        key = (row.kind, row.selector, row.pool, row.budget, row.seed, row.benchmark)
        if key in keys:
            raise SubmissionError(where, "duplicate row (same kind, selector, pool, budget, seed, benchmark)")
        keys.add(key)
        if fingerprints.setdefault(row.pool, row.pool_fingerprint) != row.pool_fingerprint:
            raise SubmissionError(where, f"pool '{row.pool}' has two fingerprints in one submission", field="pool_fingerprint")
        if metrics.setdefault(row.benchmark, row.metric) != row.metric:
            raise SubmissionError(where, f"benchmark '{row.benchmark}' reported with two metrics ({metrics[row.benchmark]}, {row.metric})", field="metric")
    if not selector_cells:
        raise SubmissionError(file, f"no rows of kind 'selector' for plugin {meta.plugin.name}")
    runs: dict[tuple[str, int | None, str], int] = defaultdict(int)
    for n, cell in selector_cells:
        runs[cell] += 1
        if len(random_seeds.get(cell, ())) < MIN_RANDOM_SEEDS:
            raise SubmissionError(f"{file} line {n}", f"cell pool={cell[0]} budget={cell[1]} benchmark={cell[2]} needs random rows "
                                  f"with at least {MIN_RANDOM_SEEDS} seeds (gain is measured against them)")
    want = required_train_seeds(meta.spec, meta.spec_version)
    short = sorted(c for c, k in runs.items() if k < want)
    if short:
        fewest = min(runs[c] for c in short)
        return [f"{len(short)} of {len(runs)} cells have fewer selector runs than the spec's {want} training seeds "
                f"(as few as {fewest}; e.g. pool={short[0][0]} budget={short[0][1]} benchmark={short[0][2]}): "
                "accepted as partial and ranked apart; run every seed of every cell to be ranked with complete submissions"]
    return []


def _check_selection_file(sel: Any, where: str) -> dict[str, Any]:
    if not isinstance(sel, dict):
        raise SubmissionError(where, "must be a selection.json object")
    if sel.get("schema") != "selbench.selection/v1":
        raise SubmissionError(where, "expected schema 'selbench.selection/v1'", field="schema")
    ids = sel.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise SubmissionError(where, "must be a list of strings", field="ids")
    if len(set(ids)) != len(ids):
        raise SubmissionError(where, "duplicate ids", field="ids")
    recomputed = ids_sha256(ids)
    if sel.get("ids_sha256") != recomputed:
        raise SubmissionError(where, f"does not match the ids (recomputed {recomputed})", field="ids_sha256")
    for key, kind in (("pool", dict), ("selector", dict), ("cost", dict)):
        if not isinstance(sel.get(key), dict):
            raise SubmissionError(where, "missing or not an object", field=key)
    return sel


def _match_selection(sel: dict[str, Any], row: ResultRow, where: str, line: int) -> None:
    checks = (
        ("ids_sha256", sel["ids_sha256"], row.selection_ids_sha256),
        ("pool.fingerprint", sel["pool"].get("fingerprint"), row.pool_fingerprint),
        ("seed", sel.get("seed"), row.seed),
        ("selector.name", sel["selector"].get("name"), row.selector),
    )
    for name, got, want in checks:
        if got != want:
            raise SubmissionError(where, f"{got!r} does not match results.jsonl line {line} ({want!r})", field=name)
    if row.budget is not None and sel.get("budget") != row.budget:
        raise SubmissionError(where, f"{sel.get('budget')!r} does not match results.jsonl line {line} ({row.budget})", field="budget")
    if row.budget is not None and len(sel["ids"]) != row.budget:
        raise SubmissionError(where, f"{len(sel['ids'])} ids for budget {row.budget}", field="ids")


def discover(root: str | Path) -> list[Path]:
    """Submission folders under ``root`` (skips ``schema/`` and dot/underscore folders)."""
    root = Path(root)
    if not root.is_dir():
        raise SubmissionError(str(root), "submissions folder not found")
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name not in ("schema",) and not p.name.startswith((".", "_")))
