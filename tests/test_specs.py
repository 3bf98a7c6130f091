"""Specs: the built-ins validate, and every error names its field path."""

from __future__ import annotations

from pathlib import Path

import pytest

from sb_testing import assert_user_error, run_cli
from selbench.errors import SpecError
from selbench.specs import builtin_spec_names, load_spec

MINIMAL = """
name: mine
version: 1
pools:
  - name: p
    path: pool.jsonl
budgets: [10]
random_seeds: [0, 1, 2]
base_model: {name: m, path: /models/m}
recipe: {name: r}
"""


def test_builtin_specs_load_and_pin_their_sources() -> None:
    assert {"tiny", "chasing-random-v1", "targeted-v1"} <= set(builtin_spec_names())
    cr = load_spec("chasing-random-v1")
    assert [p.name for p in cr.pools] == ["alpaca", "dolly", "evol-instruct", "flan"]
    assert cr.budgets == (1000, 5000, 10000) and len(cr.random_seeds) >= 3
    for pool in cr.pools:
        assert pool.path or (pool.hub_id and pool.revision and len(pool.revision) == 40)
    assert cr.base_model.hub_id == "huggyllama/llama-7b" and cr.base_model.revision
    tiny = load_spec("tiny")
    assert tiny.pools[0].generator and len(tiny.random_seeds) == 5


def test_relative_pool_path_is_resolved_against_the_spec_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    spec_file = tmp_path / "sub" / "mine.yaml"
    spec_file.write_text(MINIMAL)
    spec = load_spec(spec_file)
    assert spec.pools[0].path == str(tmp_path / "sub" / "pool.jsonl")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("budgets: [10]", "budgets: [10, -5]"), "budgets: budgets must be positive integers"),
        (("random_seeds: [0, 1, 2]", "random_seeds: [0]"), "random_seeds: List should have at least 3 items"),
        (("    path: pool.jsonl", "    path: p.jsonl\n    generator: g"), "pools[0](p): give exactly one of hub_id, path, generator"),
        (("recipe: {name: r}", "recipe: {name: r, lr: 3}"), "recipe.lr: Extra inputs are not permitted"),
        (("version: 1", "version: one"), "version: Input should be a valid integer"),
    ],
)
def test_spec_errors_name_the_field(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    spec_file = tmp_path / "bad.yaml"
    spec_file.write_text(MINIMAL.replace(*edit))
    with pytest.raises(SpecError) as info:
        load_spec(spec_file)
    assert expected in str(info.value)
    assert "1 error(s)" in str(info.value)


def test_hub_pool_without_revision_is_reported_with_its_name(tmp_path: Path) -> None:
    spec_file = tmp_path / "bad.yaml"
    spec_file.write_text(MINIMAL.replace("    path: pool.jsonl", "    hub_id: org/data"))
    with pytest.raises(SpecError, match=r"pools\[0\]\(p\): a hub pool needs a pinned `revision`"):
        load_spec(spec_file)


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    spec_file = tmp_path / "bad.yaml"
    spec_file.write_text(MINIMAL.replace("budgets: [10]", "budgets: []").replace("recipe: {name: r}", "recipe: {name: r, epochs: -1}"))
    with pytest.raises(SpecError) as info:
        load_spec(spec_file)
    text = str(info.value)
    assert "2 error(s)" in text and "budgets:" in text and "recipe.epochs:" in text


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    spec_file = tmp_path / "bad.yaml"
    spec_file.write_text("name: x\npools: [\n  - oops: : :\n")
    with pytest.raises(SpecError, match="not valid YAML at line"):
        load_spec(spec_file)


def test_unknown_spec_suggests_the_closest_name() -> None:
    with pytest.raises(SpecError, match="did you mean 'tiny'"):
        load_spec("tinny")


def test_cli_spec_validate_reports_each_file(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(MINIMAL)
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.replace("budgets: [10]", "budgets: [0]"))
    ok = run_cli("spec", "validate", str(good), "tiny")
    assert ok.returncode == 0, ok.stderr
    assert "mine@v1" in ok.stdout and "tiny@v1" in ok.stdout
    proc = run_cli("spec", "validate", str(good), str(bad))
    assert_user_error(proc, "bad.yaml: 1 error(s)", "budgets: budgets must be positive integers")
