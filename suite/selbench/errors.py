"""User-facing errors.

Everything a user can get wrong (a bad spec, a malformed pool, a selector that returns foreign
ids) raises a :class:`SelbenchError`. The CLI prints its message on one line and exits with
``exit_code``; only genuine bugs reach the user as tracebacks.
"""

from __future__ import annotations


class SelbenchError(Exception):
    """An error caused by input the user controls; the message says what to fix."""

    exit_code: int = 2


class SpecError(SelbenchError):
    """The spec (YAML or name) is missing or invalid."""


class PoolError(SelbenchError):
    """A pool cannot be found, read, mapped to the canonical schema or verified."""


class SelectorError(SelbenchError):
    """A selector cannot be found or loaded, crashed, or returned an invalid selection."""

    def __init__(self, selector: str, problem: str) -> None:
        self.selector = selector
        self.problem = problem
        super().__init__(f"selector '{selector}': {problem}")


class BudgetError(SelbenchError):
    """The budget is not a positive integer no larger than the pool."""
