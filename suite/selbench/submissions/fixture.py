"""A realistic synthetic run and synthetic submissions, for tests, demos and benchmarks.

:func:`make_tiny_run` runs the **real** selection stage of the ``tiny`` spec (its generated pool,
a selector, ``random`` with several seeds, ``full``) so the selection files carry real ids,
ids_sha256 and metered costs and ``selbench submissions verify`` can reproduce them. Training and
evaluation are not built yet, so the per-item scores of the ``known-answer`` benchmark are
drawn from a seeded model of what each row would score; fine-tune costs are priced from a
token count with the spec's cost model. The rows follow :class:`~selbench.results.ResultRow`.

:func:`make_synthetic_submission` writes a whole submission without running anything (random
ids, drawn scores), for the leaderboard's tests and the build benchmark.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from selbench.atomic import atomic_write_json, atomic_write_text
from selbench.hashing import ids_sha256, sha256_bytes, sha256_json
from selbench.results.items import encode_item_scores
from selbench.results.schema import ResultRow, StageCost
from selbench.submissions.provenance import current_provenance

KNOWN_ANSWER_ITEMS = 300


def _slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:64] or "submission"


def _finetune_cost(examples: int, usd_per_example: float = 2e-5, gpu: bool = False) -> StageCost:
    tokens = examples * 96 * 3  # ~96 tokens an example, 3 epochs
    seconds = examples * 0.02
    phase = {"usd": round(max(examples * usd_per_example, 1e-6), 6), "cpu_s": 0.0 if gpu else seconds,
             "gpu_s": seconds if gpu else 0.0, "flops": 6.0 * 2.0e6 * tokens, "tokens": tokens}
    return StageCost.model_validate({"per_budget": phase, "gpus": 1 if gpu else 0})


def _item_scores(rng: np.random.Generator, ability: np.ndarray, quality: float, noise: float = 0.0) -> np.ndarray:
    """0/1 item scores: item i is solved with probability sigmoid(quality - difficulty_i)."""
    p = 1.0 / (1.0 + np.exp(-(quality + noise - ability)))
    return (rng.random(ability.shape[0]) < p).astype(np.float64)


def make_tiny_run(out: str | Path, *, selector: str = "longest", budgets: tuple[int, ...] = (100, 400),
                  seeds: tuple[int, ...] = (0, 1, 2), quality: float = 0.6, seed: int = 0,
                  train_seeds: tuple[int, ...] | None = None) -> Path:
    """Write a run folder (``results.jsonl``, ``items/``, ``selections/``, ``provenance.json``).

    The selector gets one run per ``train_seeds`` (default: the spec's), selecting with that seed."""
    from selbench.pools.loader import load_pool
    from selbench.selection.stage import run_selection
    from selbench.specs.loader import load_spec

    out = Path(out)
    spec = load_spec("tiny")
    pool = load_pool(spec.pools[0])
    bench = spec.benchmarks[0].name
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0.0, 1.0, KNOWN_ANSWER_ITEMS)
    item_ids = [f"{bench}/{i:04d}" for i in range(KNOWN_ANSWER_ITEMS)]
    rows: list[dict[str, Any]] = []

    def add(kind: str, name: str, version: str, budget: int | None, sd: int, q: float,
            artifact: Any | None, ft_examples: int) -> None:
        scores = _item_scores(rng, difficulty, q)
        label = f"{kind}-{name}-{'full' if budget is None else budget}-s{sd}"
        item_rel = f"items/{label}.jsonl.gz"
        data = encode_item_scores(item_ids, scores)
        (out / "items").mkdir(parents=True, exist_ok=True)
        (out / item_rel).write_bytes(data)
        row: dict[str, Any] = {
            "kind": kind, "spec": spec.name, "spec_version": spec.version, "track": spec.track, "pool": pool.name,
            "pool_fingerprint": pool.fingerprint, "budget": budget, "selector": name, "selector_version": version,
            "seed": sd, "benchmark": bench, "metric": "accuracy", "score": float(scores.mean()),
            "n_items": len(item_ids), "item_scores": item_rel, "item_scores_sha256": sha256_bytes(data),
        }
        if artifact is not None:
            rel = artifact.path.relative_to(out).as_posix() + "/selection.json"
            row |= {"selection": rel, "selection_ids_sha256": artifact.data["ids_sha256"],
                    "selection_cost": StageCost.from_cost_record(artifact.data["cost"]).model_dump()}
        if kind != "zero-shot":
            row["finetune_cost"] = _finetune_cost(ft_examples).model_dump()
        rows.append(ResultRow.model_validate(row).model_dump(by_alias=True, mode="json"))

    def select(name: str, budget: int, sd: int) -> Any:
        return run_selection(pool, name, budget, sd, out, cost_model=spec.cost_model, spec_id=spec.id, isolate=False)

    for budget in budgets:
        for sd in (spec.train_seeds if train_seeds is None else train_seeds):
            art = select(selector, budget, sd)  # ``selector``: a registry name or a plugin file (path.py:Class)
            add("selector", art.data["selector"]["name"], art.data["selector"]["version"], budget, sd,
                quality + 0.05 * rng.standard_normal(), art, budget)
        for sd in seeds:
            art_r = select("random", budget, sd)
            add("random", "random", art_r.data["selector"]["version"], budget, sd, 0.0 + 0.05 * rng.standard_normal(), art_r, budget)
    art_f = select("full", len(pool), seeds[0])
    add("full", "full", art_f.data["selector"]["version"], None, seeds[0], 0.4, art_f, len(pool))
    add("zero-shot", "zero-shot", "0", None, 0, -1.5, None, 0)
    atomic_write_text(out / "results.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    atomic_write_json(out / "provenance.json", current_provenance())
    return out


CHASING_BENCHMARKS = {"ifeval": 541, "alpaca-eval": 805, "llmbar": 419, "openllm": 1000}
CHASING_POOLS = ("alpaca", "dolly", "evol-instruct", "flan")
CHASING_BUDGETS = (1000, 5000, 10000)
POOL_SIZES = {"alpaca": 51760, "dolly": 15011, "evol-instruct": 143000, "flan": 100000}


def make_synthetic_submission(root: str | Path, name: str, *, quality: float = 0.0, selection_usd: float = 1.0,
                              amortised_usd: float = 0.0, seed: int = 0, spec: str = "chasing-random-v1",
                              spec_version: int = 1, pools: tuple[str, ...] = CHASING_POOLS,
                              budgets: tuple[int, ...] = CHASING_BUDGETS,
                              benchmarks: dict[str, int] | None = None, random_seeds: tuple[int, ...] = (0, 1, 2),
                              train_seeds: tuple[int, ...] = (0, 1, 2), seed_shift: float = 0.05,
                              uses_api: bool = False, external_models: tuple[str, ...] = (), track: str = "general",
                              text: dict[str, Any] | None = None, samples: list[dict[str, str]] | None = None,
                              shared_reference: bool = False) -> Path:
    """Write ``root/<slug>`` with selector rows of ``quality`` (log-odds above random) on the grid.

    Each cell gets one selector run per ``train_seeds`` and one random run per ``random_seeds``;
    every run has a model-level seed shift ~ N(0, ``seed_shift``) in log-odds.

    ``text`` overrides metadata string fields (the hostile-string tests use it). Selection files
    hold ids of a fake pool (``<pool>-<n>``), so the ids_sha256 checks are real. With
    ``shared_reference`` the random/full/zero-shot rows are identical across submissions (as
    when everyone reuses the cached baseline artifacts); by default each draws its own.
    """
    benchmarks = dict(benchmarks or CHASING_BENCHMARKS)
    slug = _slugify(name)
    folder = Path(root) / slug
    (folder / "items").mkdir(parents=True, exist_ok=True)
    (folder / "selections").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(int(sha256_json([name, seed])[:12], 16))
    ref_rng = np.random.default_rng(12345)
    meta = {
        "schema": "selbench.submission/v1", "name": name, "authors": ["A. Author", "B. Author"],
        "paper": "https://arxiv.org/abs/2410.15225", "code": "https://github.com/example/selector",
        "description": f"Synthetic submission {name}.", "plugin": {"name": slug[:60] or "sel", "version": "1.0.0", "install": None},
        "spec": spec, "spec_version": spec_version, "track": track, "uses_api": uses_api,
        "external_models": list(external_models), "submitted": "2025-01-01",
    }
    meta |= text or {}
    plugin = meta["plugin"]["name"]
    rows: list[str] = []
    difficulty = {b: np.random.default_rng(len(b)).normal(0, 1, n) for b, n in benchmarks.items()}
    item_ids = {b: [f"{b}/{i:05d}" for i in range(n)] for b, n in benchmarks.items()}
    fps = {p: sha256_json(["pool", p]) for p in pools}
    sel_cache: dict[tuple[str, int | None, str, int], tuple[str, str]] = {}

    def selection_file(pool: str, budget: int, selector: str, sd: int, cost: StageCost) -> tuple[str, str]:
        key = (pool, budget, selector, sd)
        if key in sel_cache:
            return sel_cache[key]
        r = np.random.default_rng(int(sha256_json(list(key))[:12], 16))
        picks = r.choice(POOL_SIZES.get(pool, 20000), size=budget, replace=False)
        ids = [f"{pool}-{i}" for i in picks]
        rel = f"selections/{pool}-b{budget}-{selector}-s{sd}.json"
        data = {"schema": "selbench.selection/v1", "selector": {"name": selector, "version": "1.0.0"},
                "pool": {"name": pool, "fingerprint": fps[pool]}, "spec": f"{spec}@v{spec_version}", "budget": budget,
                "size": budget, "seed": sd, "ids": ids, "ids_sha256": ids_sha256(ids),
                "cost": {"usd": {"amortised": cost.amortised.usd, "per_budget": cost.per_budget.usd}}}
        (folder / rel).write_text(json.dumps(data, separators=(",", ":")))
        sel_cache[key] = (rel, data["ids_sha256"])
        return sel_cache[key]

    def add(kind: str, selector: str, pool: str, budget: int | None, sd: int, bench: str, q: float, sel_cost: StageCost | None) -> None:
        g = ref_rng if (shared_reference and kind != "selector") else rng
        scores = _item_scores(g, difficulty[bench], q)
        data = encode_item_scores(item_ids[bench], scores)
        rel = f"items/{kind}-{pool}-{'x' if budget is None else budget}-{bench}-s{sd}.jsonl.gz"
        (folder / rel).write_bytes(data)
        row: dict[str, Any] = {
            "schema": "selbench.result/v1", "kind": kind, "spec": spec, "spec_version": spec_version, "track": track,
            "pool": pool, "pool_fingerprint": fps[pool], "budget": budget, "selector": selector,
            "selector_version": "1.0.0" if kind == "selector" else "0.1.0", "seed": sd, "benchmark": bench,
            "metric": "accuracy", "score": float(scores.mean()), "n_items": len(scores), "item_scores": rel,
            "item_scores_sha256": sha256_bytes(data),
        }
        if sel_cost is not None and budget is not None:
            srel, sha = selection_file(pool, budget, selector, sd, sel_cost)
            row |= {"selection": srel, "selection_ids_sha256": sha, "selection_cost": sel_cost.model_dump()}
        if kind != "zero-shot":
            examples = budget if budget is not None else POOL_SIZES.get(pool, 20000)
            row["finetune_cost"] = _finetune_cost(examples, usd_per_example=2.5e-3, gpu=True).model_dump()
        rows.append(json.dumps(row) + "\n")

    if text and "plugin" in text:
        plugin = text["plugin"]["name"]
    sel_cost = StageCost.model_validate({"amortised": {"usd": amortised_usd, "gpu_s": amortised_usd * 1440},
                                         "per_budget": {"usd": selection_usd, "gpu_s": selection_usd * 1440}, "gpus": 1})
    free = StageCost()
    for pool in pools:
        for bench in benchmarks:
            for budget in budgets:
                for sd in train_seeds:
                    add("selector", plugin, pool, budget, sd, bench, quality + seed_shift * rng.standard_normal(), sel_cost)
                for sd in random_seeds:
                    noise = seed_shift * (ref_rng if shared_reference else rng).standard_normal()
                    add("random", "random", pool, budget, sd, bench, noise, free)
            add("full", "full", pool, None, 0, bench, 0.2, None)
            add("zero-shot", "zero-shot", pool, None, 0, bench, -1.0, None)
    (folder / "results.jsonl").write_text("".join(rows))
    (folder / "metadata.json").write_text(json.dumps(meta, indent=1))
    prov = current_provenance() | {"gpu": "NVIDIA H100 80GB HBM3", "gpus": 1, "created": "2025-01-01T00:00:00+00:00"}
    (folder / "provenance.json").write_text(json.dumps(prov))
    if samples:
        (folder / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    return folder
