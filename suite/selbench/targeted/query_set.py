"""A target task's query set: (prompt, label) items, loaded in the parent, handed to selectors.

The selection stage loads the query set from its spec (hub, local file or generator), fingerprints
it and puts its items into the selector's request, so the selector sees the query items and never
needs (or is allowed) to open evaluation folders. Parsers for the source formats live in
:mod:`selbench.targeted.query_formats`; generators (the tiny world) in
:mod:`selbench.targeted.generators`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from selbench.hashing import sha256_json
from selbench.targeted.query_item import QueryItem, QuerySetError, resolve_local


@dataclass(frozen=True)
class QuerySet:
    name: str
    items: tuple[QueryItem, ...]
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.items:
            raise QuerySetError(f"query set {self.name!r} is empty")
        ids = [i.id for i in self.items]
        if len(set(ids)) != len(ids):
            raise QuerySetError(f"query set {self.name!r} has duplicate item ids")

    def __len__(self) -> int:
        return len(self.items)

    @property
    def fingerprint(self) -> str:
        """Hash of the items (ids, prompts, labels): part of every targeted selection's key."""
        return sha256_json([[i.id, i.prompt, i.label] for i in self.items])

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "provenance": self.provenance,
                "items": [[i.id, i.prompt, i.label] for i in self.items]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QuerySet:
        return cls(name=data["name"], provenance=data.get("provenance", {}),
                   items=tuple(QueryItem(str(a), str(b), str(c)) for a, b, c in data["items"]))


def load_query_set(spec: Any, target_name: str) -> QuerySet:
    """The query set of ``target_name`` in ``spec`` (a :class:`selbench.specs.models.Spec`)."""
    if spec.targeted is None:
        raise QuerySetError(f"spec {spec.id} is not on the targeted track (it has no targets)")
    try:
        target = spec.targeted.target(target_name)
    except KeyError:
        names = [t.name for t in spec.targeted.targets]
        raise QuerySetError(f"spec {spec.id} has no target {target_name!r} (it has {names})") from None
    return load_query_set_spec(target.query_set, target_name)


def load_query_set_spec(qs: Any, name: str) -> QuerySet:
    """Load a :class:`selbench.specs.models.QuerySetSpec` under ``name``."""
    if qs.generator is not None:
        from selbench.targeted.generators import generate_query_set

        items = generate_query_set(qs.generator, qs.generator_args)
        provenance: dict[str, Any] = {"generator": qs.generator, "args": qs.generator_args}
    else:
        from selbench.targeted.query_formats import read_query_rows

        items, provenance = read_query_rows(qs)
    if qs.limit is not None:
        items = items[: qs.limit]
    return QuerySet(name=name, items=tuple(items), provenance=provenance)


