"""Shared fixtures: an isolated selbench cache, the shared data folder, a CLI runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
PLUGINS = Path(__file__).resolve().parent / "plugins"


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every test session gets its own pool/model cache unless SELBENCH_CACHE is set (CI sets it
    so the Arrow caches survive between steps)."""
    if "SELBENCH_CACHE" not in os.environ:
        os.environ["SELBENCH_CACHE"] = str(tmp_path_factory.mktemp("selbench-cache"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    assert SHARED_DATA.is_dir(), f"tests read real data from {SHARED_DATA}; check out ../shared beside the repo"
    return SHARED_DATA


@pytest.fixture(scope="session")
def manifest(shared_data: Path) -> dict:
    return json.loads((shared_data / "MANIFEST.json").read_text())


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def alpaca_rows(n: int, offset: int = 0) -> list[dict]:
    return [
        {"instruction": f"Say the number {i}.", "input": "" if i % 2 else f"context {i}", "output": "x" * (1 + i % 17) + f" {i}"}
        for i in range(offset, offset + n)
    ]


@pytest.fixture()
def small_pool_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "pool.jsonl", alpaca_rows(120))


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the installed ``selbench`` console script as a user would."""
    exe = Path(sys.executable).with_name("selbench")
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})}, cwd=cwd,
    )


def assert_user_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """A user mistake: non-zero exit, one `error:` line naming the problem, no traceback."""
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert "error:" in proc.stderr, proc.stderr
    text = " ".join(proc.stderr.split())
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {proc.stderr!r}"
