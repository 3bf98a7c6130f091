"""Target-task evaluation through lm-eval (benchmark kind ``lm_eval``): the generated task YAMLs
on the local data (no server), and one served run of the evaluation stage on the tiny model
(base + a LoRA adapter, small limit)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

for key, value in {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                   "VLLM_HOST_IP": "127.0.0.1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1",
                   "VLLM_CPU_KVCACHE_SPACE": "1"}.items():
    os.environ.setdefault(key, value)

pytest.importorskip("lm_eval", reason="lm-eval is not installed")

from selbench.evaluation.target_tasks import BBH_TASKS, SUITES, plan_tasks, stock_dir  # noqa: E402
from selbench.specs.models import BenchmarkSpec  # noqa: E402


@pytest.fixture()
def eval_root(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SELBENCH_EVAL_DATA", str(shared_data))
    return shared_data / "eval"


def bench(task: str, **kwargs) -> BenchmarkSpec:
    return BenchmarkSpec(name=task.replace("_", "-"), kind="lm_eval", options={"task": task, **kwargs.pop("options", {})},
                         **kwargs)


def _requests(task_dirs: list[Path], names: list[str]) -> dict:
    import warnings

    from lm_eval.tasks import TaskManager, get_task_dict

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        tasks = get_task_dict(names, TaskManager(include_path=[str(d) for d in task_dirs]))
    for task in tasks.values():
        task.build_all_requests(limit=1, rank=0, world_size=1)
    return tasks


@pytest.mark.slow  # ~15 s: lm-eval indexes its task folder
def test_local_bbh_and_gsm8k_reuse_the_stock_prompts(eval_root: Path, tmp_path: Path) -> None:
    bbh = plan_tasks(bench("bbh"), tmp_path / "bbh", data_root=eval_root, fine_tuned=False, max_new_tokens=512, max_len=4096)
    assert len(bbh.tasks) == 27 and bbh.source == "local" and not bbh.chat
    assert len(bbh.hashes) == 27 and all("/eval/bbh/bbh/" in p for p in bbh.hashes)
    assert bbh.generation["max_gen_toks"] == 512 and bbh.generation["until"] == ["\n\n"]
    assert bbh.generation["truncate_prompt_tokens"] == 4096 - 512
    chat = plan_tasks(bench("bbh"), tmp_path / "bbh-chat", data_root=eval_root, fine_tuned=True, max_new_tokens=512,
                      max_len=4096)
    assert chat.chat and chat.generation["until"] == []  # the paper stops at "\n\n" for plain prompts only
    gsm = plan_tasks(bench("gsm8k"), tmp_path / "gsm", data_root=eval_root, fine_tuned=False, max_new_tokens=512,
                     max_len=4096)
    assert gsm.tasks == {"gsm8k_cot": "sb_gsm8k_cot"} and gsm.generation["until"][0] == "Q:"
    tasks = _requests([tmp_path / "bbh", tmp_path / "gsm"], ["sb_bbh_cot_fewshot_snarks", "sb_gsm8k_cot"])
    snarks, gsm8k = tasks["sb_bbh_cot_fewshot_snarks"], tasks["sb_gsm8k_cot"]
    assert len(snarks.eval_docs) == 178 and len(gsm8k.eval_docs) == 1319  # the local copies, in full
    context = snarks.instances[0].args[0]
    assert context.startswith("Determine which of two sentences is sarcastic.")
    from lm_eval.tasks._yaml_loader import load_yaml

    stock = load_yaml(stock_dir() / "bbh/cot_fewshot/snarks.yaml", resolve_func=False)
    assert all(f"Q: {s['input']}\nA: Let's think step by step.\n{s['target']}" in context
               for s in stock["fewshot_config"]["samples"])
    assert context.endswith(f"Q: {snarks.eval_docs[0]['input']}\nA: Let's think step by step.\n")
    assert snarks.config.num_fewshot == 3
    assert snarks.config.metric_list[0]["ignore_case"] and snarks.config.metric_list[0]["ignore_punctuation"]
    first = json.loads((eval_root / "gsm8k/test.jsonl").read_text().splitlines()[0])
    g = gsm8k.instances[0].args[0]
    assert g.count("\n\nQ: ") == 8 and g.endswith(f"Q: {first['question']}\nA:") and gsm8k.config.num_fewshot == 8


def test_bbh_stock_exemplars_are_the_local_cot_prompts(eval_root: Path) -> None:
    """lm-eval inlines the BBH CoT exemplars; the paper reads them from cot-prompts/: same text."""
    from lm_eval.tasks._yaml_loader import load_yaml

    for task in BBH_TASKS:
        stock = load_yaml(stock_dir() / "bbh" / "cot_fewshot" / f"{task}.yaml", resolve_func=False)
        local = " ".join((eval_root / "bbh" / "cot-prompts" / f"{task}.txt").read_text().split())
        samples = stock["fewshot_config"]["samples"]
        assert len(samples) == 3, task
        for sample in samples:
            assert " ".join(sample["input"].split()) in local, task
            assert " ".join(sample["target"].split()) in local, task


def test_missing_local_data_is_reported_not_raised(eval_root: Path, tmp_path: Path) -> None:
    from selbench.evaluation.target_tasks import run_lm_eval_task

    spec = SimpleNamespace(decoding=SimpleNamespace(max_new_tokens=32, seed=0))
    target = SimpleNamespace(max_len=1024)
    for task, fragment in (("tydiqa", "TyDiQA GoldP test data is not available locally"),
                           ("mmlu_pro", "MMLU-Pro is not available locally")):
        body = run_lm_eval_task(bench(task, path="eval"), target, tmp_path, spec=spec, limit=1, lora=False, fine_tuned=False,  # type: ignore[arg-type]
                                tokenizer_dir="unused")
        assert body["status"].startswith("missing: ") and fragment in body["status"]
        assert body["metrics"] == {} and task in body["missing"]
    # the hub, unreachable here, is reported the same way
    body = run_lm_eval_task(bench("tydiqa"), target, tmp_path, spec=spec, limit=1, lora=False, fine_tuned=False,  # type: ignore[arg-type]
                            tokenizer_dir="unused")
    assert "google-research-datasets/tydiqa is not reachable" in body["status"]


def test_hub_wrappers_pin_the_dataset_revision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets
    import yaml

    monkeypatch.setattr(datasets, "load_dataset_builder", lambda *a, **k: object())  # "reachable"
    b = bench("mmlu_pro", revision="b189ec765aa7ed75c8acfea42df31fdae71f97be")
    plan = plan_tasks(b, tmp_path, data_root=None, fine_tuned=False, max_new_tokens=512, max_len=4096)
    assert plan.source == "hub" and len(plan.tasks) == 14 and plan.missing is None
    wrapper = yaml.safe_load((tmp_path / "sb_mmlu_pro_law.yaml").read_text())
    assert wrapper["dataset_kwargs"] == {"revision": "b189ec765aa7ed75c8acfea42df31fdae71f97be"}
    assert wrapper["num_fewshot"] == 0 and wrapper["generation_kwargs"]["max_gen_toks"] == 2048  # lm-eval's
    assert wrapper["include"].endswith("mmlu_pro/mmlu_pro_law.yaml")
    tydiqa = plan_tasks(bench("tydiqa"), tmp_path / "t", data_root=None, fine_tuned=False, max_new_tokens=512, max_len=4096)
    assert len(tydiqa.tasks) == 9 and yaml.safe_load((tmp_path / "t" / "sb_tydiqa_goldp_en.yaml").read_text())[
        "num_fewshot"] == 1


def test_bad_options_are_clear(eval_root: Path, tmp_path: Path) -> None:
    from selbench.evaluation.errors import DataMissingError, EvalError

    with pytest.raises(EvalError, match="give options.task"):
        plan_tasks(BenchmarkSpec(name="x", kind="lm_eval"), tmp_path, data_root=None, fine_tuned=False, max_new_tokens=8,
                   max_len=64)
    with pytest.raises(DataMissingError, match="no local copy for lm-eval task 'arc_easy'"):
        plan_tasks(bench("arc_easy"), tmp_path, data_root=eval_root, fine_tuned=False, max_new_tokens=8, max_len=64)
    with pytest.raises(EvalError, match="options.chat"):
        plan_tasks(bench("bbh", options={"chat": "sometimes"}), tmp_path, data_root=eval_root, fine_tuned=False,
                   max_new_tokens=8, max_len=64)
    assert set(SUITES) == {"bbh", "gsm8k", "mmlu", "mmlu_pro", "tydiqa"}


# ---- served -----------------------------------------------------------------------------------

def _adapter(base: Path, folder: Path) -> Path:
    """A LoRA adapter with random A and B (peft's default B = 0 would be the base model)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    torch.manual_seed(0)
    lora = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(model, lora).save_pretrained(folder)
    return folder


@pytest.mark.slow
def test_target_tasks_through_the_evaluation_stage(eval_root: Path, tmp_path: Path) -> None:
    """BBH (27 tasks), GSM8K and MMLU at limit 1 for the base model (plain prompts) and an adapter
    (chat format); TyDiQA reported missing; scores in summaries and per-item records."""
    import shutil

    pytest.importorskip("peft")
    if shutil.which("vllm") is None and not Path(os.sys.executable).with_name("vllm").is_file():
        pytest.skip("vllm is not installed")
    from selbench.evaluation.stage import run_evaluation_many
    from selbench.models.loader import resolve_base_model
    from selbench.evaluation.row_scores import row_scores
    from selbench.specs.loader import load_spec

    tiny = load_spec("tiny")
    extra = (bench("bbh", path="eval"), bench("gsm8k", path="eval"), bench("mmlu", path="eval"),
             bench("tydiqa", path="eval"))
    spec = tiny.model_copy(update={"benchmarks": (*tiny.benchmarks, *extra)})
    adapter = _adapter(Path(resolve_base_model(tiny.base_model).source), tmp_path / "adapter")
    names = [b.name for b in extra]
    results = run_evaluation_many(spec, targets={"base": None, "adapter": adapter}, benchmarks=names,
                                  out_dir=tmp_path / "out", limit=1)
    for who, chat in (("base", False), ("adapter", True)):
        summaries = results[who].summaries
        bbh = summaries["bbh"]
        assert bbh["primary_metric"] == "score" and bbh["n"] == 27 and len(bbh["metrics"]["tasks"]) == 27
        assert 0.0 <= bbh["metrics"]["score"] <= 1.0 and bbh["metrics"]["metric"] == "exact_match,get-answer"
        assert bbh["harness"]["chat_template"] is chat and bbh["harness"]["source"] == "local"
        assert bbh["harness"]["backend"] == ("local-chat-completions" if chat else "local-completions")
        assert len(bbh["dataset_sha256"]) == 27
        rows = [json.loads(x) for x in (results[who].folder / "bbh" / "records.jsonl").read_text().splitlines()]
        assert len(rows) == 27 and all(isinstance(r["score"], float) for r in rows)
        assert all(isinstance(r["raw_output"], str) for r in rows)
        [row] = row_scores("bbh", "lm_eval", results[who].folder / "bbh")  # the result row's score and items
        assert (row.score, row.aggregate, len(row.ids)) == (bbh["metrics"]["score"], "task-macro", 27)
        gsm = summaries["gsm8k"]
        assert gsm["n"] == 1 and gsm["metrics"]["metric"] == "exact_match,flexible-extract"
        assert {"exact_match,strict-match", "exact_match,flexible-extract"} <= set(gsm["metrics"]["tasks"]["gsm8k_cot"])
        mmlu = summaries["mmlu"]
        assert mmlu["harness"]["chat_template"] is False and mmlu["metrics"]["score"] in (0.0, 1.0)
        assert summaries["tydiqa"]["status"].startswith("missing: TyDiQA GoldP")
