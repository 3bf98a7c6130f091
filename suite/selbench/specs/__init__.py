"""Benchmark specs: versioned YAML files validated with pydantic."""

from selbench.specs.loader import builtin_spec_names, load_spec
from selbench.specs.models import PoolSpec, Spec

__all__ = ["PoolSpec", "Spec", "builtin_spec_names", "load_spec"]
