"""Errors of the evaluation stage; all are user-facing (:class:`SelbenchError`)."""

from __future__ import annotations

from selbench.errors import SelbenchError


class EvalError(SelbenchError):
    """An evaluation cannot run as asked."""


class UnknownBenchmarkError(EvalError):
    """A benchmark name is neither in the spec nor a known kind."""


class AdapterError(EvalError):
    """The adapter folder is missing or is not a peft LoRA adapter."""


class AdapterRankError(AdapterError):
    """The adapter's LoRA rank exceeds the server's ``--max-lora-rank``."""


class ServerError(EvalError):
    """The vLLM server could not start or stopped answering."""


class PortInUseError(ServerError):
    """The requested port is already bound by another process."""


class ServerStartTimeout(ServerError):
    """The server did not answer ``/health`` within the start timeout."""


class ServerDiedError(ServerError):
    """The server process died during a run (after the allowed restarts)."""


class DataMissingError(EvalError):
    """A benchmark's data is neither local nor reachable."""
