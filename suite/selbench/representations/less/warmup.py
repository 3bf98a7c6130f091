"""LESS's warm-up: a LoRA trained briefly on a random slice of the pool, kept at every epoch end.

LESS computes gradients not at the base model but along a short LoRA training run on a random
``warmup_fraction`` of the pool (5% in the paper, 4 epochs), at the checkpoint ending each
epoch; the Adam moments of each checkpoint precondition the pool gradients and the epoch's mean
learning rate weights its cosine. This module trains that run through the suite's fine-tuning
stage (:func:`selbench.training.stage.run_training`, with ``LessSpec.warmup_recipe``) and a
``TrainerCallback`` that, at each epoch end, writes the LoRA weights and Adam's ``exp_avg`` /
``exp_avg_sq`` to ``epoch-<k>.safetensors`` and records the learning rate of every optimizer
step (read between the optimizer step and the scheduler step, so it is the rate the step used).
The training stage itself is unchanged: the callback goes in through its ``callbacks`` argument.

The run is cached once per (base model, pool, recipe, template, fraction, seed) under the score
cache root (``less-warmup/<key[:2]>/<key>/``, written atomically), with the usage it measured;
like :class:`~selbench.services.cache.ScoreCache`, a computation and every later hit charge that
usage to the amortised phase, so each selection's record shows what its warm-up cost.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from selbench.atomic import atomic_directory, atomic_write_json
from selbench.cost.meter import Usage
from selbench.errors import SelbenchError
from selbench.hashing import ids_sha256
from selbench.representations.less.per_sample import canonical_name
from selbench.specs.models import LessSpec, RecipeSpec
from selbench.training.stage import run_training
from selbench.training.templates import get_template

SCHEMA = "selbench.less-warmup/v1"
CACHE_NAME = "less-warmup"
# Bump when the warm-up's output for the same inputs changes.
WARMUP_VERSION = 1
ADAM_OPTIMIZERS = ("adamw_torch", "adamw_torch_fused")


class LessError(SelbenchError):
    """LESS cannot run as configured (a non-LoRA or non-Adam warm-up recipe, no LESS settings...)."""


@dataclass(frozen=True)
class Checkpoint:
    """The warm-up state at the end of one epoch."""

    epoch: int          # 1-based
    global_step: int
    steps: int          # optimizer steps in this epoch
    lr_mean: float      # mean learning rate of those steps
    weight: float       # lr_mean normalised over the checkpoints (they sum to 1)
    path: Path          # epoch-<k>.safetensors: weight/<name>, exp_avg/<name>, exp_avg_sq/<name>

    def load(self, device: Any = "cpu", *, optimizer: bool = True) -> tuple[dict[str, Any], dict[str, tuple[Any, Any]] | None]:
        """(LoRA weights by canonical name, Adam (exp_avg, exp_avg_sq) by name or None)."""
        from safetensors import safe_open

        weights: dict[str, Any] = {}
        moments: dict[str, list[Any]] = {}
        with safe_open(str(self.path), framework="pt", device=str(device)) as handle:
            for key in handle.keys():
                kind, name = key.split("/", 1)
                if kind == "weight":
                    weights[name] = handle.get_tensor(key)
                elif optimizer:
                    moments.setdefault(name, [None, None])[0 if kind == "exp_avg" else 1] = handle.get_tensor(key)
        return weights, ({k: (m, v) for k, (m, v) in moments.items()} if optimizer else None)


@dataclass(frozen=True)
class WarmupRun:
    key: str
    folder: Path
    meta: dict[str, Any]
    checkpoints: tuple[Checkpoint, ...]
    cached: bool

    def summary(self) -> dict[str, Any]:
        return {"key": self.key, "cached": self.cached, "examples": self.meta["examples"],
                "epochs": [c.epoch for c in self.checkpoints], "lr_means": [c.lr_mean for c in self.checkpoints],
                "weights": [c.weight for c in self.checkpoints], "usage": self.meta["usage"]}


def check_recipe(recipe: RecipeSpec) -> None:
    if recipe.method != "lora":
        raise LessError(f"LESS warm-up recipe '{recipe.name}' must use method: lora (gradients are of the LoRA weights)")
    if recipe.optimizer not in ADAM_OPTIMIZERS:
        raise LessError(f"LESS warm-up recipe '{recipe.name}' must use an AdamW optimizer ({', '.join(ADAM_OPTIMIZERS)}); "
                        f"got {recipe.optimizer} (LESS preconditions with the Adam moments)")


def warmup_ids(pool: Any, fraction: float, seed: int) -> list[str]:
    """A seeded random ``fraction`` of the pool's ids (at least one), in the random order drawn."""
    ids = list(pool.data["id"])
    k = max(1, int(round(fraction * len(ids))))
    pick = np.random.default_rng(seed).choice(len(ids), size=k, replace=False)
    return [ids[i] for i in pick]


def lr_weights(lr_means: list[float]) -> list[float]:
    """Mean learning rates normalised to sum to 1 (the LR-weighted cosine's weights)."""
    total = float(sum(lr_means))
    if not np.isfinite(total) or total <= 0:
        raise LessError(f"the warm-up's mean learning rates do not sum to a positive number: {lr_means}")
    return [float(x) / total for x in lr_means]


def warmup_key_parts(pool: Any, model_identity: dict[str, Any], model_dtype: str, less: LessSpec) -> dict[str, Any]:
    recipe = less.warmup_recipe
    return {"pool": pool.fingerprint, "model": model_identity, "dtype": model_dtype,
            "recipe": recipe.model_dump(mode="json"), "template_sha256": get_template(recipe.template).sha256,
            "fraction": less.warmup_fraction, "seed": less.warmup_seed, "version": WARMUP_VERSION}


def _epoch_snapshots(folder: Path) -> Any:
    """A TrainerCallback writing ``epoch-<k>.safetensors`` at each epoch end (see the module doc)."""
    from safetensors.torch import save_file
    from transformers import TrainerCallback

    class EpochSnapshots(TrainerCallback):
        def __init__(self) -> None:
            self.epoch = -1
            self.lrs: dict[int, list[float]] = {}
            self.saved: list[dict[str, Any]] = []

        def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.epoch += 1

        def on_optimizer_step(self, args: Any, state: Any, control: Any, lr_scheduler: Any = None, **kwargs: Any) -> None:
            self.lrs.setdefault(self.epoch, []).append(float(lr_scheduler.get_last_lr()[0]))

        def on_epoch_end(self, args: Any, state: Any, control: Any, model: Any = None, optimizer: Any = None,
                         **kwargs: Any) -> None:
            lrs = self.lrs.get(self.epoch, [])
            if not lrs or not state.is_world_process_zero:
                return
            inner = getattr(optimizer, "optimizer", optimizer)
            tensors: dict[str, Any] = {}
            for name, param in model.named_parameters():
                if not param.requires_grad:
                    continue
                key = canonical_name(name)
                st = inner.state.get(param, {})
                if "exp_avg" not in st or "exp_avg_sq" not in st:
                    raise LessError(f"no Adam state for {key} at the end of epoch {self.epoch + 1}")
                tensors[f"weight/{key}"] = param.detach().float().cpu().contiguous().clone()
                tensors[f"exp_avg/{key}"] = st["exp_avg"].detach().float().cpu().contiguous().clone()
                tensors[f"exp_avg_sq/{key}"] = st["exp_avg_sq"].detach().float().cpu().contiguous().clone()
            file = f"epoch-{self.epoch + 1}.safetensors"
            save_file(tensors, str(folder / file))
            self.saved.append({"epoch": self.epoch + 1, "global_step": int(state.global_step), "steps": len(lrs),
                               "lr_mean": float(np.mean(lrs)), "lrs": lrs, "file": file})

    return EpochSnapshots()


def _run(folder: Path, meta: dict[str, Any], cached: bool) -> WarmupRun:
    saved = meta["checkpoints"]
    weights = lr_weights([c["lr_mean"] for c in saved])
    ckpts = tuple(Checkpoint(c["epoch"], c["global_step"], c["steps"], c["lr_mean"], w, folder / c["file"])
                  for c, w in zip(saved, weights))
    return WarmupRun(meta["key"], folder, meta, ckpts, cached)


def ensure_warmup(pool: Any, ctx: Any, less: LessSpec) -> WarmupRun:
    """The cached warm-up run of ``less`` on ``pool`` (trained now on a miss), charged as amortised."""
    from selbench.models.loader import resolve_base_model

    spec = ctx.services.require_spec("the LESS warm-up")
    recipe = less.warmup_recipe
    check_recipe(recipe)
    resolved = resolve_base_model(spec.base_model, build=False)
    parts = warmup_key_parts(pool, resolved.identity, spec.base_model.dtype, less)
    cache = ctx.services.cache
    key = cache.key(CACHE_NAME, parts)
    folder = cache.folder(CACHE_NAME, key)
    meter = ctx.meter
    if (folder / "meta.json").is_file():
        meta = json.loads((folder / "meta.json").read_text("utf-8"))
        meter.add_usage(Usage(**meta["usage"]), phase="amortised")
        return _run(folder, meta, cached=True)

    ids = warmup_ids(pool, less.warmup_fraction, less.warmup_seed)
    selection = {"ids": ids, "ids_sha256": ids_sha256(ids), "budget": len(ids), "seed": less.warmup_seed,
                 "pool": {"name": pool.name, "fingerprint": pool.fingerprint}, "selector": {"name": "less-warmup"}}
    with atomic_directory(folder) as scratch:
        with meter.measure_amortised() as usage:
            snapshots = _epoch_snapshots(scratch)
            artifact = run_training(selection, spec, scratch / "run", seed=less.warmup_seed, pool=pool, recipe=recipe,
                                    callbacks=[snapshots], progress=False)
            record = artifact.record
            meter.add_tokens(int(record.get("tokens_seen") or 0), float(record.get("flops") or 0.0))
        shutil.rmtree(scratch / "run", ignore_errors=True)
        if not snapshots.saved:
            raise LessError("the LESS warm-up ran no optimizer step (empty warm-up set?)")
        meta = {"schema": SCHEMA, "key": key, "key_parts": parts, "usage": asdict(usage), "examples": len(ids),
                "ids_sha256": ids_sha256(ids), "checkpoints": snapshots.saved,
                "training": {k: record.get(k) for k in ("steps", "epochs", "tokens_seen", "train_loss", "final_loss",
                                                       "flops", "parameters", "data", "trainer")}}
        atomic_write_json(scratch / "meta.json", meta)
    return _run(folder, meta, cached=False)
