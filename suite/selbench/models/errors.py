"""Errors of the model layer (user mistakes: a bad builder name or arguments, a missing folder)."""

from __future__ import annotations

from selbench.errors import SelbenchError


class ModelError(SelbenchError):
    """The base model cannot be found, built or loaded as the spec describes."""
