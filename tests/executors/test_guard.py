"""ChildGuard: what a process started in sessions of their own dies with it (and only then)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the guard is Linux-only")

# An owner that starts, under a guard, a "server": a session leader (like `vllm serve`) with a
# child of its own (like EngineCore), writes their pids, then waits to be killed or to close.
_OWNER = """
import os, subprocess, sys, time
from selbench.executors.guard import ChildGuard

pids, mode = sys.argv[1], sys.argv[2]
guard = ChildGuard(poll_s=0.1).start()
server = subprocess.Popen([sys.executable, "-c",
    "import subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']);"
    "open(sys.argv[1], 'a').write(f'{c.pid}\\\\n'); time.sleep(600)", pids], start_new_session=True)
with open(pids, "a") as fh:
    fh.write(f"{server.pid}\\n")
while len(open(pids).read().split()) < 2:
    time.sleep(0.05)
time.sleep(0.5)  # the guard has seen both
if mode == "close":
    guard.close()
    print("closed", flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _start(tmp_path: Path, mode: str) -> tuple[subprocess.Popen, list[int]]:
    pids = tmp_path / "pids"
    owner = subprocess.Popen([sys.executable, "-c", _OWNER, str(pids), mode], stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and (not pids.is_file() or len(pids.read_text().split()) < 2):
        assert owner.poll() is None
        time.sleep(0.05)
    time.sleep(1.0)
    return owner, [int(p) for p in pids.read_text().split()]


def _wait_gone(pids: list[int], seconds: float = 10) -> list[int]:
    deadline = time.time() + seconds
    while (alive := [p for p in pids if _alive(p)]) and time.time() < deadline:
        time.sleep(0.1)
    return alive


def test_a_killed_owner_takes_its_detached_descendants_along(tmp_path: Path) -> None:
    owner, pids = _start(tmp_path, "wait")
    assert all(_alive(p) for p in pids)
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    left = _wait_gone(pids)
    for pid in left:  # clean up before failing
        os.kill(pid, signal.SIGKILL)
    assert not left, f"survived their killed owner: {left}"


def test_a_closed_guard_kills_nothing(tmp_path: Path) -> None:
    owner, pids = _start(tmp_path, "close")
    try:
        assert owner.stdout.readline().strip() == "closed"
        owner.send_signal(signal.SIGKILL)  # after close: the guard is gone, nothing is reaped
        owner.wait()
        time.sleep(1.5)
        assert all(_alive(p) for p in pids)
    finally:
        for pid in pids:
            try:
                os.killpg(pid, signal.SIGKILL) if os.getpgid(pid) == pid else os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
