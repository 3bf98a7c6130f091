"""Load a model spec (optionally with a LoRA adapter merged in) once, for the services."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selbench.hashing import sha256_json
from selbench.specs.models import ModelSpec


@dataclass
class LoadedModel:
    """A model in eval mode, its tokenizer, where it runs, and what identifies its weights."""

    name: str
    model: Any
    tokenizer: Any
    device: str
    n_params: int
    identity: dict[str, Any]
    source: str

    @property
    def key(self) -> str:
        return sha256_json(self.identity)


def model_key(spec: ModelSpec) -> str:
    return sha256_json(spec.model_dump(mode="json"))


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(spec: ModelSpec, *, adapter: str | Path | None = None, device: str | None = None) -> LoadedModel:
    """Resolve (build for builder models), load in eval mode; merge ``adapter`` (a peft folder)."""
    import torch

    from selbench.hashing import sha256_file
    from selbench.models.loader import load_base_model, load_tokenizer, resolve_base_model
    from selbench.models.quiet import quiet_transformers

    device = device or default_device()
    resolved = resolve_base_model(spec)
    identity: dict[str, Any] = dict(resolved.identity)
    with quiet_transformers():
        tokenizer = load_tokenizer(resolved)
        model = load_base_model(resolved, device=device)
        if adapter is not None:
            from peft import PeftModel

            weights = sorted(Path(adapter).glob("adapter_model.*"))
            identity["adapter"] = sha256_file(weights[0]) if weights else str(adapter)
            model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    model.to(device).eval()
    n_params = sum(p.numel() for p in model.parameters())
    return LoadedModel(spec.name, model, tokenizer, device, n_params, identity, resolved.source)
