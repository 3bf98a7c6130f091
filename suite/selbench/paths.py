"""Where selbench keeps its caches and where it finds offline copies of hub data.

- ``SELBENCH_CACHE`` (default ``~/.cache/selbench``): canonical pool Arrow caches, built models.
- ``SELBENCH_HUB_MIRROR``: a folder laid out as ``<owner>/<name>/...`` holding local copies of
  hub datasets; when a hub pool's folder is there it is loaded from it instead of the hub
  (air-gapped clusters, CI). The pinned revision is still recorded.
- ``SELBENCH_DATA_DIR``: expanded in spec paths written as ``${SELBENCH_DATA_DIR}/...``, for data
  that is not on the hub (the Chasing Random FLAN subsample ships in the authors' zip).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    root = os.environ.get("SELBENCH_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "selbench"


def hub_mirror() -> Path | None:
    root = os.environ.get("SELBENCH_HUB_MIRROR")
    return Path(root).expanduser() if root else None
