"""Constant-length packing: nothing lost, masks aligned, packed examples never see each other."""

from __future__ import annotations

import random

import pytest

from selbench.specs.models import RecipeSpec
from selbench.training.data import IGNORE_INDEX, tokenize_rows
from selbench.training.packing import BlockCollator, pack_examples
from selbench.training.templates import get_template


def _random_examples(seed: int, n: int = 40) -> list[tuple[list[int], list[int]]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        length = rng.randint(1, 90)
        ids = [rng.randint(5, 999) for _ in range(length)]
        prompt = rng.randint(0, length)
        out.append((ids, [IGNORE_INDEX] * prompt + ids[prompt:]))
    return out


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("max_length", [2, 17, 64, 128])
def test_packing_loses_nothing_and_keeps_masks_aligned(seed: int, max_length: int) -> None:
    examples = _random_examples(seed)
    packed = pack_examples(examples, max_length)
    flat_in = [t for ids, _ in examples for t in ids]
    assert [t for block in packed.input_ids for t in block] == flat_in  # tokens in = tokens trained, in order
    assert all(len(b) == max_length for b in packed.input_ids[:-1]) and 0 < len(packed.input_ids[-1]) <= max_length
    assert packed.stats.tokens == len(flat_in) == sum(map(len, packed.input_ids))
    # each piece: positions 0..n-1; its labels are the example's labels at the same tokens, but the first
    original = [lab for _, labels in examples for lab in labels]
    flat_lab = [t for block in packed.labels for t in block]
    flat_pos = [t for block in packed.position_ids for t in block]
    starts = [i for i, p in enumerate(flat_pos) if p == 0]
    for i, (tok, lab, orig) in enumerate(zip(flat_in, flat_lab, original)):
        assert lab in (IGNORE_INDEX, tok)
        assert lab == (IGNORE_INDEX if i in starts else orig)
    # pieces start at every example start and at every block start, nowhere else
    example_starts, offset = set(), 0
    for ids, _ in examples:
        example_starts.add(offset)
        offset += len(ids)
    block_starts = set(range(0, len(flat_in), max_length))
    assert set(starts) == example_starts | block_starts
    assert packed.stats.pieces == len(starts)
    # the only labels lost are the (labelled) first tokens of continuation pieces
    kept = sum(1 for lab in flat_lab if lab != IGNORE_INDEX)
    trainable = sum(1 for _, labels in examples for lab in labels[1:] if lab != IGNORE_INDEX)
    assert kept == packed.stats.label_tokens == trainable - packed.stats.lost_label_tokens
    assert packed.stats.lost_label_tokens <= packed.stats.pieces - len(examples)


def test_block_collator_pads_only_with_a_separate_sequence() -> None:
    packed = pack_examples(_random_examples(0, 7), 64)
    features = [{"input_ids": i, "labels": lab, "position_ids": p}
                for i, lab, p in zip(packed.input_ids, packed.labels, packed.position_ids)]
    batch = BlockCollator(pad_id=0)(features[-2:])
    assert "attention_mask" not in batch  # masks come from the position ids
    short = len(features[-1]["input_ids"])
    assert batch["input_ids"].shape == (2, 64)
    if short < 64:
        assert batch["labels"][1, short:].eq(IGNORE_INDEX).all() and batch["position_ids"][1, short].item() == 0


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def _recipe(packing: str, max_length: int, loss_on: str = "response") -> RecipeSpec:
    return RecipeSpec(name="r", template="tiny-chat", packing=packing, max_length=max_length, loss_on=loss_on,
                      effective_batch_size=8, per_device_batch_size=8)


@pytest.mark.parametrize("loss_on", ["response", "all"])
def test_tokenized_packing_matches_the_per_example_rendering(tokenizer, tiny_pool, loss_on: str) -> None:
    rows = tiny_pool.data.select(range(24))
    single, single_stats = tokenize_rows(rows, tokenizer, get_template("tiny-chat"), _recipe("none", 4096, loss_on))
    blocks, stats = tokenize_rows(rows, tokenizer, get_template("tiny-chat"), _recipe("constant_length", 48, loss_on))
    assert single_stats.truncated == 0 and stats.truncated == 0
    assert [t for b in blocks["input_ids"] for t in b] == [t for x in single["input_ids"] for t in x]
    assert stats.tokens == single_stats.tokens and stats.blocks == len(blocks) == -(-stats.tokens // 48)
    assert stats.cut_examples > 0  # 48 tokens is shorter than many examples: the test covers cuts
    assert stats.label_tokens == single_stats.label_tokens - stats.lost_label_tokens
    flat_lab = [t for b in blocks["labels"] for t in b]
    flat_single = [t for x in single["labels"] for t in x]
    flat_pos = [t for b in blocks["position_ids"] for t in b]
    assert all(a == b or (a == IGNORE_INDEX and p == 0) for a, b, p in zip(flat_lab, flat_single, flat_pos))


def test_packed_examples_never_attend_to_each_other(tiny_model_dir, tokenizer, tiny_pool) -> None:
    """The logits of every piece inside a batch of packed blocks equal the piece run alone."""
    import torch
    from transformers import AutoModelForCausalLM

    rows = tiny_pool.data.select(range(16))
    blocks, stats = tokenize_rows(rows, tokenizer, get_template("tiny-chat"), _recipe("constant_length", 64))
    assert stats.cut_examples > 0 and len(blocks) >= 3
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    batch = BlockCollator(pad_id=tokenizer.pad_token_id)([dict(b) for b in blocks])
    with torch.no_grad():
        packed_logits = model(**{k: v for k, v in batch.items() if k != "labels"}, use_cache=False).logits
        leaky_logits = model(input_ids=batch["input_ids"], use_cache=False).logits
        checked = differs = 0
        for row, positions in enumerate(batch["position_ids"].tolist()):
            real = len(blocks[row]["input_ids"])
            starts = [i for i, p in enumerate(positions[:real]) if p == 0] + [real]
            for a, b in zip(starts, starts[1:]):
                alone = model(input_ids=batch["input_ids"][row: row + 1, a:b], use_cache=False).logits[0]
                assert torch.allclose(packed_logits[row, a:b], alone, atol=1e-4), (row, a, b)
                differs += a > 0 and not torch.allclose(leaky_logits[row, a:b], alone, atol=1e-4)
                checked += 1
    assert checked == stats.pieces > len(rows)  # every example, plus the continuations of cut ones
    assert differs > 0  # without the position ids the pieces would see each other


def test_training_with_packing_trains_every_token(tiny_spec, tiny_pool, make_selection, short_recipe, train_cache, tmp_path) -> None:
    recipe = short_recipe.model_copy(update={"packing": "constant_length", "max_length": 64, "max_steps": None, "epochs": 1,
                                             "effective_batch_size": 4, "per_device_batch_size": 2})
    from selbench.training.stage import run_training

    art = run_training(make_selection(24, seed=3), tiny_spec, tmp_path, pool=tiny_pool, recipe=recipe, progress=False,
                       cache=train_cache)
    rec = art.record
    data = rec["data"]
    assert data["blocks"] == -(-data["tokens"] // 64) and data["cut_examples"] > 0 and data["truncated"] == 0
    assert rec["steps"] == -(-data["blocks"] // 4)  # the batch counts blocks
    assert rec["tokens_seen"] == data["tokens"]  # one epoch: every token of every example, once
    assert rec["trainer"]["packing"].startswith("selbench.training.packing")
    assert (art.adapter_dir / "adapter_model.safetensors").is_file()


def test_micro_batch_size_is_a_speed_knob_only(tiny_spec, tiny_pool, make_selection, short_recipe, train_cache, tmp_path) -> None:
    """Blocks per micro-batch (the GPU's token budget) change neither the data of a step nor its loss:
    the Trainer normalises by the labelled tokens of the whole optimizer step."""
    from selbench.training.stage import run_training

    curves = {}
    for per_device in (8, 2):
        recipe = short_recipe.model_copy(update={"packing": "constant_length", "max_length": 64, "max_steps": 3,
                                                 "effective_batch_size": 8, "per_device_batch_size": per_device})
        rec = run_training(make_selection(48, seed=5), tiny_spec, tmp_path / str(per_device), pool=tiny_pool, recipe=recipe,
                           progress=False, cache=train_cache).record
        assert rec["trainer"]["per_device_batch_size"] * rec["trainer"]["gradient_accumulation_steps"] == 8
        curves[per_device] = [(p["loss"], p["grad_norm"]) for p in rec["loss_curve"]]
        tokens = rec["tokens_seen"]
        curves.setdefault("tokens", []).append(tokens)
    assert curves["tokens"][0] == curves["tokens"][1]
    assert len(curves[8]) == len(curves[2]) == 3
    for (loss_a, norm_a), (loss_b, norm_b) in zip(curves[8], curves[2]):
        assert abs(loss_a - loss_b) < 1e-4 * max(1.0, abs(loss_a))
        assert abs(norm_a - norm_b) < 1e-3 * max(1.0, abs(norm_a))
