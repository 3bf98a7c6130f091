"""Gain over compute-matched random: what the selection's compute would have bought as more random data.

With ``c_ft`` the per-example fine-tuning cost of the random runs at a pool, a selection that
cost ``C`` at budget ``n`` is compared with random at ``n' = n + C / c_ft``. Random's score at
``n'`` is read off the random runs' curve across the spec's budgets and the full pool,
interpolated linearly in log budget and capped at the full pool (a selection that costs more
than fine-tuning on the whole pool is compared with the full pool; beyond the largest point the
curve is held flat, never extrapolated). The penalty is how much better that random would have
done than random at ``n``, never negative, so cost can only lower a value:

    value = gain - max(0, R(n') - R(n))

A free selector (``C = 0``) has ``n' = n`` and its value is its plain gain. All scores here are
oriented (larger is better).
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def matched_budget(budget: float, selection_usd: float, usd_per_example: float, pool_size: float | None) -> float:
    """``n' = n + C / c_ft``, capped at the full pool (when its size is known)."""
    extra = selection_usd / usd_per_example if usd_per_example > 0 and selection_usd > 0 else 0.0
    n_prime = budget + extra
    return min(n_prime, pool_size) if pool_size is not None and pool_size >= budget else n_prime


def curve_at(points: Sequence[tuple[float, float]], x: float) -> float:
    """The curve through ``(budget, score)`` points, linear in log budget, flat beyond its ends."""
    pts = sorted(points)
    if not pts:
        raise ValueError("an empty random curve")
    if x <= pts[0][0]:
        return pts[0][1]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if x <= x1:
            t = (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0)) if x1 > x0 else 1.0
            return y0 + t * (y1 - y0)
    return pts[-1][1]


def penalty(points: Sequence[tuple[float, float]], budget: float, n_prime: float) -> float:
    """``max(0, R(n') - R(n))``: what the compute-matched random gains over random at ``n``."""
    if n_prime <= budget:
        return 0.0
    return max(0.0, curve_at(points, n_prime) - curve_at(points, budget))
