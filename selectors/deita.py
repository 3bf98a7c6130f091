"""``deita``: score-first, diversity-aware selection (DEITA, Liu et al. ICLR 2024).

As Chasing Random ran it (``deita_selection.py``): embed every example with a model (Mistral-7B
there: last-layer hidden state of the last token, max_length 512), score it with DEITA's quality
scorer (expected score over the tokens "1".."6"), sort by **quality only** (``score="quality"``;
DEITA's own default ``complexity x quality`` is ``score="complexity_x_quality"``), then walk down
and keep an example only if its cosine similarity to every kept one is <= 0.9, until N are kept
(:func:`selbench.rules.diversity_greedy`, chunked on the device). When the pool runs out before
N, the skipped examples fill the rest in score order and ``info.rule.note`` says so (DEITA's
README advises a lower threshold).

Models: ``scorer="auto"`` uses ``hkust-nlp/deita-*-scorer`` from the hub, or, when the spec's base
model is built locally (the tiny spec), an untrained stand-in of the same shape; ``embedder="base"``
embeds with the spec's base model (``mistralai/Mistral-7B-v0.1`` as a hub id reproduces the
original; give ``embedder_revision``).
"""

from __future__ import annotations

import numpy as np

from selbench.errors import SelbenchError
from selbench.pools.pool import Pool
from selbench.representations.deita import deita_scores, scorer_spec
from selbench.representations.embeddings import pool_embeddings
from selbench.rules import diversity_greedy
from selbench.selection.base import Selection, Selector
from selbench.selection.context import SelectionContext
from selbench.specs.models import ModelSpec
from selbench.training.templates import get_template

_SCORES = ("quality", "complexity", "complexity_x_quality")


class DeitaSelector(Selector):
    """DEITA quality score first, then cosine-diversity greedy filter (threshold 0.9)."""

    name = "deita"
    version = "1.0.0"
    paper = "arXiv:2312.15685"
    needs_gpu = False  # tiny stand-ins run on CPU; the 7B scorer and embedder want a GPU
    external_models = ("hkust-nlp/deita-quality-scorer", "hkust-nlp/deita-complexity-scorer", "mistralai/Mistral-7B-v0.1")

    def __init__(self, threshold: float = 0.9, score: str = "quality", scorer: str = "auto",
                 scorer_revision: str | None = None, embedder: str = "base", embedder_revision: str | None = None,
                 pooling: str = "last", max_length: int = 512, chunk: int = 2048, fallback: str = "fill") -> None:
        super().__init__(threshold=threshold, score=score, scorer=scorer, scorer_revision=scorer_revision,
                         embedder=embedder, embedder_revision=embedder_revision, pooling=pooling,
                         max_length=max_length, chunk=chunk, fallback=fallback)
        if score not in _SCORES:
            raise SelbenchError(f"deita: score must be one of {_SCORES}, got {score!r}")
        self.threshold, self.score, self.scorer, self.scorer_revision = float(threshold), score, scorer, scorer_revision
        self.embedder, self.embedder_revision, self.pooling = embedder, embedder_revision, pooling
        self.max_length, self.chunk, self.fallback = int(max_length), int(chunk), fallback

    def _embedder(self, base: ModelSpec) -> ModelSpec | None:
        if self.embedder == "base":
            return None
        if self.embedder.startswith((".", "/", "~")):
            return ModelSpec(name="deita-embedder", path=self.embedder)
        return ModelSpec(name="deita-embedder", hub_id=self.embedder, revision=self.embedder_revision or "main")

    def select(self, pool: Pool, budget: int, ctx: SelectionContext) -> Selection:
        spec = ctx.services.require_spec("deita")
        base = spec.base_model
        info: dict = {}
        scores = np.ones(len(pool))
        for kind in ("quality", "complexity"):
            if kind in self.score:
                model = scorer_spec(kind, base, self.scorer, self.scorer_revision)  # type: ignore[arg-type]
                values, info[kind] = deita_scores(pool, ctx, kind=kind, model=model, max_length=self.max_length)  # type: ignore[arg-type]
                info[kind]["scorer"] = model.model_dump(mode="json", exclude_defaults=True)
                scores = scores * values
        template = get_template(spec.recipe.template).chat_template
        emb, info["embeddings"] = pool_embeddings(pool, ctx, model=self._embedder(base), pooling=self.pooling,
                                                  text="conversation", chat_template=template, max_length=self.max_length)
        import torch

        device = "cuda" if torch.cuda.is_available() else None
        pick = diversity_greedy(scores, emb, budget, threshold=self.threshold, chunk=self.chunk, device=device,
                                fallback=self.fallback)
        ids = pool.data["id"]
        info["rule"] = pick.info()
        return Selection(ids=[ids[int(i)] for i in pick.indices], scores=[float(scores[i]) for i in pick.indices],
                         info=info)
