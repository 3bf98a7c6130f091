"""Shared fixtures of the foundation tests: an isolated selbench cache, the shared data folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sb_testing import NEEDS_EVAL_DATA, SHARED_DATA, alpaca_rows, write_jsonl


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every test session gets its own pool/model cache unless SELBENCH_CACHE is set (CI sets it
    so the Arrow caches survive between steps)."""
    if "SELBENCH_CACHE" not in os.environ:
        os.environ["SELBENCH_CACHE"] = str(tmp_path_factory.mktemp("selbench-cache"))
    # one tiny world for every test session (the figures the tests assert are reproducible); the
    # product's default, a random key per install, is what the fresh-clone quick start uses
    os.environ.setdefault("SELBENCH_TINYWORLD_KEY", "selbench-tests")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "MANIFEST.json").is_file():
        pytest.skip(NEEDS_EVAL_DATA)
    return SHARED_DATA


@pytest.fixture(scope="session")
def manifest(shared_data: Path) -> dict:
    return json.loads((shared_data / "MANIFEST.json").read_text())


@pytest.fixture()
def small_pool_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "pool.jsonl", alpaca_rows(120))
