"""Selector plugins: discovery by name, file and entry point; the contract; built-ins."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sb_testing import PLUGINS, assert_user_error, run_cli
from selbench.errors import BudgetError, SelectorError
from selbench.pools import load_pool
from selbench.selection.registry import resolve_selector
from selbench.selection.stage import run_selection
from selbench.specs.models import PoolSpec

BAD = f"{PLUGINS / 'bad.py'}"
GOOD = f"{PLUGINS / 'good.py'}"


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory):
    from sb_testing import alpaca_rows, write_jsonl

    path = write_jsonl(tmp_path_factory.mktemp("pool") / "pool.jsonl", alpaca_rows(120))
    return load_pool(PoolSpec(name="p", path=str(path)))


def _select(pool, selector: str, budget: int = 10, seed: int = 0, out: Path | None = None, isolate: bool = False, **params):
    import tempfile

    return run_selection(pool, selector, budget, seed, out or Path(tempfile.mkdtemp()), params=params, isolate=isolate)


def test_builtins_resolve_by_name() -> None:
    for name in ("random", "longest", "full"):
        cls, ref = resolve_selector(name)
        assert cls.name == name and ref.kind == "builtin"


def test_unknown_name_suggests() -> None:
    with pytest.raises(SelectorError, match="did you mean 'random'"):
        resolve_selector("randon")


def test_file_plugin_with_class_and_params(pool) -> None:
    art = _select(pool, f"{GOOD}:EveryKth", budget=5, k=3, offset=1)
    assert art.ids == [pool.ids[i] for i in (1, 4, 7, 10, 13)]
    assert art.data["selector"]["params"] == {"k": 3, "offset": 1}
    assert art.data["selector"]["identity"]["kind"] == "file"


def test_random_is_deterministic_per_seed_and_differs_across_seeds(pool) -> None:
    a, b, c = (_select(pool, "random", 20, seed=s) for s in (0, 0, 1))
    assert a.ids == b.ids and a.ids != c.ids
    assert len(set(a.ids)) == 20


def test_longest_takes_the_longest_responses(pool) -> None:
    art = _select(pool, "longest", 15)
    lengths = {i: len(o) for i, o in zip(pool.ids, pool.data["output"])}
    chosen = sorted(lengths[i] for i in art.ids)
    rest = sorted(v for k, v in lengths.items() if k not in set(art.ids))
    assert chosen[0] >= rest[-1]
    assert art.data["scores"] == sorted(art.data["scores"], reverse=True)


def test_full_ignores_the_budget_and_records_it(pool) -> None:
    art = _select(pool, "full", 7)
    assert art.data["size"] == len(pool) and art.data["budget"] == 7
    assert sorted(art.ids) == sorted(pool.ids)


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        ("Duplicates", "returned 1 duplicate id(s)"),
        ("Foreign", "not in the pool, e.g. 'not-a-pool-id'"),
        ("TooFew", "returned too few ids: 9 instead of 10"),
        ("TooMany", "returned too many ids: 11 instead of 10"),
        ("NonStrings", "non-string id(s), e.g. 0, 1, 2 (int)"),
        ("WrongType", "returned dict, expected a Selection or a list of ids"),
        ("Raises", "raised ValueError: scoring model exploded"),
        ("NotASelector", "is not a Selector subclass"),
        ("BadMetadata", "class attribute `name` must be a lowercase name"),
        ("not_a_class", "is not a Selector subclass"),
        ("Missing", "has no attribute 'Missing'"),
    ],
)
def test_contract_violations_name_the_selector_and_the_problem(pool, cls: str, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        _select(pool, f"{BAD}:{cls}")
    assert f"selector '{BAD}:{cls}'" in str(info.value)
    assert message in str(info.value)


@pytest.mark.parametrize(("file", "message"), [("syntax_error.py", "SyntaxError"), ("import_error.py", "ModuleNotFoundError")])
def test_plugin_file_that_does_not_import(pool, file: str, message: str) -> None:
    with pytest.raises(SelectorError, match=f"cannot import {file}: {message}"):
        _select(pool, f"{PLUGINS / file}:X")


@pytest.mark.parametrize("budget", [0, -3, 121])
def test_bad_budgets(pool, budget: int) -> None:
    with pytest.raises(BudgetError):
        _select(pool, "random", budget)


def test_cli_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    from sb_testing import alpaca_rows, write_jsonl

    pool_file = write_jsonl(tmp_path / "pool.jsonl", alpaca_rows(30))
    cases = [
        (["--selector", "longset"], ["unknown selector", "did you mean 'longest'"]),
        (["--selector", f"{BAD}:Foreign"], ["not in the pool"]),
        (["--selector", f"{BAD}:Raises"], ["raised ValueError: scoring model exploded"]),
        (["--selector", f"{PLUGINS / 'syntax_error.py'}:Broken"], ["cannot import syntax_error.py"]),
        (["--selector", "random", "--budget", "31"], ["budget 31 is larger than pool 'pool' (30 examples)"]),
        (["--selector", "random", "--budget", "0"], ["budget must be a positive integer"]),
    ]
    for extra, fragments in cases:
        args = ["select", "--pool", str(pool_file), "--budget", "5", "--out", str(tmp_path / "runs"), *extra]
        assert_user_error(run_cli(*args), *fragments)


def test_entry_point_plugin_installed_from_a_package(tmp_path: Path) -> None:
    """A third-party package registering `selbench.selectors` works without touching the repo."""
    pkg = tmp_path / "pkg"
    (pkg / "my_sel").mkdir(parents=True)
    (pkg / "my_sel" / "__init__.py").write_text(textwrap.dedent('''
        from selbench.selection import Selector

        class LastFirst(Selector):
            """Pool order reversed."""
            name = "last_first"
            version = "9.9.9"

            def select(self, pool, budget, ctx):
                return list(reversed(pool.data["id"]))[:budget]
    '''))
    (pkg / "pyproject.toml").write_text(textwrap.dedent('''
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "my-sel"
        version = "9.9.9"
        [project.entry-points."selbench.selectors"]
        last_first = "my_sel:LastFirst"
        [tool.setuptools]
        packages = ["my_sel"]
    '''))
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target), str(pkg)],
        check=True, capture_output=True,
    )
    env = {"PYTHONPATH": str(target)}
    listing = run_cli("ls", "selectors", env=env)
    assert listing.returncode == 0 and "last_first" in listing.stdout and "plugin" in listing.stdout
    from sb_testing import alpaca_rows, write_jsonl

    pool_file = write_jsonl(tmp_path / "pool.jsonl", alpaca_rows(12))
    proc = run_cli("select", "--pool", str(pool_file), "--budget", "3", "--selector", "last_first", "--json",
                   "--out", str(tmp_path / "runs"), env=env)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    data = json.loads(Path(summary["path"]).read_text())
    assert data["selector"]["identity"] == {"kind": "entry_point", "target": "my_sel:LastFirst", "distribution": "my-sel", "version": "9.9.9"}
    pool = load_pool(PoolSpec(name="pool", path=str(pool_file)))
    assert data["ids"] == list(reversed(pool.ids))[:3]
