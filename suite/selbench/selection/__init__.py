"""Selector plugins and the selection stage."""

from selbench.selection.base import Selection, Selector
from selbench.selection.context import SelectionContext

__all__ = ["Selection", "SelectionContext", "Selector"]
