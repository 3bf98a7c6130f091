"""Units of a result row: its scale and direction, read with defaults so older rows still work.

Rows may carry ``scale`` (``0-1``, ``0-100`` or ``nats``) and ``direction`` (``higher`` or
``lower``); rows written before those fields existed are read as: a metric named ``*loss*`` is
in nats, lower is better; otherwise scale ``0-100`` when the score is above 1 (a percentage),
else ``0-1``, higher is better. Per-item scores are
fractions at scale 0-100 too, so they are multiplied by 100 to be in the score's units.

Aggregation *orients* every number so that larger is better (a lower-is-better score is
negated), compares gains only within a benchmark, and keeps lower-is-better losses (query
loss, in nats) out of the headline: a loss has no common scale with accuracies.
"""

from __future__ import annotations

from typing import Any


def _is_loss(row: Any) -> bool:
    return "loss" in str(getattr(row, "metric", "")).lower()


def _given(row: Any, name: str) -> Any:
    """The row's ``name`` when the row stated it (a pydantic default is not a statement)."""
    stated = getattr(row, "model_fields_set", None)
    if stated is not None and name not in stated:
        return None
    return getattr(row, name, None)


def scale_of(row: Any) -> str:
    scale = _given(row, "scale")
    if scale:
        return str(scale)
    if _is_loss(row):
        return "nats"
    return "0-100" if abs(float(row.score)) > 1.0 else "0-1"


def direction_of(row: Any) -> str:
    direction = _given(row, "direction")
    if direction:
        return str(direction)
    return "lower" if _is_loss(row) else "higher"


def item_unit(row: Any) -> float:
    """Factor from per-item scores to the row's score units."""
    return 100.0 if scale_of(row) == "0-100" else 1.0


def sign(row: Any) -> float:
    """+1 when larger is better, -1 when smaller is (orient by multiplying)."""
    return -1.0 if direction_of(row) == "lower" else 1.0


def in_headline(row: Any) -> bool:
    """Whether the row's benchmark enters the standardised headline (losses are reported apart)."""
    return direction_of(row) == "higher" and scale_of(row) != "nats"


def macro_of(row: Any) -> bool:
    return getattr(row, "aggregate", "mean") == "task-macro"


def unit_label(scale: str, direction: str) -> str:
    what = {"0-1": "fraction (0-1)", "0-100": "points (0-100)", "nats": "nats"}.get(scale, scale)
    return f"{what}, {'higher' if direction == 'higher' else 'lower'} is better"
