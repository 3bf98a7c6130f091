"""The services' one error type, in a module of its own so services and their container do not
import each other."""

from __future__ import annotations

from selbench.errors import SelbenchError


class ServiceError(SelbenchError):
    """A service cannot be built as asked (no spec to name the model, a judge that fails...)."""
