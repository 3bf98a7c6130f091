"""Query loss (targeted track): mean token cross-entropy of the labels of a query set.

Each row (``instruction``/``input``/``output``, ``prompt``/``completion`` or ``messages``) is
rendered with the served chat template; the loss counts the assistant tokens only and is averaged
over all label tokens of the set (``mean_token_ce``, the paper's number); ``mean_item_ce`` averages
per item. Result rows need a higher-is-better score per item (the paired bootstrap compares
items), so each record's ``score`` is the item's *negative* mean token CE and the primary metric
is ``neg_mean_item_ce``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from selbench.evaluation.errors import DataMissingError
from selbench.evaluation.scoring import Records, Target, chat_ids, prompt_logprobs
from selbench.hashing import sha256_file


def _conversation(row: dict[str, Any]) -> list[dict[str, str]]:
    if "messages" in row:
        msgs = [m for m in row["messages"] if m.get("role") in ("system", "user", "assistant")]
        last = max(i for i, m in enumerate(msgs) if m["role"] == "assistant")
        return msgs[: last + 1]
    if "instruction" in row:
        user = row["instruction"] + (f"\n\n{row['input']}" if row.get("input") else "")
        return [{"role": "user", "content": user}, {"role": "assistant", "content": row["output"]}]
    if "prompt" in row:
        return [{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": row["completion"]}]
    raise DataMissingError(f"query set row has none of messages / instruction+output / prompt+completion: {list(row)}")


def load_queries(path: Path, limit: int | None) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DataMissingError(f"query set not found: {path}")
    text = path.read_text(encoding="utf-8")
    rows = json.loads(text) if path.suffix == ".json" else [json.loads(x) for x in text.splitlines() if x.strip()]
    return rows[:limit] if limit else rows


def run_query_loss(target: Target, path: Path, records: Records, *, limit: int | None) -> dict[str, Any]:
    rows = load_queries(path, limit)
    tok = target.tokenizer
    for i, row in enumerate(rows):
        rid = str(row.get("id", i))
        if rid in records.done:
            continue
        conv = _conversation(row)
        prompt = chat_ids(tok, conv[:-1], generation_prompt=True)
        full = chat_ids(tok, conv, generation_prompt=False)[: target.max_len - 1]
        values = prompt_logprobs(target, full)
        labels = values[len(prompt):]
        ce = -sum(labels) / max(1, len(labels))
        records.add({"id": rid, "tokens": len(labels), "output": None, "score": -ce, "ce": ce, "sum_nll": -sum(labels)})
    done = [records.done[str(r.get("id", i))] for i, r in enumerate(rows)]
    tokens = sum(r["tokens"] for r in done)
    mean_token = sum(r["sum_nll"] for r in done) / max(1, tokens)
    mean_item = sum(r["ce"] for r in done) / max(1, len(done))
    return {"metrics": {"mean_token_ce": mean_token, "perplexity": math.exp(min(mean_token, 50.0)),
                        "mean_item_ce": mean_item, "neg_mean_item_ce": -mean_item,
                        "items": len(done), "label_tokens": tokens},
            "primary_metric": "neg_mean_item_ce",
            "dataset_sha256": {str(path): sha256_file(path)}}
