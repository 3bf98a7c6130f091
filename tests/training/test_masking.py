"""Loss masking: with loss_on=response only the response (and its end marker) carries labels;
packing never lets one example see another."""

from __future__ import annotations

import datasets
import pytest

from selbench.specs.models import RecipeSpec
from selbench.training.data import IGNORE_INDEX, SelectionMismatchError, selection_rows, tokenize_rows
from selbench.training.templates import TEMPLATES, get_template

END_MARKER = {"tiny-chat": "<|end|>", "tulu": "</s>", "alpaca": "</s>", "chasing-random": "</s>"}


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def _rows(pool, n=12):
    return pool.data.select(range(n))


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_response_only_labels(tokenizer, tiny_pool, template: str) -> None:
    recipe = RecipeSpec(name="r", template=template, loss_on="response", max_length=512, effective_batch_size=8, per_device_batch_size=8)
    rows = _rows(tiny_pool)
    data, stats = tokenize_rows(rows, tokenizer, get_template(template), recipe)
    assert stats.examples == len(rows) and stats.dropped_no_labels == 0
    for ex, row in zip(data, rows):
        ids, labels = ex["input_ids"], ex["labels"]
        assert len(ids) == len(labels)
        assert all(lab in (IGNORE_INDEX, tok) for tok, lab in zip(ids, labels))
        labelled = [tok for tok, lab in zip(ids, labels) if lab != IGNORE_INDEX]
        unlabelled = [tok for tok, lab in zip(ids, labels) if lab == IGNORE_INDEX]
        # the labelled tokens are exactly the response plus its end marker (CR's prompt ends in a space)
        assert tokenizer.decode(labelled).strip() == row["output"].strip() + END_MARKER[template]
        # every prompt token (instruction, input, role markers, bos) is masked
        prompt_text = tokenizer.decode(unlabelled)
        assert row["instruction"] in prompt_text
        assert tokenizer.decode(ids).startswith(tokenizer.bos_token)
        assert labels[0] == IGNORE_INDEX
        # the labelled span is one contiguous block at the end of the single turn (eos/newline may follow)
        first = labels.index(next(lab for lab in labels if lab != IGNORE_INDEX))
        last = max(i for i, lab in enumerate(labels) if lab != IGNORE_INDEX)
        assert all(lab != IGNORE_INDEX for lab in labels[first: last + 1])
    assert stats.label_tokens < stats.tokens


def test_loss_on_all_labels_every_token(tokenizer, tiny_pool) -> None:
    recipe = RecipeSpec(name="r", template="chasing-random", loss_on="all", max_length=512, effective_batch_size=8, per_device_batch_size=8)
    data, stats = tokenize_rows(_rows(tiny_pool), tokenizer, get_template("chasing-random"), recipe)
    for ex in data:
        assert ex["labels"] == ex["input_ids"]
    assert stats.label_tokens == stats.tokens - stats.examples  # all but the (never predicted) first token


def test_multi_turn_masks_every_assistant_turn(tokenizer) -> None:
    rows = datasets.Dataset.from_list([{
        "id": "x", "source": "s", "instruction": "", "input": "", "output": "",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"},
                     {"role": "assistant", "content": "hi"}, {"role": "user", "content": "count to three"},
                     {"role": "assistant", "content": "one two three"}],
    }])
    recipe = RecipeSpec(name="r", template="tulu", loss_on="response", max_length=512, effective_batch_size=8, per_device_batch_size=8)
    data, _ = tokenize_rows(rows, tokenizer, get_template("tulu"), recipe)
    ids, labels = data[0]["input_ids"], data[0]["labels"]
    text = tokenizer.decode([t for t, lab in zip(ids, labels) if lab != IGNORE_INDEX])
    assert text == "hi</s>one two three</s>"


def test_truncation_drops_rows_without_labels(tokenizer, tiny_pool) -> None:
    recipe = RecipeSpec(name="r", template="alpaca", loss_on="response", max_length=8, effective_batch_size=8, per_device_batch_size=8)
    rows = _rows(tiny_pool, 5)
    from selbench.errors import SelbenchError

    # the Alpaca preamble alone is longer than 8 tokens: nothing is left to learn from
    with pytest.raises(SelbenchError, match="no trainable example left"):
        tokenize_rows(rows, tokenizer, get_template("alpaca"), recipe)
    recipe = recipe.model_copy(update={"loss_on": "all"})
    data, stats = tokenize_rows(rows, tokenizer, get_template("alpaca"), recipe)
    assert stats.truncated == 5 and all(len(x) == 8 for x in data["input_ids"])


def test_packed_batches_keep_examples_apart(tiny_model_dir, tokenizer, tiny_pool) -> None:
    """DataCollatorWithFlattening + position ids give the same loss as a padded batch."""
    import torch
    from transformers import AutoModelForCausalLM, DataCollatorForSeq2Seq, DataCollatorWithFlattening

    recipe = RecipeSpec(name="r", template="tiny-chat", max_length=128, effective_batch_size=8, per_device_batch_size=8)
    data, _ = tokenize_rows(_rows(tiny_pool, 6), tokenizer, get_template("tiny-chat"), recipe)
    features = [dict(x) for x in data]
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    packed = DataCollatorWithFlattening(return_position_ids=True, separator_id=IGNORE_INDEX)(features)
    padded = DataCollatorForSeq2Seq(tokenizer, padding="longest", label_pad_token_id=IGNORE_INDEX)(features)
    assert packed["input_ids"].shape[0] == 1 and "attention_mask" not in packed
    with torch.no_grad():
        loss_packed = model(**packed, use_cache=False).loss
        loss_padded = model(**padded, use_cache=False).loss
        # and it is not the same as letting the examples see each other
        loss_leaky = model(input_ids=packed["input_ids"], labels=packed["labels"], use_cache=False).loss
    assert torch.allclose(loss_packed, loss_padded, atol=1e-5)
    assert not torch.allclose(loss_packed, loss_leaky, atol=1e-4)


def test_selection_must_match_the_pool(tiny_pool, make_selection) -> None:
    selection = make_selection(8)
    assert selection_rows(selection, tiny_pool)["id"] == selection["ids"]
    wrong = {**selection, "pool": {"name": tiny_pool.name, "fingerprint": "0" * 64}}
    with pytest.raises(SelectionMismatchError, match="different pool version"):
        selection_rows(wrong, tiny_pool)
    foreign = {**selection, "ids": [*selection["ids"][:-1], "not-an-id"]}
    with pytest.raises(SelectionMismatchError, match="not in pool"):
        selection_rows(foreign, tiny_pool)
