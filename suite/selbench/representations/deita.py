"""DEITA's quality and complexity scores from scorer models (hkust-nlp/deita).

The scorer reads a prompt and its next-token logits over "1".."6" give the score:
``sum_k k * softmax(logits[k])`` (DEITA's ``infer_Quality`` / ``infer_Complexity``). The prompts
are DEITA's own. Real runs use ``hkust-nlp/deita-quality-scorer`` and
``hkust-nlp/deita-complexity-scorer`` (LLaMA-based); at the tiny scale a stand-in of the same
shape is built locally (:func:`tiny_standin`): the tiny-llama builder with another seed. It is
untrained, so its scores carry no quality signal; it exercises the exact code path.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from selbench.errors import SelbenchError
from selbench.representations.text import rows, user_turn
from selbench.specs.models import ModelSpec

Kind = Literal["quality", "complexity"]
HUB_SCORERS = {"quality": "hkust-nlp/deita-quality-scorer", "complexity": "hkust-nlp/deita-complexity-scorer"}
QUALITY_TEMPLATE = ("You are a helpful assistant. Please identify the quality score of the Response corresponding to "
                    "the Question. \n #Question#:\n{instruction}\n#Response#:\n{output} \n##Quality: ")
COMPLEXITY_TEMPLATE = ("You are a helpful assistant. Please identify the complexity score of the following user query. "
                       "\n##Query: {instruction}  \n##Complexity: ")
SCORE_TOKENS = ("1", "2", "3", "4", "5", "6")
PROMPT_VERSION = 1


class ScorerError(SelbenchError):
    """The scorer model cannot be used (its tokenizer has no single token for a digit...)."""


def expected_score(logits: Any) -> np.ndarray:
    """``sum_k k * softmax(logits)[k]`` over the six score tokens, per row (1..6)."""
    arr = np.asarray(logits, dtype=np.float64)
    arr = arr - arr.max(axis=1, keepdims=True)
    probs = np.exp(arr)
    probs /= probs.sum(axis=1, keepdims=True)
    return probs @ np.arange(1, arr.shape[1] + 1, dtype=np.float64)


def tiny_standin(base: ModelSpec, kind: Kind) -> ModelSpec:
    """A locally built scorer of the tiny base model's shape (another seed): no hub needed."""
    args = dict(base.builder_args)
    args["seed"] = int(args.get("seed", 0)) + (101 if kind == "quality" else 202)
    return ModelSpec(name=f"deita-{kind}-standin", builder=base.builder, builder_args=args, dtype=base.dtype)


def scorer_spec(kind: Kind, base: ModelSpec, scorer: str | None, revision: str | None) -> ModelSpec:
    """``scorer``: ``auto`` (the hub scorer, or the tiny stand-in when the base model is built
    locally), ``standin``, ``base`` (the base model itself: no extra model, for quick checks),
    a hub id (pin ``revision``) or a local folder."""
    choice = scorer or "auto"
    if choice == "base":
        return base
    if choice == "standin" or (choice == "auto" and base.builder is not None):
        if base.builder is None:
            raise ScorerError("the DEITA scorer stand-in needs a builder base model (the tiny spec)")
        return tiny_standin(base, kind)
    if choice == "auto":
        choice = HUB_SCORERS[kind]
    if choice.startswith((".", "/", "~")):
        return ModelSpec(name=f"deita-{kind}", path=choice)
    return ModelSpec(name=f"deita-{kind}", hub_id=choice, revision=revision or "main")


def score_token_ids(tokenizer: Any) -> list[int]:
    ids = []
    for digit in SCORE_TOKENS:
        enc = tokenizer(digit, add_special_tokens=False)["input_ids"]
        if len(enc) != 1:
            raise ScorerError(f"the scorer's tokenizer splits '{digit}' into {len(enc)} tokens; DEITA needs one")
        ids.append(int(enc[0]))
    return ids


def deita_scores(pool: Any, ctx: Any, *, kind: Kind, model: ModelSpec, max_length: int = 512,
                 batch_size: int = 16) -> tuple[np.ndarray, dict[str, Any]]:
    """Expected DEITA score (1..6) per pool row, cached per (pool, scorer, kind)."""
    forward = ctx.services.forward(model, max_length=max_length, batch_size=batch_size)
    template = QUALITY_TEMPLATE if kind == "quality" else COMPLEXITY_TEMPLATE
    key = {"pool": pool.fingerprint, "scorer": forward.loaded.identity, "kind": kind, "max_length": max_length,
           "prompt_version": PROMPT_VERSION}

    def compute() -> dict[str, np.ndarray]:
        prompts = [template.format(instruction=user_turn(r), output=r["output"]) for r in rows(pool)]
        logits = forward.next_token_logits(prompts, score_token_ids(forward.tokenizer))
        return {"scores": expected_score(logits)}

    arrays, info = ctx.services.cache.get_or_compute(f"deita-{kind}", key, compute)
    return arrays["scores"], info
