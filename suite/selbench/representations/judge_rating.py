"""Alpagasus' LLM-judge rating: the accuracy of each (instruction, response) pair on 0-5.

The prompt is the one Chasing Random's ``scorer.py`` sent to gpt-4o (``max_tokens=3``). Its
``extract_score`` tested the digits in the order 0,1,...,5 and returned the first found, so a
reply of "5.0" was read as 0. :func:`parse_score` reads the first number in the reply instead
("5.0" -> 5.0, "Score: 4" -> 4.0, "I would rate it 3" -> 3.0), clipped to the scale; a reply
with no number in range is ``None`` (never selected above a threshold).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

SYSTEM_PROMPT = ("We would like to request your feedback on the performance of AI assistant in response to the "
                 "instruction and the given input displayed following.")
USER_SUFFIX = ("Please rate the given instruction and response tuple according to the accuracy of the response. "
               "Each response receives a score on a scale of 0 to 5, where a higher score indicates higher level of "
               "the accuracy. Please first output a single line containing the value indicating the scores. In the "
               "subsequent line, please provide a comprehensive explanation of your evaluation, avoiding any "
               "potential bias.")
PROMPT_VERSION = 1
SCORE_CHOICES = ("0", "1", "2", "3", "4", "5")
_NUMBER = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)")


def judge_messages(instruction: str, response: str) -> list[dict[str, str]]:
    """The Chasing Random scorer's messages (``Instruction: {input} \\n Response: {target}\\n`` + suffix)."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"Instruction: {instruction} \n Response: {response}\n" + USER_SUFFIX},
    ]


def parse_score(reply: str | None, low: float = 0.0, high: float = 5.0) -> float | None:
    """The first number in ``reply`` within [low, high]; None when there is none.

    Numbers outside the scale are skipped ("out of 10" style noise, list markers beyond 5 are
    rare), so "Score (0-5): 4" reads 4, not 0: a range written before the score is skipped when
    it is followed by a closing ")" or "-".
    """
    if not reply:
        return None
    text = re.sub(r"\(?\b\d+(?:\.\d+)?\s*(?:-|–|to)\s*\d+(?:\.\d+)?\)?(?=\s*[:)])", " ", reply)
    for match in _NUMBER.finditer(text):
        value = float(match.group(1))
        if low <= value <= high:
            return value
    return None


def original_extract_score(reply: str) -> float:
    """Chasing Random's ``extract_score`` as written (for comparison in tests): first of 0..5 found."""
    for digit in range(6):
        if str(digit) in reply:
            return float(digit)
    return 0.0


def judge_ratings(pool: Any, ctx: Any, *, max_tokens: int = 3, constrain: bool | None = None,
                  concurrency: int = 4) -> tuple[np.ndarray, dict[str, Any]]:
    """Ratings (NaN where unparsed) for every pool row, cached per (pool, judge, prompt, options).

    ``constrain`` restricts the judge's reply to one of "0".."5" (vLLM structured outputs); it
    defaults to the spec's ``judge.force_choice_tokens`` (set for the random tiny judge, whose
    free text would never contain a score). The judge server starts only on a cache miss.
    """
    from selbench.representations.text import rows, user_turn

    spec = ctx.services.require_spec("judge ratings")
    force = bool(spec.judge.force_choice_tokens) if spec.judge is not None else False
    constrain = force if constrain is None else bool(constrain)
    items = rows(pool)

    def compute() -> dict[str, np.ndarray]:
        service = ctx.services.judge()
        service.concurrency = concurrency
        replies = service.chat_many([judge_messages(user_turn(r), r["output"]) for r in items], max_tokens=max_tokens,
                                    temperature=0.0, choices=SCORE_CHOICES if constrain else None, seed=0)
        scores = np.array([np.nan if (s := parse_score(r)) is None else s for r in replies], dtype=np.float64)
        return {"scores": scores, "replies": np.array([r if r is not None else "" for r in replies], dtype=np.str_),
                "rejected": np.array([r is None for r in replies])}

    key = {"pool": pool.fingerprint, "judge": _judge_identity(spec), "prompt_version": PROMPT_VERSION,
           "max_tokens": max_tokens, "constrain": constrain}
    arrays, info = ctx.services.cache.get_or_compute("alpagasus-ratings", key, compute)
    info.update({"unparsed": int(np.isnan(arrays["scores"]).sum()), "rejected": int(arrays["rejected"].sum()),
                 "example_replies": [str(r) for r in arrays["replies"][:3]], "constrained_to_digits": constrain})
    return arrays["scores"], info


def _judge_identity(spec: Any) -> dict[str, Any]:
    """What names the judge, without starting it (so a cache hit starts no server)."""
    judge = spec.judge
    if judge is not None and judge.api_base:
        return {"kind": "api", "api_base": judge.api_base, "api_model": judge.api_model}
    from selbench.models.loader import resolve_base_model

    model = judge.model if judge is not None and judge.model is not None else spec.base_model
    return {"kind": "vllm", **resolve_base_model(model, build=False).identity}
