"""What the selector worker is confined to, as passed from the driver to the launcher."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

ENV_REPORT = "SELBENCH_SANDBOX_REPORT"  # set by the launcher for the worker: what was applied (informative only)
ENV_SWITCH = "SELBENCH_SANDBOX"  # "off" disables the kernel confinement (debugging only)


@dataclass(frozen=True)
class SandboxPolicy:
    """``deny``: folders the worker must never open (evaluation data), already resolved;
    ``network``: whether the worker keeps the host's network; ``writable``: the only paths it
    may write (``None``: writes are not confined); ``report_fd``: a pipe the launcher writes
    what it applied to and closes before any plugin code runs (the driver's record)."""

    deny: tuple[str, ...] = ()
    network: bool = False
    writable: tuple[str, ...] | None = None
    report_fd: int | None = None

    def to_json(self) -> str:
        return json.dumps({"deny": list(self.deny), "network": self.network,
                           "writable": None if self.writable is None else list(self.writable),
                           "report_fd": self.report_fd})

    @classmethod
    def from_json(cls, text: str) -> "SandboxPolicy":
        raw = json.loads(text)
        writable = raw.get("writable")
        return cls(deny=tuple(raw.get("deny", ())), network=bool(raw.get("network", False)),
                   writable=None if writable is None else tuple(writable), report_fd=raw.get("report_fd"))


def enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "on").strip().lower() not in ("off", "0", "false", "no")


def applied_report() -> dict[str, str] | None:
    """In the worker: what the launcher applied (``None`` when not started through it)."""
    raw = os.environ.get(ENV_REPORT)
    return json.loads(raw) if raw else None
