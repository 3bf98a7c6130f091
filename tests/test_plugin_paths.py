"""Plugin paths as users type them: relative (``./x.py:C``, ``x.py:C``, ``sub/x.py:C``), absolute
and ``~``-prefixed, from a working folder that is not the repository (the worker runs in its own
scratch folder, so a path resolved there would miss the file)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sb_testing import PLUGINS, alpaca_rows, assert_user_error, run_cli, write_jsonl
from selbench.selection.registry import absolute_selector


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    """A user's folder: the plugin at the top and in ``sub/``, the pool one level up."""
    home = tmp_path / "home" / "me" / "project"
    (home / "sub").mkdir(parents=True)
    for where in (home, home / "sub"):
        shutil.copy(PLUGINS / "good.py", where / "my_method.py")
    write_jsonl(tmp_path / "home" / "me" / "pool.jsonl", alpaca_rows(30))
    return home


def test_absolute_selector_keeps_names_and_anchors_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert absolute_selector("longest") == "longest"
    assert absolute_selector("pkg.mod:Cls") == "pkg.mod:Cls"
    assert absolute_selector("./x.py:C") == f"{tmp_path}/x.py:C"
    assert absolute_selector("sub/x.py:C") == f"{tmp_path}/sub/x.py:C"
    assert absolute_selector("x.py") == f"{tmp_path}/x.py"
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert absolute_selector("~/x.py:C") == f"{tmp_path}/h/x.py:C"


def test_select_takes_every_path_form(workdir: Path) -> None:
    forms = ["./my_method.py:ShortestFirst", "my_method.py:ShortestFirst", "sub/my_method.py:ShortestFirst",
             f"{workdir}/my_method.py:ShortestFirst", "~/project/my_method.py:ShortestFirst"]
    env = {"HOME": str(workdir.parent)}
    shas = set()
    for form in forms:
        proc = run_cli("select", "--pool", "../pool.jsonl", "--budget", "5", "--selector", form, "--seed", "0",
                       "--out", "runs", "--json", cwd=workdir, env=env)
        assert proc.returncode == 0, f"{form}: {proc.stderr}"
        shas.add(json.loads(proc.stdout)["ids_sha256"])
    assert len(shas) == 1  # the same code, the same selection, whichever way it was named
    missing = run_cli("select", "--pool", "../pool.jsonl", "--budget", "5", "--selector", "./nope.py:X",
                      "--out", "runs", cwd=workdir)
    assert_user_error(missing, f"file not found: {workdir}/nope.py")  # named where the user looked


def test_validate_selector_takes_relative_and_home_paths(workdir: Path) -> None:
    for form in ("sub/my_method.py:ShortestFirst", "~/project/my_method.py:ShortestFirst"):
        proc = run_cli("validate-selector", form, cwd=workdir, env={"HOME": str(workdir.parent)})
        assert proc.returncode == 0 and "FAIL" not in proc.stdout, f"{form}: {proc.stdout}{proc.stderr}"
