"""'Did you mean' hints for unknown names (selectors, pools, specs), as lm-eval's registry gives."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """A suffix for an 'unknown X' message: the closest known names, or the full list."""
    known = sorted(set(known))
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    if close:
        return f"; did you mean {' or '.join(repr(c) for c in close)}?"
    return f"; known: {', '.join(known)}" if known else ""
