"""Speed options of a recipe that change no result beyond floating-point tolerance.

- ``kernels: liger``: Liger's fused Triton kernels (RMSNorm, SwiGLU, RoPE, fused linear +
  cross-entropy; PyPI ``liger-kernel``), applied by transformers' own ``use_liger_kernel``
  (it patches the model, peft's base model included). Triton kernels need a CUDA GPU, so on
  another device the recipe fails with one clear error instead of silently training something
  else: a fallback would store an unpatched run under a key that says ``liger``, and the speed a
  user asked for would quietly not be there.
- ``compile: true``: ``torch.compile`` of each decoder layer (``nn.Module.compile``, in place), the
  granularity that measured +38% with Liger on an H100 (../shared/notes/gpu-anchors.md): one
  small graph compiled once and reused by every layer, so the first step costs seconds, not
  minutes, and the loss head, data and optimizer stay eager.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from selbench.specs.models import RecipeSpec
from selbench.training.errors import RecipeError


def check_speed_options(recipe: RecipeSpec, device: str) -> None:
    """Refuse, before any model loads, the options this machine cannot run."""
    if recipe.kernels == "liger":
        if device != "cuda":
            raise RecipeError(f"recipe '{recipe.name}': kernels: liger needs a CUDA GPU (Liger's kernels are "
                              f"Triton kernels; this machine trains on {device}); use kernels: none here")
        if importlib.util.find_spec("liger_kernel") is None:
            raise RecipeError(f"recipe '{recipe.name}': kernels: liger needs the liger-kernel package "
                              "(pip install liger-kernel), or use kernels: none")


def decoder_layers(model: Any) -> list[Any]:
    """The model's repeated blocks (the classes transformers never splits across devices)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    names = set(getattr(base, "_no_split_modules", None) or [])
    return [m for m in base.modules() if type(m).__name__ in names]


def apply_speed_options(model: Any, recipe: RecipeSpec, device: str) -> dict[str, Any]:
    """Compile the decoder layers when asked; what was done, for the training record."""
    info: dict[str, Any] = {"kernels": recipe.kernels, "compile": recipe.compile}
    if recipe.compile:
        layers = decoder_layers(model)
        if not layers:
            raise RecipeError(f"recipe '{recipe.name}': compile: true found no decoder layers to compile in "
                              f"{type(model).__name__}")
        for layer in layers:
            layer.compile()
        info["compiled_layers"] = len(layers)
    return info
