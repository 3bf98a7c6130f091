"""The CLI as a user meets it: help, listings, validate-selector, run."""

from __future__ import annotations

import json
from pathlib import Path

from sb_testing import PLUGINS, assert_user_error, run_cli


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
    assert all(n in pools.stdout for n in ("alpaca", "dolly", "evol-instruct", "flan", "synthetic"))
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
    args = ("run", "--spec", "tiny", "--budgets", "100", "--out", str(out))
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    rows = [json.loads(line) for line in (out / "tiny" / "cells.jsonl").read_text().splitlines()]
    # random x 5 seeds + longest + full (once per pool)
    assert sorted((r["selector"], r["seed"]) for r in rows) == sorted([("random", s) for s in range(5)] + [("longest", 0), ("full", 0)])
    assert all(r["status"] == "done" for r in rows)
    assert len({r["ids_sha256"] for r in rows if r["selector"] == "random"}) == 5
    second = run_cli(*args)
    rows2 = [json.loads(line) for line in (out / "tiny" / "cells.jsonl").read_text().splitlines()]
    assert second.returncode == 0 and all(r["status"] == "reused" for r in rows2)
    assert [r["ids_sha256"] for r in rows2] == [r["ids_sha256"] for r in rows]


def test_run_records_a_failing_cell_and_goes_on(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    proc = run_cli("run", "--spec", "tiny", "--budgets", "100", "--selector", f"{PLUGINS / 'bad.py'}:Raises",
                   "--selector", "longest", "--out", str(out))
    assert proc.returncode == 1
    rows = {r["selector"].rsplit(":", 1)[-1]: r for r in map(json.loads, (out / "tiny" / "cells.jsonl").read_text().splitlines())}
    assert rows["Raises"]["status"] == "failed" and "scoring model exploded" in rows["Raises"]["reason"]
    assert rows["longest"]["status"] == "done"
    assert "Traceback" not in proc.stderr
