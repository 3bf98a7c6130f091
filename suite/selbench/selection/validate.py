"""Check a selector's output against the contract, with messages that name the problem."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection
from typing import Any

from selbench.errors import BudgetError, SelectorError
from selbench.selection.base import Selection


def check_budget(budget: int, pool_size: int, pool_name: str, ignores_budget: bool = False) -> None:
    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
        raise BudgetError(f"budget must be a positive integer, got {budget!r}")
    if budget > pool_size and not ignores_budget:
        raise BudgetError(f"budget {budget} is larger than pool '{pool_name}' ({pool_size} examples)")


def _sample(values: list[Any], n: int = 3) -> str:
    return ", ".join(repr(v)[:40] for v in values[:n])


def validate_selection(
    selector: str, raw: Any, pool_ids: Collection[str], expected_size: int
) -> Selection:
    """The validated :class:`Selection`; raises :class:`SelectorError` naming ``selector``."""
    if isinstance(raw, Selection):
        selection = raw
    elif isinstance(raw, (list, tuple)):
        selection = Selection(ids=list(raw))
    else:
        raise SelectorError(selector, f"returned {type(raw).__name__}, expected a Selection or a list of ids")
    ids = selection.ids
    if not isinstance(ids, (list, tuple)):
        raise SelectorError(selector, f"Selection.ids is {type(ids).__name__}, expected a list of strings")
    bad = [i for i in ids if not isinstance(i, str)]
    if bad:
        raise SelectorError(selector, f"returned {len(bad)} non-string id(s), e.g. {_sample(bad)} ({type(bad[0]).__name__})")
    dupes = [i for i, n in Counter(ids).items() if n > 1]
    if dupes:
        raise SelectorError(selector, f"returned {len(dupes)} duplicate id(s), e.g. {_sample(dupes)}")
    foreign = [i for i in ids if i not in pool_ids]
    if foreign:
        raise SelectorError(selector, f"returned {len(foreign)} id(s) that are not in the pool, e.g. {_sample(foreign)}")
    if len(ids) < expected_size:
        raise SelectorError(selector, f"returned too few ids: {len(ids)} instead of {expected_size}")
    if len(ids) > expected_size:
        raise SelectorError(selector, f"returned too many ids: {len(ids)} instead of {expected_size}")
    scores = selection.scores
    if scores is not None:
        if not isinstance(scores, (list, tuple)) or len(scores) != len(ids):
            raise SelectorError(selector, "Selection.scores must be a list with one number per id (or None)")
        try:
            scores = [float(s) for s in scores]
        except (TypeError, ValueError):
            raise SelectorError(selector, "Selection.scores must hold numbers") from None
        if not all(math.isfinite(s) for s in scores):
            raise SelectorError(selector, "Selection.scores holds NaN or infinite values")
    if not isinstance(selection.info, dict):
        raise SelectorError(selector, "Selection.info must be a dict")
    return Selection(ids=list(ids), scores=scores, info=dict(selection.info))
