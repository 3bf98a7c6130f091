"""Options and parsing shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
import yaml

from selbench.errors import SelbenchError
from selbench.selection.isolation import Limits

OUT = typer.Option(Path("runs"), "--out", "-o", help="Folder for artifacts (selections are cached here by input hash).")
SPEC = typer.Option(None, "--spec", "-s", help="Built-in spec name or spec YAML path (pools, cost model).")
PARAM = typer.Option(None, "--param", "-p", help="Selector parameter as key=value (YAML value); repeatable.")
#: Limits every command that runs a plugin applies unless told otherwise: a selector is untrusted
#: code, so a hang or a runaway allocation must end its cell, not the machine.
DEFAULT_TIMEOUT_S = 6 * 3600.0


def default_memory_gb() -> float:
    """Half of this machine's memory: room for the driver, vLLM and the training that follow."""
    import psutil

    return round(psutil.virtual_memory().total / 2**30 / 2, 1)


TIMEOUT = typer.Option(DEFAULT_TIMEOUT_S, "--timeout",
                       help="Kill the selector after this many seconds (default: 6 hours).")
MEMORY = typer.Option(None, "--memory-limit-gb", show_default=False,
                      help="Kill the selector above this resident memory, summed over its processes (GiB; default: "
                           "half of this machine's memory).")
NETWORK = typer.Option(False, "--selector-network",
                       help="Let the selector reach the network (hub downloads, its own API). By default it runs in a "
                            "network namespace with loopback only, where the kernel allows (a spec whose judge has an "
                            "api_base always gets the network).")


def parse_params(items: list[str] | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SelbenchError(f"--param expects key=value, got {item!r}")
        try:
            params[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            params[key.strip()] = value
    return params


def limits(timeout: float | None, memory_gb: float | None, network: bool = False) -> Limits:
    for name, value in (("--timeout", timeout), ("--memory-limit-gb", memory_gb)):
        if value is not None and value <= 0:
            raise SelbenchError(f"{name} must be positive, got {value}")
    timeout = DEFAULT_TIMEOUT_S if timeout is None else timeout
    memory_gb = default_memory_gb() if memory_gb is None else memory_gb
    return Limits(timeout_s=timeout, memory_bytes=int(memory_gb * 2**30) if memory_gb else None, network=network)
