"""Wall time of the targeted selection rules at the paper's scale, and of KNN-KDE's neighbour search.

1. Each rule on one M x N query-pool similarity matrix (float32; cosines of random unit vectors,
   M = 81 queries, N = 200,000 pool examples, like a Tulu-V2 query set against the 197K pool),
   ordering the first k = 10,000 (the paper's largest budget). RR is also timed for the full
   pool order (k = N), which the paper's distance-quantile tool needs. KNN-KDE is timed with a
   stub ``pool_neighbours`` (8 random neighbour similarities per candidate) so the row is the
   rule's own cost: prefetch, water-filling heap, ranking.
2. The pool-pool neighbour search KNN-KDE needs: every one of ``--search-n`` pool examples
   (D = ``--dim``) against all of them, top ``kde_k`` = 1000, exact inner product; faiss
   ``IndexFlatIP`` in full, the numpy fallback on ``--numpy-rows`` rows, extrapolated.

    python benchmarks/targeted_rules.py [--m 81] [--n 200000] [--k 10000] [--search-n 50000] [--dim 256]

Prints seconds per rule; wall time on this machine (CPU).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def rules(m: int, n: int, k: int) -> None:
    from selbench.rules import doubly_greedy, knn_kde, knn_uniform, round_robin, unbalanced_ot
    from selbench.rules.tsds import knn_kde_mass, knn_uniform_mass

    rng = np.random.default_rng(0)
    S = unit_rows(rng, m, 64) @ unit_rows(rng, n, 64).T  # float32, values ~ N(0, 1/64)
    stub_rng = np.random.default_rng(1)

    def stub_neighbours(rows: np.ndarray, kk: int, among: np.ndarray | None = None) -> np.ndarray:
        sims = np.sort(stub_rng.uniform(0.5, 1.0, size=(len(rows), 8)), axis=1)[:, ::-1].copy()
        sims[:, 0] = 1.0
        return sims

    print(f"\n## 1. rules on S of {m} x {n} (float32), k = {k}")
    print(f"{'rule':<28} {'seconds':>8}  notes")
    runs = [
        ("round_robin", lambda: round_robin(S, k), ""),
        (f"round_robin (k = N = {n})", lambda: round_robin(S, n), "full order, as the quantile tool"),
        ("doubly_greedy", lambda: doubly_greedy(S, k), ""),
        ("unbalanced_ot", lambda: unbalanced_ot(S, k), "reg 0.01, reg_m (inf, 1e-4), POT sinkhorn"),
        ("knn_uniform", lambda: knn_uniform(S, k), "L = 5000"),
        ("knn_kde (stub neighbours)", lambda: knn_kde(S, k, pool_neighbours=stub_neighbours),
         f"L = min(5000, N // 10) = {min(5000, n // 10)}"),
    ]
    for name, fn, note in runs:
        seconds, order = timed(fn)
        assert len(order) in (k, n)
        print(f"{name:<28} {seconds:8.2f}  {note}")
    u = knn_uniform_mass(S)
    kd = knn_kde_mass(S, pool_neighbours=stub_neighbours)
    print(f"(KNN-Uniform K* = {int(u.level)}, examples with mass {int((u.probs > 0).sum())}; "
          f"KNN-KDE neighbours per query mean {kd.neighbours.mean():.0f}, with mass {int((kd.probs > 0).sum())})")


def search(n: int, dim: int, kde_k: int, numpy_rows: int) -> None:
    from selbench.rules import FlatIPIndex, PoolNeighbours

    rng = np.random.default_rng(2)
    feats = unit_rows(rng, n, dim)
    print(f"\n## 2. pool-pool neighbour search: {n} x {n}, D = {dim}, top {kde_k} (exact inner product)")
    print(f"{'backend':<28} {'seconds':>8}  notes")
    neighbours = PoolNeighbours(feats, backend="faiss")
    seconds, sims = timed(neighbours, np.arange(n), kde_k)
    assert sims.shape == (n, kde_k)
    print(f"{'faiss IndexFlatIP':<28} {seconds:8.2f}  all {n} rows")
    index = FlatIPIndex(feats, backend="numpy")
    seconds, _ = timed(index.search, feats[:numpy_rows], kde_k)
    print(f"{'numpy fallback':<28} {seconds * n / numpy_rows:8.2f}  extrapolated from {numpy_rows} rows "
          f"({seconds:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=81)
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--k", type=int, default=10_000)
    parser.add_argument("--search-n", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--kde-k", type=int, default=1000)
    parser.add_argument("--numpy-rows", type=int, default=5000)
    args = parser.parse_args()
    print(f"CPU threads visible: {os.cpu_count()}")
    rules(args.m, args.n, args.k)
    search(args.search_n, args.dim, args.kde_k, args.numpy_rows)


if __name__ == "__main__":
    main()
