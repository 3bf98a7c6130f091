"""Shared engine services for selectors: batched forward passes, embeddings, judge generation.

Selectors get them from ``ctx.services`` (a :class:`Services`), built lazily inside the
selection worker from the spec the stage hands through (its base model and judge), so a
selector that needs none of them pays nothing:

- ``ctx.services.forward()`` -> :class:`~selbench.services.forward.ForwardService`
  (per-example answer losses, next-token logits) on the spec's base model (or any model spec,
  optionally with a LoRA adapter);
- ``ctx.services.embedder()`` -> :class:`~selbench.services.embed.EmbeddingService`
  (mean or last-token pooled hidden states);
- ``ctx.services.judge()`` -> :class:`~selbench.services.judge.JudgeService` (chat
  completions from a vLLM server started on the judge model, or an OpenAI-compatible API
  endpoint named in the spec's ``judge`` section);
- ``ctx.services.cache`` -> :class:`~selbench.services.cache.ScoreCache` (per-pool scores on
  disk, their cost charged as amortised).

Every service reports tokens, analytic FLOPs (and API tokens) to ``ctx.meter``; time is
measured by the meter around the selector.
"""

from __future__ import annotations

from selbench.services.container import ServiceError, Services

__all__ = ["ServiceError", "Services"]
