"""The lazy service container attached to a SelectionContext (``ctx.services``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from selbench.paths import cache_root
from selbench.services.errors import ServiceError

if TYPE_CHECKING:
    from selbench.cost.meter import CostMeter
    from selbench.representations.sentence_embed import SentenceEmbeddingService
    from selbench.services.cache import ScoreCache
    from selbench.services.embed import EmbeddingService
    from selbench.services.forward import ForwardService
    from selbench.services.judge import JudgeService
    from selbench.services.model import LoadedModel
    from selbench.specs.models import ModelSpec, Spec


class Services(dict):
    """``ctx.services``: a dict (plugins may stash their own objects in it) plus lazy factories.

    Models are loaded once per process and shared between services; :meth:`close` stops a judge
    server if one was started (the worker calls it when the selector returns).
    """

    def __init__(self, meter: CostMeter, *, spec: Spec | None = None, cache_dir: str | Path | None = None,
                 scratch_dir: str | Path | None = None, device: str | None = None) -> None:
        super().__init__()
        self.meter = meter
        self.spec = spec
        self.cache_dir = Path(cache_dir) if cache_dir else cache_root() / "scores"
        self.scratch_dir = Path(scratch_dir) if scratch_dir else None
        self.device = device
        self._models: dict[tuple[str, str | None], LoadedModel] = {}
        self._judge: JudgeService | None = None
        self._cache: ScoreCache | None = None

    # -- plumbing ---------------------------------------------------------------------------
    def require_spec(self, what: str) -> Spec:
        if self.spec is None:
            raise ServiceError(f"{what} needs the spec's models: run the selector with a spec "
                               "(`selbench select --spec tiny ...` or run_selection(..., spec=spec))")
        return self.spec

    @property
    def cache(self) -> ScoreCache:
        if self._cache is None:
            from selbench.services.cache import ScoreCache

            self._cache = ScoreCache(self.cache_dir, self.meter)
        return self._cache

    def model(self, model: ModelSpec | None = None, *, adapter: str | Path | None = None) -> LoadedModel:
        """A loaded model (the spec's base model by default), cached per process."""
        from selbench.services.model import load_model, model_key

        spec_model = model or self.require_spec("a base-model service").base_model
        key = (model_key(spec_model), str(adapter) if adapter else None)
        if key not in self._models:
            self._models[key] = load_model(spec_model, adapter=adapter, device=self.device)
        return self._models[key]

    # -- services -------------------------------------------------------------------------------
    def forward(self, model: ModelSpec | None = None, *, adapter: str | Path | None = None, **options: Any) -> ForwardService:
        from selbench.services.forward import ForwardService

        return ForwardService(self.model(model, adapter=adapter), self.meter, **options)

    def embedder(self, model: ModelSpec | None = None, **options: Any) -> EmbeddingService:
        from selbench.services.embed import EmbeddingService

        return EmbeddingService(self.model(model), self.meter, **options)

    def sentence_embedder(self, model: ModelSpec | None = None, **options: Any) -> SentenceEmbeddingService:
        """A sentence-transformers model (EMBED; the spec's ``targeted.embedding_model`` by default),
        loaded once per process, with its tokens/FLOPs charged to the meter."""
        from selbench.representations.sentence_embed import SentenceEmbeddingService, load_sentence_model
        from selbench.services.model import model_key

        if model is None:
            spec = self.require_spec("the sentence-embedding service")
            model = spec.targeted.embedding_model if spec.targeted is not None else None
            if model is None:
                raise ServiceError(f"spec {spec.name} names no sentence-embedding model (targeted.embedding_model)")
        key = (model_key(model), "sentence-transformers")
        if key not in self._models:
            self._models[key] = load_sentence_model(model, device=self.device)
        return SentenceEmbeddingService(self._models[key], self.meter, **options)

    def judge(self) -> JudgeService:
        """The spec's judge: its API endpoint, else a vLLM server on its model (or the base model)."""
        if self._judge is None:
            from selbench.services.judge import JudgeService

            spec = self.require_spec("the judge service")
            log_dir = (self.scratch_dir or self.cache_dir) / "judge-server"
            self._judge = JudgeService.from_spec(spec, self.meter, log_dir=log_dir)
        return self._judge

    def close(self) -> None:
        if self._judge is not None:
            self._judge.close()
            self._judge = None
        self._models.clear()
