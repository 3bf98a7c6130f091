"""LESS gradient features (Xia et al. 2024), as the targeted paper runs them (arXiv 2602.14696 §2.3).

The pipeline, one module each:

- :mod:`.warmup`: a LoRA warm-up on a seeded random ``warmup_fraction`` of the pool through the
  fine-tuning stage, keeping at every epoch end the adapter, the Adam moments and the epoch's
  mean learning rate; trained once per (model, pool, recipe, fraction, seed) and cached.
- :mod:`.per_sample`: per-example gradients of the LoRA weights for a whole padded batch in one
  forward/backward (activation/grad hooks on the LoRA A/B layers, one einsum per layer), equal
  to the one-backward-per-example loop (which is kept as the reference and the benchmark's
  baseline).
- :mod:`.adam`: the Adam preconditioning of pool gradients, ``m' / sqrt(v' + eps)``.
- :mod:`.projection`: a seeded CountSketch (sparse Johnson-Lindenstrauss) projection whose
  buckets and signs are a counter-based hash of (parameter, coordinate, seed): computed on the
  fly, never a stored dense matrix, identical on every device and batch size.
- :mod:`.features`: :func:`less_features`, the :class:`~selbench.representations.features.Features`
  (one block per checkpoint, weighted by the normalised mean learning rate) a selector consumes.
"""

from __future__ import annotations

from typing import Any

__all__ = ["less_features"]


def __getattr__(name: str) -> Any:  # lazy: importing the package loads no torch
    if name == "less_features":
        from selbench.representations.less.features import less_features

        return less_features
    raise AttributeError(name)
