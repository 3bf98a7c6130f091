"""Candidate pools in one canonical schema, loaded through HF ``datasets`` and cached as Arrow."""

from selbench.pools.pool import Pool
from selbench.pools.loader import load_pool

__all__ = ["Pool", "load_pool"]
