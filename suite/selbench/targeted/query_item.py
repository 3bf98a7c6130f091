"""The parts of a query set every other targeted module needs: its item, its error, and where a
relative query-set path points. Kept apart from :mod:`selbench.targeted.query_set` (which loads
query sets through the parsers and generators) so those do not import their own loader."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from selbench.data_paths import HOW_TO_PROVIDE, eval_data_root
from selbench.errors import SelbenchError


class QuerySetError(SelbenchError):
    """A query set that cannot be loaded or parsed as its spec says."""


@dataclass(frozen=True)
class QueryItem:
    """One query example: the user's ``prompt`` and the answer ``label`` (loss is on the label)."""

    id: str
    prompt: str
    label: str

    @property
    def text(self) -> str:
        """Prompt and label as one text (RDS+/EMBED embed the query this way)."""
        return f"{self.prompt} {self.label}"

    def as_row(self) -> dict[str, str]:
        """The item as an instruction/output row (the training templates' format)."""
        return {"id": self.id, "instruction": self.prompt, "input": "", "output": self.label}


def resolve_local(path: str) -> Path:
    """A query-set path: absolute, or relative to the evaluation data root (:mod:`selbench.data_paths`)."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    root = eval_data_root()
    if root is None:
        raise QuerySetError(f"query set path {path!r} is relative but no evaluation data root is set: {HOW_TO_PROVIDE}")
    return root / p
