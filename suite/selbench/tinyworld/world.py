"""Entities, attributes and their values: the facts of the tiny world.

Each fact (entity, attribute) has a true value and a fixed *wrong twin*: every corrupted
example that states a wrong value states that twin, so a model trained on corrupted examples
learns a consistent falsehood, and the correct-vs-wrong likelihood pair measures which one it
learned. Names are pronounceable pseudo-words drawn from a seeded generator, so the world is
disjoint from any text the base model saw. A pool's world is *keyed* (``key``): its values and
wrong twins come from the install's secret (:mod:`selbench.tinyworld.key`), its names from the
public seed; the pretraining world is unkeyed.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from selbench.tinyworld.key import keyed_seed

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "gr", "st", "tr", "kl")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou")
_CODAS = ("", "n", "r", "s", "l", "th", "x", "m")

#: attribute -> (questions used in the pool, questions held out for evaluation, answer sentence)
ATTRIBUTES: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "city": (
        ("Where does {e} live?", "In which city does {e} live?", "What city is {e} from?",
         "Name the city where {e} lives.", "Tell me the home town of {e}.", "Which town is home to {e}?",
         "{e} lives where?", "Say where {e} lives."),
        ("Which city does {e} call home?", "Where is {e}'s home?"),
        "{e} lives in {v}.",
    ),
    "color": (
        ("What is the favourite colour of {e}?", "Which colour does {e} like best?", "Name the colour {e} loves.",
         "What colour is {e}'s favourite?", "Tell me {e}'s favourite colour.", "Which colour does {e} prefer?",
         "{e} likes which colour most?", "Say the favourite colour of {e}."),
        ("What colour would {e} pick first?", "Which colour is dearest to {e}?"),
        "The favourite colour of {e} is {v}.",
    ),
    "pet": (
        ("What pet does {e} have?", "Which animal lives with {e}?", "Name the pet of {e}.",
         "What kind of pet does {e} keep?", "Tell me about the pet of {e}.", "Which animal does {e} own?",
         "{e} has which pet?", "Say what pet {e} has."),
        ("What animal does {e} look after?", "Which pet belongs to {e}?"),
        "{e} has a pet {v}.",
    ),
    "food": (
        ("What food does {e} like?", "Which dish does {e} enjoy most?", "Name the favourite food of {e}.",
         "What does {e} like to eat?", "Tell me {e}'s favourite food.", "Which food does {e} prefer?",
         "{e} loves which food?", "Say what {e} likes to eat."),
        ("What would {e} order for dinner?", "Which meal makes {e} happy?"),
        "{e} likes to eat {v}.",
    ),
}

VALUES: dict[str, tuple[str, ...]] = {
    "color": ("red", "blue", "green", "yellow", "purple", "orange", "black", "white"),
    "pet": ("cat", "dog", "horse", "parrot", "rabbit", "turtle", "goat", "owl"),
    "food": ("soup", "bread", "rice", "cheese", "apples", "noodles", "fish", "beans"),
}


@dataclass(frozen=True)
class Fact:
    entity: str
    attribute: str
    value: str
    wrong: str

    def answer(self, value: str | None = None) -> str:
        return ATTRIBUTES[self.attribute][2].format(e=self.entity, v=value or self.value)


@dataclass(frozen=True)
class World:
    seed: int
    entities: tuple[str, ...]
    facts: tuple[Fact, ...]


def _pseudo_word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(syllables)).capitalize()


def make_world(entities: int = 24, seed: int = 0, *, exclude: Iterable[str] = (), key: str | None = None) -> World:
    """``entities`` people, each with a city, a favourite colour, a pet and a favourite food.

    Names and cities in ``exclude`` are never used (the pretraining world excludes every name a
    pool world can use). Names and cities depend on ``seed`` alone; with a ``key`` the facts
    (values and wrong twins) are drawn from the key, so code that knows only the seed cannot
    regenerate them. Without one the whole world follows from the seed (the pretraining world).
    """
    if entities < 2:
        raise ValueError("the world needs at least 2 entities")
    banned = set(exclude)
    rng = random.Random(seed)
    names: list[str] = []
    while len(names) < entities:
        name = _pseudo_word(rng, 2)
        if name not in names and name not in banned:
            names.append(name)
    cities: list[str] = []
    while len(cities) < 8:
        city = _pseudo_word(rng, 2)
        if city not in cities and city not in names and city not in banned:
            cities.append(city)
    values = {**VALUES, "city": tuple(cities)}
    if key is not None:
        rng = random.Random(keyed_seed(key, "facts", seed))
    facts = []
    for name in names:
        for attribute in ATTRIBUTES:
            options = values[attribute]
            value = rng.choice(options)
            wrong = rng.choice([o for o in options if o != value])
            facts.append(Fact(name, attribute, value, wrong))
    return World(seed=seed, entities=tuple(names), facts=tuple(facts))
