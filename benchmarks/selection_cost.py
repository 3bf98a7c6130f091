"""Selection cost of the Chasing Random selectors, IFD batching, and the diversity filter at scale.

1. Cost per 1k pool examples for each method (random, longest, alpagasus, cherry, deita) on the
   tiny spec, run in-process on the first ``--pool-rows`` rows of the tiny spec's pool with a
   fresh score cache (so the amortised, once-per-pool part is really computed), scaled to 1k.
2. IFD forward throughput: ForwardService.answer_losses batched (16) vs one example at a time,
   examples/s on the tiny model, plus the largest difference between the two (should be ~0).
3. The DEITA diversity-greedy filter on 50k random embeddings (``--dim``), k = 10k, threshold 0.9,
   chunked vs chunk=1-like small chunks is not run (it is the naive walk; far too slow at 50k).

    python benchmarks/selection_cost.py [--pool-rows 1000] [--methods random,longest,cherry,deita,alpagasus]

Prints one table per part; numbers are wall seconds on this machine (CPU unless a GPU is seen).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("VLLM_HOST_IP", "127.0.0.1")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")


def per_method(methods: list[str], rows: int) -> None:
    from selbench.pools.loader import load_pool
    from selbench.selection.stage import run_selection
    from selbench.specs.loader import load_spec

    spec = load_spec("tiny")
    pool = load_pool(spec.pools[0].model_copy(update={"max_rows": rows}))
    budget = max(1, rows // 10)
    print(f"\n## 1. selection cost on tiny ({pool.name}, {len(pool)} rows, budget {budget}); per 1k pool examples")
    print(f"{'method':<10} {'wall_s':>8} {'cpu_s':>8} {'amortised_wall_s':>17} {'tokens':>10} {'GFLOPs':>9} {'usd':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for method in methods:
            start = time.perf_counter()
            art = run_selection(pool, method, budget, 0, Path(tmp) / "out", spec=spec, cost_model=spec.cost_model,
                                cache_dir=Path(tmp) / f"cache-{method}", isolate=False)
            wall = time.perf_counter() - start
            cost = art.data["cost"]
            scale = 1000.0 / len(pool)
            print(f"{method:<10} {wall * scale:8.2f} {cost['total']['cpu_s'] * scale:8.2f} "
                  f"{cost['amortised']['wall_s'] * scale:17.2f} {int(cost['total']['tokens'] * scale):10d} "
                  f"{cost['total']['flops'] * scale / 1e9:9.1f} {cost['usd'].get('total', 0) * scale:9.6f}")


def ifd_throughput(n: int = 200) -> None:
    from selbench.cost.meter import CostMeter
    from selbench.pools.loader import load_pool
    from selbench.representations.text import render_prompt, rows, user_turn
    from selbench.services import Services
    from selbench.specs.loader import load_spec
    from selbench.training.templates import get_template

    spec = load_spec("tiny")
    pool = load_pool(spec.pools[0].model_copy(update={"max_rows": n}))
    services = Services(CostMeter(), spec=spec)
    template = get_template(spec.recipe.template).chat_template
    items = rows(pool)
    print(f"\n## 2. IFD forward throughput (tiny model, {len(items)} examples x 2 passes)")
    results = {}
    for batch in (1, 16, 64):
        fwd = services.forward(batch_size=batch)
        tok = fwd.tokenizer
        prompts = [render_prompt(tok, template, user_turn(r)) for r in items]
        bare = [render_prompt(tok, template, None)] * len(items)
        answers = [r["output"] for r in items]
        start = time.perf_counter()
        cond = fwd.answer_losses(prompts, answers)
        uncond = fwd.answer_losses(bare, answers)
        wall = time.perf_counter() - start
        results[batch] = cond / uncond
        print(f"batch {batch:>3}: {wall:7.2f} s  {len(items) / wall:8.1f} examples/s  "
              f"(max |IFD - IFD(batch 1)| = {np.nanmax(np.abs(results[batch] - results[1])):.2e})")


def diversity(n: int, dim: int, k: int) -> None:
    import torch

    from selbench.rules import diversity_greedy

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(n, dim)).astype(np.float32)
    scores = rng.random(n)
    device = "cuda" if torch.cuda.is_available() else None
    print(f"\n## 3. diversity_greedy: {n} random embeddings (dim {dim}), k={k}, threshold 0.9, device {device or 'cpu'}")
    for chunk in (512, 2048, 8192):
        start = time.perf_counter()
        pick = diversity_greedy(scores, emb, k, threshold=0.9, chunk=chunk, device=device, fallback="short")
        print(f"chunk {chunk:>5}: {time.perf_counter() - start:7.2f} s  kept {len(pick.indices)}")
    # correlated embeddings: many rejections (a low-rank pool, like real near-duplicates)
    low = (rng.normal(size=(n, 8)) @ rng.normal(size=(8, dim))).astype(np.float32)
    start = time.perf_counter()
    pick = diversity_greedy(scores, low, k, threshold=0.9, chunk=2048, device=device, fallback="short")
    print(f"low-rank (8) pool, chunk 2048: {time.perf_counter() - start:7.2f} s  kept {len(pick.indices)} "
          f"(scanned {pick.stats['scanned']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool-rows", type=int, default=1000)
    parser.add_argument("--methods", default="random,longest,cherry,deita,alpagasus")
    parser.add_argument("--ifd-rows", type=int, default=200)
    parser.add_argument("--div-n", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--k", type=int, default=10_000)
    parser.add_argument("--parts", default="1,2,3")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if "1" in parts:
        per_method([m for m in args.methods.split(",") if m], args.pool_rows)
    if "2" in parts:
        ifd_throughput(args.ifd_rows)
    if "3" in parts:
        diversity(args.div_n, args.dim, args.k)


if __name__ == "__main__":
    main()
