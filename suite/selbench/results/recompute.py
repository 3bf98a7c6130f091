"""A row's score recomputed from its per-item file: the number the board trusts.

A submission's ``results.jsonl`` says what each model scored; the per-item file says why. The
leaderboard never takes the first on trust: it recomputes the score from the items the way the
row states (``aggregate``: the plain ``mean``, or the ``task-macro`` mean of per-task means, a
task being the first ``/`` segment of an item id; ``scale`` ``0-100`` multiplies by 100) and
refuses a row whose stated score differs by more than :data:`TOLERANCE` of its scale.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

#: Allowed difference, as a fraction of the scale's unit (0-1: 1e-6; 0-100: 1e-4), for float
#: round-off between the evaluator's arithmetic and this one.
TOLERANCE = 1e-6


def recompute_score(ids: list[str], scores: np.ndarray, *, scale: str = "0-1", aggregate: str = "mean") -> float:
    """The score the items imply (see the module doc)."""
    values = np.asarray(scores, dtype=float)
    if aggregate == "task-macro":
        by_task: dict[str, list[float]] = defaultdict(list)
        for item_id, value in zip(ids, values):
            by_task[item_id.split("/", 1)[0]].append(float(value))
        score = float(np.mean([np.mean(v) for v in by_task.values()]))
    else:
        score = float(values.mean())
    return score * 100.0 if scale == "0-100" else score


def score_mismatch(stated: float, ids: list[str], scores: np.ndarray, *, scale: str = "0-1",
                   aggregate: str = "mean") -> float | None:
    """``None`` when ``stated`` agrees with the items, else the recomputed score."""
    actual = recompute_score(ids, scores, scale=scale, aggregate=aggregate)
    unit = 100.0 if scale == "0-100" else 1.0
    return None if abs(stated - actual) <= TOLERANCE * unit * max(1.0, abs(actual) / unit) else actual
