"""`method: full` end to end: train the tiny model fully, then evaluate the training artifact. The
full fine-tune is served by vLLM as a model of its own (not an adapter on the base), and its scores
are the trained weights' scores: equal to HF on the trained folder, not to the zero-shot base's."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import pytest



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


@pytest.mark.slow
def test_full_fine_tune_is_served_as_its_own_model(tiny_spec, tiny_tokenizer, tiny_model_dir, tmp_path: Path) -> None:
    if shutil.which("vllm") is None and not Path(os.sys.executable).with_name("vllm").is_file():
        pytest.skip("vllm is not installed")
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

    evals = run_evaluation_many(spec, targets={"cell": trained.path}, benchmarks=["known-answer"],
                                out_dir=tmp_path / "run", limit=4)
    full = evals["cell"]
    assert full.folder.name.startswith("full-")
    summary = full.summaries["known-answer"]
    assert summary["full_model"]["path"] == str(trained.adapter_dir.resolve()) and summary["adapter"] is None
    command = summary["server"]["command"]
    assert command[command.index("serve") + 1] == str(trained.adapter_dir) and "--enable-lora" not in command

    rows = _records(full.folder)
    assert len(rows) == 4
    items = {str(it["id"]): it for it in known_answer_items(24, 0)}
    gaps = []
    for key, row in list(rows.items())[:2]:  # the served scores are the trained folder's, not the base's
        item = items[key]
        trained_lp = _hf_answer_logprob(trained.adapter_dir, tiny_tokenizer, item["messages"], item["chosen"])
        base_lp = _hf_answer_logprob(tiny_model_dir, tiny_tokenizer, item["messages"], item["chosen"])
        assert abs(row["logprob_chosen"] - trained_lp) < 5e-3
        gaps.append(abs(row["logprob_chosen"] - base_lp))
    assert max(gaps) > 0.05


def test_full_models_get_a_server_each_and_the_base_server_comes_last(tmp_path: Path) -> None:
    """One model in memory at a time; the base (with every LoRA adapter) last, so a self-judging
    AlpacaEval reuses it as the judge."""
    from selbench.evaluation.stage import _server_groups, full_model_dir

    art = tmp_path / "b250-s0-t0-abc"
    (art / "model").mkdir(parents=True)
    (art / "model" / "config.json").write_text("{}")
    lora = tmp_path / "lora" / "adapter"
    lora.mkdir(parents=True)
    (lora / "adapter_config.json").write_text("{}")
    assert full_model_dir(art) == art / "model" and full_model_dir(art / "model") == art / "model"
    assert full_model_dir(lora.parent) is None and full_model_dir(lora) is None
    groups = _server_groups(["base", "full", "lora"], {"lora": lora}, {"full": art / "model"}, "/base")
    assert groups == [(str(art / "model"), "full", ["full"]), ("/base", "base", ["base", "lora"])]
    assert _server_groups(["full"], {}, {"full": art / "model"}, "/base") == [(str(art / "model"), "full", ["full"])]
