"""What a selector may use besides the pool: seed, scratch space, cost meter, services.

The context deliberately carries no evaluation data. On the targeted track it carries the
query set (a :class:`selbench.targeted.query_set.QuerySet`: examples of the target task, never
its test items), loaded by the selection stage in the parent process. Services (batched forward
passes, per-example gradients, embeddings, judge generation through vLLM) are attached by the
stages that provide them and report their tokens/FLOPs to ``meter``.

In the selection worker ``services`` is a :class:`selbench.services.Services`: a dict with lazy
factories (``ctx.services.forward()``, ``.embedder()``, ``.judge()``, ``.cache``) built from
``spec`` (the spec the stage was given: its base model and judge; None when run without one).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from selbench.cost.meter import CostMeter


@dataclass
class SelectionContext:
    seed: int
    scratch_dir: Path
    meter: CostMeter = field(default_factory=CostMeter)
    base_model: dict[str, Any] | None = None
    query_set: Any | None = None
    services: dict[str, Any] = field(default_factory=dict)
    spec: Any | None = None

    def rng(self) -> random.Random:
        """A fresh ``random.Random`` seeded with the cell's seed."""
        return random.Random(self.seed)

    def np_rng(self) -> np.random.Generator:
        """A fresh numpy ``Generator`` seeded with the cell's seed."""
        return np.random.default_rng(self.seed)
