"""Evaluation folders -> result-row scores, per benchmark kind (synthetic folders, no server)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from selbench.evaluation.row_scores import RowError, row_scores


def bench_dir(tmp_path: Path, summary: dict, records: list[dict], **files: object) -> Path:
    folder = tmp_path / "bench"
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    for name, content in files.items():
        (folder / name.replace("__", "-").replace("_json", ".json").replace("_jsonl", ".jsonl")).write_text(
            content if isinstance(content, str) else json.dumps(content))
    return folder


def test_openllm_is_the_macro_average_with_task_ids(tmp_path: Path) -> None:
    records = [{"task": "mmlu", "id": i, "doc_id": i, "subject": s, "filter": "none", "score": {"acc": a}}
               for i, (s, a) in enumerate([("anatomy", 1.0), ("virology", 0.0), ("anatomy", 1.0), ("virology", 1.0)])]
    records += [{"task": "gsm8k", "id": i, "doc_id": i, "filter": f, "score": {"exact_match": v}}
                for i in range(2) for f, v in (("strict-match", 0.0), ("flexible-extract", 1.0))]
    metrics = {"mmlu": {"acc": 0.75, "acc_stderr": 0.2}, "gsm8k": {"exact_match,strict-match": 0.0,
                                                                      "exact_match,flexible-extract": 1.0}}
    folder = bench_dir(tmp_path, {"metrics": metrics, "average": 0.375}, records)
    [row] = row_scores("openllm", "openllm", folder)
    assert row.score == 0.375 and row.aggregate == "task-macro" and row.metric == "macro_average"
    assert row.ids[:2] == ["mmlu/anatomy/0", "mmlu/virology/1"]
    assert [i for i in row.ids if i.startswith("gsm8k")] == ["gsm8k/0", "gsm8k/1"]  # strict-match only
    assert row.items[-2:] == [0.0, 0.0]
    assert row.extra == {"tasks.mmlu": 0.75, "tasks.gsm8k": 0.0}


def test_openllm_task_without_items_fails_naming_it(tmp_path: Path) -> None:
    folder = bench_dir(tmp_path, {"metrics": {"mmlu": {"acc": 0.5}, "winogrande": {"acc": 0.5}}},
                       [{"task": "mmlu", "id": 0, "doc_id": 0, "score": {"acc": 0.5}}])
    with pytest.raises(RowError, match="openllm.*winogrande"):
        row_scores("openllm", "openllm", folder)


def test_ifeval_items_are_prompt_level_strict(tmp_path: Path) -> None:
    metrics = {"prompt_level_strict_acc": 0.5, "prompt_level_loose_acc": 1.0, "inst_level_strict_acc": 0.6}
    records = [{"task": "ifeval", "id": 1001, "score": {"prompt_level_strict_acc": True, "inst_level_strict_acc": [True]}},
               {"task": "ifeval", "id": 1005, "score": {"prompt_level_strict_acc": False, "inst_level_strict_acc": [False]}}]
    [row] = row_scores("ifeval", "ifeval", bench_dir(tmp_path, {"metrics": metrics}, records))
    assert (row.ids, row.items, row.score) == (["ifeval/1001", "ifeval/1005"], [1.0, 0.0], 0.5)
    assert row.extra == {"prompt_level_loose_acc": 1.0, "inst_level_strict_acc": 0.6}


def test_duplicate_item_ids_fail(tmp_path: Path) -> None:
    records = [{"id": "a", "score": 1.0}, {"id": "a", "score": 0.0}]
    folder = bench_dir(tmp_path, {"metrics": {"pair_accuracy": 0.5}, "primary_metric": "pair_accuracy"}, records)
    with pytest.raises(RowError, match="known-answer.*'a'"):
        row_scores("known-answer", "known_answer", folder)


def test_llmbar_pair_scores_and_sets_kept_apart(tmp_path: Path) -> None:
    def pair(pid: str, oks: list[bool]) -> dict:
        return {"id": pid, "set": pid.split("/")[0], "judgements": [{"correct": ok} for ok in oks],
                "score": sum(oks) / len(oks)}

    records = [pair("Natural/0", [True, True]), pair("Adversarial/Neighbor/0", [True, False]),
               pair("Adversarial/GPTInst/0", [False, False])]
    metrics = {"Natural": {"pairs": 1, "accuracy": 1.0}, "Adversarial": {"pairs": 2, "accuracy": 0.25},
               "Adversarial/Neighbor": {"pairs": 1, "accuracy": 0.5}}
    [row] = row_scores("llmbar", "llmbar", bench_dir(tmp_path, {"metrics": metrics}, records))
    assert row.score == pytest.approx(0.5) and row.items == [1.0, 0.5, 0.0]
    assert row.extra["Natural.accuracy"] == 1.0 and row.extra["Adversarial.accuracy"] == 0.25


def test_alpaca_eval_one_row_per_reference_and_preferences_in_0_1(tmp_path: Path) -> None:
    outputs = [{"instruction": f"q{i}", "output": f"a{i}"} for i in range(4)]
    prefs = {0: 2.0, 1: 1.0, 2: 1.5, 3: 0.0}  # won, lost, draw, draw (alpaca-eval's 0)
    annotations = "".join(json.dumps({"item": i, "instruction": f"q{i}", "preference": p}) + "\n"
                          for i, p in reversed(prefs.items()))  # order does not matter
    metrics = {"standard": {"win_rate": 50.0, "length_controlled_winrate": None, "n_total": 4},
               "pooled-random": {"win_rate": 50.0, "n_total": 4}}
    folder = bench_dir(tmp_path, {"metrics": metrics}, [], model_outputs_json=outputs,
                       annotations__standard_jsonl=annotations, annotations__pooled__random_jsonl=annotations)
    rows = row_scores("alpaca-eval", "alpaca_eval", folder)
    assert [r.benchmark for r in rows] == ["alpaca-eval/standard", "alpaca-eval/pooled-random"]
    assert rows[0].items == [1.0, 0.0, 0.5, 0.5] and rows[0].scale == "0-100"
    assert sum(rows[0].items) / 4 * 100 == rows[0].score
    assert rows[0].extra == {"n_total": 4.0}


def test_alpaca_eval_skipped_reference_fails_naming_it(tmp_path: Path) -> None:
    metrics = {"pooled-random": {"status": "skipped: no random-subset outputs given"}}
    folder = bench_dir(tmp_path, {"metrics": metrics}, [], model_outputs_json=[{"instruction": "q", "output": "a"}])
    with pytest.raises(RowError, match="'alpaca-eval' reference 'pooled-random': skipped"):
        row_scores("alpaca-eval", "alpaca_eval", folder)


def test_query_loss_is_lower_is_better_in_nats(tmp_path: Path) -> None:
    records = [{"id": "q0", "ce": 1.5, "score": -1.5, "tokens": 3, "sum_nll": 4.5},
               {"id": "q1", "ce": 0.5, "score": -0.5, "tokens": 2, "sum_nll": 1.0}]
    folder = bench_dir(tmp_path, {"metrics": {"mean_item_ce": 1.0, "mean_token_ce": 1.1, "perplexity": 3.0}}, records)
    [row] = row_scores("pet-query-loss", "query_loss", folder)
    assert (row.metric, row.score, row.items, row.direction, row.scale) == ("mean_item_ce", 1.0, [1.5, 0.5], "lower", "nats")


def test_missing_summary_fails_naming_the_benchmark(tmp_path: Path) -> None:
    with pytest.raises(RowError, match="benchmark 'ifeval': no evaluation summary"):
        row_scores("ifeval", "ifeval", tmp_path / "nothing")


def test_old_rows_stay_valid_and_new_fields_are_checked() -> None:
    from selbench.results.schema import ResultRow

    row = {"kind": "zero-shot", "spec": "tiny", "spec_version": 1, "track": "general", "pool": "p",
           "pool_fingerprint": "0" * 64, "budget": None, "selector": "zero-shot", "selector_version": "0", "seed": 0,
           "benchmark": "ifeval", "metric": "acc", "score": 0.5, "n_items": 2, "item_scores": "items/a.jsonl.gz",
           "item_scores_sha256": "0" * 64}
    old = ResultRow.model_validate(row)
    assert (old.scale, old.direction, old.aggregate, old.extra_metrics) == ("0-1", "higher", "mean", {})
    assert ResultRow.model_validate({**row, "benchmark": "alpaca-eval/pooled-random", "scale": "0-100"}).scale == "0-100"
    for bad in ({"benchmark": "a/../b"}, {"direction": "up"}, {"extra_metrics": {"x": float("nan")}}):
        with pytest.raises(ValueError):
            ResultRow.model_validate({**row, **bad})


def test_pooled_sources_are_the_random_models_at_the_same_pool_and_budget() -> None:
    from selbench.grid import Cell
    from selbench.pipeline.pooled_reference import pooled_sources, random_first

    def st(pool: str, budget: int | None, selector: str, seed: int, kind: str) -> SimpleNamespace:
        return SimpleNamespace(cell=Cell(pool, budget, selector, seed), kind=kind)

    states = {"sel": st("p", 10, "longest", 0, "selector"), "r1": st("p", 10, "random", 1, "random"),
              "r0": st("p", 10, "random", 0, "random"), "r20": st("p", 20, "random", 0, "random"),
              "q": st("q", 10, "random", 0, "random"), "full": st("p", None, "full", 0, "full"),
              "zs": st("p", None, "zero-shot", 0, "zero-shot")}
    got = pooled_sources(states)
    assert got["sel"] == got["r1"] == ["r0", "r1"]
    assert got["full"] == got["zs"] == ["r0", "r1", "r20"]
    assert got["q"] == ["q"]
    assert list(random_first(dict.fromkeys(states), states))[:4] == ["r1", "r0", "r20", "q"]


def test_a_judge_model_is_served_by_the_suite_after_the_evaluation_server(tmp_path: Path, monkeypatch) -> None:
    """judge.model other than the base: the evaluation server stops, a vLLM server for the judge
    starts (the same VllmServer machinery), and its identity is what the annotation cache keys."""
    from selbench.evaluation import alpaca_stage, server
    from selbench.specs.loader import load_spec
    from selbench.specs.models import Spec

    base = load_spec("tiny").model_dump(mode="json")
    judge_model = {**base["base_model"], "name": "tiny-judge"}
    spec = Spec.model_validate({**base, "judge": {"model": judge_model, "force_choice_tokens": True}})
    events: list[tuple] = []

    class FakeServer:
        def __init__(self, model, **kw):
            self.kw, self.base_url = kw, "http://127.0.0.1:1/v1"
            events.append(("init", model, kw["served_name"]))

        def __enter__(self):
            events.append(("start",))
            return self

        def __exit__(self, *exc):
            events.append(("stop",))

        def info(self):
            return {"served_name": self.kw["served_name"]}

    monkeypatch.setattr(server, "VllmServer", FakeServer)
    main = SimpleNamespace(stop=lambda: events.append(("main stopped",)))
    with alpaca_stage.judge_endpoint(spec, main=main, main_tokenizer=None, main_max_len=0, self_judge=False,
                                     force=True, start_timeout=1, log_dir=tmp_path, progress=lambda m: None) as judge:
        assert events[0] == ("main stopped",) and events[1][2] == "judge" and events[-1] == ("start",)
        assert judge.model == "judge" and judge.desc["model"]["name"] == "tiny-judge" and judge.desc["key"]
        assert judge.bias and judge.tokenizer is not None
        key = judge.key
    assert events[-1] == ("stop",)
    other = Spec.model_validate({**base, "judge": {"model": {**judge_model, "name": "tiny-judge-2"}}})
    with alpaca_stage.judge_endpoint(other, main=main, main_tokenizer=None, main_max_len=0, self_judge=False,
                                     force=False, start_timeout=1, log_dir=tmp_path, progress=lambda m: None) as judge:
        assert judge.key != key  # another judge, another annotation cache
