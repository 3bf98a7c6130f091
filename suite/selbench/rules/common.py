"""What every rule returns (:class:`Pick`) and the errors rules raise on bad input."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from selbench.errors import SelbenchError

Fallback = Literal["fill", "error", "short"]
FALLBACKS = ("fill", "error", "short")


class RuleError(SelbenchError):
    """A rule got inputs it cannot use (wrong shapes, negative k, unknown fallback)."""


class ShortfallError(RuleError):
    """Fewer examples pass the rule than the budget asks for, and ``fallback='error'``."""


@dataclass(frozen=True)
class Pick:
    """Indices into the scored arrays, most preferred first.

    ``passed`` is how many of them satisfied the rule itself; the rest (``len(indices) -
    passed``) were added by the fallback, which ``note`` explains (None when nothing was added).
    """

    indices: np.ndarray
    passed: int
    note: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def filled(self) -> int:
        return int(len(self.indices) - self.passed)

    def info(self) -> dict[str, Any]:
        """JSON-ready summary for ``Selection.info``."""
        return {"passed_rule": int(self.passed), "filled_by_fallback": self.filled, "note": self.note, **self.stats}


def as_scores(scores: Any, name: str = "scores") -> np.ndarray:
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 1:
        raise RuleError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def check_k(k: int, n: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise RuleError(f"k must be a non-negative integer, got {k!r}")
    return int(min(k, n))


def check_fallback(fallback: str) -> None:
    if fallback not in FALLBACKS:
        raise RuleError(f"fallback must be one of {FALLBACKS}, got {fallback!r}")


def shortfall(rule: str, passed: int, k: int, fallback: str, how: str, advice: str) -> str:
    """The message for a pool that runs out before the budget; raises for ``fallback='error'``."""
    message = f"{rule}: only {passed} of the {k} requested examples pass the rule; {advice}"
    if fallback == "error":
        raise ShortfallError(message)
    return message + (f"; filled the remaining {k - passed} with {how}" if fallback == "fill" else "; returning fewer")
