"""Chasing Random's AlpacaEval reference inside ``selbench run``: the pooled random outputs.

The ``pooled-random`` reference of a model fine-tuned at (pool, budget) is one output per
instruction drawn (seeded) from the outputs of the random-subset models at the same pool and
budget, so a win rate of 50 means parity with random. Rows without a budget (the full pool, the
zero-shot base) are compared with the random models of their pool at every budget of the run.

The evaluation stage generates every model's outputs before judging any (see
:mod:`selbench.evaluation.alpaca_stage`); the random models are also put first, so their outputs
exist early and a run stopped during evaluation has the reference's sources done first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

RANDOM = "random"


def random_first(models: dict[str, Path | None], states: dict[str, Any]) -> dict[str, Path | None]:
    """``models`` (name -> adapter) with the random cells first, otherwise in their order."""
    order = sorted(models, key=lambda n: states[n].kind != RANDOM)
    return {n: models[n] for n in order}


def pooled_sources(states: dict[str, Any]) -> dict[str, list[str]]:
    """For each evaluated model (name -> :class:`CellState`), the random models whose outputs pool
    into its reference: same pool and budget, or the pool's every budget for budget-less rows."""
    randoms = sorted(((n, st) for n, st in states.items() if st.kind == RANDOM),
                     key=lambda p: (p[1].cell.pool, p[1].cell.budget or 0, p[1].cell.seed, p[0]))
    out: dict[str, list[str]] = {}
    for name, st in states.items():
        budget = st.cell.budget if st.kind not in ("full", "zero-shot") else None
        out[name] = [n for n, r in randoms
                     if r.cell.pool == st.cell.pool and (budget is None or r.cell.budget == budget)]
    return out
