"""Greedy generations of a base model with and without a LoRA adapter through vLLM (in-process).

Run as a script (vLLM needs the ``__main__`` guard): ``python vllm_lora_check.py REQUEST.json``
where the request names ``base``, ``adapter``, ``prompts`` and ``max_tokens``; prints one JSON
line ``{"base": [[token ids]...], "lora": [[token ids]...]}``. Set
``VLLM_ENABLE_V1_MULTIPROCESSING=0`` in the environment for the fast in-process engine.
"""

from __future__ import annotations

import json
import sys


def main(request_path: str) -> None:
    from vllm import LLM, SamplingParams
    from vllm.lora.request import LoRARequest

    request = json.loads(open(request_path, encoding="utf-8").read())
    llm = LLM(model=request["base"], dtype="float32", max_model_len=512, enforce_eager=True,
              distributed_executor_backend="uni", enable_lora=True, max_lora_rank=request.get("max_lora_rank", 8),
              max_loras=1, seed=0)
    params = SamplingParams(temperature=0.0, max_tokens=request["max_tokens"], ignore_eos=True)
    base = llm.generate(request["prompts"], params, use_tqdm=False)
    lora = llm.generate(request["prompts"], params, lora_request=LoRARequest("sft", 1, request["adapter"]), use_tqdm=False)
    result = {"base": [list(o.outputs[0].token_ids) for o in base], "lora": [list(o.outputs[0].token_ids) for o in lora]}
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
