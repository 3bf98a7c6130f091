"""The selection stage: the artifact, reuse, atomic writes, isolation limits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sb_testing import PLUGINS, alpaca_rows, run_cli, write_jsonl
from selbench.atomic import atomic_write_text
from selbench.errors import SelectorError
from selbench.hashing import ids_sha256
from selbench.pools import load_pool
from selbench.selection.isolation import Limits
from selbench.selection.stage import run_selection
from selbench.specs.models import CostModelSpec, PoolSpec

BAD = PLUGINS / "bad.py"


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory):
    path = write_jsonl(tmp_path_factory.mktemp("pool") / "pool.jsonl", alpaca_rows(80))
    return load_pool(PoolSpec(name="p", path=str(path)))


def test_artifact_holds_everything_training_needs(pool, tmp_path: Path) -> None:
    art = run_selection(pool, "random", 25, 3, tmp_path, cost_model=CostModelSpec(), spec_id="x@v1")
    data = json.loads((art.path / "selection.json").read_text())
    assert data["schema"] == "selbench.selection/v1"
    assert data["ids_sha256"] == ids_sha256(data["ids"]) and len(data["ids"]) == 25
    assert data["pool"]["fingerprint"] == pool.fingerprint and data["seed"] == 3 and data["budget"] == 25
    assert data["selector"]["name"] == "random" and data["selector"]["seeded"] is True
    cost = data["cost"]
    assert cost["total"]["wall_s"] > 0 and cost["total"]["cpu_s"] > 0 and cost["total"]["peak_rss_bytes"] > 0
    assert cost["usd"]["total"] >= 0 and data["spec"] == "x@v1"
    # ids_sha256 is the sha256 of newline-terminated ids, recomputable with coreutils
    out = subprocess.run(["sha256sum"], input="".join(i + "\n" for i in data["ids"]), capture_output=True, text=True)
    assert out.stdout.split()[0] == data["ids_sha256"]


def test_same_inputs_reuse_the_artifact(pool, tmp_path: Path) -> None:
    first = run_selection(pool, "longest", 10, 0, tmp_path)
    second = run_selection(pool, "longest", 10, 0, tmp_path)
    assert not first.reused and second.reused and first.path == second.path
    assert second.data == first.data
    other = run_selection(pool, "longest", 11, 0, tmp_path)
    assert other.path != first.path


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.json"
    atomic_write_text(target, "old")

    def fail(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_killed_selection_leaves_no_partial_artifact_and_resumes(tmp_path: Path) -> None:
    pool_file = write_jsonl(tmp_path / "pool.jsonl", alpaca_rows(40))
    out = tmp_path / "runs"
    exe = Path(sys.executable).with_name("selbench")
    args = [str(exe), "select", "--pool", str(pool_file), "--budget", "5", "--selector", f"{BAD}:SlowThenFine", "--out", str(out)]
    proc = subprocess.Popen(args, env={**os.environ, "SELBENCH_PLUGIN_TEST_SLEEP": "60"}, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and not list(out.rglob("request.json")):
        time.sleep(0.2)
    time.sleep(1.0)  # the worker is now inside select()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list(out.rglob("request.json")), "the run never started"
    assert not list(out.rglob("selection.json"))
    done = run_cli(*args[1:], env={"SELBENCH_PLUGIN_TEST_SLEEP": "0"})
    assert done.returncode == 0, done.stderr
    finals = list(out.rglob("selection.json"))
    assert len(finals) == 1 and ".tmp-" not in str(finals[0])
    assert len(json.loads(finals[0].read_text())["ids"]) == 5


def test_hanging_selector_is_killed_at_the_timeout(pool, tmp_path: Path) -> None:
    start = time.perf_counter()
    with pytest.raises(SelectorError, match="timed out after 3 s"):
        run_selection(pool, f"{BAD}:Hangs", 5, 0, tmp_path, limits=Limits(timeout_s=3))
    assert time.perf_counter() - start < 30
    assert not list(tmp_path.rglob("selection.json")) and not list(tmp_path.rglob(".tmp-*"))


def test_memory_hog_is_killed_at_the_limit(pool, tmp_path: Path) -> None:
    with pytest.raises(SelectorError, match="exceeded the memory limit of 0.8 GiB"):
        run_selection(pool, f"{BAD}:MemoryHog", 5, 0, tmp_path, limits=Limits(memory_bytes=int(0.8 * 2**30), timeout_s=60))


def test_crashing_worker_is_reported(pool, tmp_path: Path) -> None:
    with pytest.raises(SelectorError, match="worker exited with code 3 without a result"):
        run_selection(pool, f"{BAD}:Crashes", 5, 0, tmp_path)


def test_isolated_and_in_process_runs_agree(pool, tmp_path: Path) -> None:
    a = run_selection(pool, f"{PLUGINS / 'good.py'}:SeededSample", 12, 4, tmp_path / "a", isolate=True)
    b = run_selection(pool, f"{PLUGINS / 'good.py'}:SeededSample", 12, 4, tmp_path / "b", isolate=False)
    assert a.data["ids_sha256"] == b.data["ids_sha256"]
