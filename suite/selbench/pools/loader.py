"""Load a pool into the canonical schema, cached as Arrow keyed by its source.

The first load reads the source through ``datasets``, maps fields, hashes ids and saves the
canonical table with ``save_to_disk`` (atomically); later loads memory-map that table, so a
50k-row pool opens in well under a second.
"""

from __future__ import annotations

import json
import random
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import datasets

from selbench.atomic import atomic_directory, atomic_write_json
from selbench.errors import PoolError
from selbench.hashing import sha256_file, sha256_json
from selbench.paths import cache_root
from selbench.pools.field_mapping import canonical_row, resolve_mapping
from selbench.pools.pool import DuplicateReport, Pool, pool_fingerprint
from selbench.pools.schema import CANON_VERSION, FEATURES, content_id
from selbench.pools.sources import quiet_datasets, resolve_source
from selbench.specs.models import PoolSpec

_META = "pool.json"
_DATA = "data"


def _cache_key(spec: PoolSpec, source_key: dict[str, Any]) -> str:
    fields = spec.fields if isinstance(spec.fields, str) else spec.fields.model_dump()
    return sha256_json(
        {"canon": CANON_VERSION, "source": source_key, "fields": fields, "max_rows": spec.max_rows,
         "subsample_seed": spec.subsample_seed, "name": spec.name}
    )


def _canonicalise(spec: PoolSpec, groups: list[tuple[str, list[dict[str, Any]]]]) -> tuple[list[dict[str, Any]], DuplicateReport, int]:
    rows: list[dict[str, Any]] = []
    columns: list[str] | None = None
    index = 0
    for default_source, raw_rows in groups:
        if not raw_rows:
            continue
        if columns is None:
            columns = sorted({k for r in raw_rows[:100] for k in r})
            mapping = resolve_mapping(spec.fields, columns, spec.name)
        for raw in raw_rows:
            row = canonical_row(raw, mapping, spec.name, default_source, index)
            if row is not None:
                rows.append(row)
            index += 1
    if not rows:
        raise PoolError(f"pool '{spec.name}': the source has no usable rows ({index} rows read)")
    raw_count = index
    if spec.max_rows is not None and spec.max_rows < len(rows):
        keep = sorted(random.Random(spec.subsample_seed).sample(range(len(rows)), spec.max_rows))
        rows = [rows[i] for i in keep]
    seen: dict[str, int] = defaultdict(int)
    groups_by_id: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        base = content_id(row)
        seen[base] += 1
        row["id"] = base if seen[base] == 1 else f"{base}~{seen[base]}"
        groups_by_id[base].append(row["id"])
    dup_groups = [tuple(ids) for ids in groups_by_id.values() if len(ids) > 1]
    report = DuplicateReport(
        groups=len(dup_groups),
        extra_rows=sum(len(g) - 1 for g in dup_groups),
        examples=tuple(dup_groups[:5]),
    )
    return rows, report, raw_count


def data_digest(folder: Path) -> str:
    """sha256 over the cached Arrow files (names and bytes), in name order."""
    return sha256_json([(p.name, sha256_file(p)) for p in sorted(folder.iterdir()) if p.is_file()])


def verify_cached_pool(name: str, folder: Path, meta: dict[str, Any]) -> None:
    """A cache hit is checked, not trusted: its Arrow files must hash to what was recorded when
    they were written, so a cache edited afterwards (by hand, or by a process that should not
    have written there) is refused instead of silently trained on."""
    if data_digest(folder / _DATA) != meta.get("data_sha256"):
        raise PoolError(f"pool '{name}': the cache at {folder} was modified after it was written (its files no "
                        "longer match their recorded sha256); delete that folder to rebuild it")


def load_pool(spec: PoolSpec, *, cache: Path | None = None) -> Pool:
    """The canonical pool for ``spec``, from the Arrow cache when its source is unchanged."""
    source = resolve_source(spec)
    key = _cache_key(spec, source.key)
    folder = (cache or cache_root()) / "pools" / f"{spec.name}-{key[:16]}"
    if (folder / _META).is_file() and "data_sha256" not in json.loads((folder / _META).read_text("utf-8")):
        shutil.rmtree(folder, ignore_errors=True)  # written before caches were hashed: rebuild once
    fresh = not (folder / _META).is_file()
    if fresh:
        try:
            groups = source.load()
        except TypeError as exc:  # a generator called with bad arguments
            raise PoolError(f"pool '{spec.name}': {exc}") from None
        rows, report, raw_count = _canonicalise(spec, groups)
        data = datasets.Dataset.from_list(rows, features=FEATURES)
        meta = {
            "name": spec.name,
            "key": key,
            "rows": len(rows),
            "raw_rows": raw_count,
            "dropped_empty": raw_count - len(rows) if spec.max_rows is None else None,
            "fingerprint": pool_fingerprint([r["id"] for r in rows]),
            "provenance": {**source.provenance, "canon_version": CANON_VERSION, "max_rows": spec.max_rows},
            "duplicates": report.to_dict(),
        }
        with atomic_directory(folder) as scratch, quiet_datasets():
            data.save_to_disk(str(scratch / _DATA))
            meta["data_sha256"] = data_digest(scratch / _DATA)
            atomic_write_json(scratch / _META, meta)
    meta = json.loads((folder / _META).read_text("utf-8"))
    data = datasets.load_from_disk(str(folder / _DATA))
    if not fresh:
        verify_cached_pool(spec.name, folder, meta)
    dup = meta["duplicates"]
    return Pool(
        name=spec.name,
        data=data,
        fingerprint=meta["fingerprint"],
        provenance=meta["provenance"],
        duplicates=DuplicateReport(dup["groups"], dup["extra_rows"], tuple(tuple(e) for e in dup["examples"])),
        cache_dir=str(folder),
    )
