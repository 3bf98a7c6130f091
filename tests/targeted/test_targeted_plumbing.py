"""The targeted track's plumbing: cells per target, query sets handed to the selector (loaded in
the parent), selection keys per target, per-target benchmarks, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from sb_testing import assert_user_error, run_cli
from selbench.errors import SelbenchError
from selbench.grid import expand
from selbench.pipeline.run import cell_benchmarks, plan
from selbench.pools.loader import load_pool
from selbench.selection.stage import TargetError, run_selection
from selbench.specs.loader import load_spec
from selbench.targeted.generators import QUERY_QUESTIONS, tiny_world_queries
from selbench.targeted.query_set import QuerySet, QuerySetError, load_query_set
from selbench.tinyworld.evalsets import known_answer_items
from selbench.tinyworld.pool import labelled_rows

ECHO = f"{Path(__file__).with_name('query_echo_plugin.py')}:QueryEcho"


@pytest.fixture(scope="module")
def spec():
    return load_spec("tiny-targeted")


@pytest.fixture(scope="module")
def pool(spec):
    return load_pool(spec.pools[0])


def test_targeted_selectors_get_a_cell_per_target_and_references_none(spec) -> None:
    states = plan(spec, ["less-rr", "rds-rr"], None, None)
    labels = [s.cell.label for s in states]
    assert "tiny-world/48/less-rr@pet/seed0" in labels and "tiny-world/48/less-rr@city/seed0" in labels
    assert "tiny-world/48/rds-rr@city/seed0" in labels
    refs = [s for s in states if s.kind in ("random", "full", "zero-shot")]
    assert {s.kind for s in refs} == {"random", "full", "zero-shot"}
    assert all(s.cell.target is None for s in refs)
    assert len([s for s in refs if s.kind == "random"]) == len(spec.random_seeds)
    only_pet = plan(spec, ["less-rr"], None, None, ["pet"])
    assert [s.cell.target for s in only_pet if s.kind == "selector"] == ["pet"]


def test_each_cell_is_evaluated_on_its_targets_benchmarks(spec) -> None:
    states = {s.cell.label: s.cell for s in plan(spec, ["less-rr"], None, None)}
    assert cell_benchmarks(spec, states["tiny-world/48/less-rr@pet/seed0"]) == ["pet-known-answer", "pet-query-loss"]
    assert cell_benchmarks(spec, states["tiny-world/48/less-rr@city/seed0"]) == ["city-known-answer", "city-query-loss"]
    assert set(cell_benchmarks(spec, states["tiny-world/48/random/seed0"])) == {b.name for b in spec.benchmarks}


def test_a_targeted_selector_on_a_general_spec_is_refused() -> None:
    with pytest.raises(SelbenchError, match="targeted-track selector"):
        expand(load_spec("tiny"), ["less-rr"])
    with pytest.raises(SelbenchError, match=r"targets \['nope'\] not in the spec"):
        plan(load_spec("tiny-targeted"), ["random"], None, None, ["nope"])


def test_query_items_are_never_pool_or_test_items(spec) -> None:
    pool_prompts = {r["instruction"] for r in labelled_rows(24, 0)}
    test_prompts = {i["messages"][0]["content"] for i in known_answer_items(24, 0)}
    for target in spec.targeted.targets:
        qs = load_query_set(spec, target.name)
        assert len(qs) == 24
        prompts = {i.prompt for i in qs.items}
        assert not prompts & pool_prompts and not prompts & test_prompts
        # every query is about the target's attribute: its label is that fact's answer sentence
        assert all(item.id.endswith(f"-{target.name}-q0") for item in qs.items)
    assert len(tiny_world_queries("pet", per_entity=2)) == 48
    with pytest.raises(QuerySetError, match="no attribute"):
        tiny_world_queries("weather")
    assert set(QUERY_QUESTIONS) == {"city", "color", "pet", "food"}


def test_query_set_round_trips_and_fingerprints(spec) -> None:
    qs = load_query_set(spec, "pet")
    again = QuerySet.from_json(qs.to_json())
    assert again == qs and again.fingerprint == qs.fingerprint
    assert load_query_set(spec, "city").fingerprint != qs.fingerprint
    with pytest.raises(QuerySetError, match="no target 'nope'"):
        load_query_set(spec, "nope")


def test_the_selector_receives_the_targets_query_set_and_keys_differ(spec, pool, tmp_path: Path) -> None:
    pet = run_selection(pool, ECHO, 24, 0, tmp_path, spec=spec, target="pet")
    city = run_selection(pool, ECHO, 24, 0, tmp_path, spec=spec, target="city")
    assert pet.data["info"]["query_name"] == "pet" and pet.data["info"]["query_items"] == 24
    assert pet.data["target"]["name"] == "pet"
    assert pet.data["target"]["query_set_fingerprint"] == load_query_set(spec, "pet").fingerprint
    assert pet.data["key"] != city.data["key"] and pet.path != city.path
    assert "rds" not in str(pet.path) and "-for-pet" in str(pet.path)
    assert pet.data["info"]["first_prompt"] == load_query_set(spec, "pet").items[0].prompt
    assert run_selection(pool, ECHO, 24, 0, tmp_path, spec=spec, target="pet").reused


def test_a_targeted_selection_without_a_target_fails_clearly(spec, pool, tmp_path: Path) -> None:
    with pytest.raises(SelbenchError, match="no query set"):
        run_selection(pool, ECHO, 8, 0, tmp_path, spec=spec)
    with pytest.raises(SelbenchError, match="needs a query set"):
        run_selection(pool, "less-rr", 8, 0, tmp_path, spec=spec)
    with pytest.raises(TargetError, match="no target"):
        run_selection(pool, ECHO, 8, 0, tmp_path, spec=spec, target="weather")
    with pytest.raises(TargetError, match="needs the targeted spec"):
        run_selection(pool, ECHO, 8, 0, tmp_path, target="pet")


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    proc = run_cli("select", "--spec", "tiny-targeted", "--pool", "tiny-world", "--budget", "8",
                   "--selector", "less-rr", "--target", "weather", "--out", str(tmp_path))
    assert_user_error(proc, "no target 'weather'")
    proc = run_cli("run", "--spec", "tiny", "--selector", "less-rr", "--out", str(tmp_path))
    assert_user_error(proc, "targeted-track selector")
