"""Token-budget micro-batches and per-layer torch.compile are speed knobs only: a step holds the
same examples and has the same loss and gradient norm as the fixed-size path."""

from __future__ import annotations

import pytest

from selbench.training.microbatch import TokenBudgetCollator, plan_micro_batches


def test_plan_fills_the_budget_longest_first() -> None:
    lengths = [5, 120, 30, 64, 7, 128, 90, 12]
    plan = plan_micro_batches(lengths, 256, padded=True)
    assert sorted(i for mb in plan for i in mb) == list(range(len(lengths)))  # every example once
    for mb in plan:
        assert len(mb) * max(lengths[i] for i in mb) <= 256 or len(mb) == 1
    assert [len(mb) for mb in plan] != [1] * len(plan) and len(plan) < len(lengths)
    flat = plan_micro_batches(lengths, 200, padded=False)
    assert all(sum(lengths[i] for i in mb) <= 200 or len(mb) == 1 for mb in flat)
    assert plan_micro_batches([300, 10], 100, padded=False) == [[0], [1]]  # too long: alone, never dropped
    assert plan_micro_batches([9], 64, padded=True, multiple=8) == [[0]]


def test_collator_keeps_the_whole_step_for_counting() -> None:
    torch = pytest.importorskip("torch")
    from transformers import DataCollatorWithFlattening

    features = [{"input_ids": list(range(1, n + 1)), "labels": [-100] * 2 + list(range(3, n + 1))} for n in (4, 9, 6, 3)]
    inner = DataCollatorWithFlattening(return_position_ids=True, separator_id=-100)
    out = TokenBudgetCollator(inner, 10, padded=False)(features)
    parts = out["micro_batches"]
    assert len(parts) > 1 and all(p["input_ids"].shape[1] <= 10 for p in parts)
    labelled = int((out["labels"][..., 1:] != -100).sum())  # what the Trainer counts for the step
    assert labelled == sum(int((p["labels"][..., 1:] != -100).sum()) for p in parts)
    assert sum(p["input_ids"].numel() for p in parts) == out["input_ids"].numel() == sum(len(f["input_ids"]) for f in features)
    assert torch.equal(torch.sort(torch.cat([p["input_ids"][0] for p in parts])).values,
                       torch.sort(out["input_ids"][0]).values)


def _curve(run_training, recipe, tiny_spec, tiny_pool, selection, out, cache):
    rec = run_training(selection, tiny_spec, out, pool=tiny_pool, recipe=recipe, progress=False, cache=cache).record
    return rec, [(p["loss"], p["grad_norm"]) for p in rec["loss_curve"]]


def _close(a, b) -> None:
    assert len(a) == len(b) and a
    for (loss_a, norm_a), (loss_b, norm_b) in zip(a, b):
        assert abs(loss_a - loss_b) < 1e-4 * max(1.0, abs(loss_a))
        assert abs(norm_a - norm_b) < 1e-3 * max(1.0, abs(norm_a))


@pytest.mark.parametrize("packing", ["none", "padding_free"])
def test_token_budget_steps_equal_fixed_micro_batches(packing, tiny_spec, tiny_pool, make_selection, short_recipe,
                                                      train_cache, tmp_path) -> None:
    from selbench.training.stage import run_training

    fixed = short_recipe.model_copy(update={"packing": packing, "max_steps": 3, "effective_batch_size": 16,
                                            "per_device_batch_size": 8})
    budget = fixed.model_copy(update={"micro_batch_tokens": 160})
    selection = make_selection(48, seed=7)
    rec_a, curve_a = _curve(run_training, fixed, tiny_spec, tiny_pool, selection, tmp_path / "fixed", train_cache)
    rec_b, curve_b = _curve(run_training, budget, tiny_spec, tiny_pool, selection, tmp_path / "budget", train_cache)
    assert rec_b["trainer"]["micro_batches"] == "token budget 160"
    assert rec_b["trainer"]["per_device_batch_size"] == 16 and rec_b["trainer"]["gradient_accumulation_steps"] == 1
    assert rec_a["tokens_seen"] == rec_b["tokens_seen"] and rec_a["steps"] == rec_b["steps"] == 3
    _close(curve_a, curve_b)
    assert "micro_batch_tokens" not in fixed.model_dump(mode="json")  # at its default: no key changed


def test_compiled_decoder_layers_change_no_loss(tiny_spec, tiny_pool, make_selection, short_recipe, train_cache,
                                                tmp_path) -> None:
    """``compile: true`` (inductor on CPU needs a C++ compiler) trains the same steps."""
    import shutil

    if shutil.which("g++") is None and shutil.which("c++") is None:
        pytest.skip("torch.compile's CPU backend needs a C++ compiler (g++), not found")
    from selbench.training.stage import run_training

    plain = short_recipe.model_copy(update={"packing": "constant_length", "max_length": 64, "max_steps": 2,
                                            "effective_batch_size": 8, "per_device_batch_size": 8})
    compiled = plain.model_copy(update={"compile": True})
    selection = make_selection(24, seed=3)
    _, curve_a = _curve(run_training, plain, tiny_spec, tiny_pool, selection, tmp_path / "eager", train_cache)
    rec, curve_b = _curve(run_training, compiled, tiny_spec, tiny_pool, selection, tmp_path / "compiled", train_cache)
    assert rec["trainer"]["compile"] is True and rec["trainer"]["compiled_layers"] == tiny_spec.base_model.builder_args[
        "num_layers"]
    _close(curve_a, curve_b)


def test_liger_on_cpu_is_one_clear_recipe_error(short_recipe) -> None:
    from selbench.training.errors import RecipeError
    from selbench.training.speed import check_speed_options

    with pytest.raises(RecipeError, match="kernels: liger needs a CUDA GPU"):
        check_speed_options(short_recipe.model_copy(update={"kernels": "liger"}), "cpu")


def test_batch_plan_with_a_token_budget(short_recipe) -> None:
    from selbench.training.stage import batch_plan

    padded = short_recipe.model_copy(update={"packing": "none", "effective_batch_size": 128,
                                             "micro_batch_tokens": 16384})
    assert batch_plan(padded, 1) == (128, 1) and batch_plan(padded, 4) == (32, 1)  # a device's whole share
    blocks = padded.model_copy(update={"packing": "constant_length", "max_length": 512})
    assert batch_plan(blocks, 1) == (32, 4)  # 16384 // 512 blocks a micro-batch


def test_speed_knobs_at_their_defaults_leave_every_builtin_recipe_dump_as_it_was() -> None:
    from selbench.specs.loader import builtin_spec_names, load_spec

    for name in builtin_spec_names():
        dump = load_spec(name).recipe.model_dump(mode="json")
        assert not {"micro_batch_tokens", "kernels", "compile"} & set(dump), name
