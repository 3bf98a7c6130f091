"""The selection stage: run a selector on a pool at a budget and seed, write ``selection.json``.

The artifact folder is keyed by the hash of the inputs (pool fingerprint, selector identity
and parameters, budget, seed, suite version); a rerun with the same inputs returns the existing
artifact without running anything. The folder is written atomically.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from selbench import __version__
from selbench.atomic import atomic_directory, atomic_write_json
from selbench.cost.meter import CostRecord, Usage
from selbench.errors import SelbenchError
from selbench.cost.pricing import price
from selbench.hashing import ids_sha256, sha256_json
from selbench.pools.pool import Pool
from selbench.selection.identity import check_declared_name, parent_ref, selector_identity, selector_label
from selbench.selection.isolation import Limits, raise_failure, run_in_subprocess
from selbench.selection.validate import check_budget, validate_selection
from selbench.selection.worker import execute
from selbench.specs.models import CostModelSpec, Spec
from selbench.targeted.query_set import QuerySetError, load_query_set

SCHEMA = "selbench.selection/v1"


class TargetError(SelbenchError):
    """A targeted selection whose target or query set cannot be used."""
FILENAME = "selection.json"


@dataclass(frozen=True)
class SelectionArtifact:
    path: Path
    data: dict[str, Any]
    reused: bool

    @property
    def ids(self) -> list[str]:
        return self.data["ids"]


def selection_key(pool: Pool, selector: str, params: dict[str, Any], budget: int, seed: int,
                  models: dict[str, Any] | None = None, query: dict[str, Any] | None = None) -> str:
    """``models`` (the spec's base model and judge, when a spec is handed to the selector) and
    ``query`` (the target and its query set's fingerprint, on the targeted track) are part of the
    key only when given, so keys made without them are unchanged."""
    inputs = {"stage": "select", "pool": pool.fingerprint, "selector": selector_identity(selector),
              "params": params, "budget": budget, "seed": seed, "suite_version": __version__}
    if models is not None:
        inputs["models"] = models
    if query is not None:
        inputs["query"] = query
    return sha256_json(inputs)


def spec_models(spec: Spec) -> dict[str, Any]:
    """What in a spec a selector's services depend on: the base model, the judge and (targeted
    track) the representations' settings."""
    models = {"base_model": spec.base_model.model_dump(mode="json"),
              "judge": spec.judge.model_dump(mode="json") if spec.judge is not None else None}
    if spec.targeted is not None:
        models["targeted"] = spec.targeted.model_dump(mode="json", exclude={"targets"})
    return models


def artifact_dir(out: Path, pool: Pool, selector: str, budget: int, seed: int, key: str,
                 target: str | None = None) -> Path:
    label = selector_label(selector) + (f"-for-{target}" if target else "")
    return out / "selections" / pool.name / label / f"b{budget}-s{seed}-{key[:12]}"


def load_selection(path: str | Path) -> dict[str, Any]:
    """Read a ``selection.json`` (or the folder holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / FILENAME
    return json.loads(path.read_text("utf-8"))


def run_selection(
    pool: Pool,
    selector: str,
    budget: int,
    seed: int,
    out: Path,
    *,
    params: dict[str, Any] | None = None,
    cost_model: CostModelSpec | None = None,
    spec_id: str | None = None,
    isolate: bool = True,
    limits: Limits = Limits(),
    spec: Spec | None = None,
    cache_dir: Path | None = None,
    target: str | None = None,
) -> SelectionArtifact:
    """Select (or reuse) and return the artifact. Raises SelbenchError subclasses on bad input.

    ``spec`` hands the spec's base model and judge to the selector's services (model-based
    selectors such as cherry, deita and alpagasus need it); ``cache_dir`` is where per-pool
    scores are cached (default ``<SELBENCH_CACHE>/scores``). ``target`` (targeted track) names the
    spec's target task: its query set is loaded here, in the parent, and handed to the selector.
    """
    params = dict(params or {})
    query_set = None
    if target is not None:
        if spec is None:
            raise TargetError(f"target {target!r} needs the targeted spec that defines it (--spec)")
        try:
            query_set = load_query_set(spec, target)
        except QuerySetError as exc:
            raise TargetError(str(exc)) from None
    query = None if query_set is None else {"target": target, "query_set": query_set.fingerprint}
    key = selection_key(pool, selector, params, budget, seed, spec_models(spec) if spec is not None else None, query)
    if spec is not None and spec_id is None:
        spec_id = spec.id
    folder = artifact_dir(out, pool, selector, budget, seed, key, target)
    if (folder / FILENAME).is_file():
        return SelectionArtifact(folder, load_selection(folder), reused=True)
    check_budget(budget, max(budget, 1), pool.name)  # positive integer; the size check needs the class
    request = {"selector": selector, "params": params, "budget": budget, "seed": seed,
               "pool_cache_dir": pool.cache_dir, "scratch_dir": "", "run_dir": str(out.resolve()),
               "spec": spec.model_dump(mode="json") if spec is not None else None,
               "cache_dir": str(cache_dir) if cache_dir is not None else None,
               "query_set": query_set.to_json() if query_set is not None else None}
    with atomic_directory(folder) as scratch:
        request["scratch_dir"] = str(scratch / "scratch")
        if isolate:
            if pool.cache_dir is None:
                raise ValueError("an isolated selection needs a pool loaded through load_pool (with a cache dir)")
            keep_as = out / "logs" / f"{folder.parent.name}-{folder.name}.log"  # survives the failed scratch folder
            result, measured = run_in_subprocess(request, scratch / "worker", limits, keep_log_as=keep_as)
        else:
            result, measured = execute(request, pool=pool), {}
            if not result["ok"]:
                raise_failure(selector, result)
        ignores_budget = bool(result["metadata"]["ignores_budget"])
        check_budget(budget, len(pool), pool.name, ignores_budget=ignores_budget)
        expected = len(pool) if ignores_budget else budget
        # never trust the worker: validate again against the pool this process loaded
        selection = validate_selection(selector, result["ids"], set(pool.data["id"]), expected)
        cost = CostRecord.from_dict(result["cost"])
        if isolate:  # the worker's word on who it is and how it was confined is not taken
            check_declared_name(selector, result["metadata"], result["ref"])
            result["ref"] = parent_ref(selector)
        if measured:  # the parent's view includes start-up and imports the worker cannot see
            cost.per_budget = cost.per_budget.merge(Usage(
                wall_s=max(0.0, measured["wall_s"] - cost.total.wall_s),
                cpu_s=max(0.0, measured["cpu_s"] - cost.total.cpu_s),
                peak_rss_bytes=int(measured["peak_rss_bytes"])))
        if cost_model is not None:
            cost = price(cost, cost_model)
        data = {
            "schema": SCHEMA,
            "key": key,
            "selector": {**result["metadata"], "params": result["params"], "ref": result["ref"],
                         "identity": selector_identity(selector)},
            "pool": {"name": pool.name, "fingerprint": pool.fingerprint, "rows": len(pool), "provenance": pool.provenance},
            "spec": spec_id,
            "budget": budget,
            "size": len(selection.ids),
            "seed": seed,
            "target": None if query_set is None else {"name": target, "query_set_fingerprint": query_set.fingerprint,
                                                      "query_items": len(query_set), "provenance": query_set.provenance},
            "ids": selection.ids,
            "ids_sha256": ids_sha256(selection.ids),
            "scores": result["scores"],
            "info": result["info"],
            "cost": cost.to_dict(),
            "isolation": measured.get("isolation") if isolate else {"network": "host (in-process, not isolated)",
                                                                     "filesystem": "open (in-process, not isolated)"},
            "suite_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        atomic_write_json(scratch / FILENAME, data)
    return SelectionArtifact(folder, data, reused=False)
