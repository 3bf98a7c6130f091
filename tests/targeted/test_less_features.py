"""LESS end to end on the tiny spec: warm-up checkpoints per epoch, features, the cache.

A 40-row slice of the tiny-world pool, a warm-up on 25% of it (10 rows, 2 epochs of 3 steps),
a 256-dimensional sketch. The first call trains and computes everything (amortised); a second
call with a fresh meter must reuse both the warm-up and the pool gradients, train nothing, and
still charge the stored usage as amortised.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from selbench.pools.loader import load_pool
    from selbench.specs.loader import load_spec
    from selbench.specs.models import LessSpec
    from selbench.targeted.query_set import QueryItem, QuerySet

    spec = load_spec("tiny")
    pool = load_pool(spec.pools[0].model_copy(update={"max_rows": 40}))
    recipe = spec.recipe.model_copy(update={"name": "less-warmup", "epochs": 2, "effective_batch_size": 4,
                                            "per_device_batch_size": 4, "lr_scheduler": "linear", "warmup_ratio": 0.0})
    less = LessSpec(warmup_fraction=0.25, warmup_seed=0, warmup_recipe=recipe, projection_dim=256, max_length=128,
                    batch_size=8)
    rows = pool.data.select(range(3))
    queries = QuerySet("tiny-q", tuple(QueryItem(f"q{i}", r["instruction"], r["output"]) for i, r in enumerate(rows)))
    return {"spec": spec, "pool": pool, "less": less, "queries": queries, "cache": tmp_path_factory.mktemp("less-cache")}


def _ctx(setup: dict[str, Any]) -> Any:
    from selbench.cost.meter import CostMeter
    from selbench.selection.context import SelectionContext
    from selbench.services import Services

    meter = CostMeter().start()
    services = Services(meter, spec=setup["spec"], cache_dir=setup["cache"], device="cpu")
    return SelectionContext(seed=0, scratch_dir=setup["cache"], meter=meter, services=services, spec=setup["spec"])


@pytest.fixture(scope="module")
def first(setup: dict[str, Any]) -> tuple[Any, Any]:
    from selbench.representations.less import less_features

    ctx = _ctx(setup)
    features = less_features(setup["pool"], setup["queries"], ctx, setup["less"])
    return features, ctx.meter.stop()


def test_warmup_keeps_one_checkpoint_per_epoch(setup: dict[str, Any], first: tuple[Any, Any]) -> None:
    from selbench.representations.less.warmup import ensure_warmup, warmup_ids

    features, _ = first
    warm = ensure_warmup(setup["pool"], _ctx(setup), setup["less"])
    assert warm.cached
    assert [c.epoch for c in warm.checkpoints] == [1, 2]
    assert [c.steps for c in warm.checkpoints] == [3, 3]  # 10 examples / batch 4 -> 3 steps per epoch
    assert [c.global_step for c in warm.checkpoints] == [3, 6]
    assert sum(c.weight for c in warm.checkpoints) == pytest.approx(1.0)
    # linear decay from 3e-3 without warm-up: epoch 1 has the larger mean learning rate
    lrs = [c["lrs"] for c in warm.meta["checkpoints"]]
    assert lrs[0][0] == pytest.approx(3e-3) and lrs[0] == sorted(lrs[0], reverse=True)
    assert warm.checkpoints[0].lr_mean == pytest.approx(np.mean(lrs[0]))
    assert warm.checkpoints[0].weight > warm.checkpoints[1].weight
    assert [b.weight for b in features.blocks] == [c.weight for c in warm.checkpoints]
    assert warm.meta["examples"] == 10 and len(set(warmup_ids(setup["pool"], 0.25, 0))) == 10
    assert warmup_ids(setup["pool"], 0.25, 0) != warmup_ids(setup["pool"], 0.25, 1)
    # each checkpoint holds weights and both Adam moments of every LoRA weight; training moved them
    w1, adam1 = warm.checkpoints[0].load()
    w2, adam2 = warm.checkpoints[1].load()
    assert set(w1) == set(adam1) == set(w2) and len(w1) == 2 * 7 * 2
    name = next(n for n in w1 if "lora_B" in n)
    assert w1[name].abs().max() > 0 and not np.allclose(w1[name].numpy(), w2[name].numpy())
    assert all(float(v.min()) >= 0 for _, v in adam2.values())
    assert not np.allclose(adam1[name][0].numpy(), adam2[name][0].numpy())


def test_less_features_end_to_end(setup: dict[str, Any], first: tuple[Any, Any]) -> None:
    features, record = first
    n_pool, n_query = len(setup["pool"]), len(setup["queries"])
    assert features.n_pool == n_pool and features.n_query == n_query and len(features.blocks) == 2
    for block in features.blocks:
        assert block.pool.shape == (n_pool, 256) and block.query.shape == (n_query, 256)
        np.testing.assert_allclose(np.linalg.norm(block.pool, axis=1), 1.0, atol=1e-3)
        np.testing.assert_allclose(np.linalg.norm(block.query, axis=1), 1.0, atol=1e-5)
    sim = features.similarity()
    assert sim.shape == (n_query, n_pool) and np.isfinite(sim).all() and np.abs(sim).max() <= 1.0 + 1e-3
    # each query is pool row i itself: its own (preconditioned) gradient is its nearest pool example
    assert (sim.argmax(1) == np.arange(n_query)).all(), sim[:, :6]
    info = features.info
    assert info["representation"] == "less" and info["warmup"]["cached"] is False
    assert all(c["pool_cache"]["cached"] is False for c in info["checkpoints"])
    assert info["lora_parameters"] == 2 * (4 * 16 * (64 + 64) + 3 * 16 * (64 + 128))
    # warm-up training and pool gradients are amortised; the queries' gradients are not
    assert record.amortised.tokens > 0 and record.amortised.flops > 0 and record.amortised.wall_s > 0
    assert 0 < record.per_budget.tokens < record.amortised.tokens


def test_second_call_hits_the_caches_and_charges_amortised(setup: dict[str, Any], first: tuple[Any, Any],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from selbench.representations.less import less_features
    from selbench.representations.less import warmup as warmup_mod

    def no_training(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the warm-up was trained again")

    monkeypatch.setattr(warmup_mod, "run_training", no_training)
    features0, record0 = first
    ctx = _ctx(setup)
    features = less_features(setup["pool"], setup["queries"], ctx, setup["less"])
    record = ctx.meter.stop()
    assert features.info["warmup"]["cached"] is True
    assert all(c["pool_cache"]["cached"] is True for c in features.info["checkpoints"])
    for a, b in zip(features0.blocks, features.blocks):
        np.testing.assert_array_equal(a.pool, b.pool)
        np.testing.assert_allclose(a.query, b.query, rtol=1e-5, atol=1e-6)
    # the stored usage (warm-up + pool gradients) is charged again as amortised, nothing new is run
    assert record.amortised.tokens == record0.amortised.tokens
    assert record.amortised.flops == pytest.approx(record0.amortised.flops)
    assert record.amortised.wall_s == pytest.approx(record0.amortised.wall_s, rel=0.05)
    assert record.per_budget.tokens == record0.per_budget.tokens  # the queries are recomputed
    folders = list(Path(setup["cache"]).glob("less-warmup/*/*/meta.json"))
    assert len(folders) == 1 and json.loads(folders[0].read_text())["schema"] == "selbench.less-warmup/v1"


def test_warmup_recipe_must_be_lora_with_adam() -> None:
    from selbench.representations.less.warmup import LessError, check_recipe
    from selbench.specs.loader import load_spec

    recipe = load_spec("tiny").recipe
    check_recipe(recipe)
    with pytest.raises(LessError, match="method: lora"):
        check_recipe(recipe.model_copy(update={"method": "full"}))
    with pytest.raises(LessError, match="AdamW"):
        check_recipe(recipe.model_copy(update={"optimizer": "sgd"}))
