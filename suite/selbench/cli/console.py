"""Shared rich consoles: results to stdout, progress and errors to stderr.

When output is piped (CI logs, ``| less``) rich would assume 80 columns and fold tables; a wider
fixed width keeps ids and paths whole.
"""

import sys

from rich.console import Console

_PIPED_WIDTH = 160

out = Console(width=None if sys.stdout.isatty() else _PIPED_WIDTH)
err = Console(stderr=True, width=None if sys.stderr.isatty() else _PIPED_WIDTH)
