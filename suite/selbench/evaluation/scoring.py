"""Item-level scoring through the server: prompt log-probabilities, chat generation, records.

Prompts are rendered and tokenized here with the served model's tokenizer and sent as token ids,
so what is scored is exactly what the template produced (no second BOS, no re-tokenization at a
boundary). Prompt log-probabilities are requested one at a time: vLLM's CPU LoRA kernel crashes
when several prompt-logprob requests are batched (see the project's CPU notes).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selbench.evaluation.server import VllmServer


@dataclass
class Target:
    """What is evaluated: ``served`` is the name in the request's ``model`` field."""

    served: str
    server: VllmServer
    tokenizer: Any
    max_len: int


class Records:
    """Append-only per-item JSONL; a rerun skips items already scored (nothing scored is lost)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.done: dict[str, dict[str, Any]] = {}
        self._torn = False
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            self._torn = bool(text) and not text.endswith("\n")  # a killed run's half-written line
            for line in text.splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line from a killed run
                self.done[str(row["id"])] = row

    def add(self, row: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            if self._torn:  # end the torn line first, so this row stays readable on its own line
                fh.write("\n")
                self._torn = False
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.done[str(row["id"])] = row

    def rows(self) -> list[dict[str, Any]]:
        return list(self.done.values())


def prompt_logprobs(target: Target, ids: list[int]) -> list[float]:
    """Log-probability of each token of ``ids`` given the ones before (first is 0.0)."""
    res = target.server.post("/v1/completions", {
        "model": target.served, "prompt": ids, "max_tokens": 1, "temperature": 0.0, "echo": True, "logprobs": 1,
    }, what=f"scoring with {target.served}")
    values = res["choices"][0]["logprobs"]["token_logprobs"][: len(ids)]
    return [0.0 if v is None else float(v) for v in values]


def continuation_logprob(target: Target, prefix: list[int], continuation: list[int]) -> float:
    values = prompt_logprobs(target, prefix + continuation)
    return float(sum(values[len(prefix):]))


def chat_ids(tokenizer: Any, messages: list[dict[str, str]], *, generation_prompt: bool) -> list[int]:
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def generate_chat(target: Target, prompts: list[list[dict[str, str]]], decoding: Any, *,
                  concurrency: int = 4) -> Iterator[tuple[int, str, int]]:
    """(index, text, completion tokens) for each chat prompt, greedy or as the spec's decoding says."""
    def one(i: int) -> tuple[int, str, int]:
        ids = chat_ids(target.tokenizer, prompts[i], generation_prompt=True)
        room = max(1, target.max_len - len(ids) - 1)
        if len(ids) >= target.max_len - 1:
            ids = ids[-(target.max_len // 2):]  # keep the tail (the generation prompt); recorded as truncated
            room = target.max_len - len(ids) - 1
        res = target.server.post("/v1/completions", {
            "model": target.served, "prompt": ids, "max_tokens": min(decoding.max_new_tokens, room),
            "temperature": decoding.temperature, "top_p": decoding.top_p, "seed": decoding.seed,
            "skip_special_tokens": True,
        }, what=f"generating with {target.served}")
        return i, res["choices"][0]["text"], int(res["usage"]["completion_tokens"])

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        yield from pool.map(one, range(len(prompts)))
