"""CostMeter overhead: a selection-like workload bare vs metered, side by side.

The workload sorts 50k response lengths (what `longest` does) 200 times, about 3 ms each: a
deliberately cheap selection, so any overhead shows. The metered runs wrap each repetition in
start/stop, split it into an amortised and a per-budget phase and report tokens either per batch
of 64 examples (as the batched services do) or per example (the worst case).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from selbench.cost import CostMeter

N, REPEATS, ROUNDS = 50_000, 200, 5


def workload(lengths: np.ndarray) -> int:
    return int(np.argsort(-lengths, kind="stable")[0])


def bare(lengths: np.ndarray) -> float:
    start = time.perf_counter()
    for _ in range(REPEATS):
        workload(lengths)
    return time.perf_counter() - start


def metered(lengths: np.ndarray, per_item: list[int]) -> float:
    """``per_item`` holds one token count per add_tokens call."""
    start = time.perf_counter()
    for _ in range(REPEATS):
        meter = CostMeter().start()
        with meter.amortised():
            for n in per_item:
                meter.add_tokens(n)
        workload(lengths)
        meter.stop()
    return time.perf_counter() - start


def main() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 2000, N)
    per_example = [int(x) for x in lengths]
    per_batch = [int(lengths[i : i + 64].sum()) for i in range(0, N, 64)]
    # interleave rounds so drift hits all variants equally
    b, mb, me = [], [], []
    for _ in range(ROUNDS):
        b.append(bare(lengths))
        mb.append(metered(lengths, per_batch))
        me.append(metered(lengths, per_example))
    start = time.perf_counter()
    meter = CostMeter()
    for _ in range(10_000):
        meter.start()
        meter.stop()
    start_stop_us = (time.perf_counter() - start) / 10_000 * 1e6
    meter = CostMeter().start()
    start = time.perf_counter()
    for _ in range(1_000_000):
        meter.add_tokens(7)
    add_ns = (time.perf_counter() - start) / 1_000_000 * 1e9
    bare_s, batch_s, example_s = (statistics.median(x) for x in (b, mb, me))
    print(f"workload: argsort of {N} lengths x {REPEATS} (median of {ROUNDS} rounds)")
    print(f"{'bare':44s} {bare_s:8.3f} s")
    print(f"{'metered, tokens per batch of 64':44s} {batch_s:8.3f} s   ratio {batch_s / bare_s:6.3f} x")
    print(f"{'metered, tokens per example (worst case)':44s} {example_s:8.3f} s   ratio {example_s / bare_s:6.3f} x")
    print(f"{'start+stop':28s} {start_stop_us:8.1f} us per pair")
    print(f"{'add_tokens':28s} {add_ns:8.1f} ns per call")


if __name__ == "__main__":
    main()
