"""Held-out evaluation sets of the tiny world, generated (deterministically) into the cache.

The questions use the held-out templates only, so evaluation measures what the model learned
about the facts, not recall of pool examples. ``known_answer.jsonl`` holds correct-vs-wrong-twin
pairs (the ``known_answer`` benchmark scores them by likelihood through the served model).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selbench.atomic import atomic_write_text
from selbench.hashing import sha256_json
from selbench.paths import cache_root
from selbench.tinyworld.world import ATTRIBUTES, make_world

EVALSET_VERSION = 1


def known_answer_items(entities: int = 24, seed: int = 0) -> list[dict[str, Any]]:
    world = make_world(entities, seed)
    items = []
    for fact in world.facts:
        for k, question in enumerate(ATTRIBUTES[fact.attribute][1]):
            items.append({
                "id": f"{fact.entity}-{fact.attribute}-{k}",
                "messages": [{"role": "user", "content": question.format(e=fact.entity)}],
                "chosen": fact.answer(),
                "rejected": fact.answer(fact.wrong),
                "family": fact.attribute,
            })
    return items


def known_answer_file(world: dict[str, Any], cache: Path | None = None) -> Path:
    """The items file for ``world`` (``{"entities": .., "seed": ..}``), written once into the cache."""
    args = {"entities": int(world.get("entities", 24)), "seed": int(world.get("seed", 0))}
    key = sha256_json({"v": EVALSET_VERSION, **args})[:16]
    path = (cache or cache_root()) / "tinyworld" / f"evalsets-{key}" / "known_answer.jsonl"
    if not path.is_file():
        items = known_answer_items(**args)
        atomic_write_text(path, "".join(json.dumps(i) + "\n" for i in items))
    return path
