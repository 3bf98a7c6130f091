"""`method: full`: every weight trains, and the saved folder is a complete model the suite can load."""

from __future__ import annotations

from pathlib import Path

import pytest

from selbench.training.stage import run_training


@pytest.fixture(scope="module")
def full_run(tiny_spec, tiny_pool, make_selection, short_recipe, train_cache, tmp_path_factory):
    recipe = short_recipe.model_copy(update={"method": "full", "learning_rate": 1e-3, "gradient_checkpointing": True,
                                             "packing": "constant_length", "max_length": 64, "max_steps": 6})
    return run_training(make_selection(32), tiny_spec, tmp_path_factory.mktemp("full"), pool=tiny_pool, recipe=recipe,
                        progress=False, cache=train_cache)


def test_full_fine_tuning_trains_every_weight(full_run, tiny_model_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    rec = full_run.record
    assert rec["parameters"]["trainable"] == rec["parameters"]["total"]
    assert full_run.adapter_dir.name == "model" and not (full_run.path / "adapter").exists()
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    tuned = AutoModelForCausalLM.from_pretrained(full_run.adapter_dir).state_dict()
    assert tuned.keys() == base.keys()
    changed = [k for k in base if not torch.equal(base[k], tuned[k])]
    assert len(changed) > len(base) // 2  # not an adapter: the base weights themselves moved
    assert all(tuned[k].dtype == base[k].dtype for k in base)  # saved in the base model's dtype
    losses = [p["loss"] for p in rec["loss_curve"]]
    assert losses[-1] < losses[0]


def test_full_model_folder_serves_as_a_base_model(full_run) -> None:
    """The folder resolves and loads as a spec's `base_model.path` (how it is evaluated today)."""
    import torch

    from selbench.models.loader import load_base_model, load_tokenizer, resolve_base_model
    from selbench.specs.models import ModelSpec

    resolved = resolve_base_model(ModelSpec(name="full-ft", path=str(full_run.adapter_dir)))
    tokenizer = load_tokenizer(resolved)
    assert "<|assistant|>" in tokenizer.chat_template  # the training template travels with the model
    model = load_base_model(resolved).eval()
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "hello"}], add_generation_prompt=True,
                                           tokenize=True, return_dict=True)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([prompt])).logits
    assert torch.isfinite(logits).all()
