"""The state of one cell of a run, as written to ``cells.jsonl`` (and read by ``selbench status``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from selbench.grid import Cell

STAGES = ("select", "train", "evaluate")


@dataclass
class CellState:
    cell: Cell
    kind: str  # selector | random | full | zero-shot
    status: str = "pending"  # pending | done | failed
    stage: str = "select"  # the stage reached (or failed at)
    reason: str | None = None
    selection: str | None = None
    train: str | None = None
    evaluation: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def fail(self, stage: str, reason: str) -> None:
        self.status, self.stage, self.reason = "failed", stage, reason

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("cell")
        return {"pool": self.cell.pool, "budget": self.cell.budget, "selector": self.cell.selector,
                "seed": self.cell.seed, **({"target": self.cell.target} if self.cell.target else {}), **data}
