"""Expand a spec into cells: (pool, budget, selector, seed[, target]).

Seeded selectors (``random``) get one cell per random seed; deterministic ones one cell per
budget (their seed would only change training); budget-ignoring ones (``full``) one cell per
pool. On the targeted track a targeted selector (``track = "targeted"``) gets one cell per target
task (its selection depends on that task's query set); general-track selectors (random, full)
do not look at the query set, so their cells have no target and are evaluated on every target.
Metadata is read in a subprocess, so planning never runs plugin code in-process.
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
    target: str | None = None  # the target task of a targeted selector's cell

    @property
    def label(self) -> str:
        budget = "full" if self.budget is None else str(self.budget)
        selector = self.selector if self.target is None else f"{self.selector}@{self.target}"
        return f"{self.pool}/{budget}/{selector}/seed{self.seed}"


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
    targets: list[str] | None = None,
) -> tuple[list[Cell], dict[str, dict[str, Any]]]:
    """The cells to run and each selector's metadata."""
    pool_names = _pick(pools, tuple(p.name for p in spec.pools), "pools")
    budget_list = _pick(budgets, spec.budgets, "budgets")
    all_targets = tuple(t.name for t in spec.targeted.targets) if spec.targeted is not None else ()
    if targets and not all_targets:
        raise SelbenchError(f"spec {spec.id} has no targets (only targeted-track specs do)")
    target_list = _pick(targets, all_targets, "targets")
    chosen = list(dict.fromkeys(selectors or spec.selectors))
    metadata = {name: describe_in_subprocess(name) for name in chosen}
    targeted = [n for n in chosen if metadata[n]["track"] == "targeted"]
    if targeted and not all_targets:
        raise SelbenchError(f"{', '.join(targeted)} {'is a' if len(targeted) == 1 else 'are'} targeted-track "
                            f"selector{'s' if len(targeted) > 1 else ''} and need{'s' if len(targeted) == 1 else ''} "
                            f"a query set: run a targeted spec (e.g. --spec tiny-targeted), not {spec.id}")
    cells: list[Cell] = []
    for pool in pool_names:
        for name in chosen:
            meta = metadata[name]
            if meta["ignores_budget"]:
                cells.append(Cell(pool, None, name, spec.random_seeds[0]))
                continue
            # random: one run per random seed; every other selector: one run per training seed of
            # the spec (a seeded selector also selects with that seed), so seed variance is measured
            seeds = spec.random_seeds if name == "random" else spec.train_seeds
            for target in (target_list if meta["track"] == "targeted" else [None]):
                cells.extend(Cell(pool, b, name, s, target) for b in budget_list for s in seeds)
    return cells, metadata
