"""Helpers shared by the foundation tests (a uniquely named module: several test folders have a
conftest.py, so `from conftest import ...` would pick whichever was imported first)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The workshop's evaluation data: SELBENCH_EVAL_DATA when set, else ../shared/data beside the
# checkout (development machines and CI only; a user's clone has neither, and the tests that
# need it skip with NEEDS_EVAL_DATA).
SHARED_DATA = Path(os.environ.get("SELBENCH_EVAL_DATA") or REPO.parent / "shared" / "data")
NEEDS_EVAL_DATA = "needs the evaluation data folder: set SELBENCH_EVAL_DATA or check out ../shared"
PLUGINS = Path(__file__).resolve().parent / "plugins"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def alpaca_rows(n: int, offset: int = 0) -> list[dict]:
    return [
        {"instruction": f"Say the number {i}.", "input": "" if i % 2 else f"context {i}", "output": "x" * (1 + i % 17) + f" {i}"}
        for i in range(offset, offset + n)
    ]


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
