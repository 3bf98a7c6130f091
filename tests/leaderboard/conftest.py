"""Fixtures of the leaderboard tests: a private cache and a site built from hostile submissions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lb_helpers import HOSTILE, small_submission

@pytest.fixture(scope="session", autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    if "SELBENCH_CACHE" not in os.environ:
        os.environ["SELBENCH_CACHE"] = str(tmp_path_factory.mktemp("selbench-cache"))


@pytest.fixture(scope="session")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site built from three submissions, one with hostile strings in every text field."""
    from selbench.leaderboard.build import build

    root = tmp_path_factory.mktemp("hostile")
    subs = root / "submissions"
    small_submission(subs, "Good Method", quality=0.8, selection_usd=0.5)
    small_submission(subs, "Costly Method", quality=0.8, selection_usd=500.0, uses_api=True, external_models=("gpt-4",))
    text = {"name": "Evil " + HOSTILE, "authors": [HOSTILE, "x\"><svg onload=alert(3)>"], "description": HOSTILE,
            "external_models": [HOSTILE]}
    small_submission(subs, "evil", quality=0.0, selection_usd=1.0, text=text,
                     samples=[{"benchmark": "ifeval", "prompt": HOSTILE, "output": "</pre>" + HOSTILE}])
    build(subs, root / "site", verified=root / "verified.json", n_boot=300)
    return root / "site"
