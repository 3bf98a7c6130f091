"""The training stage: determinism, reuse, resume after a kill, and the cost record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selbench.cost.meter import CostRecord, transformer_train_flops
from selbench.cost.pricing import price
from selbench.training.stage import RECORD, run_training


class Killed(RuntimeError):
    """Stands in for a kill: raised from inside the training loop."""


def _kill_at(step: int):
    from transformers import TrainerCallback

    class KillAt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == step:
                raise Killed(f"killed at step {step}")

    return KillAt()


def _same_tensors(a: dict, b: dict) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_gives_identical_adapter(reference_run, tiny_spec, tiny_pool, make_selection, short_recipe, train_cache,
                                           adapter_tensors, tmp_path: Path) -> None:
    again = run_training(make_selection(), tiny_spec, tmp_path, seed=0, pool=tiny_pool, recipe=short_recipe,
                         progress=False, cache=train_cache)
    assert not again.reused
    assert again.path.name == reference_run.path.name  # same inputs, same key
    assert _same_tensors(adapter_tensors(again.adapter_dir), adapter_tensors(reference_run.adapter_dir))
    assert [c["loss"] for c in again.record["loss_curve"]] == [c["loss"] for c in reference_run.record["loss_curve"]]
    # the adapter really moved away from its initialisation (LoRA B starts at zero)
    assert any(float(t.abs().max()) > 0 for k, t in adapter_tensors(again.adapter_dir).items() if "lora_B" in k)


def test_other_seed_gives_other_adapter(reference_run, tiny_spec, tiny_pool, make_selection, short_recipe, train_cache,
                                        adapter_tensors, tmp_path: Path) -> None:
    other = run_training(make_selection(), tiny_spec, tmp_path, seed=1, pool=tiny_pool, recipe=short_recipe,
                         progress=False, cache=train_cache)
    assert other.path.name != reference_run.path.name
    assert not _same_tensors(adapter_tensors(other.adapter_dir), adapter_tensors(reference_run.adapter_dir))


def test_finished_run_is_reused(reference_run, tiny_spec, tiny_pool, make_selection, short_recipe, train_cache) -> None:
    stamp = (reference_run.path / RECORD).stat().st_mtime_ns
    again = run_training(make_selection(), tiny_spec, reference_run.path.parents[3], seed=0, pool=tiny_pool,
                         recipe=short_recipe, progress=False, cache=train_cache)
    assert again.reused and again.path == reference_run.path
    assert (reference_run.path / RECORD).stat().st_mtime_ns == stamp


def test_resume_after_kill_matches_uninterrupted_run(reference_run, tiny_spec, tiny_pool, make_selection, short_recipe,
                                                     train_cache, adapter_tensors, tmp_path: Path) -> None:
    # checkpoints every 3 steps (the reference run used 2: checkpointing never changes the result);
    # 4 steps per epoch, so the resume happens in the middle of the second epoch
    kwargs = dict(seed=0, pool=tiny_pool, recipe=short_recipe, progress=False, checkpoint_every=3, cache=train_cache)
    with pytest.raises(Killed):
        run_training(make_selection(), tiny_spec, tmp_path, callbacks=[_kill_at(7)], **kwargs)
    final = tmp_path / reference_run.path.relative_to(reference_run.path.parents[3])
    assert not final.exists()  # nothing half-written
    work = final.with_name(final.name + ".work")
    assert sorted(p.name for p in (work / "checkpoints").iterdir()) == ["checkpoint-3", "checkpoint-6"]

    resumed = run_training(make_selection(), tiny_spec, tmp_path, **kwargs)
    record = resumed.record
    assert record["trainer"]["resumed_from_step"] == 6
    assert record["throughput"]["steps"] == short_recipe.max_steps - 6
    assert record["steps"] == short_recipe.max_steps
    assert not work.exists()
    assert _same_tensors(adapter_tensors(resumed.adapter_dir), adapter_tensors(reference_run.adapter_dir))
    # the loss curve is whole: steps before the kill come from the checkpoint
    assert [c["step"] for c in record["loss_curve"]] == list(range(1, short_recipe.max_steps + 1))
    assert [c["loss"] for c in record["loss_curve"]] == pytest.approx([c["loss"] for c in reference_run.record["loss_curve"]], abs=1e-6)
    assert record["tokens_seen"] == reference_run.record["tokens_seen"]


def test_training_record(reference_run, tiny_spec, short_recipe, make_selection) -> None:
    record = json.loads((reference_run.path / RECORD).read_text())
    selection = make_selection()
    assert record["recipe"] == short_recipe.model_dump(mode="json")
    assert record["seed"] == 0 and record["selection"]["ids_sha256"] == selection["ids_sha256"]
    assert record["steps"] == short_recipe.max_steps == len(record["loss_curve"])
    per_device, accumulation = record["trainer"]["per_device_batch_size"], record["trainer"]["gradient_accumulation_steps"]
    assert per_device * accumulation * record["trainer"]["devices"] == short_recipe.effective_batch_size
    # tokens: every step consumed effective_batch_size examples of the tokenized selection
    assert record["data"]["examples"] == len(selection["ids"])
    mean_len = record["data"]["tokens"] / record["data"]["examples"]
    expected = short_recipe.max_steps * short_recipe.effective_batch_size * mean_len
    assert 0.5 * expected < record["tokens_seen"] < 1.5 * expected
    assert record["flops"] == pytest.approx(transformer_train_flops(record["parameters"]["total"], record["tokens_seen"]))
    assert 0 < record["parameters"]["trainable"] < record["parameters"]["total"]
    cost = CostRecord.from_dict(record["cost"])
    assert cost.total.wall_s == pytest.approx(record["wall_s"]) and record["wall_s"] > 0 and record["cpu_s"] > 0
    assert record["gpu_s"] == 0 and cost.gpus == 0  # this machine has no GPU
    assert cost.total.tokens == record["tokens_seen"]
    assert record["usd"] == price(CostRecord.from_dict(record["cost"]), tiny_spec.cost_model).usd["total"] > 0
    assert record["throughput"]["steps_per_s"] > 0 and record["throughput"]["tokens_per_s"] > 0
    # the loss goes down (lr 3e-3, LoRA on the tiny model)
    losses = [c["loss"] for c in record["loss_curve"]]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    # serving metadata: template with the adapter, chat template in the saved tokenizer
    meta = json.loads((reference_run.adapter_dir / "selbench_adapter.json").read_text())
    assert meta["template"] == short_recipe.template
    assert (reference_run.tokenizer_dir / "chat_template.jinja").read_text() == meta["chat_template"]
    assert not (reference_run.adapter_dir / "tokenizer.json").exists()  # vLLM warns on per-LoRA tokenizers


@pytest.mark.slow
def test_cli_train_end_to_end(tmp_path: Path, train_cache: Path, make_selection) -> None:
    import os
    import subprocess
    import sys

    selection = tmp_path / "selection.json"
    selection.write_text(json.dumps(make_selection(32)))
    cmd = [sys.executable, "-c", "from selbench.cli.main import app; app()", "train", "--spec", "tiny",
           "--selection", str(selection), "--out", str(tmp_path / "runs"), "--max-steps", "3", "--no-progress", "--json"]
    env = {**os.environ, "SELBENCH_CACHE": str(train_cache)}
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["reused"] is False and summary["steps"] == 3
    assert (Path(summary["adapter"]) / "adapter_model.safetensors").is_file()
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert second.returncode == 0 and json.loads(second.stdout)["reused"] is True
