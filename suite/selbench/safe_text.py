"""Text from untrusted sources (plugins' messages, submission files) made safe to echo.

A plugin's exception message or a submitted string can carry terminal control sequences (clear
the screen, recolour, set the window title, ring the bell); echoed raw to a terminal or a log
they act on it. :func:`printable` removes them and every other control character but newline
and tab, and bounds the length.
"""

from __future__ import annotations

import re

_ESCAPE = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str, limit: int = 4000) -> str:
    """``text`` without control sequences or characters (newlines and tabs kept), at most ``limit`` chars."""
    clean = _CONTROL.sub("", _ESCAPE.sub("", text))
    return clean if len(clean) <= limit else clean[: limit // 2] + " [...] " + clean[-limit // 2:]
