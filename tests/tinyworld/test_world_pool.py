"""The tiny world and its pool: deterministic, the answer key hidden, corruption shares as configured."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from selbench.specs.loader import load_spec
from selbench.tinyworld.pool import CORRUPTIONS, generate_tiny_world_pool, labelled_rows
from selbench.tinyworld.pretrain_corpus import (
    RESERVED_ENTITIES, RESERVED_SEEDS, pool_world_is_disjoint, pretrain_conversations, pretrain_world, reserved_names,
)
from selbench.tinyworld.key import ENV_KEY, key_fingerprint, world_key
from selbench.tinyworld.world import ATTRIBUTES, make_world


def _tiny_args() -> tuple[dict, dict]:
    spec = load_spec("tiny")
    pool = spec.pools[0]
    assert pool.generator == "tiny-world"
    return dict(pool.generator_args), dict(spec.base_model.builder_args)


def test_world_and_pool_are_deterministic() -> None:
    assert make_world(24, 0) == make_world(24, 0)
    assert make_world(24, 0) != make_world(24, 1)
    assert labelled_rows(24, 0) == labelled_rows(24, 0)
    assert generate_tiny_world_pool(24, 0) == generate_tiny_world_pool(24, 0)
    assert generate_tiny_world_pool(24, 0) != generate_tiny_world_pool(24, 1)
    # a smaller world's names are a prefix of a larger one's (the reserved-name scheme relies on it)
    assert make_world(512, 3).entities[:24] == make_world(24, 3).entities
    world = make_world(24, 0)
    assert all(f.value != f.wrong for f in world.facts)
    assert len(world.facts) == 24 * len(ATTRIBUTES)


def test_pretraining_world_shares_no_name_with_the_pool_world() -> None:
    pool_args, model_args = _tiny_args()
    pretrain = pretrain_world(model_args["pretrain_entities"], model_args["pretrain_world_seed"])
    assert pool_world_is_disjoint(pretrain, pool_args["entities"], pool_args["seed"])
    pool_world = make_world(pool_args["entities"], pool_args["seed"])
    assert not set(pretrain.entities) & set(pool_world.entities)
    # and with every pool world in the reserved range
    assert pool_args["seed"] < RESERVED_SEEDS and pool_args["entities"] <= RESERVED_ENTITIES
    assert not set(pretrain.entities) & reserved_names()
    text = " ".join(q + " " + a for q, a in pretrain_conversations(2000, model_args["pretrain_entities"], model_args["pretrain_world_seed"]))
    assert not [name for name in pool_world.entities if name in text]
    # every question template, held-out ones included, is used in pretraining
    for pool_questions, held_out, _ in ATTRIBUTES.values():
        for template in pool_questions + held_out:
            head = template.split("{e}")[0] or template.split("{e}")[1]
            assert head in text, template


def test_the_hidden_key_is_not_in_the_pool_selectors_see(world_cache: Path) -> None:
    from selbench.pools.loader import load_pool

    spec = load_spec("tiny")
    rows = generate_tiny_world_pool(**spec.pools[0].generator_args)
    assert {tuple(sorted(r)) for r in rows} == {("category", "input", "instruction", "output")}
    pool = load_pool(spec.pools[0], cache=world_cache)
    columns = set(pool.data.column_names)
    assert not columns & {"kind", "entity", "attribute", "clean", "corrupted"}, columns
    labelled = labelled_rows(**spec.pools[0].generator_args)
    assert len(pool) == len(labelled)
    kinds = {r["kind"] for r in labelled}
    assert not {str(v) for v in pool.data["source"]} & kinds  # the category is the attribute, never the kind


@pytest.mark.parametrize("fraction", [0.0, 0.2, 0.35, 0.6, 1.0])
def test_corruption_shares_are_as_configured(fraction: float) -> None:
    rows = labelled_rows(48, 0, corrupted_fraction=fraction)
    kinds = Counter(r["kind"] for r in rows)
    share = 1 - kinds["clean"] / len(rows)
    assert abs(share - fraction) < 0.04, (share, fraction)  # 1536 rows: binomial sd < 0.013
    if 0 < fraction:
        corrupted = [r for r in rows if r["kind"] != "clean"]
        assert set(kinds) - {"clean"} <= set(CORRUPTIONS) | {"ignores_format"}
        wrong = kinds["wrong"] / len(corrupted)
        assert 0.3 < wrong < 0.6  # "wrong" is 55% of the non-format corruptions
    world = make_world(48, 0, key=world_key())
    facts = {(f.entity, f.attribute): f for f in world.facts}
    for r in rows:
        fact = facts[(r["entity"], r["attribute"])]
        if r["kind"] == "wrong":
            assert r["output"] == fact.answer(fact.wrong)
        elif r["kind"] == "clean" and r["category"] == r["attribute"]:
            assert r["output"] == fact.answer()


def test_a_keyed_world_keeps_the_public_names_and_redraws_the_facts() -> None:
    public, mine, theirs = make_world(24, 0), make_world(24, 0, key="mine"), make_world(24, 0, key="theirs")
    assert public.entities == mine.entities == theirs.entities  # names: the seed (pretraining disjointness)
    assert make_world(24, 0, key="mine") == mine
    same = sum(a.value == b.value for a, b in zip(mine.facts, theirs.facts))
    assert same < len(mine.facts) / 3  # 1 in 4-8 by chance, not the same facts
    assert sum(a.value == b.value for a, b in zip(public.facts, mine.facts)) < len(mine.facts) / 3
    assert labelled_rows(24, 0, key="mine") != labelled_rows(24, 0, key="theirs")


def test_the_install_key_is_made_once_kept_private_and_overridable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_KEY, raising=False)
    first = world_key(tmp_path)
    assert world_key(tmp_path) == first and len(first) == 64
    path = tmp_path / "tinyworld" / "key"
    assert path.stat().st_mode & 0o077 == 0  # readable by its owner only
    assert world_key(tmp_path / "elsewhere") != first  # another install, another world
    monkeypatch.setenv(ENV_KEY, "shared-by-a-maintainer")
    assert world_key(tmp_path) == "shared-by-a-maintainer"
    assert key_fingerprint(first) != key_fingerprint("shared-by-a-maintainer") and first not in key_fingerprint(first)


def test_a_new_key_is_a_new_pool_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from selbench.pools.loader import load_pool

    spec = load_spec("tiny").pools[0]
    monkeypatch.setenv(ENV_KEY, "world-a")
    a = load_pool(spec, cache=tmp_path)
    monkeypatch.setenv(ENV_KEY, "world-b")
    b = load_pool(spec, cache=tmp_path)
    assert a.fingerprint != b.fingerprint and a.cache_dir != b.cache_dir  # the cache is not reused
    assert a.provenance["world_key"] == key_fingerprint("world-a") != b.provenance["world_key"]
    assert "world-a" not in str(a.provenance)
