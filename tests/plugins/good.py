"""Test plugins: well-behaved selectors (loaded by path in tests)."""

from selbench.selection import Selection, Selector


class ShortestFirst(Selector):
    """Shortest responses first (deterministic)."""

    name = "shortest_first"
    version = "0.2.0"

    def select(self, pool, budget, ctx):
        order = sorted(range(len(pool)), key=lambda i: (len(pool.data[i]["output"]), i))[:budget]
        return Selection(ids=[pool.data[i]["id"] for i in order], scores=[float(i) for i in range(budget)])


class EveryKth(Selector):
    """Parameterised plugin: every k-th example from an offset (returns a plain list)."""

    name = "every_kth"

    def __init__(self, k: int = 2, offset: int = 0):
        super().__init__(k=k, offset=offset)
        self.k, self.offset = k, offset

    def select(self, pool, budget, ctx):
        ids = pool.data["id"]
        return [ids[(self.offset + j * self.k) % len(ids)] for j in range(budget)]


class SeededSample(Selector):
    """Uses ctx.rng(): seeded."""

    name = "seeded_sample"
    seeded = True

    def select(self, pool, budget, ctx):
        return ctx.rng().sample(list(pool.data["id"]), budget)
