"""The CLI as a user meets it: help, listings, validate-selector, run."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from sb_testing import PLUGINS, assert_user_error, run_cli
from selbench.specs import builtin_spec_names, load_spec

BUDGET = str(load_spec("tiny").budgets[0])


def test_help_teaches_the_commands() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    for command in ("run", "select", "validate-selector", "ls", "spec", "pool"):
        assert command in proc.stdout
    select_help = run_cli("select", "--help").stdout
    assert "--budget" in select_help and "path/to/file.py:Class" in select_help


def test_ls_selectors_pools_specs() -> None:
    sel = run_cli("ls", "selectors")
    assert sel.returncode == 0 and all(n in sel.stdout for n in ("random", "longest", "full"))
    pools = run_cli("ls", "pools")
    names = [p.name for n in builtin_spec_names() for p in load_spec(n).pools]
    assert {"alpaca", "dolly", "evol-instruct", "flan"} <= set(names)
    assert all(n in pools.stdout for n in names)
    assert "12567cabf8" in pools.stdout  # pinned revision shown
    specs = run_cli("ls", "specs")
    assert "chasing-random-v1@v1" in specs.stdout and "tiny@v1" in specs.stdout
    typo = run_cli("ls", "selector")  # click's own usage error: boxed, names the choices
    assert typo.returncode == 2 and "is not one of 'selectors'" in typo.stderr and "Traceback" not in typo.stderr


def test_validate_selector_passes_a_good_plugin_and_flags_bad_ones() -> None:
    good = run_cli("validate-selector", f"{PLUGINS / 'good.py'}:ShortestFirst")
    assert good.returncode == 0, good.stderr
    assert "deterministic for a seed" in good.stdout and "FAIL" not in good.stdout
    seeded = run_cli("validate-selector", f"{PLUGINS / 'good.py'}:SeededSample")
    assert seeded.returncode == 0 and "seed changes the selection" in seeded.stdout
    flaky = run_cli("validate-selector", f"{PLUGINS / 'bad.py'}:NondeterministicUnseeded")
    assert_user_error(flaky, "deterministic for a seed: seed 0 gave different ids on a rerun")
    broken = run_cli("validate-selector", f"{PLUGINS / 'bad.py'}:TooFew")
    assert_user_error(broken, "returned too few ids")


def test_run_selects_every_cell_then_reuses_them(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    args = ("run", "--spec", "tiny", "--budgets", BUDGET, "--stages", "select", "--out", str(out))
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    rows = [json.loads(line) for line in (out / "tiny" / "cells.jsonl").read_text().splitlines()]
    # random x 5 seeds + longest + full (once per pool) + the zero-shot reference row
    assert sorted((r["selector"], r["seed"]) for r in rows) == sorted(
        [("random", s) for s in range(5)] + [("longest", 0), ("full", 0), ("zero-shot", 0)])
    selected = [r for r in rows if r["selector"] != "zero-shot"]
    assert all(r["status"] == "done" and r["stage"] == "select" for r in selected)
    shas = {r["selection"]: json.loads(Path(r["selection"]).read_text())["ids_sha256"] for r in selected}
    assert len({shas[r["selection"]] for r in selected if r["selector"] == "random"}) == 5
    mtimes = {p: Path(p).stat().st_mtime_ns for p in shas}
    second = run_cli(*args)
    rows2 = [json.loads(line) for line in (out / "tiny" / "cells.jsonl").read_text().splitlines()]
    assert second.returncode == 0
    assert [r["selection"] for r in rows2] == [r["selection"] for r in rows]
    assert all(Path(p).stat().st_mtime_ns == t for p, t in mtimes.items())  # reused, not rewritten


def test_run_records_a_failing_cell_and_goes_on(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    shutil.copy(PLUGINS / "bad.py", tmp_path / "sub" / "bad.py")  # typed relative, from a folder that is not the repo
    proc = run_cli("run", "--spec", "tiny", "--budgets", BUDGET, "--selector", "sub/bad.py:Raises",
                   "--selector", "longest", "--stages", "select", "--out", "runs", cwd=tmp_path)
    out = tmp_path / "runs"
    assert proc.returncode == 1
    rows = {str(r["selector"]).rsplit(":", 1)[-1]: r for r in map(json.loads, (out / "tiny" / "cells.jsonl").read_text().splitlines())}
    assert rows["Raises"]["status"] == "failed" and "scoring model exploded" in rows["Raises"]["reason"]
    assert rows["Raises"]["stage"] == "select"
    kept = re.search(r"details: (\S+\.log)\)", rows["Raises"]["reason"])
    assert kept and Path(kept.group(1)).is_file(), rows["Raises"]["reason"]  # the log outlives the failed scratch
    assert "scoring model exploded" in Path(kept.group(1)).read_text()
    assert rows["longest"]["status"] == "done" and rows["random"]["status"] == "done"
    status = run_cli("status", str(out))
    assert status.returncode == 0 and "scoring model exploded" in status.stdout
    assert "Traceback" not in proc.stderr
