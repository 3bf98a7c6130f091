"""A selector never reads evaluation data; a killed driver leaves no corrupt artifact and resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from selbench.errors import SelectorError
from selbench.data_paths import evaluation_roots
from selbench.sandbox.launch import NOTHING_TO_HIDE
from selbench.selection.isolation import Limits
from selbench.selection.stage import run_selection
from sb_testing import alpaca_rows, write_jsonl

PLUGINS = Path(__file__).with_name("plugins.py")


def test_reading_the_eval_data_folder_fails_the_cell(pool, eval_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(SelectorError, match="evaluation data") as info:
        run_selection(pool, f"{PLUGINS}:ReadsEval", 5, 0, tmp_path / "out")
    assert "input_data.jsonl" in str(info.value)
    assert not list((tmp_path / "out").glob("selections/**/selection.json"))


def test_a_plugin_that_swallows_the_refusal_still_fails(pool, eval_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(SelectorError, match="tried to read evaluation data"):
        run_selection(pool, f"{PLUGINS}:SwallowsEval", 5, 0, tmp_path / "out")


@pytest.mark.parametrize("where", ["unset", "missing folder"])
def test_without_evaluation_data_the_worker_reads_its_code_pool_and_tmpdir(
        pool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """A machine with only the repository: nothing to hide must not mean "deny everything"."""
    for name in ("SELBENCH_EVAL_DATA", "SELBENCH_DATA_DIR", "SELBENCH_DENY_READ"):
        monkeypatch.delenv(name, raising=False)
    # a cache of its own: the session's may hold evaluation files earlier tests wrote (hidden too)
    monkeypatch.setenv("SELBENCH_CACHE", str(tmp_path / "fresh-cache"))
    if where == "missing folder":
        monkeypatch.setenv("SELBENCH_EVAL_DATA", str(tmp_path / "moved-away"))
    assert evaluation_roots() == []
    art = run_selection(pool, f"{PLUGINS}:ReadsItsWorld", 5, 0, tmp_path / "out")
    info = art.data["info"]
    assert info["own_code"] and info["package"] and info["pool_rows"] == 40 and info["tmp"] == "scratch"
    assert art.data["isolation"]["filesystem"] in (NOTHING_TO_HIDE, "audit hook only (not Linux)")


def test_the_worker_environment_names_no_eval_data_and_offline_no_credentials(
        pool, eval_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    monkeypatch.setenv("HF_TOKEN", "hf_test_secret")
    art = run_selection(pool, f"{PLUGINS}:EnvProbe", 5, 0, tmp_path / "out")
    assert art.data["info"] == {"SELBENCH_EVAL_DATA": None, "SELBENCH_DENY_READ": None,
                                "OPENAI_API_KEY": None, "HF_TOKEN": None}
    online = run_selection(pool, f"{PLUGINS}:EnvProbe", 5, 0, tmp_path / "online", limits=Limits(network=True))
    assert online.data["info"]["OPENAI_API_KEY"] == "sk-test-secret"  # an API selector needs its key
    assert online.data["info"]["SELBENCH_EVAL_DATA"] is None


_DRIVER = """
import sys
from pathlib import Path
from selbench.pipeline.run import plan, run_grid
from selbench.specs.loader import load_spec
from selbench.specs.models import PoolSpec, Spec

pool, plugin, out = sys.argv[1:4]
spec = Spec.model_validate({**load_spec("tiny").model_dump(mode="json"),
                            "pools": [PoolSpec(name="k", path=pool).model_dump(mode="json")], "budgets": [5, 7],
                            "train_seeds": [0], "selectors": [plugin]})
states = [s for s in plan(spec, None, None, None) if s.kind == "selector"]
outcome = run_grid(spec, Path(out), states=states, stages=("select",))
print("FAILED" if outcome.failed else "OK", [s.reason for s in outcome.failed])
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting for its reaper counts as gone
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return False


def test_a_killed_driver_leaves_no_corrupt_artifact_and_a_rerun_resumes(tmp_path: Path) -> None:
    pool = write_jsonl(tmp_path / "pool.jsonl", alpaca_rows(30))
    out = tmp_path / "run"
    env = {**os.environ, "SELBENCH_PLUGIN_SLOW_S": "3"}
    args = [sys.executable, "-c", _DRIVER, str(pool), f"{PLUGINS}:SlowFirst", str(out)]
    driver = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # wait until the second cell's selector is running (the first cell is then finished), then kill -9
    deadline = time.time() + 90
    while time.time() < deadline and len(list(out.glob("selections/**/scratch/started"))) < 2:
        assert driver.poll() is None, driver.stdout.read().decode()
        time.sleep(0.1)
    assert len(list(out.glob("selections/**/scratch/started"))) >= 2, "the driver never reached the second cell"
    workers = [p.pid for p in psutil.process_iter(["cmdline"])
               if "selbench.selection.worker" in " ".join(p.info["cmdline"] or []) and str(out) in " ".join(p.info["cmdline"] or [])]
    assert workers, "no selector worker found"
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    time.sleep(1.0)
    assert not any(_alive(w) for w in workers), "the selector worker outlived its killed driver"
    done = list(out.glob("selections/**/selection.json"))
    assert len(done) == 1  # the first cell finished before the kill
    for folder in out.glob("selections/*/*/*"):
        assert folder.name.startswith(".tmp-") or (folder / "selection.json").is_file(), folder
        if not folder.name.startswith(".tmp-"):
            json.loads((folder / "selection.json").read_text())  # complete JSON
    for line in (out / "cells.jsonl").read_text().splitlines():
        json.loads(line)
    first = done[0].stat().st_mtime_ns
    rerun = subprocess.run(args, env={**env, "SELBENCH_PLUGIN_SLOW_S": "0"}, capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 0 and "OK" in rerun.stdout, rerun.stdout + rerun.stderr
    assert done[0].stat().st_mtime_ns == first  # resumed: the finished cell was reused
    assert len(list(out.glob("selections/**/selection.json"))) == 2
    assert all(json.loads(line)["status"] == "done" for line in (out / "cells.jsonl").read_text().splitlines())
