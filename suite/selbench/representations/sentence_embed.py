"""EMBED: a sentence-embedding model as the targeted representation (arXiv 2602.14696 §2.3).

As the targeted paper runs it (``representation/embed/compute_sentence_embeds.py``):

- the model is ``sentence-transformers/gtr-t5-base`` (:data:`GTR_T5_BASE`, pinned revision),
  loaded with ``SentenceTransformer(hub_id, revision=...)``; any sentence-transformers folder
  works the same way (a ModelSpec ``path``), and at the tiny scale the ``tiny-sentence-encoder``
  builder (:mod:`selbench.models.tiny_encoder`) writes such a folder locally
  (:data:`TINY_SENTENCE_ENCODER`): the same code loads it, only the folder's origin differs;
- **pool text** = the row's conversation in the chat format (``spec.recipe.template``; Tulu in
  the paper), stripped; the template's BOS is the *embedding* tokenizer's (none for T5), its EOS
  the embedding tokenizer's ``</s>``, exactly as the paper concatenates the messages;
- **query text** = ``query_prefix + f"{prompt} {label}"``, stripped (the paper's instruction,
  ``spec.targeted.embed_query_prefix``);
- encoded with ``SentenceTransformer.encode`` (its own truncation to the model's
  ``max_seq_length``), L2-normalised, cosine similarity.

Pool vectors are cached through ``ctx.services.cache`` per (pool, model weights, template,
max_seq_length) and their cost is amortised; query vectors are computed per query set. Tokens and
forward FLOPs (2 x parameters x tokens) go to ``ctx.meter`` like the other services.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from selbench.cost.meter import CostMeter, transformer_forward_flops
from selbench.representations.features import Features, single
from selbench.representations.rds import (
    pool_conversations,
    render_conversation,
    resolve_template,
    row_messages,
)
from selbench.services.model import LoadedModel
from selbench.specs.models import ModelSpec

#: bump when the pool vectors of the same inputs change
EMBED_VERSION = 1
CACHE_NAME = "embed-pool"

#: The paper's EMBED model. Revision: the commit MTEB pins for this model
#: (embeddings-benchmark/mteb, ``mteb/models/gtr_models.py``); the weights are a 2022 upload.
GTR_T5_BASE = ModelSpec(name="gtr-t5-base", hub_id="sentence-transformers/gtr-t5-base",
                        revision="7027e9594267928589816394bdd295273ddc0739")
#: The tiny scale's stand-in, built offline (see :mod:`selbench.models.tiny_encoder`).
TINY_SENTENCE_ENCODER = ModelSpec(name="tiny-sentence-encoder", builder="tiny-sentence-encoder",
                                  builder_args={"train_steps": 200, "train_batch_size": 32}, dtype="float32")


def load_sentence_model(spec: ModelSpec, *, device: str | None = None, cache_folder: str | Path | None = None) -> LoadedModel:
    """A ``SentenceTransformer`` for ``spec`` (hub id at its revision, local folder, or builder), in eval mode.

    ``cache_folder``: the hub cache to read (default: ``SENTENCE_TRANSFORMERS_HOME`` or the
    Hugging Face cache). Offline (``HF_HUB_OFFLINE=1``) a hub model must be in that cache at the
    pinned revision.
    """
    from selbench.models.errors import ModelError
    from selbench.models.loader import _torch_dtype, resolve_base_model
    from selbench.models.quiet import quiet_transformers
    from selbench.services.model import default_device

    device = device or default_device()
    resolved = resolve_base_model(spec)
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise ModelError("EMBED needs sentence-transformers: pip install 'selbench[select]'") from None
    try:
        with quiet_transformers():
            model = SentenceTransformer(resolved.source, revision=resolved.revision, device=device,
                                        cache_folder=str(cache_folder) if cache_folder else None,
                                        model_kwargs={"dtype": _torch_dtype(spec.dtype, device)})
    except OSError as exc:
        where = resolved.source + (f"@{resolved.revision}" if resolved.revision else "")
        raise ModelError(f"embedding model '{spec.name}': cannot load the sentence-transformers model {where}: "
                         f"{str(exc).splitlines()[0]}") from None
    model.eval()
    n_params = sum(p.numel() for p in model.parameters())
    return LoadedModel(spec.name, model, model.tokenizer, device, n_params, dict(resolved.identity), resolved.source)


class SentenceEmbeddingService:
    """``SentenceTransformer.encode`` with the tokens and FLOPs charged to the cost meter."""

    def __init__(self, loaded: LoadedModel, meter: CostMeter, *, batch_size: int = 16) -> None:
        self.loaded = loaded
        self.meter = meter
        self.batch_size = max(1, int(batch_size))

    @property
    def tokenizer(self) -> Any:
        return self.loaded.tokenizer

    @property
    def max_seq_length(self) -> int | None:
        return self.loaded.model.max_seq_length

    def count_tokens(self, texts: Sequence[str]) -> int:
        """Tokens the encoder reads: special tokens included, truncated like ``encode`` truncates."""
        limit = self.max_seq_length
        ids = self.tokenizer(list(texts), add_special_tokens=True, truncation=limit is not None, max_length=limit)["input_ids"]
        return int(sum(len(i) for i in ids))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """float32 array (len(texts), dim), not normalised."""
        if not texts:
            raise ValueError("nothing to embed")
        tokens = self.count_tokens(texts)
        vectors = self.loaded.model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                                           normalize_embeddings=False, show_progress_bar=False)
        self.meter.add_tokens(tokens, transformer_forward_flops(self.loaded.n_params, tokens))
        return np.asarray(vectors, dtype=np.float32)


def query_texts(query_set: Any, query_prefix: str) -> list[str]:
    """``query_prefix + "{prompt} {label}"`` per query item, stripped (the paper's query text)."""
    return [(query_prefix + f"{q.prompt} {q.label}").strip() for q in query_set.items]


def embed_features(pool: Any, query_set: Any, ctx: Any, *, model: ModelSpec, query_prefix: str,
                   template: str | None = None, batch_size: int = 16) -> Features:
    """EMBED features of ``pool`` (a loaded Pool) and ``query_set`` (a QuerySet).

    ``model``: the sentence-embedding ModelSpec (``spec.targeted.embedding_model``);
    ``query_prefix``: ``spec.targeted.embed_query_prefix``; ``template``: a template name for the
    pool text (default ``spec.recipe.template``). ``batch_size`` changes speed only.
    """
    tmpl = resolve_template(ctx, template, "EMBED (the pool text's chat format)")
    embedder = ctx.services.sentence_embedder(model, batch_size=batch_size)
    tokenizer = embedder.tokenizer
    key = {"pool": pool.fingerprint, "model": embedder.loaded.identity, "template": tmpl.sha256,
           "first_turn_only": tmpl.first_turn_only, "max_seq_length": embedder.max_seq_length,
           "text": "conversation", "version": EMBED_VERSION}

    def compute() -> dict[str, np.ndarray]:
        texts = [render_conversation(tokenizer, tmpl.chat_template, row_messages(m, tmpl.first_turn_only))
                 for m in pool_conversations(pool)]
        return {"vectors": embedder.embed(texts)}

    arrays, cache_info = ctx.services.cache.get_or_compute(CACHE_NAME, key, compute)
    query_vectors = embedder.embed(query_texts(query_set, query_prefix))
    return single(arrays["vectors"], query_vectors, representation="embed", model=embedder.loaded.name,
                  model_identity=embedder.loaded.identity, template=tmpl.name,
                  max_seq_length=embedder.max_seq_length, query_prefix=query_prefix, pool_cache=cache_info,
                  query_set=getattr(query_set, "name", None))
