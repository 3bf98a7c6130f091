"""Metering what a stage cost: time, compute, tokens, API calls, dollars."""

from selbench.cost.meter import CostMeter, CostRecord
from selbench.cost.pricing import price

__all__ = ["CostMeter", "CostRecord", "price"]
