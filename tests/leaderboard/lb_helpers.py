"""Helpers shared by the leaderboard tests (a module of its own: tests/conftest.py is also named conftest)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from selbench.submissions.fixture import make_synthetic_submission

HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>\u2028</script><!--'
SMALL = {"ifeval": 60, "alpaca-eval": 80}


def small_submission(root: Path, name: str, **kw) -> Path:
    kw.setdefault("pools", ("alpaca", "dolly"))
    kw.setdefault("budgets", (1000, 5000))
    kw.setdefault("benchmarks", SMALL)
    return make_synthetic_submission(root, name, **kw)


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("selbench")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300, cwd=cwd, env=os.environ.copy())
