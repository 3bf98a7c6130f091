"""What a running grid tells whoever watches it: stages, cells started and finished, notes.

The driver (:func:`selbench.pipeline.run.run_grid`) calls these hooks; the CLI shows them as a
live progress display on a terminal or as one plain line per event in a log
(:mod:`selbench.cli.run_progress`). The base class ignores everything, so library callers and
tests need not care.
"""

from __future__ import annotations


class RunEvents:
    """Hooks of a grid run; every method is optional to override."""

    def stage(self, name: str, total: int) -> None:
        """Stage ``name`` starts with ``total`` units of work (cells, or models to evaluate)."""

    def start(self, stage: str, label: str) -> None:
        """A unit of ``stage`` starts (``label`` names the cell)."""

    def done(self, stage: str, label: str, ok: bool, seconds: float, reused: bool = False) -> None:
        """A unit of ``stage`` finished (or failed, or was reused from an earlier run)."""

    def note(self, message: str) -> None:
        """Anything else worth a line (evaluation progress, server start-up)."""
