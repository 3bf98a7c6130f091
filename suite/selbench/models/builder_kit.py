"""What the offline model builders (``tiny-llama``, ``tiny-sentence-encoder``) share.

Both make the same promises: invalid ``builder_args`` fail with one readable line; the same
arguments give the same bytes (seeded init that leaves the global RNG alone, one-thread
training); a build is cached under ``models/<builder>-<key[:16]>/``, keyed by the builder, its
version, the corpus versions and the resolved arguments, and written atomically. The code that
keeps those promises lives here once, so the two builders cannot drift apart. The cache key of
an existing build must never change: :func:`builder_key` hashes exactly the identity the builders
hashed before it existed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from selbench.atomic import atomic_directory
from selbench.hashing import sha256_json
from selbench.models.corpus import CORPUS_VERSION
from selbench.models.errors import ModelError
from selbench.paths import cache_root

META_FILE = "selbench_model.json"

ArgsT = TypeVar("ArgsT", bound=BaseModel)


def parse_builder_args(model: type[ArgsT], builder: str, builder_args: dict[str, Any]) -> ArgsT:
    """``builder_args`` validated as ``model``; every problem on one :class:`ModelError` line."""
    try:
        return model.model_validate(builder_args)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'builder_args'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise ModelError(f"builder '{builder}': invalid builder_args: {problems}") from None


def builder_key(builder: str, version: int, resolved: dict[str, Any], *, trained: bool) -> str:
    """The cache key; a build trained on the tiny pretraining world also names that corpus's version."""
    identity: dict[str, Any] = {"builder": builder, "builder_version": version,
                                "corpus_version": CORPUS_VERSION, "args": resolved}
    if trained:
        from selbench.tinyworld.pretrain_corpus import PRETRAIN_CORPUS_VERSION

        identity["pretrain_corpus_version"] = PRETRAIN_CORPUS_VERSION
    return sha256_json(identity)


#: Set by the selection stage for its sandboxed workers: where a selector builds a model the shared
#: cache lacks. Training and evaluation never read it, so a plugin cannot alter the models they use.
ENV_SELECTOR_BUILDS = "SELBENCH_SELECTOR_MODEL_BUILDS"


def cached_build(builder: str, key: str, build: Callable[[Path], None], cache: Path | None) -> Path:
    """The build's folder, running ``build(scratch)`` only if no finished build (its meta file) is there."""
    folder = (cache or cache_root()) / "models" / f"{builder}-{key[:16]}"
    if (folder / META_FILE).is_file():
        return folder
    own = os.environ.get(ENV_SELECTOR_BUILDS)
    if cache is None and own:  # a sandboxed selector: the shared model cache is read-only to it
        folder = Path(own) / f"{builder}-{key[:16]}"
        if (folder / META_FILE).is_file():
            return folder
    from selbench.models.quiet import quiet_transformers

    with atomic_directory(folder) as scratch, quiet_transformers():
        build(scratch)
    return folder


def seeded_init(seed: int, make: Callable[[], Any]) -> Any:
    """``make()`` under ``torch.manual_seed(seed)``; the caller's RNG state is restored afterwards."""
    import torch

    previous = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        return make()
    finally:
        torch.set_rng_state(previous)


class TrainLoop:
    """AdamW with linear warm-up (1/20 of the steps) and cosine decay, gradients clipped at 1.0.

    Use as a context manager around the steps: inside, torch runs on one thread (the same
    arithmetic on every machine; tiny matrices gain nothing from more) and the model is in train
    mode; on exit the thread count is restored and the model is put in eval mode.
    """

    def __init__(self, model: Any, lr: float, steps: int) -> None:
        import math

        import torch

        self.model, self.steps = model, steps
        warmup = max(1, steps // 20)

        def factor(s: int) -> float:
            return (s + 1) / warmup if s < warmup else 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, steps - warmup)))

        self.optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)
        self.losses: list[float] = []
        self._threads = 0

    def __enter__(self) -> TrainLoop:
        import torch

        self.model.train()
        self._threads = torch.get_num_threads()
        torch.set_num_threads(1)
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        torch.set_num_threads(self._threads)
        self.model.eval()

    def step(self, loss: Any) -> None:
        """One optimizer step on ``loss`` (its value is kept for :meth:`summary`)."""
        import torch

        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.schedule.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.losses.append(float(loss.detach()))

    def summary(self) -> dict[str, float]:
        """The first loss and the mean of the last tenth, as the build's meta file reports them."""
        tail = self.losses[-max(1, self.steps // 10):]
        return {"loss_first": round(self.losses[0], 4), "loss_last": round(sum(tail) / len(tail), 4)}
