"""Cherry's IFD rule: drop IFD > 1 (the answer is easier without the instruction), then top-N by IFD."""

from __future__ import annotations

from typing import Any

import numpy as np

from selbench.rules.common import Pick, as_scores, check_fallback, check_k, shortfall
from selbench.rules.topk import descending_order


def ifd_filter(ifd: Any, k: int, *, max_ifd: float = 1.0, fallback: str = "fill") -> Pick:
    """The ``k`` highest IFD scores among those ``<= max_ifd`` (non-finite IFD never passes).

    IFD(Q, A) = s(A|Q) / s(A); Cherry_LLM discards IFD > 1 and keeps the highest. When fewer
    than ``k`` remain, ``fill`` adds the discarded ones closest to the limit first (lowest IFD
    above ``max_ifd``), then non-finite ones; ``error`` raises; ``short`` returns fewer.
    """
    arr = as_scores(ifd, "ifd")
    check_fallback(fallback)
    k = check_k(k, len(arr))
    finite = np.isfinite(arr)
    keep = finite & (arr <= max_ifd)
    order = descending_order(np.where(keep, arr, np.nan))
    passing = order[keep[order]]
    stats = {"ifd_above_max": int((finite & ~keep).sum()), "ifd_not_finite": int((~finite).sum())}
    if len(passing) >= k:
        return Pick(passing[:k], passed=k, stats=stats)
    note = shortfall("ifd_filter", len(passing), k, fallback,
                     f"the lowest IFD above {max_ifd:g}", "the model finds most answers easier without their instruction")
    if fallback != "fill":
        return Pick(passing, passed=len(passing), note=note, stats=stats)
    above = np.flatnonzero(finite & ~keep)
    above = above[np.argsort(arr[above], kind="stable")]
    rest = np.concatenate([above, np.flatnonzero(~finite)])
    return Pick(np.concatenate([passing, rest[: k - len(passing)]]), passed=len(passing), note=note, stats=stats)
