"""What the kernel sandbox adds to one isolated selection (Landlock rules + a network namespace).

The same cheap selection (``random`` on a 200-row pool, a fresh output folder each time, so the
worker really runs) with the sandbox on and off (``SELBENCH_SANDBOX=off``), alternating rounds so
that machine load hits both alike; then the launcher alone: the time to apply each boundary in a
fresh process (``python -m selbench.sandbox.launch POLICY -m json.tool`` on an empty input vs
plain ``python -m json.tool``). Evaluation data hidden: ../shared/data/eval when present.

    python benchmarks/sandbox_overhead.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def _rows(n: int) -> list[dict[str, str]]:
    return [{"instruction": f"Say {i} in words.", "input": "", "output": f"number {i} " * (1 + i % 7)} for i in range(n)]


def _timed_selection(pool, out: Path, sandbox: bool) -> tuple[float, dict]:
    from selbench.selection.stage import run_selection

    os.environ["SELBENCH_SANDBOX"] = "on" if sandbox else "off"
    start = time.perf_counter()
    art = run_selection(pool, "random", 50, 0, out)
    return time.perf_counter() - start, art.data["isolation"]


def _timed_launch(policy: str | None) -> float:
    cmd = [sys.executable, "-m", "json.tool"] if policy is None else \
        [sys.executable, "-m", "selbench.sandbox.launch", policy, "-m", "json.tool"]
    start = time.perf_counter()
    subprocess.run(cmd, input="{}", capture_output=True, text=True, check=True)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    from selbench.pools import load_pool
    from selbench.data_paths import evaluation_roots
    from selbench.specs.models import PoolSpec

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pool.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in _rows(200)))
        os.environ.setdefault("SELBENCH_CACHE", str(Path(tmp) / "cache"))
        pool = load_pool(PoolSpec(name="bench", path=str(path)))
        _timed_selection(pool, Path(tmp) / "warm", True)  # imports, page cache
        times: dict[bool, list[float]] = {True: [], False: []}
        report = {}
        for r in range(args.rounds):
            for sandbox in (r % 2 == 0, r % 2 == 1):
                seconds, iso = _timed_selection(pool, Path(tmp) / f"r{r}-{sandbox}", sandbox)
                times[sandbox].append(seconds)
                report[sandbox] = iso
        deny = evaluation_roots()
        policies = {"plain python": None,
                    "network namespace only": json.dumps({"deny": [], "network": False}),
                    "Landlock only": json.dumps({"deny": deny, "network": True}),
                    "both": json.dumps({"deny": deny, "network": False})}
        launch = {name: [] for name in policies}
        for _ in range(args.rounds):
            for name, policy in policies.items():
                launch[name].append(_timed_launch(policy))
    on, off = statistics.median(times[True]), statistics.median(times[False])
    print(f"hidden folders: {deny or '(none found)'}")
    print(f"sandbox on : {report[True]}")
    print(f"sandbox off: {report[False]}")
    print(f"one isolated selection (median of {args.rounds}): sandbox on {on:.3f} s, off {off:.3f} s, "
          f"ratio {on / off:.2f}x ({on - off:+.3f} s)")
    base = statistics.median(launch["plain python"])
    for name, values in launch.items():
        med = statistics.median(values)
        print(f"  start a process, {name:<24} {med * 1000:7.1f} ms  ({med / base:.2f}x plain)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
