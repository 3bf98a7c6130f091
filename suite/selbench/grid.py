"""Expand a spec into cells: (pool, budget, selector, seed).

Seeded selectors (``random``) get one cell per random seed; deterministic ones one cell per
budget (their seed would only change training); budget-ignoring ones (``full``) one cell per
pool. Metadata is read in a subprocess, so planning never runs plugin code in-process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from selbench.errors import SelbenchError
from selbench.selection.isolation import describe_in_subprocess
from selbench.specs.models import Spec


@dataclass(frozen=True)
class Cell:
    pool: str
    budget: int | None  # None: the whole pool
    selector: str
    seed: int

    @property
    def label(self) -> str:
        budget = "full" if self.budget is None else str(self.budget)
        return f"{self.pool}/{budget}/{self.selector}/seed{self.seed}"


def _pick(requested: list[Any] | None, available: tuple[Any, ...], what: str) -> list[Any]:
    if not requested:
        return list(available)
    unknown = [r for r in requested if r not in available]
    if unknown:
        raise SelbenchError(f"{what} {unknown} not in the spec (it has {list(available)})")
    return list(requested)


def expand(
    spec: Spec,
    selectors: list[str] | None = None,
    pools: list[str] | None = None,
    budgets: list[int] | None = None,
) -> tuple[list[Cell], dict[str, dict[str, Any]]]:
    """The cells to run and each selector's metadata."""
    pool_names = _pick(pools, tuple(p.name for p in spec.pools), "pools")
    budget_list = _pick(budgets, spec.budgets, "budgets")
    chosen = list(dict.fromkeys(selectors or spec.selectors))
    metadata = {name: describe_in_subprocess(name) for name in chosen}
    cells: list[Cell] = []
    for pool in pool_names:
        for name in chosen:
            meta = metadata[name]
            if meta["ignores_budget"]:
                cells.append(Cell(pool, None, name, spec.random_seeds[0]))
                continue
            seeds = spec.random_seeds if meta["seeded"] else spec.random_seeds[:1]
            cells.extend(Cell(pool, b, name, s) for b in budget_list for s in seeds)
    return cells, metadata
