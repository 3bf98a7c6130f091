"""Per-pool scores cached on disk, their cost charged as amortised.

Scoring every pool example (judge ratings, IFD, DEITA scores, embeddings) does not depend on the
budget, so it is done once per (pool fingerprint, model identity, service parameters) and
reused by every budget and seed. The first computation runs under ``meter.measure_amortised()``; its
measured usage is stored with the arrays, and a later hit charges that same stored usage to the
amortised phase again (a selection's record always shows what its scores cost, whether they
were computed now or earlier) and says ``cached: true`` in the returned info.

Layout: ``<cache_dir>/<name>/<key[:2]>/<key>/{arrays.npz,meta.json}``, written atomically.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from selbench.atomic import atomic_directory, atomic_write_json
from selbench.cost.meter import CostMeter, Usage
from selbench.hashing import sha256_json

SCHEMA = "selbench.scores/v1"


class ScoreCache:
    def __init__(self, root: Path, meter: CostMeter) -> None:
        self.root = Path(root)
        self.meter = meter

    def key(self, name: str, key_parts: dict[str, Any]) -> str:
        return sha256_json({"name": name, **key_parts})

    def folder(self, name: str, key: str) -> Path:
        return self.root / name / key[:2] / key

    def get_or_compute(
        self, name: str, key_parts: dict[str, Any], compute: Callable[[], dict[str, np.ndarray]],
        *, extra: Callable[[], dict[str, Any]] | None = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays from the cache, or from ``compute()`` (run as amortised work, then stored).

        ``key_parts`` must name everything the arrays depend on (pool fingerprint, model
        identity, prompt, parameters). Returns ``(arrays, info)``; info holds ``cached``,
        ``key`` and the stored amortised ``usage``.
        """
        key = self.key(name, key_parts)
        folder = self.folder(name, key)
        meta_path = folder / "meta.json"
        if meta_path.is_file():
            meta = json.loads(meta_path.read_text("utf-8"))
            with np.load(folder / "arrays.npz", allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            self.meter.add_usage(Usage(**meta["usage"]), phase="amortised")
            return arrays, {"cached": True, "key": key, "usage": meta["usage"], **meta.get("extra", {})}
        with self.meter.measure_amortised() as usage:
            arrays = compute()
        meta = {"schema": SCHEMA, "name": name, "key": key, "key_parts": key_parts, "usage": asdict(usage),
                "extra": extra() if extra else {}}
        with atomic_directory(folder) as tmp:
            np.savez(tmp / "arrays.npz", **{k: np.asarray(v) for k, v in arrays.items()})
            atomic_write_json(tmp / "meta.json", meta)
        return arrays, {"cached": False, "key": key, "usage": meta["usage"], **meta["extra"]}
