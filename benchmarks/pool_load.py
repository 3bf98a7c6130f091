"""Pool load time: cold (read + canonicalise + save Arrow) vs cached (memory-map), side by side.

Default pool: the 55k-row T0/P3 pool in ../shared/data (294 gzipped JSONL files).
Usage: python benchmarks/pool_load.py [PATH] [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[2] / "shared/data/pools/t0_train_50k/data_per_template"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", nargs="?", default=str(DEFAULT))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        os.environ["SELBENCH_CACHE"] = cache
        from selbench.pools import load_pool
        from selbench.specs.models import PoolSpec

        spec = PoolSpec(name="bench", path=args.path)
        cold = []
        for i in range(args.repeats):
            sub = Path(cache) / f"cold{i}"
            start = time.perf_counter()
            pool = load_pool(spec, cache=sub)
            cold.append(time.perf_counter() - start)
        cached = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            pool = load_pool(spec, cache=Path(cache) / "cold0")
            _ = pool.data["id"]  # touch a column, as a selector would
            cached.append(time.perf_counter() - start)
    first, rest, cached_s = cold[0], statistics.median(cold[1:] or cold), statistics.median(cached)
    print(f"pool: {args.path} ({len(pool)} rows, {pool.provenance.get('files', 1)} files)")
    print(f"{'cold: nothing cached':44s} {first:8.3f} s")
    print(f"{'canonicalise again (datasets cache warm)':44s} {rest:8.3f} s  (median of {len(cold) - 1})")
    print(f"{'cached canonical Arrow (load_from_disk)':44s} {cached_s:8.3f} s  (median of {len(cached)})")
    print(f"{'ratio cold / cached':44s} {first / cached_s:8.1f} x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
