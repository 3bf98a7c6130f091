"""Fixtures of the fine-tuning tests: a private cache, the tiny spec, its pool, selections, runs."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

pytest.importorskip("torch", reason="the training stack (pip install -e .[train]) is not installed")
pytest.importorskip("peft", reason="the training stack (pip install -e .[train]) is not installed")

from selbench.hashing import ids_sha256  # noqa: E402
from selbench.pools.loader import load_pool  # noqa: E402
from selbench.pools.pool import Pool  # noqa: E402
from selbench.specs.loader import load_spec  # noqa: E402
from selbench.specs.models import RecipeSpec, Spec  # noqa: E402


@pytest.fixture(scope="session")
def train_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private SELBENCH_CACHE for the whole session (built models, pools)."""
    cache = tmp_path_factory.mktemp("selbench-cache")
    with pytest.MonkeyPatch.context() as env:  # restored after the session
        env.setenv("SELBENCH_CACHE", str(cache))
        yield cache


@pytest.fixture(scope="session")
def tiny_spec() -> Spec:
    return load_spec("tiny")


@pytest.fixture(scope="session")
def tiny_pool(tiny_spec: Spec, train_cache: Path) -> Pool:
    return load_pool(tiny_spec.pools[0], cache=train_cache)


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_spec: Spec, train_cache: Path) -> Path:
    from selbench.models.loader import resolve_base_model

    return Path(resolve_base_model(tiny_spec.base_model, cache=train_cache).source)


@pytest.fixture(scope="session")
def make_selection(tiny_pool: Pool) -> Callable[..., dict[str, Any]]:
    def make(size: int = 64, seed: int = 0) -> dict[str, Any]:
        ids = random.Random(seed).sample(tiny_pool.ids, size)
        return {"ids": ids, "ids_sha256": ids_sha256(ids), "budget": size, "seed": seed,
                "pool": {"name": tiny_pool.name, "fingerprint": tiny_pool.fingerprint},
                "selector": {"name": "test-random"}}

    return make


@pytest.fixture(scope="session")
def short_recipe(tiny_spec: Spec) -> RecipeSpec:
    """The tiny recipe cut to a few small steps (kept fast on a 2-core CPU)."""
    return tiny_spec.recipe.model_copy(update={"max_steps": 8, "effective_batch_size": 16, "per_device_batch_size": 8})


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory: pytest.TempPathFactory, tiny_spec: Spec, tiny_pool: Pool, make_selection: Callable[..., dict[str, Any]],
                  short_recipe: RecipeSpec, train_cache: Path) -> Any:
    """One uninterrupted run that several tests compare against."""
    from selbench.training.stage import run_training

    out = tmp_path_factory.mktemp("runs-reference")
    return run_training(make_selection(), tiny_spec, out, seed=0, pool=tiny_pool, recipe=short_recipe,
                        progress=False, checkpoint_every=2, cache=train_cache)


@pytest.fixture(scope="session")
def adapter_tensors() -> Callable[[Path], dict[str, Any]]:
    """Read an adapter folder's tensors by name."""

    def load(folder: Path) -> dict[str, Any]:
        from safetensors.torch import load_file

        return load_file(str(folder / "adapter_model.safetensors"))

    return load
