"""The tiny base model's pretraining text: chat conversations about a *different* world.

The tiny scale fine-tunes a LoRA adapter on the pool's world (:func:`selbench.tinyworld.pool.labelled_rows`).
LoRA on a random-init model learns too little, so the ``tiny-llama`` builder can first train the
whole model on conversations about another world: same attributes, every question template
(the pool's and the held-out ones), the IFEval-style format instructions, answers with that
world's true values. The base then knows the chat format, which attribute each question asks
about and how to copy a name into the answer; the fine-tune only has to learn the new world's
entity -> value facts, and the held-out phrasings are already mapped to their attribute.

The pretraining world shares no entity (or city) name with any pool world of seed
``< RESERVED_SEEDS`` and at most ``RESERVED_ENTITIES`` entities: their names are excluded when
the pretraining world is drawn (pool worlds draw their names first, so the names of a smaller
world are a prefix of the reserved list), and :func:`pretrain_world` asserts it.
"""

from __future__ import annotations

import random
from functools import lru_cache

from selbench.tinyworld.pool import FORMATS
from selbench.tinyworld.world import ATTRIBUTES, World, make_world

#: Pool worlds with a seed below this and at most RESERVED_ENTITIES entities are disjoint from
#: every pretraining world.
RESERVED_SEEDS = 16
RESERVED_ENTITIES = 512
PRETRAIN_CORPUS_VERSION = 1


@lru_cache(maxsize=1)
def reserved_names() -> frozenset[str]:
    """Every entity name (and city) a pool world in the reserved range can use."""
    names: set[str] = set()
    for seed in range(RESERVED_SEEDS):
        world = make_world(RESERVED_ENTITIES, seed)
        names.update(world.entities)
        names.update(f.value for f in world.facts if f.attribute == "city")
    return frozenset(names)


def pretrain_world(entities: int, seed: int) -> World:
    """The pretraining world: ``make_world`` with every reserved pool name excluded."""
    reserved = reserved_names()
    world = make_world(entities, seed, exclude=reserved)
    cities = {f.value for f in world.facts if f.attribute == "city"}
    clash = (set(world.entities) | cities) & reserved
    assert not clash, f"the pretraining world shares names with a pool world: {sorted(clash)[:5]}"
    return world


def pool_world_is_disjoint(pretrain: World, pool_entities: int, pool_seed: int) -> bool:
    """True when the pretraining world shares no entity or city name with this pool world."""
    pool = make_world(pool_entities, pool_seed)
    pool_names = set(pool.entities) | {f.value for f in pool.facts if f.attribute == "city"}
    mine = set(pretrain.entities) | {f.value for f in pretrain.facts if f.attribute == "city"}
    return not (pool_names & mine)


def pretrain_conversations(count: int, entities: int = 64, seed: int = 1000, format_share: float = 0.2) -> list[tuple[str, str]]:
    """``count`` (question, answer) pairs about the pretraining world, drawn deterministically.

    Every question template (pool and held-out) of every attribute is used; a ``format_share``
    of the questions carry a lowercase/capital-letters instruction and a matching answer.
    """
    world = pretrain_world(entities, seed)
    rng = random.Random(seed + 7)
    out: list[tuple[str, str]] = []
    for _ in range(count):
        fact = rng.choice(world.facts)
        pool_questions, held_out, _ = ATTRIBUTES[fact.attribute]
        question = rng.choice(pool_questions + held_out).format(e=fact.entity)
        answer = fact.answer()
        if rng.random() < format_share:
            fmt = rng.choice(tuple(FORMATS))
            question = FORMATS[fmt] + question
            answer = answer.lower() if fmt == "lowercase" else answer.upper()
        out.append((question, answer))
    return out
