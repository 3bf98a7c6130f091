"""``less_features``: LESS's query and pool vectors, one block per warm-up checkpoint.

For every checkpoint ``t`` of the warm-up (:mod:`.warmup`): the pool examples' LoRA gradients,
Adam-preconditioned with the checkpoint's moments, and the query examples' plain gradients,
each sketched to ``projection_dim`` (:mod:`.projection`) and L2-normalised; the block's weight is
the epoch's mean learning rate normalised over the checkpoints. The similarity is then
``sum_t w_t cos(q_t, p_t)``, the paper's LR-weighted cosine (:class:`Features`).

Examples are rendered with the warm-up recipe's template (the format the LoRA was trained on)
and labelled like training rows (``loss_on``), truncated to ``LessSpec.max_length``; an example
left without a label token gets a zero vector (similarity 0 to everything).

Costs: the warm-up and the pool gradients do not depend on the query set, budget or seed, so
they are cached (warm-up: :func:`.warmup.ensure_warmup`; pool gradients: the score cache, entry
``less-pool-grads`` per checkpoint, keyed by base model, pool, warm-up, checkpoint, projection
and tokenisation) and charged as amortised. Query gradients are computed on every call and
charged to the caller's current phase (per query set).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from selbench.cost.meter import transformer_forward_flops
from selbench.hashing import sha256_json
from selbench.representations.features import Block, Features, l2_normalise
from selbench.representations.less.per_sample import IGNORE_INDEX, Example, gradient_features, lora_layers
from selbench.representations.less.projection import CountSketch
from selbench.representations.less.warmup import Checkpoint, LessError, ensure_warmup
from selbench.specs.models import LessSpec, RecipeSpec
from selbench.training.templates import Template, get_template

POOL_CACHE = "less-pool-grads"
# Bump when the pool features for the same key change.
FEATURES_VERSION = 1


def encode_conversations(conversations: Sequence[list[dict[str, str]]], tokenizer: Any, template: Template,
                         max_length: int, loss_on: str, chunk: int = 256) -> list[Example]:
    """(input_ids, labels) per conversation, as the training stage renders and labels them
    (``{% generation %}`` spans when ``loss_on == "response"``), truncated to ``max_length``.
    Unlike training, no row is dropped: a row without a label token stays (its features are 0)."""
    out: list[Example] = []
    for start in range(0, len(conversations), chunk):
        part = [_first_turn(c) if template.first_turn_only else c for c in conversations[start:start + chunk]]
        encoded = tokenizer.apply_chat_template(part, chat_template=template.chat_template, tokenize=True,
                                                return_dict=True, return_assistant_tokens_mask=loss_on == "response")
        masks = encoded.get("assistant_masks") if loss_on == "response" else None
        for j, ids in enumerate(encoded["input_ids"]):
            ids = list(ids)[:max_length]
            labels = ([t if m else IGNORE_INDEX for t, m in zip(ids, masks[j])] if masks is not None else list(ids))
            out.append((ids, labels[:max_length]))
    return out


def _first_turn(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    first_user = next((i for i, m in enumerate(messages) if m["role"] == "user"), None)
    return messages if first_user is None else messages[: first_user + 2]


def pool_conversations(pool: Any) -> list[list[dict[str, str]]]:
    return [[{"role": m["role"], "content": m["content"]} for m in msgs] for msgs in pool.data["messages"]]


def query_conversations(query_set: Any) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": q.prompt}, {"role": "assistant", "content": q.label}] for q in query_set.items]


class LessModel:
    """The base model wrapped with the warm-up's LoRA shape; checkpoints are loaded into it."""

    def __init__(self, spec: Any, recipe: RecipeSpec, device: str) -> None:
        from peft import LoraConfig, get_peft_model

        from selbench.models.loader import load_base_model, load_tokenizer, resolve_base_model
        from selbench.models.quiet import quiet_transformers

        resolved = resolve_base_model(spec.base_model)
        lora = recipe.lora
        target = lora.target_modules if isinstance(lora.target_modules, str) else list(lora.target_modules)
        with quiet_transformers():
            self.tokenizer = load_tokenizer(resolved)
            base = load_base_model(resolved, device=device)
            self.n_params = sum(p.numel() for p in base.parameters())
            self.model = get_peft_model(base, LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                                         target_modules=target, bias="none", task_type="CAUSAL_LM"))
        self.model.to(device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.device = device
        self.layers = lora_layers(self.model)
        self.pad_id = int(self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0)
        self.identity = resolved.identity
        self._loaded: str | None = None

    def load(self, ckpt: Checkpoint, *, optimizer: bool) -> dict[str, tuple[Any, Any]] | None:
        """Put the checkpoint's LoRA weights in the model; return its Adam moments when asked."""
        import torch

        if self._loaded == str(ckpt.path) and not optimizer:
            return None
        weights, moments = ckpt.load(self.device, optimizer=optimizer)
        if set(weights) != set(self.layers):
            raise LessError(f"checkpoint {ckpt.path.name} does not match the LoRA layers of the model "
                            f"({len(weights)} vs {len(self.layers)} weights)")
        with torch.no_grad():
            for name, module in self.layers.items():
                module.weight.copy_(weights[name].to(module.weight.dtype))
        self._loaded = str(ckpt.path)
        return moments


def _less_model(ctx: Any, spec: Any, recipe: RecipeSpec, device: str) -> LessModel:
    """One LessModel per (base model, LoRA shape, device) and process, kept in ``ctx.services``."""
    key = "selbench.less.model:" + sha256_json({"model": spec.base_model.model_dump(mode="json"),
                                                "lora": recipe.lora.model_dump(mode="json"), "device": device})
    services = ctx.services
    model = services.get(key) if isinstance(services, dict) else None
    if model is None:
        model = LessModel(spec, recipe, device)
        if isinstance(services, dict):
            services[key] = model
    return model


def _device(ctx: Any) -> str:
    device = getattr(ctx.services, "device", None)
    if device:
        return str(device)
    from selbench.services.model import default_device

    return default_device()


def less_features(pool: Any, query_set: Any, ctx: Any, less: LessSpec | None = None) -> Features:
    """LESS features of ``pool`` (Adam-preconditioned) and ``query_set`` (plain), one block per checkpoint.

    ``less`` defaults to the spec's ``targeted.less``. ``ctx`` is a SelectionContext whose
    ``services`` carry the spec (base model), the score cache and the meter.
    """
    spec = ctx.services.require_spec("LESS features")
    if less is None:
        less = spec.targeted.less if spec.targeted is not None else None
        if less is None:
            raise LessError(f"spec {spec.id} has no `targeted.less` section (the LESS settings)")
    recipe = less.warmup_recipe
    template = get_template(recipe.template)
    warm = ensure_warmup(pool, ctx, less)
    device = _device(ctx)
    projector = CountSketch(less.projection_dim, less.projection_seed)
    meter = ctx.meter
    state: dict[str, Any] = {}

    def model() -> LessModel:
        if "model" not in state:
            state["model"] = _less_model(ctx, spec, recipe, device)
        return state["model"]

    def encoded_pool() -> list[Example]:
        if "pool" not in state:
            state["pool"] = encode_conversations(pool_conversations(pool), model().tokenizer, template,
                                                 less.max_length, recipe.loss_on)
        return state["pool"]

    def run(examples: list[Example], ckpt: Checkpoint, adam: bool) -> Any:
        lm = model()
        moments = lm.load(ckpt, optimizer=adam)
        result = gradient_features(lm.model, examples, projector, batch_size=less.batch_size, pad_id=lm.pad_id,
                                   device=device, adam_state=moments if adam else None)
        # forward 2N + backward through the frozen weights 2N per token (LoRA's own share is small)
        meter.add_tokens(result.tokens, 2 * transformer_forward_flops(lm.n_params, result.tokens))
        return result

    queries = encode_conversations(query_conversations(query_set), model().tokenizer, template, less.max_length,
                                   recipe.loss_on)
    blocks, ckpt_info = [], []
    for ckpt in warm.checkpoints:
        parts = {"pool": pool.fingerprint, "model": model().identity, "dtype": spec.base_model.dtype,
                 "warmup": warm.key, "checkpoint": ckpt.epoch, "projection": projector.identity,
                 "max_length": less.max_length, "template_sha256": template.sha256, "loss_on": recipe.loss_on,
                 "preconditioner": "adam", "version": FEATURES_VERSION}

        def compute(ckpt: Checkpoint = ckpt) -> dict[str, np.ndarray]:
            result = run(encoded_pool(), ckpt, adam=True)
            norms = np.linalg.norm(result.features, axis=1)
            return {"features": l2_normalise(result.features).astype(np.float16), "norms": norms.astype(np.float32),
                    "losses": result.losses.astype(np.float32)}

        arrays, info = ctx.services.cache.get_or_compute(POOL_CACHE, parts, compute)
        q = run(queries, ckpt, adam=False)
        blocks.append(Block(ckpt.weight, l2_normalise(arrays["features"]), l2_normalise(q.features)))
        ckpt_info.append({"epoch": ckpt.epoch, "weight": ckpt.weight, "lr_mean": ckpt.lr_mean,
                          "pool_cache": {"cached": info["cached"], "key": info["key"]},
                          "pool_empty": int((arrays["norms"] == 0).sum()), "query_empty": q.empty,
                          "query_wall_s": round(q.wall_s, 3)})
    return Features(tuple(blocks), {
        "representation": "less", "warmup": warm.summary(), "checkpoints": ckpt_info,
        "projection": projector.identity, "max_length": less.max_length, "batch_size": less.batch_size,
        "lora_parameters": int(sum(m.weight.numel() for m in model().layers.values())),
        "query_set": getattr(query_set, "fingerprint", None),
    })
