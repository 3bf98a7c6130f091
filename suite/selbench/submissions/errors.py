"""Errors of submissions and verification (user mistakes: one ``error:`` line in the CLI)."""

from __future__ import annotations

from selbench.errors import SelbenchError


class SubmissionError(SelbenchError):
    """A submission is invalid; the message names the file (and line / field) and the reason."""

    def __init__(self, file: str, problem: str, field: str | None = None) -> None:
        self.file = file
        self.field = field
        self.problem = problem
        where = f"{file}: field '{field}'" if field else file
        super().__init__(f"{where}: {problem}")


class VerificationError(SelbenchError):
    """The re-run selection did not reproduce the submitted ids_sha256 (or could not run)."""
