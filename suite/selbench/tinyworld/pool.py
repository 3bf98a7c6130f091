"""The tiny world's instruction pool, with a hidden answer key.

Every fact is asked with each pool question template; a share of the examples is corrupted:
``wrong`` (states the fact's wrong twin), ``truncated`` (the answer cut short), ``off_task``
(answers a different question about the same entity) or ``noise`` (the answer padded with
gibberish). Format examples ask for the answer in lowercase or capital letters (IFEval-style);
their corrupted form ignores the instruction. The rows handed to the pool loader carry only
instruction/input/output/category; the corruption kind lives in :func:`labelled_rows`. The world's
facts and the corruption draw are keyed by the install's secret (:mod:`selbench.tinyworld.key`):
the seed alone, which a plugin can read in the spec, does not give the key; the known-answer
test computes it in the parent and hands its oracles the labels.
"""

from __future__ import annotations

import random
from typing import Any

from selbench.tinyworld.key import key_fingerprint, keyed_seed, world_key
from selbench.tinyworld.world import ATTRIBUTES, Fact, World, make_world

CORRUPTIONS = ("wrong", "truncated", "off_task", "noise")
CORRUPTION_WEIGHTS = (0.55, 0.15, 0.15, 0.15)
FORMATS = {"lowercase": "Answer in lowercase letters only. ", "uppercase": "Answer in capital letters only. "}


def _format(text: str, fmt: str) -> str:
    return text.lower() if fmt == "lowercase" else text.upper()


def _corrupt(kind: str, fact: Fact, world: World, rng: random.Random) -> str:
    if kind == "wrong":
        return fact.answer(fact.wrong)
    if kind == "truncated":
        words = fact.answer().split()
        return " ".join(words[: max(1, len(words) // 2)])
    if kind == "off_task":
        others = [f for f in world.facts if f.entity == fact.entity and f.attribute != fact.attribute]
        return rng.choice(others).answer()
    noise = " ".join(rng.choice(world.entities).lower()[::-1] for _ in range(4))
    return f"{fact.answer()} {noise}"


def labelled_rows(entities: int = 24, seed: int = 0, corrupted_fraction: float = 0.35, format_share: float = 0.2,
                  *, key: str | None = None) -> list[dict[str, Any]]:
    """All pool rows with their hidden ``kind`` ("clean" or a corruption) and fact, in the world of
    ``key`` (the install's key when ``None``)."""
    if not 0.0 <= corrupted_fraction <= 1.0 or not 0.0 <= format_share < 1.0:
        raise ValueError("corrupted_fraction must be in [0, 1] and format_share in [0, 1)")
    key = world_key() if key is None else key
    world = make_world(entities, seed, key=key)
    rng = random.Random(keyed_seed(key, "pool", seed))
    rows: list[dict[str, Any]] = []
    for fact in world.facts:
        questions = ATTRIBUTES[fact.attribute][0]
        for question in questions:
            fmt = rng.choice(tuple(FORMATS)) if rng.random() < format_share else None
            instruction = (FORMATS[fmt] if fmt else "") + question.format(e=fact.entity)
            corrupted = rng.random() < corrupted_fraction
            if corrupted and fmt:
                kind, output = "ignores_format", fact.answer()
            elif corrupted:
                kind = rng.choices(CORRUPTIONS, CORRUPTION_WEIGHTS)[0]
                output = _corrupt(kind, fact, world, rng)
            else:
                kind, output = "clean", _format(fact.answer(), fmt) if fmt else fact.answer()
            rows.append({
                "instruction": instruction, "input": "", "output": output,
                "category": f"{fact.attribute}-{fmt}" if fmt else fact.attribute,
                "kind": kind, "entity": fact.entity, "attribute": fact.attribute,
            })
    rng.shuffle(rows)
    return rows


def generate_tiny_world_pool(entities: int = 24, seed: int = 0, corrupted_fraction: float = 0.35, format_share: float = 0.2) -> list[dict[str, Any]]:
    """The pool as selectors see it: the answer key stripped."""
    try:
        rows = labelled_rows(entities, seed, corrupted_fraction, format_share)
    except ValueError as exc:
        raise TypeError(str(exc)) from None
    return [{k: r[k] for k in ("instruction", "input", "output", "category")} for r in rows]


def world_identity() -> dict[str, str]:
    """What names this install's world in a pool's cache key and provenance (never the key)."""
    return {"world_key": key_fingerprint(world_key())}


# 2: facts and corruptions keyed by the install's secret (1: drawn from the public seed)
generate_tiny_world_pool.version = 2  # type: ignore[attr-defined]
generate_tiny_world_pool.identity = world_identity  # type: ignore[attr-defined]
