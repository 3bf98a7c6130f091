"""The loaded pool handed to selectors: a canonical ``datasets.Dataset`` plus its identity."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import datasets

from selbench.hashing import ids_sha256


def pool_fingerprint(ids: list[str]) -> str:
    """Names a pool version: the hash of its sorted ids (row order does not matter)."""
    return ids_sha256(sorted(ids))


@dataclass(frozen=True)
class DuplicateReport:
    """Exact duplicates (same canonical content) found while loading.

    Rows are kept (the pool is what its authors published); the second and later copies get
    ids suffixed ``~2``, ``~3``... so ids stay unique and stable.
    """

    groups: int
    extra_rows: int
    examples: tuple[tuple[str, ...], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"groups": self.groups, "extra_rows": self.extra_rows, "examples": [list(e) for e in self.examples]}


@dataclass(frozen=True)
class Pool:
    """A candidate pool: ``data`` has the columns of :mod:`selbench.pools.schema`."""

    name: str
    data: datasets.Dataset
    fingerprint: str
    provenance: dict[str, Any] = field(default_factory=dict)
    duplicates: DuplicateReport = field(default_factory=lambda: DuplicateReport(0, 0))
    cache_dir: str | None = None

    def __len__(self) -> int:
        return len(self.data)

    @property
    def ids(self) -> list[str]:
        return self.data["id"]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rows": len(self),
            "fingerprint": self.fingerprint,
            "provenance": self.provenance,
            "duplicates": self.duplicates.to_dict(),
        }
