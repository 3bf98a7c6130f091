"""`selbench run --spec tiny-targeted` end to end, and the distance-quantile finding.

Every targeted selector (LESS with the five rules, RDS+ and EMBED with round-robin) runs through
the isolated selection stage with its target's query set, fine-tunes (LoRA) and is evaluated on
its own target's benchmarks through one vLLM server, next to random (3 seeds), full-pool and
zero-shot rows evaluated on every target. Then `selbench quantiles` asks the paper's question:
does LESS similarity predict the query loss (Spearman over distance quantiles)?
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sb_testing import run_cli

pytestmark = pytest.mark.slow

TARGETED = ("less-rr", "less-dg", "less-uot", "less-knn-unif", "less-knn-kde", "rds-rr", "embed-rr")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    proc = run_cli("run", "--spec", "tiny-targeted", "--out", str(out), timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out / "tiny-targeted"


def _rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]


def test_every_cell_runs_and_is_evaluated_on_its_targets_benchmarks(run_dir: Path) -> None:
    cells = [json.loads(line) for line in (run_dir / "cells.jsonl").read_text().splitlines()]
    assert all(c["status"] == "done" for c in cells), [c for c in cells if c["status"] != "done"]
    rows = _rows(run_dir)
    for name in TARGETED:
        for target in ("pet", "city"):
            mine = [r for r in rows if r["selector"] == name and r["target"] == target]
            assert {r["benchmark"] for r in mine} == {f"{target}-known-answer", f"{target}-query-loss"}, (name, target)
    for kind in ("random", "full", "zero-shot"):
        benches = {r["benchmark"] for r in rows if r["kind"] == kind}
        assert benches == {"pet-known-answer", "pet-query-loss", "city-known-answer", "city-query-loss"}, kind
        assert all(r.get("target") is None for r in rows if r["kind"] == kind)
    assert len({r["seed"] for r in rows if r["kind"] == "random"}) == 3
    # selection records name the target and its query set
    sel = next(r for r in rows if r["selector"] == "less-rr" and r["target"] == "pet")
    data = json.loads((run_dir / sel["selection"]).read_text())
    assert data["target"]["name"] == "pet" and data["target"]["query_items"] == 24
    assert data["cost"]["amortised"]["wall_s"] > 0  # the warm-up and pool gradients are amortised work
    assert (run_dir / "site" / "index.html").is_file()


def test_targeted_selection_lowers_the_query_loss_below_random_and_zero_shot(run_dir: Path) -> None:
    rows = _rows(run_dir)
    for target in ("pet", "city"):
        bench = f"{target}-query-loss"
        random = [r["score"] for r in rows if r["kind"] == "random" and r["benchmark"] == bench]
        zero = next(r["score"] for r in rows if r["kind"] == "zero-shot" and r["benchmark"] == bench)
        targeted = {r["selector"]: r["score"] for r in rows if r["kind"] == "selector" and r["benchmark"] == bench}
        assert set(targeted) == set(TARGETED)
        # scores are mean cross-entropies in nats: lower is better (the rows say so)
        assert {(r["direction"], r["scale"]) for r in rows if r["benchmark"] == bench} == {("lower", "nats")}
        assert min(random) < zero
        assert targeted["less-rr"] < min(random), (target, targeted, random)
        assert sum(targeted.values()) / len(targeted) < sum(random) / len(random), (target, targeted, random)


def test_less_similarity_predicts_the_query_loss(run_dir: Path) -> None:
    out = run_dir.parent
    proc = run_cli("quantiles", "--spec", "tiny-targeted", "--target", "pet", "--representation", "less",
                   "--quantiles", "5", "--out", str(out), timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((run_dir / "quantiles" / "pet" / "less.json").read_text())
    losses = [q["pet-query-loss:mean_token_ce"] for q in result["quantiles"]]
    assert len(losses) == 5
    # farther quantiles (less similar under LESS) give a higher query loss
    assert result["spearman"]["pet-query-loss:mean_token_ce"]["rho"] >= 0.7, losses
    assert losses[0] < losses[-1], losses
    assert "Spearman" in proc.stdout
