"""Generation throughput: vLLM (OpenAI server) vs HF ``generate`` on the same prompts and device.

    python benchmarks/eval_generation.py [--prompts 32] [--max-new-tokens 64]

Both decode greedily with ``ignore_eos`` semantics (every prompt yields max_new_tokens tokens):
HF ``generate`` in one padded batch (batch = all prompts), vLLM with all requests in flight.
Prints tokens/s for each and the ratio. The server start-up is excluded (paid once per battery).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

for k, v in {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "VLLM_HOST_IP": "127.0.0.1",
             "VLLM_NO_USAGE_STATS": "1", "VLLM_CPU_KVCACHE_SPACE": "1"}.items():
    os.environ.setdefault(k, v)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    args = ap.parse_args()
    import torch
    from transformers import AutoModelForCausalLM

    from selbench.evaluation.server import VllmServer
    from selbench.models.loader import load_tokenizer, resolve_base_model
    from selbench.specs.loader import load_spec

    spec = load_spec("tiny")
    resolved = resolve_base_model(spec.base_model)
    tok = load_tokenizer(resolved)
    data = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "eval" / "ifeval" / "input_data.jsonl"
    texts = [json.loads(x)["prompt"] for x in data.read_text().splitlines()[: args.prompts]]
    prompts = [tok(tok.apply_chat_template([{"role": "user", "content": t}], tokenize=False,
                                           add_generation_prompt=True), add_special_tokens=False)["input_ids"][-256:]
               for t in texts]
    n = args.max_new_tokens

    model = AutoModelForCausalLM.from_pretrained(resolved.source, dtype=torch.float32).eval()
    tok.padding_side = "left"
    batch = tok.pad({"input_ids": prompts}, return_tensors="pt")
    with torch.no_grad():
        model.generate(**{k: v[:2] for k, v in batch.items()}, max_new_tokens=4, do_sample=False)  # warm-up
        t0 = time.perf_counter()
        out = model.generate(**batch, max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=tok.pad_token_id)
        hf_s = time.perf_counter() - t0
    hf_tokens = (out.shape[1] - batch["input_ids"].shape[1]) * len(prompts)

    with tempfile.TemporaryDirectory() as logs, VllmServer(resolved.source, log_dir=logs, max_model_len=1024) as srv:
        def one(ids: list[int]) -> int:
            res = srv.post("/v1/completions", {"model": "base", "prompt": ids, "max_tokens": n, "temperature": 0,
                                               "ignore_eos": True})
            return int(res["usage"]["completion_tokens"])
        one(prompts[0])  # warm-up
        t0 = time.perf_counter()
        with ThreadPoolExecutor(len(prompts)) as pool:
            vllm_tokens = sum(pool.map(one, prompts))
        vllm_s = time.perf_counter() - t0
        start_s = srv.start_seconds[0]
    result = {"prompts": len(prompts), "max_new_tokens": n, "hf_tokens_per_s": round(hf_tokens / hf_s, 1),
              "vllm_tokens_per_s": round(vllm_tokens / vllm_s, 1), "ratio_vllm_over_hf": round((vllm_tokens / vllm_s) / (hf_tokens / hf_s), 2),
              "vllm_server_start_s": round(start_s, 1), "device": "cpu" if not torch.cuda.is_available() else torch.cuda.get_device_name(0)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
