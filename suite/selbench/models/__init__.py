"""Base models: the hub (pinned revision), local folders, and the deterministic tiny builder."""

from selbench.models.errors import ModelError
from selbench.models.loader import ResolvedModel, load_base_model, load_tokenizer, resolve_base_model

__all__ = ["ModelError", "ResolvedModel", "load_base_model", "load_tokenizer", "resolve_base_model"]
