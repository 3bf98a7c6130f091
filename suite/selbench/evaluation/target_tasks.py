"""Target-task benchmarks of the targeted track through lm-eval (benchmark kind ``lm_eval``).

``options.task`` names a suite below, or any lm-eval task/group (run as is, from the hub).
Every suite task is a generated wrapper YAML that ``include``s the stock lm-eval task and
overrides only what the paper's protocol (arXiv 2602.14696 §2.7, open-instruct's evaluation)
or the local data need: the dataset (a JSONL converted from the local copy under the benchmark's
``path``, e.g. ``eval`` under SELBENCH_EVAL_DATA; or ``hub_id``/``revision`` for the hub), the
number of shots, the generation budget and stop strings, the exact-match normalisation. The
stock prompts, few-shot exemplars, answer filters and metrics are reused.

=========  =================================  =====  =======================================
suite      stock lm-eval tasks                shots  score (``primary_metric``)
=========  =================================  =====  =======================================
bbh        bbh_cot_fewshot_<27 tasks>         3      exact match (get-answer), mean over tasks
gsm8k      gsm8k_cot                          8      exact match (flexible-extract: last number)
mmlu       mmlu (local: mmlu_local)           0      acc (loglikelihood; a stand-in for MMLU-Pro)
mmlu_pro   mmlu_pro_<14 categories>           0      exact match (custom-extract), size-weighted
tydiqa     tydiqa_goldp_<9 languages>         1      F1, mean over languages
=========  =================================  =====  =======================================

Locally: BBH, GSM8K and MMLU run on ../shared/data copies; MMLU-Pro and TyDiQA GoldP have no
local copy and are reported as missing (``status: missing: ...``), like ARC in ``openllm``.

Chat format (``options.chat``): ``auto`` (default) evaluates fine-tuned models (a served LoRA
adapter) with the chat template and the base model without it, as the paper does (Tulu chat
format for fine-tuned models, ``--zero_shot`` plain prompts for base models); loglikelihood tasks
never use it (lm-eval's chat path cannot score loglikelihoods), nor do other lm-eval tasks unless
``chat: true``. Other options: ``shots``, ``max_gen_toks``, ``metric`` (for other lm-eval tasks).

Known differences from the paper's evaluation code (open-instruct style), recorded in every
summary under ``protocol``: lm-eval's prompt wording ("Q: ...\\nA: Let's think step by step."
for BBH, "Q:/A:" exemplars for GSM8K); few-shot exemplars in the user turn when chatting;
prompts longer than the model's context are left-truncated by vLLM
(``truncate_prompt_tokens``) instead of failing; TyDiQA's 512-token context cap is not applied.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from selbench.evaluation.errors import DataMissingError, EvalError
from selbench.evaluation.harness import jsonable
from selbench.evaluation.lm_tasks import _need, _write_jsonl
from selbench.evaluation.scoring import Target
from selbench.hashing import sha256_file

BBH_TASKS = (
    "boolean_expressions", "causal_judgement", "date_understanding", "disambiguation_qa", "dyck_languages",
    "formal_fallacies", "geometric_shapes", "hyperbaton", "logical_deduction_five_objects",
    "logical_deduction_seven_objects", "logical_deduction_three_objects", "movie_recommendation",
    "multistep_arithmetic_two", "navigate", "object_counting", "penguins_in_a_table",
    "reasoning_about_colored_objects", "ruin_names", "salient_translation_error_detection", "snarks",
    "sports_understanding", "temporal_sequences", "tracking_shuffled_objects_five_objects",
    "tracking_shuffled_objects_seven_objects", "tracking_shuffled_objects_three_objects", "web_of_lies",
    "word_sorting",
)
MMLU_PRO_CATEGORIES = ("biology", "business", "chemistry", "computer_science", "economics", "engineering", "health",
                       "history", "law", "math", "other", "philosophy", "physics", "psychology")
TYDIQA_LANGS = ("ar", "bn", "en", "fi", "id", "ko", "ru", "sw", "te")


@dataclass(frozen=True)
class Suite:
    """A target task: stock lm-eval subtasks plus the paper's protocol."""

    name: str
    subtasks: tuple[str, ...]            # stock lm-eval task names
    stock_files: tuple[str, ...]         # their YAMLs, relative to lm_eval/tasks
    shots: int
    metric: str                          # per-sample metric
    filter: str                          # lm-eval filter name ("none" when unfiltered)
    aggregate: str                       # "macro" (mean over subtasks) or "micro" (size-weighted)
    local: str | None = None             # converter of the local copy, None: not available locally
    missing: str | None = None           # why it is not available locally
    max_gen_from_decoding: bool = False  # max_gen_toks = spec.decoding.max_new_tokens (the paper's 512)
    until_plain: tuple[str, ...] | None = None  # stop strings without / with the chat format
    until_chat: tuple[str, ...] | None = None   # (None: the stock ones)
    metric_overrides: dict[str, Any] = field(default_factory=dict)
    notes: str = ""


SUITES: dict[str, Suite] = {
    "bbh": Suite(
        "bbh", tuple(f"bbh_cot_fewshot_{t}" for t in BBH_TASKS), tuple(f"bbh/cot_fewshot/{t}.yaml" for t in BBH_TASKS),
        shots=3, metric="exact_match", filter="get-answer", aggregate="macro", local="bbh", max_gen_from_decoding=True,
        until_plain=("\n\n",), until_chat=(),
        metric_overrides={"ignore_case": True, "ignore_punctuation": True},
        notes="27 tasks, 3-shot CoT (the BBH cot-prompts exemplars, inline in lm-eval), exact match ignoring case "
              "and punctuation (open-instruct), mean over tasks; '\\n\\n' stops plain prompts only"),
    "gsm8k": Suite(
        "gsm8k", ("gsm8k_cot",), ("gsm8k/gsm8k-cot.yaml",), shots=8, metric="exact_match", filter="flexible-extract",
        aggregate="micro", local="gsm8k", max_gen_from_decoding=True,
        notes="8-shot CoT (Wei et al.'s exemplars), exact match of the last number in the output (open-instruct's "
              "rule = lm-eval's flexible-extract; strict-match is recorded too)"),
    "mmlu": Suite(
        "mmlu", ("mmlu",), (), shots=0, metric="acc", filter="none", aggregate="micro", local="mmlu",
        notes="0-shot MMLU by loglikelihood, a local stand-in for MMLU-Pro (whose data is not available locally)"),
    "mmlu_pro": Suite(
        "mmlu_pro", tuple(f"mmlu_pro_{c}" for c in MMLU_PRO_CATEGORIES),
        tuple(f"mmlu_pro/mmlu_pro_{c}.yaml" for c in MMLU_PRO_CATEGORIES), shots=0, metric="exact_match",
        filter="custom-extract", aggregate="micro",
        missing="MMLU-Pro is not available locally (hub TIGER-Lab/MMLU-Pro only); run it from the hub "
                "(a benchmark without `path`)",
        notes="lm-eval mmlu_pro, num_fewshot 0 (the paper's evaluation/lm_eval.py), exact match, size-weighted"),
    "tydiqa": Suite(
        "tydiqa", tuple(f"tydiqa_goldp_{lang}" for lang in TYDIQA_LANGS),
        tuple(f"tydiqa/tydiqa_goldp_{lang}.yaml" for lang in TYDIQA_LANGS), shots=1, metric="f1", filter="none",
        aggregate="macro",
        missing="TyDiQA GoldP test data is not available locally (only the LESS one-shot targets are; see "
                "shared/data/README.md, 'Not obtained'); run it from the hub (a benchmark without `path`)",
        notes="1-shot GoldP, F1, mean over the 9 languages (the paper also caps contexts at 512 tokens)"),
}


def stock_dir() -> Path:
    import lm_eval.tasks

    return Path(lm_eval.tasks.__file__).parent


# ---- local data -------------------------------------------------------------------------------

def _local_bbh(root: Path, out: Path, subtask: str) -> tuple[dict[str, str], list[Path]]:
    name = subtask.removeprefix("bbh_cot_fewshot_")
    src = _need(root / "bbh" / "bbh" / f"{name}.json", "bbh")
    try:
        rows = [{"input": ex["input"], "target": ex["target"]} for ex in json.loads(src.read_text("utf-8"))["examples"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise DataMissingError(f"bbh: {src} is not a BBH task file ({{examples: [{{input, target}}]}}): {exc}") from None
    dest = out / "bbh" / f"{name}.jsonl"
    _write_jsonl(dest, rows)
    return {"test": str(dest)}, [src]


def _local_gsm8k(root: Path, out: Path, subtask: str) -> tuple[dict[str, str], list[Path]]:
    src = _need(root / "gsm8k" / "test.jsonl", "gsm8k")
    return {"test": str(src)}, [src]


LOCAL = {"bbh": _local_bbh, "gsm8k": _local_gsm8k}


# ---- task YAMLs -------------------------------------------------------------------------------

@dataclass
class Plan:
    suite: Suite | None
    tasks: dict[str, str]                 # our label -> lm-eval task name to run
    hashes: dict[str, str]
    chat: bool
    generation: dict[str, Any]
    source: str                           # "local" or "hub"
    missing: str | None = None


def _stock(rel: str) -> dict[str, Any]:
    from lm_eval.tasks._yaml_loader import load_yaml

    return load_yaml(stock_dir() / rel, resolve_func=False)


def _hub_unreachable(stock: dict[str, Any], bench: Any) -> str | None:
    """Why the suite's hub dataset cannot be loaded (offline, not cached, ...), or None."""
    import datasets

    from selbench.pools.sources import quiet_datasets

    path = bench.hub_id or stock.get("dataset_path")
    revision = bench.revision or (stock.get("dataset_kwargs") or {}).get("revision")
    try:
        with quiet_datasets():
            datasets.load_dataset_builder(path, stock.get("dataset_name"), revision=revision)
    except Exception as exc:  # noqa: BLE001 - datasets raises many types (offline, gated, missing)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"hub dataset {path}{'@' + revision if revision else ''} is not reachable ({first}); no local copy"
    return None


def plan_tasks(bench: Any, task_dir: Path, *, data_root: Path | None, fine_tuned: bool, max_new_tokens: int,
               max_len: int) -> Plan:
    """Write the wrapper YAMLs of ``bench`` (a ``lm_eval`` :class:`BenchmarkSpec`) into ``task_dir``;
    ``fine_tuned``: the model was trained with the chat template (``chat: auto`` then uses it)."""
    from selbench.evaluation.lm_tasks import write_local_task

    opts = bench.options
    name = opts.get("task")
    if not name:
        raise EvalError(f"benchmark '{bench.name}' (kind lm_eval): give options.task ({', '.join(SUITES)}, or an "
                        "lm-eval task name)")
    suite = SUITES.get(str(name))
    chat_opt = opts.get("chat", "auto")
    if chat_opt not in ("auto", True, False):
        raise EvalError(f"benchmark '{bench.name}': options.chat must be auto, true or false")
    if suite is None:  # any lm-eval task, from the hub, as is
        if data_root is not None:
            raise DataMissingError(f"benchmark '{bench.name}': no local copy for lm-eval task '{name}' (local "
                                   f"suites: {', '.join(s for s, v in SUITES.items() if v.local)})")
        # its output type is unknown here: the chat format only when asked (never for loglikelihood tasks)
        return Plan(None, {str(name): str(name)}, {}, chat_opt is True, {}, "hub")
    shots = int(opts.get("shots", suite.shots))
    source = "local" if data_root is not None else "hub"
    if source == "local" and suite.local is None:
        return Plan(suite, {}, {}, False, {}, source, missing=suite.missing)
    task_dir.mkdir(parents=True, exist_ok=True)
    if suite.name == "mmlu":  # loglikelihood: no chat, no generation settings
        if source == "local":
            task, hashes = write_local_task("mmlu", data_root, task_dir, shots=shots)  # type: ignore[arg-type]
            return Plan(suite, {"mmlu": task}, hashes, False, {}, source)
        return Plan(suite, {"mmlu": "mmlu"}, {}, False, {}, source)
    if source == "hub":
        unreachable = _hub_unreachable(_stock(suite.stock_files[0]), bench)
        if unreachable is not None:
            return Plan(suite, {}, {}, False, {}, source, missing=unreachable)
    chat = chat_opt is True or (chat_opt == "auto" and fine_tuned)
    tasks, hashes = {}, {}
    generation: dict[str, Any] = {}
    for subtask, rel in zip(suite.subtasks, suite.stock_files):
        stock = _stock(rel)
        gen = dict(stock.get("generation_kwargs") or {})
        if "max_gen_toks" in opts:
            gen["max_gen_toks"] = int(opts["max_gen_toks"])
        elif suite.max_gen_from_decoding:
            gen["max_gen_toks"] = int(max_new_tokens)
        until = suite.until_chat if chat else suite.until_plain
        if until is not None:
            gen["until"] = list(until)
        budget = int(gen.get("max_gen_toks", 256))
        if max_len - budget < 16:
            raise EvalError(f"benchmark '{bench.name}': max_gen_toks {budget} leaves no room for a prompt in the "
                            f"model's {max_len}-token context")
        # vLLM left-truncates prompts that would not fit (the tiny model's context is shorter than a
        # 3-shot BBH prompt) instead of rejecting the request
        gen["truncate_prompt_tokens"] = max_len - budget
        gen["truncation_side"] = "left"
        wrapper: dict[str, Any] = {
            "include": str(stock_dir() / rel), "task": f"sb_{subtask}", "tag": [], "num_fewshot": shots,
            "generation_kwargs": gen,
            "metadata": {**(stock.get("metadata") or {}), "selbench": {"suite": suite.name, "source": source}},
        }
        if suite.metric_overrides:
            metrics = [dict(m) for m in stock.get("metric_list") or []]
            for m in metrics:
                if m.get("metric") == suite.metric:
                    m.update(suite.metric_overrides)
            wrapper["metric_list"] = metrics
        if source == "local":
            files, sources = LOCAL[suite.local](data_root, task_dir / "data", subtask)  # type: ignore[index,arg-type]
            hashes.update({str(p): sha256_file(p) for p in sources})
            wrapper.update(dataset_path="json", dataset_name=None, dataset_kwargs={"data_files": files},
                           test_split="test")
        else:
            if bench.hub_id:
                wrapper["dataset_path"] = bench.hub_id
            if bench.revision:
                wrapper["dataset_kwargs"] = {**(stock.get("dataset_kwargs") or {}), "revision": bench.revision}
        (task_dir / f"sb_{subtask}.yaml").write_text(yaml.safe_dump(wrapper, sort_keys=False, allow_unicode=True))
        tasks[subtask] = f"sb_{subtask}"
        generation = gen
    return Plan(suite, tasks, hashes, chat, generation, source)


# ---- scores -----------------------------------------------------------------------------------

def _metric(results: dict[str, Any], task: str, metric: str, filt: str) -> float | None:
    value = results.get("results", {}).get(task, {}).get(f"{metric},{filt}")
    if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
        return float(value)
    return None


def _all_metrics(results: dict[str, Any], task: str) -> dict[str, Any]:
    out = {}
    for key, value in results.get("results", {}).get(task, {}).items():
        if key == "alias" or not isinstance(value, (int, float)):
            continue
        out[key.replace(",none", "")] = None if isinstance(value, float) and math.isnan(value) else value
    return out


def _n(results: dict[str, Any], task: str) -> int:
    n = results.get("n-samples", {}).get(task, {})
    return int(n.get("effective", 0)) if isinstance(n, dict) else 0


def summarise(plan: Plan, results: dict[str, Any], metric: str | None = None) -> dict[str, Any]:
    """Per-subtask metrics and the suite's score (``primary_metric``)."""
    suite = plan.suite
    per_task = {label: {**_all_metrics(results, task), "n": _n(results, task)} for label, task in plan.tasks.items()}
    if suite is None:
        key = metric or next((k for k, v in next(iter(per_task.values()), {}).items()
                              if k != "n" and not k.endswith("_stderr") and "_stderr," not in k), None)
        task = next(iter(plan.tasks.values()))
        value = per_task[next(iter(plan.tasks))].get(key) if key else None
        return {"metrics": {"score": value, "metric": key, "tasks": per_task}, "primary_metric": "score",
                "n": _n(results, task)}
    values = {label: _metric(results, task, suite.metric, suite.filter) for label, task in plan.tasks.items()}
    sizes = {label: _n(results, task) for label, task in plan.tasks.items()}
    scored = {k: v for k, v in values.items() if v is not None}
    if not scored:
        score = None
    elif len(scored) == 1:
        score = next(iter(scored.values()))
    elif suite.aggregate == "macro":
        score = sum(scored.values()) / len(scored)
    else:
        total = sum(sizes[k] for k in scored)
        score = sum(v * sizes[k] for k, v in scored.items()) / total if total else None
    return {"metrics": {"score": score, "metric": f"{suite.metric},{suite.filter}", "aggregate": suite.aggregate,
                        "tasks": per_task},
            "primary_metric": "score", "n": sum(sizes.values())}


def records(plan: Plan, results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per scored item: ``id`` (subtask/doc), the suite metric as a number in ``score``."""
    suite = plan.suite
    rows = []
    for label, task in plan.tasks.items():
        for sample in results.get("samples", {}).get(task, []):
            if suite is not None and sample.get("filter", "none") != suite.filter:
                continue
            key = suite.metric if suite is not None else next(iter(sample.get("metrics", [])), None)
            value = sample.get(key) if key else None
            resps = sample.get("filtered_resps")
            raw = sample.get("resps")
            rows.append({
                "id": f"{label}/{sample.get('doc_id')}", "task": label, "doc_id": sample.get("doc_id"),
                "score": float(value) if isinstance(value, (int, float)) else None,
                "output": jsonable(resps[0] if isinstance(resps, list) and resps else resps),
                "raw_output": jsonable(raw[0][0] if isinstance(raw, list) and raw and isinstance(raw[0], list)
                                       and raw[0] else raw),
                "target": jsonable(sample.get("target")),
            })
    return rows


# ---- the stage's entry point ----------------------------------------------------------------

def run_lm_eval_task(bench: Any, target: Target, bdir: Path, *, spec: Any, limit: int | None, lora: bool,
                     fine_tuned: bool, tokenizer_dir: str) -> dict[str, Any]:
    """Evaluate one ``lm_eval`` benchmark on ``target``; the evaluation stage's summary body.

    ``lora``: the target is a LoRA adapter (requests go one at a time on such a server);
    ``fine_tuned``: a model trained with the chat template (an adapter or a full fine-tune),
    which ``chat: auto`` prompts in the chat format."""
    from selbench.evaluation.harness import run_tasks
    from selbench.data_paths import resolve_eval_path
    from selbench.evaluation.versions import versions

    data_root = None if bench.path is None else resolve_eval_path(bench.path, f"benchmark '{bench.name}'")
    plan = plan_tasks(bench, bdir / "tasks", data_root=data_root, fine_tuned=fine_tuned,
                      max_new_tokens=spec.decoding.max_new_tokens, max_len=target.max_len)
    suite = plan.suite
    harness = {"lm_eval": versions()["lm_eval"],
               "backend": "local-chat-completions" if plan.chat else "local-completions",
               "chat_template": plan.chat, "tasks": plan.tasks, "source": plan.source,
               "hub_id": bench.hub_id, "hub_revision": bench.revision,
               "generation_kwargs": plan.generation}
    protocol = {"suite": suite.name if suite else None, "notes": suite.notes if suite else "stock lm-eval task",
                "shots": int(bench.options.get("shots", suite.shots)) if suite else None}
    if plan.missing is not None:
        return {"metrics": {}, "status": f"missing: {plan.missing}", "missing": {suite.name: plan.missing},  # type: ignore[union-attr]
                "harness": harness, "protocol": protocol, "dataset_sha256": {}}
    task_dir = bdir / "tasks"
    # one request at a time whenever the server has LoRA enabled: vLLM's CPU LoRA logits kernel
    # fails on batched prompt logprobs even for the base model's requests (cpu-stack.md pitfall 6)
    serial = lora or bool(getattr(target.server, "adapters", None))
    results = run_tasks(target, list(plan.tasks.values()), include_path=task_dir if task_dir.is_dir() else None,
                        chat=plan.chat, limit=limit, num_fewshot=None, tokenizer_dir=tokenizer_dir, lora=serial,
                        seed=spec.decoding.seed)
    if results is None:  # lm-eval returns None on non-zero ranks only
        raise EvalError(f"benchmark '{bench.name}': lm-eval returned no results")
    rows = records(plan, results)
    tmp = bdir / "records.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(bdir / "records.jsonl")
    body = summarise(plan, results, bench.options.get("metric"))
    return {**body, "harness": harness, "protocol": protocol, "dataset_sha256": plan.hashes}
