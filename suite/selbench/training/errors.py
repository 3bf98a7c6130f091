"""The fine-tuning stage's user-facing errors (one module, so the stage's helpers can raise them)."""

from __future__ import annotations

from selbench.errors import SelbenchError


class RecipeError(SelbenchError):
    """The recipe cannot run as written on this machine (e.g. a batch that does not divide)."""


class TrainingError(SelbenchError):
    """The inputs of a training run are missing or inconsistent."""
