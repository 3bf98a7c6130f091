"""Held-out evaluation sets of the tiny world, generated (deterministically) into the cache.

The questions use the held-out templates only, so evaluation measures what the model learned
about the facts, not recall of pool examples. ``known_answer.jsonl`` holds correct-vs-wrong-twin
pairs (the ``known_answer`` benchmark scores them by likelihood through the served model), in
the install's keyed world (:mod:`selbench.tinyworld.key`), under the cache's ``tinyworld/``
folder, which selectors cannot read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selbench.atomic import atomic_write_text
from selbench.hashing import sha256_json
from selbench.paths import cache_root
from selbench.tinyworld.key import key_fingerprint, world_key
from selbench.tinyworld.world import ATTRIBUTES, make_world

EVALSET_VERSION = 2  # 2: the keyed world


def known_answer_items(entities: int = 24, seed: int = 0, *, key: str | None = None) -> list[dict[str, Any]]:
    """Correct-vs-wrong-twin pairs on the held-out questions, in the world of ``key`` (the install's when ``None``)."""
    world = make_world(entities, seed, key=world_key() if key is None else key)
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
    root = cache or cache_root()
    secret = world_key(root)
    key = sha256_json({"v": EVALSET_VERSION, **args, "world_key": key_fingerprint(secret)})[:16]
    path = root / "tinyworld" / f"evalsets-{key}" / "known_answer.jsonl"
    if not path.is_file():
        items = known_answer_items(**args, key=secret)
        atomic_write_text(path, "".join(json.dumps(i) + "\n" for i in items))
    return path
