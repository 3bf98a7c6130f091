"""Record the environment that produced a run (``provenance.json``)."""

from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from selbench import __version__

_PACKAGES = ("selbench", "torch", "transformers", "peft", "trl", "datasets", "vllm", "lm-eval", "alpaca-eval", "numpy", "pandas")


def current_provenance() -> dict[str, Any]:
    packages = {}
    for name in _PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            continue
    digest = os.environ.get("SELBENCH_IMAGE_DIGEST") or None
    return {
        "suite_version": __version__,
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.release()} {platform.machine()}"[:200],
        "packages": packages,
        "gpu": None,
        "gpus": 0,
        "container_image_digest": digest if digest and digest.startswith("sha256:") else None,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
