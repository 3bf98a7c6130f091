"""Generated query sets: the tiny world's target tasks (offline, deterministic).

The tiny-targeted spec's pool is the tiny world's pool (every attribute mixed, some answers
corrupted); a target task is one attribute (say ``pet``). Its query set asks about that attribute
with *query-only* phrasings that appear neither in the pool nor in the held-out evaluation
questions, with the correct answer as label, one item per entity (``per_entity`` of them, each a
different phrasing), so query items are never test items. The test set is the known-answer
pairs of that attribute (``known_answer`` with ``options.families``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from selbench.targeted.query_item import QueryItem, QuerySetError
from selbench.tinyworld.key import world_key
from selbench.tinyworld.world import ATTRIBUTES, make_world

#: attribute -> phrasings used only by query sets (disjoint from the pool and evaluation questions)
QUERY_QUESTIONS: dict[str, tuple[str, ...]] = {
    "city": ("In what place has {e} settled?", "Which place would you visit to meet {e} at home?"),
    "color": ("Which shade does {e} adore?", "If {e} painted a wall, which colour would it be?"),
    "pet": ("Which creature keeps {e} company?", "What animal shares a home with {e}?"),
    "food": ("Which food would {e} cook tonight?", "What is {e} always happy to eat?"),
}


def _check_disjoint() -> None:
    for attribute, questions in QUERY_QUESTIONS.items():
        pool_q, held_out, _ = ATTRIBUTES[attribute]
        clash = set(questions) & (set(pool_q) | set(held_out))
        assert not clash, f"query phrasings reuse pool/evaluation questions: {clash}"


def tiny_world_queries(attribute: str = "pet", entities: int = 24, seed: int = 0, per_entity: int = 1) -> list[QueryItem]:
    """One query per entity (``per_entity`` phrasings each) about ``attribute``, labelled with the truth."""
    _check_disjoint()
    if attribute not in QUERY_QUESTIONS:
        raise QuerySetError(f"tiny-world has no attribute {attribute!r} (it has {sorted(QUERY_QUESTIONS)})")
    if not 1 <= per_entity <= len(QUERY_QUESTIONS[attribute]):
        raise QuerySetError(f"per_entity must be between 1 and {len(QUERY_QUESTIONS[attribute])}")
    world = make_world(entities, seed, key=world_key())  # the pool's world: the install's key
    items = []
    for fact in world.facts:
        if fact.attribute != attribute:
            continue
        for k, question in enumerate(QUERY_QUESTIONS[attribute][:per_entity]):
            items.append(QueryItem(f"{fact.entity}-{attribute}-q{k}", question.format(e=fact.entity), fact.answer()))
    return items


GENERATORS: dict[str, Callable[..., list[QueryItem]]] = {"tiny-world": tiny_world_queries}


def generate_query_set(name: str, args: dict[str, Any]) -> list[QueryItem]:
    if name not in GENERATORS:
        raise QuerySetError(f"unknown query-set generator {name!r} (known: {sorted(GENERATORS)})")
    try:
        return GENERATORS[name](**args)
    except TypeError as exc:
        raise QuerySetError(f"query-set generator {name!r}: bad arguments {args}: {exc}") from None
