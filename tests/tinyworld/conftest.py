"""Fixtures of the tiny-world tests: a private cache so builds never touch the user's."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def world_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    cache = tmp_path_factory.mktemp("tinyworld-cache")
    with pytest.MonkeyPatch.context() as env:  # restored after the session
        env.setenv("SELBENCH_CACHE", str(cache))
        yield cache
