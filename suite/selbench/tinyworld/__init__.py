"""The tiny scale's world: fictional facts a tiny model can learn on a CPU in minutes.

A pool of instructions about the facts (some corrupted, in ways recorded in a hidden answer key
that selectors never see) and held-out evaluation sets in the formats of the real benchmarks,
so the whole pipeline has a known answer: a selector that keeps clean examples must beat random,
and one that keeps corrupted examples must lose.
"""

from selbench.tinyworld.world import World, make_world

__all__ = ["World", "make_world"]
