"""`selbench run --benchmarks all --limit N`: the card's four benchmarks (and the known-answer
pairs) from selection to result rows, the run's page and a leaderboard built from its submission.

The grid is the tiny spec made small, as in tests/executors/test_full_grid_executors.py (an
8-person world, budget 64, random x 3 seeds, longest, the full pool, zero-shot; 2 epochs), so the
tiny base model and pool caches are shared with it; every model is evaluated through one vLLM
server at ``--limit 2``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from selbench.results.items import read_item_scores

pytestmark = pytest.mark.slow

LIMIT = 2
BENCHMARKS = {"known-answer", "ifeval", "alpaca-eval/standard", "alpaca-eval/pooled-random", "llmbar", "openllm"}
KINDS = {"random", "selector", "full", "zero-shot"}


def small_spec(folder: Path, data: Path) -> Path:
    from selbench.specs.loader import load_spec

    base = load_spec("tiny").model_dump(mode="json", exclude_none=True)
    pool = {**base["pools"][0], "generator_args": {**base["pools"][0]["generator_args"], "entities": 8}}
    for bench in base["benchmarks"]:  # a spec file's relative paths resolve against its folder
        if bench.get("path"):
            bench["path"] = str(data / bench["path"])
    spec = {**base, "pools": [pool], "budgets": [64], "random_seeds": [0, 1, 2], "train_seeds": [0], "selectors": ["random", "longest"],
            "recipe": {**base["recipe"], "epochs": 2}}
    path = folder / "tiny-small.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def run(eval_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    import shutil
    import sys

    from typer.testing import CliRunner

    from selbench.cli.main import app

    if shutil.which("vllm") is None and not Path(sys.executable).with_name("vllm").is_file():
        pytest.skip("vllm is not installed")
    work = tmp_path_factory.mktemp("all-benchmarks")
    spec = small_spec(work, eval_data)
    res = CliRunner().invoke(app, ["run", "--spec", str(spec), "--benchmarks", "all", "--limit", str(LIMIT),
                                   "--out", str(work / "runs")])
    assert res.exit_code == 0, res.output + repr(res.exception)
    run_dir = work / "runs" / "tiny"
    rows = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    return {"spec": spec, "dir": run_dir, "rows": rows, "output": res.output}


def test_every_benchmark_has_rows_for_every_kind_of_row(run: dict) -> None:
    rows = run["rows"]
    assert {r["benchmark"] for r in rows} == BENCHMARKS
    for bench in BENCHMARKS:
        kinds = [r["kind"] for r in rows if r["benchmark"] == bench]
        assert set(kinds) == KINDS and kinds.count("random") == 3, (bench, kinds)
    for r in rows:
        assert r["direction"] == "higher"
        assert r["scale"] == ("0-100" if r["benchmark"].startswith("alpaca-eval/") else "0-1"), r
    openllm = next(r for r in rows if r["benchmark"] == "openllm")
    assert openllm["aggregate"] == "task-macro" and {"tasks.mmlu", "tasks.hellaswag"} <= set(openllm["extra_metrics"])
    llmbar = next(r for r in rows if r["benchmark"] == "llmbar")
    assert {"Natural.accuracy", "Adversarial.accuracy"} <= set(llmbar["extra_metrics"])
    ifeval = next(r for r in rows if r["benchmark"] == "ifeval")
    assert {"prompt_level_loose_acc", "inst_level_strict_acc"} <= set(ifeval["extra_metrics"])


def test_per_item_files_have_unique_ids_and_give_the_score(run: dict) -> None:
    import numpy as np

    for r in run["rows"]:
        ids, scores = read_item_scores(run["dir"] / r["item_scores"])  # rejects duplicate ids
        assert len(ids) == r["n_items"] > 0
        assert np.all((scores >= 0) & (scores <= 1)), r["benchmark"]
        if r["aggregate"] == "task-macro":  # mean over tasks of each task's item mean
            tasks = sorted({i.split("/", 1)[0] for i in ids})
            value = np.mean([scores[[i.split("/", 1)[0] == t for i in ids]].mean() for t in tasks])
        else:
            value = scores.mean() * (100 if r["scale"] == "0-100" else 1)
        assert value == pytest.approx(r["score"], abs=1e-9), r["benchmark"]
    openllm_ids = read_item_scores(run["dir"] / next(r for r in run["rows"] if r["benchmark"] == "openllm")["item_scores"])[0]
    assert {i.split("/", 1)[0] for i in openllm_ids} == {"hellaswag", "mmlu", "truthfulqa_mc2", "winogrande", "gsm8k"}
    assert all(i.count("/") == 2 for i in openllm_ids if i.startswith("mmlu/"))  # mmlu/<subject>/<doc>


def test_pooled_random_reference_is_the_random_models_outputs(run: dict) -> None:
    cells = [json.loads(line) for line in (run["dir"] / "cells.jsonl").read_text().splitlines()]
    randoms = sorted((c for c in cells if c["selector"] == "random"), key=lambda c: c["seed"])
    files = [str(Path(c["evaluation"]) / "alpaca-eval" / "model_outputs.json") for c in randoms]
    for c in cells:
        summary = json.loads((Path(c["evaluation"]) / "alpaca-eval" / "summary.json").read_text())
        assert summary["pooled_reference"]["files"] == files, c["selector"]
        assert "plumbing check" in summary["judge"]["note"]
        pooled = [json.loads(line) for line in (Path(c["evaluation"]) / "alpaca-eval" /
                                                "annotations-pooled-random.jsonl").read_text().splitlines()]
        outputs = {json.loads(Path(f).read_text())[0]["output"] for f in files}
        first = next(a for a in pooled if a["item"] == 0)
        assert first["output_1"] in outputs  # the reference drawn from the random models' outputs


def test_evaluate_output_agrees_with_the_run_rows(run: dict) -> None:
    """`selbench evaluate` on the run's longest adapter prints the scores its rows carry."""
    from typer.testing import CliRunner

    from selbench.cli.main import app

    cells = [json.loads(line) for line in (run["dir"] / "cells.jsonl").read_text().splitlines()]
    randoms = sorted((c for c in cells if c["selector"] == "random"), key=lambda c: c["seed"])
    longest = next(c for c in cells if c["selector"] == "longest")
    args = ["evaluate", "--spec", str(run["spec"]), "--adapter", longest["train"], "--benchmarks",
            "known-answer,ifeval,alpaca-eval,llmbar,openllm", "--limit", str(LIMIT), "--out", str(run["dir"]), "--json"]
    for c in randoms:
        args += ["--random-outputs", str(Path(c["evaluation"]) / "alpaca-eval" / "model_outputs.json")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output + repr(res.exception)
    printed = json.loads(res.output)
    assert printed["folder"] == longest["evaluation"]  # reused, not re-evaluated
    mine = {r["benchmark"]: r for r in run["rows"] if r["selector"] == "longest"}
    m = {name: b["metrics"] for name, b in printed["benchmarks"].items()}
    assert mine["known-answer"]["score"] == m["known-answer"]["pair_accuracy"]
    assert mine["ifeval"]["score"] == m["ifeval"]["prompt_level_strict_acc"]
    assert mine["ifeval"]["extra_metrics"]["inst_level_loose_acc"] == m["ifeval"]["inst_level_loose_acc"]
    for ref in ("standard", "pooled-random"):
        assert mine[f"alpaca-eval/{ref}"]["score"] == m["alpaca-eval"][ref]["win_rate"]
    assert mine["llmbar"]["score"] == pytest.approx(
        (m["llmbar"]["Natural"]["accuracy"] * m["llmbar"]["Natural"]["pairs"]
         + m["llmbar"]["Adversarial"]["accuracy"] * m["llmbar"]["Adversarial"]["pairs"])
        / (m["llmbar"]["Natural"]["pairs"] + m["llmbar"]["Adversarial"]["pairs"]), abs=1e-12)
    assert mine["llmbar"]["extra_metrics"]["Adversarial.pair_accuracy"] == m["llmbar"]["Adversarial"]["pair_accuracy"]
    tasks = {t: v.get("acc", v.get("exact_match,strict-match")) for t, v in m["openllm"].items()}
    assert mine["openllm"]["score"] == pytest.approx(sum(tasks.values()) / len(tasks), abs=1e-12)
    assert all(mine["openllm"]["extra_metrics"][f"tasks.{t}"] == v for t, v in tasks.items())


def test_page_and_leaderboard_list_every_benchmark_with_gains(run: dict, tmp_path: Path) -> None:
    """The run's page lists each benchmark; its submission validates and builds into a leaderboard
    with a gain over random for each benchmark."""
    from selbench.leaderboard.build import build

    page = (run["dir"] / "site" / "index.html").read_text()
    cells_csv = (run["dir"] / "site" / "cells.csv").read_text()
    for bench in BENCHMARKS:
        assert bench in page and bench in cells_csv, bench
    built = build(run["dir"] / "submissions", tmp_path / "site", verified=tmp_path / "none.json")
    assert not built.rejected and len(built.submissions) == 1, built.rejected
    cells = built.leaderboard.cells
    assert set(cells["benchmark"]) == BENCHMARKS
    assert cells["delta"].notna().all() and len(cells) == len(BENCHMARKS)
    random = {(r["benchmark"]): [] for r in run["rows"]}
    for r in run["rows"]:
        if r["kind"] == "random":
            random[r["benchmark"]].append(r["score"])
    mine = {r["benchmark"]: r["score"] for r in run["rows"] if r["kind"] == "selector"}
    for _, c in cells.iterrows():  # the gain is the row's score minus the random mean, per benchmark
        expected = mine[c["benchmark"]] - sum(random[c["benchmark"]]) / 3
        assert c["delta"] == pytest.approx(expected, abs=1e-9), c["benchmark"]
