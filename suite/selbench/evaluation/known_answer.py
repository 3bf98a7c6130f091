"""Known-answer pairs: does the model give the correct answer a higher likelihood than the wrong one?

Each item is a question with a ``chosen`` (correct) and a ``rejected`` (corrupted, plausible)
answer. Both are scored as the assistant turn of the chat template through the vLLM server
(prompt log-probabilities, the adapter applied), so the score measures what was learned from
the selected data, even when a tiny model's greedy generations are poor. A model trained on
corrupted examples prefers the corrupted form, which separates clean, random and corrupted
selections. Optional exact match checks greedy generations against the correct answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selbench.evaluation.errors import DataMissingError
from selbench.evaluation.scoring import Records, Target, chat_ids, continuation_logprob, generate_chat


def load_items(path: Path, limit: int | None) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DataMissingError(f"known-answer items not found: {path}")
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    for row in rows:
        missing = {"id", "messages", "chosen", "rejected"} - set(row)
        if missing:
            raise DataMissingError(f"{path}: item {row.get('id')} lacks {sorted(missing)}")
    return rows[:limit] if limit else rows


def _answer_logprob(target: Target, messages: list[dict[str, str]], answer: str) -> float:
    prefix = chat_ids(target.tokenizer, messages, generation_prompt=True)
    full = chat_ids(target.tokenizer, [*messages, {"role": "assistant", "content": answer}], generation_prompt=False)
    if full[: len(prefix)] != prefix:  # templates that render the generation prompt differently
        raise DataMissingError("the chat template renders the assistant turn inconsistently with its generation prompt")
    return continuation_logprob(target, prefix, full[len(prefix):])


def run_known_answer(target: Target, path: Path, records: Records, *, limit: int | None, decoding: Any,
                     exact_match: bool = True, families: list[str] | None = None) -> dict[str, Any]:
    """``families`` keeps the items of those families only (a target task of the tiny-targeted track)."""
    items = load_items(path, None)
    if families:
        items = [it for it in items if it.get("family") in set(families)]
        if not items:
            raise DataMissingError(f"known-answer items of families {families} not found in {path}")
    items = items[:limit] if limit else items
    todo = [it for it in items if str(it["id"]) not in records.done]
    generations: dict[str, str] = {}
    if exact_match and todo:
        for i, text, _ in generate_chat(target, [it["messages"] for it in todo], decoding):
            generations[str(todo[i]["id"])] = text
    for item in todo:
        good = _answer_logprob(target, item["messages"], item["chosen"])
        bad = _answer_logprob(target, item["messages"], item["rejected"])
        row = {"id": str(item["id"]), "score": 1.0 if good > bad else 0.0, "margin": good - bad,
               "logprob_chosen": good, "logprob_rejected": bad, "family": item.get("family")}
        if exact_match:
            text = generations[str(item["id"])].strip()
            row["output"] = text
            row["exact_match"] = 1.0 if text.lower() == item["chosen"].strip().lower() else 0.0
        records.add(row)
    done = [records.done[str(it["id"])] for it in items]
    n = max(1, len(done))
    metrics: dict[str, Any] = {
        "pair_accuracy": sum(r["score"] for r in done) / n,
        "mean_margin": sum(r["margin"] for r in done) / n,
        "items": len(done),
        "chance": 0.5,
    }
    if exact_match:
        metrics["exact_match"] = sum(r.get("exact_match", 0.0) for r in done) / n
    return {"metrics": metrics, "primary_metric": "pair_accuracy", "dataset_sha256": {}}
