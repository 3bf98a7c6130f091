"""Resolve where a pool's rows come from: local files, a hub repo (or its mirror), a generator.

Each resolver returns the raw rows' loader and a *source key*: the content hash of the
local files, or the hub id + pinned revision, or the generator and its arguments. The key, not
the path, names the cached canonical copy, so an edited file is never served stale.
"""

from __future__ import annotations

import bz2
import glob
import gzip
import importlib
import lzma
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets

from selbench.errors import PoolError
from selbench.hashing import sha256_file, sha256_json
from selbench.paths import cache_root, hub_mirror
from selbench.specs.models import PoolSpec
from selbench.suggest import did_you_mean

#: datasets builder for each supported file suffix (optionally followed by .gz/.bz2/.xz/.zst).
FORMATS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}
_COMPRESSION = (".gz", ".bz2", ".xz")
_SPLIT_NAME = re.compile(r"[^\w]+")
_OPENERS: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}

#: Pool generators by name (lazy ``module:function``), as lm-eval registers tasks.
GENERATORS = {
    "tiny-synthetic": "selbench.pools.synthetic:generate_tiny_pool",
    "tiny-world": "selbench.tinyworld.pool:generate_tiny_world_pool",
}


@dataclass
class RawSource:
    """Raw rows, grouped by their default ``source`` label, plus identity/provenance."""

    key: dict[str, Any]
    provenance: dict[str, Any]
    load: Callable[[], list[tuple[str, list[dict[str, Any]]]]]
    columns_hint: list[str] = field(default_factory=list)


def _file_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSION:
        suffixes = suffixes[:-1]
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise PoolError(f"unsupported pool file '{path.name}': use .json, .jsonl, .parquet or .csv (optionally .gz)")
    return fmt


def _expand(path_text: str, pool_name: str) -> str:
    expanded = os.path.expandvars(os.path.expanduser(path_text))
    if "${" in expanded or re.search(r"\$[A-Za-z_]", expanded):
        raise PoolError(
            f"pool '{pool_name}': path '{path_text}' uses an unset environment variable "
            "(set SELBENCH_DATA_DIR to the folder holding the data, see README)"
        )
    return expanded


def local_files(path_text: str, pool_name: str) -> list[Path]:
    """The data files named by a file path, a folder (all data files in it) or a glob."""
    expanded = _expand(path_text, pool_name)
    path = Path(expanded)
    if any(ch in expanded for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(expanded, recursive=True) if Path(p).is_file())
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        files = [p for p in files if _is_data_file(p)]
    elif path.is_file():
        files = [path]
    else:
        raise PoolError(f"pool '{pool_name}': no such file or folder: {expanded}")
    if not files:
        raise PoolError(f"pool '{pool_name}': no data files (.json/.jsonl/.parquet/.csv) under {expanded}")
    return files


def _is_data_file(path: Path) -> bool:
    try:
        _file_format(path)
    except PoolError:
        return False
    return True


def _split_name(path: Path, used: set[str]) -> str:
    stem = path.name
    for suffix in reversed(path.suffixes):
        stem = stem[: -len(suffix)]
        if not stem:
            break
    name = _SPLIT_NAME.sub("_", stem or path.name).strip("_") or "data"
    base, n = name, 2
    while name in used:
        name, n = f"{base}_{n}", n + 1
    used.add(name)
    return name


@contextmanager
def quiet_datasets() -> Iterator[None]:
    """Silence datasets' per-split progress bars (hundreds for a per-template pool)."""
    enabled = datasets.utils.logging.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if enabled:
            datasets.enable_progress_bars()


def _is_empty(path: Path) -> bool:
    """True for a data file with no rows (``datasets`` refuses empty splits)."""
    if path.suffix == ".parquet":
        return False
    opener = _OPENERS.get(path.suffix.lower(), open)
    with opener(path, "rb") as handle:
        head = handle.read(4096).strip()
    return head in (b"", b"[]")


#: Uncompressed bytes a local pool may hold (a 510 KB gzip can expand to gigabytes); override with
#: SELBENCH_MAX_POOL_BYTES.
DEFAULT_MAX_POOL_BYTES = 2 * 2**30


def max_pool_bytes() -> int:
    raw = os.environ.get("SELBENCH_MAX_POOL_BYTES")
    try:
        return int(raw) if raw else DEFAULT_MAX_POOL_BYTES
    except ValueError:
        raise PoolError(f"SELBENCH_MAX_POOL_BYTES must be a whole number of bytes, got {raw!r}") from None


def check_uncompressed_size(files: list[Path], pool_name: str) -> int:
    """The pool's uncompressed size, counted by streaming (never held in memory); refuses a pool
    above :func:`max_pool_bytes` before anything is parsed."""
    limit, total = max_pool_bytes(), 0
    for path in files:
        opener = _OPENERS.get(path.suffix.lower())
        if opener is None:
            total += path.stat().st_size
        else:
            try:
                with opener(path, "rb") as handle:
                    while chunk := handle.read(1 << 20):
                        total += len(chunk)
                        if total > limit:
                            break
            except (OSError, EOFError, lzma.LZMAError) as exc:
                raise PoolError(f"pool '{pool_name}': cannot decompress {path.name}: {exc}") from None
        if total > limit:
            raise PoolError(f"pool '{pool_name}': more than {limit / 2**30:.1f} GiB uncompressed (at {path.name}); "
                            "raise SELBENCH_MAX_POOL_BYTES if this pool is meant to be that large")
    return total


def _load_files(files: list[Path], pool_name: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """Rows per file; with several files each file's name becomes the rows' default source."""
    check_uncompressed_size(files, pool_name)
    formats = {_file_format(p) for p in files}
    if len(formats) != 1:
        raise PoolError(f"pool '{pool_name}': mixed file formats {sorted(formats)}; use one format per pool")
    files = [p for p in files if not _is_empty(p)]
    if not files:
        raise PoolError(f"pool '{pool_name}': every data file is empty")
    used: set[str] = set()
    splits = {_split_name(p, used): str(p) for p in files}
    try:
        with quiet_datasets():
            loaded = datasets.load_dataset(
                formats.pop(), data_files=splits, cache_dir=str(cache_root() / "hf-datasets")
            )
        label = len(files) > 1
        return [(name if label else pool_name, loaded[name].to_list()) for name in splits]
    except UnicodeDecodeError as exc:
        raise PoolError(f"pool '{pool_name}': not valid UTF-8 ({exc.reason} at byte {exc.start}); "
                        "save the file as UTF-8") from None
    except Exception as exc:  # datasets raises many types for unreadable files
        raise PoolError(f"pool '{pool_name}': cannot read {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    cause = exc.__cause__ or exc.__context__
    detail = text[0] if text else type(exc).__name__
    if cause is not None and str(cause).strip():
        detail += f" ({str(cause).strip().splitlines()[0]})"
    return detail


def from_path(spec: PoolSpec) -> RawSource:
    assert spec.path is not None
    files = local_files(spec.path, spec.name)
    root = Path(_expand(spec.path, spec.name))
    base = root if root.is_dir() else (root.parent if root.is_file() else Path(os.path.commonpath([str(f) for f in files])))
    hashed = [(str(f.relative_to(base)) if f.is_relative_to(base) else f.name, sha256_file(f)) for f in files]
    digest = hashed[0][1] if len(hashed) == 1 else sha256_json(hashed)
    if spec.sha256 is not None and spec.sha256 != digest:
        raise PoolError(
            f"pool '{spec.name}': sha256 mismatch for {spec.path}: spec says {spec.sha256}, file has {digest}"
        )
    return RawSource(
        key={"kind": "local", "sha256": digest, "files": hashed},
        provenance={"kind": "local", "path": str(root), "files": len(files), "sha256": digest},
        load=lambda: _load_files(files, spec.name),
    )


def from_hub(spec: PoolSpec) -> RawSource:
    assert spec.hub_id is not None
    mirror = hub_mirror()
    mirrored = mirror / spec.hub_id if mirror is not None else None
    use_mirror = mirrored is not None and mirrored.is_dir()

    def load() -> list[tuple[str, list[dict[str, Any]]]]:
        try:
            with quiet_datasets():
                if use_mirror:
                    assert mirrored is not None
                    data = datasets.load_dataset(
                        str(mirrored), name=spec.config, split=spec.split, cache_dir=str(cache_root() / "hf-datasets")
                    )
                else:
                    data = datasets.load_dataset(spec.hub_id, name=spec.config, revision=spec.revision, split=spec.split)
        except Exception as exc:
            hint = (
                "; the hub is unreachable or the revision is not cached: set SELBENCH_HUB_MIRROR to a folder "
                f"holding {spec.hub_id}/, or pass a local file with --pool PATH"
            )
            raise PoolError(f"pool '{spec.name}': cannot load {spec.hub_id}@{spec.revision}: {_first_line(exc)}{hint}") from None
        return [(spec.name, data.to_list())]

    where = f"mirror:{mirrored}" if use_mirror else "hub"
    mirror_files = (
        sha256_json([(str(p.relative_to(mirrored)), sha256_file(p)) for p in sorted(mirrored.rglob("*")) if p.is_file()])
        if use_mirror and mirrored is not None
        else None
    )
    return RawSource(
        key={"kind": "hub", "hub_id": spec.hub_id, "revision": spec.revision, "config": spec.config,
             "split": spec.split, "mirror_sha256": mirror_files},
        provenance={"kind": "hub", "hub_id": spec.hub_id, "revision": spec.revision, "config": spec.config,
                    "split": spec.split, "loaded_from": where},
        load=load,
    )


def from_generator(spec: PoolSpec) -> RawSource:
    assert spec.generator is not None
    target = GENERATORS.get(spec.generator)
    if target is None:
        raise PoolError(f"pool '{spec.name}': unknown generator '{spec.generator}'{did_you_mean(spec.generator, GENERATORS)}")
    module_name, attr = target.split(":")
    generate = getattr(importlib.import_module(module_name), attr)
    version = getattr(generate, "version", 1)
    # a generator whose output depends on more than its arguments (the tiny world's install key)
    # names that in an ``identity`` callable: part of the cache key and the published provenance
    identity = generate.identity() if callable(getattr(generate, "identity", None)) else {}
    about = {"kind": "generator", "generator": spec.generator, "version": version, "args": spec.generator_args, **identity}
    return RawSource(
        key=about,
        provenance=dict(about),
        load=lambda: [(spec.name, generate(**spec.generator_args))],
    )


def resolve_source(spec: PoolSpec) -> RawSource:
    if spec.path is not None:
        return from_path(spec)
    if spec.hub_id is not None:
        return from_hub(spec)
    return from_generator(spec)
