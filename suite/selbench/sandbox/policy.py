"""What the selector worker is confined to, as passed from the driver to the launcher."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

ENV_REPORT = "SELBENCH_SANDBOX_REPORT"  # set by the launcher for the worker: what was applied
ENV_SWITCH = "SELBENCH_SANDBOX"  # "off" disables the kernel confinement (debugging only)


@dataclass(frozen=True)
class SandboxPolicy:
    """``deny``: folders the worker must never open (evaluation data), already resolved;
    ``network``: whether the worker keeps the host's network."""

    deny: tuple[str, ...] = ()
    network: bool = False

    def to_json(self) -> str:
        return json.dumps({"deny": list(self.deny), "network": self.network})

    @classmethod
    def from_json(cls, text: str) -> "SandboxPolicy":
        raw = json.loads(text)
        return cls(deny=tuple(raw.get("deny", ())), network=bool(raw.get("network", False)))


def enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "on").strip().lower() not in ("off", "0", "false", "no")


def applied_report() -> dict[str, str] | None:
    """In the worker: what the launcher applied (``None`` when not started through it)."""
    raw = os.environ.get(ENV_REPORT)
    return json.loads(raw) if raw else None
