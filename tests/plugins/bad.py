"""Test plugins that break the selector contract, one way each."""

import os
import time

from selbench.selection import Selection, Selector


class _Base(Selector):
    name = "bad"

    def ids(self, pool):
        return list(pool.data["id"])


class Duplicates(_Base):
    def select(self, pool, budget, ctx):
        ids = self.ids(pool)
        return [ids[0]] * budget


class Foreign(_Base):
    def select(self, pool, budget, ctx):
        return self.ids(pool)[: budget - 1] + ["not-a-pool-id"]


class TooFew(_Base):
    def select(self, pool, budget, ctx):
        return self.ids(pool)[: budget - 1]


class TooMany(_Base):
    def select(self, pool, budget, ctx):
        return self.ids(pool)[: budget + 1]


class NonStrings(_Base):
    def select(self, pool, budget, ctx):
        return list(range(budget))


class WrongType(_Base):
    def select(self, pool, budget, ctx):
        return {"ids": self.ids(pool)[:budget]}


class Raises(_Base):
    def select(self, pool, budget, ctx):
        raise ValueError("scoring model exploded")


class Hangs(_Base):
    def select(self, pool, budget, ctx):
        time.sleep(600)


class Crashes(_Base):
    def select(self, pool, budget, ctx):
        os._exit(3)


class MemoryHog(_Base):
    def select(self, pool, budget, ctx):
        blob = bytearray(1536 * 2**20)  # 1.5 GiB, touched
        for i in range(0, len(blob), 4096):
            blob[i] = 1
        time.sleep(30)
        return self.ids(pool)[:budget]


class SlowThenFine(_Base):
    def select(self, pool, budget, ctx):
        time.sleep(float(os.environ.get("SELBENCH_PLUGIN_TEST_SLEEP", "0")))
        return self.ids(pool)[:budget]


class NondeterministicUnseeded(_Base):
    """Claims seeded=False but ignores the seed and uses fresh entropy."""

    def select(self, pool, budget, ctx):
        import random

        return random.SystemRandom().sample(self.ids(pool), budget)


class NotASelector:
    def select(self, pool, budget, ctx):
        return []


class BadMetadata(Selector):
    name = "Has Spaces"

    def select(self, pool, budget, ctx):
        return []


def not_a_class(pool, budget, ctx):
    return []
