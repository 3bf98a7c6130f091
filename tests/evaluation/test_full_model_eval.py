"""`method: full` end to end: train the tiny model fully, then evaluate it beside the zero-shot base
in one call. The full fine-tune is served by vLLM as a model of its own (not an adapter), and its
scores are the trained weights' scores: equal to HF on the trained folder, not the base's."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from conftest import need_vllm

pytestmark = pytest.mark.slow


def _records(folder: Path) -> dict[str, dict]:
    rows = [json.loads(x) for x in (folder / "known-answer" / "records.jsonl").read_text().splitlines() if x.strip()]
    return {r["id"]: r for r in rows}


def _hf_answer_logprob(model_dir: Path, tokenizer, messages: list[dict], answer: str) -> float:
    import torch
    from transformers import AutoModelForCausalLM

    from selbench.evaluation.scoring import chat_ids

    prefix = chat_ids(tokenizer, messages, generation_prompt=True)
    ids = chat_ids(tokenizer, [*messages, {"role": "assistant", "content": answer}], generation_prompt=False)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), -1)
    return float(sum(logp[i - 1, ids[i]] for i in range(len(prefix), len(ids))))


def test_full_fine_tune_is_served_as_its_own_model(tiny_spec, tiny_tokenizer, tmp_path: Path) -> None:
    need_vllm()
    from selbench.evaluation.stage import run_evaluation_many
    from selbench.hashing import ids_sha256
    from selbench.pools.loader import load_pool
    from selbench.tinyworld.evalsets import known_answer_items
    from selbench.training.stage import run_training

    pool = load_pool(tiny_spec.pools[0])
    ids = random.Random(0).sample(pool.ids, 32)
    selection = {"ids": ids, "ids_sha256": ids_sha256(ids), "budget": 32, "seed": 0,
                 "pool": {"name": pool.name, "fingerprint": pool.fingerprint}, "selector": {"name": "test-random"}}
    recipe = tiny_spec.recipe.model_copy(update={
        "method": "full", "learning_rate": 1e-3, "packing": "constant_length", "max_length": 64, "max_steps": 4,
        "effective_batch_size": 16, "per_device_batch_size": 8})
    spec = tiny_spec.model_copy(update={"recipe": recipe})
    trained = run_training(selection, spec, tmp_path / "run", pool=pool, progress=False)
    assert trained.adapter_dir.name == "model"

    evals = run_evaluation_many(spec, targets={"cell": trained.path, "base": None}, benchmarks=["known-answer"],
                                out_dir=tmp_path / "run", limit=6)
    full, base = evals["cell"], evals["base"]
    assert full.folder.name.startswith("full-") and base.folder.name.startswith("base-")
    summary = full.summaries["known-answer"]
    assert summary["full_model"]["path"] == str(trained.adapter_dir.resolve()) and summary["adapter"] is None
    command = summary["server"]["command"]
    assert command[command.index("serve") + 1] == str(trained.adapter_dir) and "--enable-lora" not in command
    assert base.summaries["known-answer"]["server"]["command"][command.index("serve") + 1] != command[
        command.index("serve") + 1]

    full_rows, base_rows = _records(full.folder), _records(base.folder)
    assert full_rows.keys() == base_rows.keys() and len(full_rows) == 6
    items = {str(it["id"]): it for it in known_answer_items(24, 0)}
    first = next(iter(full_rows))
    item = items[first]  # the served scores are the trained folder's, computed by HF
    hf = _hf_answer_logprob(trained.adapter_dir, tiny_tokenizer, item["messages"], item["chosen"])
    assert abs(full_rows[first]["logprob_chosen"] - hf) < 5e-3
    gaps = [abs(full_rows[k]["logprob_chosen"] - base_rows[k]["logprob_chosen"]) for k in full_rows]
    assert max(gaps) > 0.05  # not the zero-shot base
