"""LLMBar: the fine-tuned model as a pairwise evaluator (Natural 100, Adversarial 319 pairs).

Each pair is judged in both orders. The model sees LLMBar's vanilla judge prompt as the user
turn; its answer is read off as the likelihood of the two options (the assistant turn continued
with ``Output (a)`` vs ``Output (b)``), not as a parsed generation. Why: a parsed generation
needs the model to produce one of two exact strings, and small or lightly tuned models mostly
produce neither, so the score would measure format-following, not judgement (the unparseable
rate of generations is what the Chasing Random teaser's below-chance 0.15-0.29 suggests); the
likelihood comparison always yields a decision and is deterministic. ``options.mode: generate``
is not offered for that reason.

Metrics per subset (Natural; Adversarial and its four parts): ``accuracy`` over all judged
orders (chance 0.5), ``pair_accuracy`` (both orders right; chance 0.25), ``positional_agreement``
(the same output chosen in both orders; a position-blind judge gets 1.0, a judge that always
picks the first slot gets 0.0).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selbench.evaluation.errors import DataMissingError
from selbench.evaluation.scoring import Records, Target, continuation_logprob
from selbench.hashing import sha256_file

SUBSETS = {"Natural": ["Natural"], "Adversarial": ["Adversarial/Neighbor", "Adversarial/GPTInst",
                                                   "Adversarial/GPTOut", "Adversarial/Manual"]}

PROMPT = (
    "You are a helpful assistant in evaluating the quality of the outputs for a given instruction. Your goal is "
    "to select the best output for the given instruction.\n\n"
    "Select the Output (a) or Output (b) that is better for the given instruction. The two outputs are generated "
    "by two different AI chatbots respectively.\n\n"
    "Do NOT provide any explanation for your choice.\n"
    "Do NOT say both / neither are good.\n"
    "You should answer using ONLY \"Output (a)\" or \"Output (b)\". Do NOT output any other words.\n\n"
    "# Instruction:\n{instruction}\n\n# Output (a):\n{a}\n\n# Output (b):\n{b}\n\n"
    "# Which is better, Output (a) or Output (b)? Your response should be either \"Output (a)\" or \"Output (b)\":"
)


def load_pairs(root: Path, sets: list[str], limit: int | None) -> tuple[list[dict[str, Any]], dict[str, str]]:
    pairs, hashes = [], {}
    for name in sets:
        if name not in SUBSETS:
            raise DataMissingError(f"llmbar: unknown set '{name}' (known: {', '.join(SUBSETS)})")
        for part in SUBSETS[name]:
            path = root / part / "dataset.json"
            if not path.is_file():
                raise DataMissingError(f"llmbar: {path} not found (LLMBar has no hub copy; point the benchmark's "
                                       "`path` at a checkout of princeton-nlp/LLMBar's Dataset/LLMBar folder)")
            hashes[str(path)] = sha256_file(path)
            rows = json.loads(path.read_text())
            for i, row in enumerate(rows[:limit] if limit else rows):
                pairs.append({"id": f"{part}/{i}", "set": name, "part": part, **row})
    return pairs, hashes


def _clip(tokenizer: Any, text: str, n: int) -> tuple[str, bool]:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) <= n:
        return text, False
    return tokenizer.decode(ids[:n]), True


def judge(target: Target, pair: dict[str, Any], swapped: bool) -> dict[str, Any]:
    tok = target.tokenizer
    overhead = len(tok(PROMPT, add_special_tokens=False)["input_ids"]) + 24
    room = max(48, target.max_len - overhead)
    instruction, cut_i = _clip(tok, pair["input"], room // 3)
    o1, cut_1 = _clip(tok, pair["output_1"], room // 3)
    o2, cut_2 = _clip(tok, pair["output_2"], room // 3)
    a, b = (o2, o1) if swapped else (o1, o2)
    messages = [{"role": "user", "content": PROMPT.format(instruction=instruction, a=a, b=b)}]
    prefix_text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) + "Output ("
    prefix = list(tok(prefix_text, add_special_tokens=False)["input_ids"])
    scores = {}
    for option in ("a", "b"):
        full = list(tok(prefix_text + option + ")", add_special_tokens=False)["input_ids"])
        k = 0
        while k < min(len(prefix), len(full)) and prefix[k] == full[k]:
            k += 1
        scores[option] = continuation_logprob(target, full[:k], full[k:])
    choice_slot = "a" if scores["a"] >= scores["b"] else "b"
    chosen_output = (2 if choice_slot == "a" else 1) if swapped else (1 if choice_slot == "a" else 2)
    return {"order": "swapped" if swapped else "original", "logprob_a": scores["a"], "logprob_b": scores["b"],
            "chosen_slot": choice_slot, "chosen_output": chosen_output, "correct": chosen_output == int(pair["label"]),
            "truncated": cut_i or cut_1 or cut_2}


def run_llmbar(target: Target, root: Path, records: Records, *, sets: list[str], limit: int | None,
               both_orders: bool = True) -> dict[str, Any]:
    pairs, hashes = load_pairs(root, sets, limit)
    for pair in pairs:
        if pair["id"] in records.done:
            continue
        judgements = [judge(target, pair, False)] + ([judge(target, pair, True)] if both_orders else [])
        records.add({"id": pair["id"], "set": pair["set"], "part": pair["part"], "label": int(pair["label"]),
                     "judgements": judgements,
                     "score": sum(j["correct"] for j in judgements) / len(judgements),
                     "output": [f"Output ({j['chosen_slot']})" for j in judgements]})
    rows = [records.done[p["id"]] for p in pairs]
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["set"], []).append(row)
        if row["set"] != row["part"]:
            groups.setdefault(row["part"], []).append(row)
    metrics = {name: _metrics(group, both_orders) for name, group in groups.items()}
    return {"metrics": metrics, "decision": "likelihood of 'Output (a)' vs 'Output (b)' after the judge prompt",
            "chance": {"accuracy": 0.5, "pair_accuracy": 0.25 if both_orders else 0.5},
            "both_orders": both_orders, "n_pairs": len(rows), "dataset_sha256": hashes}


def _metrics(rows: list[dict[str, Any]], both_orders: bool) -> dict[str, Any]:
    judged = [j for r in rows for j in r["judgements"]]
    out = {"pairs": len(rows), "accuracy": sum(j["correct"] for j in judged) / max(1, len(judged))}
    if both_orders:
        out["pair_accuracy"] = sum(all(j["correct"] for j in r["judgements"]) for r in rows) / max(1, len(rows))
        out["positional_agreement"] = sum(
            r["judgements"][0]["chosen_output"] == r["judgements"][1]["chosen_output"] for r in rows) / max(1, len(rows))
        out["first_slot_rate"] = sum(
            j["chosen_slot"] == "a" for j in judged) / max(1, len(judged))
    return out
