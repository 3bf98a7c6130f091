"""From one benchmark's evaluation folder (``summary.json`` + per-item records) to row scores.

A result row needs a number per item (the paired bootstrap resamples items) whose ids are unique
across the benchmark's tasks, the score the summary reports, and the scale and direction of that
score. Each benchmark kind stores its metrics differently (lm-eval's per-sample metric dicts,
LLMBar's nested subsets, AlpacaEval's per-reference annotations), so each has one small function
here. Nothing is dropped quietly: a summary that cannot become a row raises :class:`RowError`
naming the benchmark and the reason, and the run fails with it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selbench.evaluation.errors import EvalError
from selbench.jsonl import read_json_objects


class RowError(EvalError):
    """A benchmark's evaluation cannot be turned into a result row."""


@dataclass
class RowScore:
    """What a result row takes from one benchmark evaluation."""

    benchmark: str
    metric: str
    score: float
    ids: list[str]
    items: list[float]
    scale: str = "0-1"
    direction: str = "higher"
    aggregate: str = "mean"
    extra: dict[str, float] = field(default_factory=dict)


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(float(value)):
        return float(value)
    return None


def _records(bdir: Path) -> list[dict[str, Any]]:
    return read_json_objects(bdir / "records.jsonl")  # a torn line of a killed run was rescored on resume


NOT_METRICS = ("sample_len", "num_fewshot")  # lm-eval's bookkeeping in its metric dicts


def _flat(prefix: str, metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        if key in NOT_METRICS:
            continue
        v = _num(value)
        if v is not None and not key.endswith("_stderr") and "_stderr," not in key:
            out[f"{prefix}{key}".replace(",", "_")] = v
    return out


def _unique(name: str, ids: list[str]) -> None:
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise RowError(f"benchmark '{name}': item id {dup!r} occurs more than once in its records")


def _need(name: str, value: Any, what: str) -> float:
    v = _num(value)
    if v is None:
        raise RowError(f"benchmark '{name}': {what} is missing or not a finite number ({value!r})")
    return v


def _plain(name: str, summary: dict[str, Any], bdir: Path, metric: str, **kw: Any) -> list[RowScore]:
    """Records with a numeric ``score`` whose mean is the summary's metric (known answer, target tasks)."""
    metrics = summary.get("metrics") or {}
    rows = [r for r in _records(bdir) if "score" in r]
    bad = [r.get("id") for r in rows if _num(r.get("score")) is None]
    if bad:
        raise RowError(f"benchmark '{name}': {len(bad)} item(s) have no numeric score (first: {bad[0]!r})")
    if not rows:
        raise RowError(f"benchmark '{name}': no per-item records in {bdir / 'records.jsonl'}")
    ids = [str(r["id"]) for r in rows]
    _unique(name, ids)
    score = _need(name, metrics.get(metric), f"metric '{metric}'")
    extra = _flat("", {k: v for k, v in metrics.items() if k != metric and not isinstance(v, dict)})
    return [RowScore(name, metric, score, ids, [float(r["score"]) for r in rows], extra=extra, **kw)]


def known_answer(name: str, summary: dict[str, Any], bdir: Path) -> list[RowScore]:
    return _plain(name, summary, bdir, summary.get("primary_metric") or "pair_accuracy")


def query_loss(name: str, summary: dict[str, Any], bdir: Path) -> list[RowScore]:
    """Mean per-item token cross-entropy in nats, lower is better (items: each query's CE)."""
    metrics = summary.get("metrics") or {}
    rows = _records(bdir)
    if not rows:
        raise RowError(f"benchmark '{name}': no per-item records in {bdir / 'records.jsonl'}")
    ids = [str(r["id"]) for r in rows]
    _unique(name, ids)
    items = [_need(name, r.get("ce"), f"item {r.get('id')!r} cross-entropy") for r in rows]
    score = _need(name, metrics.get("mean_item_ce"), "metric 'mean_item_ce'")
    extra = _flat("", {k: metrics.get(k) for k in ("mean_token_ce", "perplexity", "label_tokens")})
    return [RowScore(name, "mean_item_ce", score, ids, items, scale="nats", direction="lower", extra=extra)]


def ifeval(name: str, summary: dict[str, Any], bdir: Path) -> list[RowScore]:
    """Prompt-level strict accuracy; items 0/1 per prompt; loose and instruction-level as extras."""
    metrics = summary.get("metrics") or {}
    metric = "prompt_level_strict_acc"
    score = _need(name, metrics.get(metric), f"metric '{metric}'")
    ids, items = [], []
    for r in _records(bdir):
        value = r.get("score")
        value = value.get(metric) if isinstance(value, dict) else value
        v = _num(value)
        if v is None:
            raise RowError(f"benchmark '{name}': item {r.get('id')!r} has no {metric}")
        ids.append(f"ifeval/{r.get('id')}")
        items.append(v)
    if not ids:
        raise RowError(f"benchmark '{name}': no per-item records in {bdir / 'records.jsonl'}")
    _unique(name, ids)
    return [RowScore(name, metric, score, ids, items, extra=_flat("", {k: v for k, v in metrics.items() if k != metric}))]


#: the per-item metric of each OpenLLM task, as lm-eval names it in a sample (and its filter)
OPENLLM_METRIC = {"gsm8k": ("exact_match", "strict-match"), "truthfulqa_mc2": ("acc", "none")}


def openllm_task_metric(task: str) -> tuple[str, str]:
    return OPENLLM_METRIC.get(task, ("acc", "none"))


def openllm(name: str, summary: dict[str, Any], bdir: Path) -> list[RowScore]:
    """Macro average over the tasks; item ids keep their task (``mmlu/abstract_algebra/12``)."""
    metrics = summary.get("metrics") or {}
    if not metrics:
        raise RowError(f"benchmark '{name}': no task was evaluated ({summary.get('status') or 'no metrics'})")
    per_task: dict[str, float] = {}
    extra: dict[str, float] = {}
    for task, m in metrics.items():
        metric, filt = openllm_task_metric(task)
        key = metric if filt == "none" else f"{metric},{filt}"
        per_task[task] = _need(name, (m or {}).get(key), f"task {task} metric '{key}'")
        extra[f"tasks.{task}"] = per_task[task]
    ids, items = [], []
    for r in _records(bdir):
        task = r.get("task")
        if task not in per_task:
            continue
        metric, filt = openllm_task_metric(task)
        if r.get("filter", "none") != filt:
            continue
        value = r.get("score")
        v = _num(value.get(metric) if isinstance(value, dict) else value)
        if v is None:
            raise RowError(f"benchmark '{name}': item {r.get('id')!r} of {task} has no {metric}")
        sub = f"{r['subject']}/" if r.get("subject") else ""
        ids.append(f"{task}/{sub}{r.get('doc_id', r.get('id'))}")
        items.append(v)
    seen = {i.split("/", 1)[0] for i in ids}
    if seen != set(per_task):
        raise RowError(f"benchmark '{name}': no per-item records for task(s) {', '.join(sorted(set(per_task) - seen))}")
    _unique(name, ids)
    score = sum(per_task.values()) / len(per_task)
    reported = _num(summary.get("average"))
    if reported is not None and abs(reported - score) > 1e-9:
        raise RowError(f"benchmark '{name}': the summary's average {reported} is not the macro average {score} "
                       "of its tasks")
    return [RowScore(name, "macro_average", score, ids, items, aggregate="task-macro", extra=extra)]


def llmbar(name: str, summary: dict[str, Any], bdir: Path) -> list[RowScore]:
    """Accuracy over both orders; items = each pair's score; Natural and Adversarial as extras."""
    metrics = summary.get("metrics") or {}
    rows = [r for r in _records(bdir) if "judgements" in r]
    if not rows:
        raise RowError(f"benchmark '{name}': no per-item records in {bdir / 'records.jsonl'}")
    ids = [str(r["id"]) for r in rows]
    _unique(name, ids)
    items = [_need(name, r.get("score"), f"pair {r.get('id')!r} score") for r in rows]
    judged = [j for r in rows for j in r["judgements"]]
    score = sum(bool(j["correct"]) for j in judged) / len(judged)
    extra: dict[str, float] = {}
    for subset, m in metrics.items():
        if isinstance(m, dict):
            extra.update(_flat(f"{subset}.", m))
    return [RowScore(name, "accuracy", score, ids, items, extra=extra)]


def alpaca_eval(name: str, summary: dict[str, Any], bdir: Path) -> list[RowScore]:
    """One row per reference (``<name>/standard``, ``<name>/pooled-random``): win rate (0-100);
    items = the judge's preference for the model's output, in [0, 1] (0.5: a tie; an unparseable
    judgement counts as a tie, its number is kept as ``unparseable``)."""
    metrics = summary.get("metrics") or {}
    outputs_file = bdir / "model_outputs.json"
    if not outputs_file.is_file():
        raise RowError(f"benchmark '{name}': {outputs_file} not found")
    n = len(json.loads(outputs_file.read_text("utf-8")))
    out = []
    for ref, m in metrics.items():
        if not isinstance(m, dict) or m.get("win_rate") is None:
            why = (m or {}).get("status") or (m or {}).get("note") or "no win rate"
            raise RowError(f"benchmark '{name}' reference '{ref}': {why}")
        path = bdir / f"annotations-{ref}.jsonl"
        if not path.is_file():
            raise RowError(f"benchmark '{name}' reference '{ref}': {path} not found")
        prefs: dict[int, float] = {}
        for line in path.read_text("utf-8").splitlines():
            a = json.loads(line)
            item = a.get("item")
            if not isinstance(item, int) or not 0 <= item < n or item in prefs:
                raise RowError(f"benchmark '{name}' reference '{ref}': annotation with a missing, repeated or "
                               f"out-of-range item index ({item!r})")
            p = _num(a.get("preference"))
            # alpaca-eval's encoding: 1 reference wins, 2 the model wins, 1.5 or 0 a draw (its win rate
            # is 100 x the mean of preference - 1 with 0 read as 1.5)
            prefs[item] = 0.5 if p is None or p == 0 else min(1.0, max(0.0, p - 1.0))
        if len(prefs) != n:
            raise RowError(f"benchmark '{name}' reference '{ref}': {len(prefs)} annotations for {n} outputs")
        extra = _flat("", {k: v for k, v in m.items() if k not in ("win_rate", "annotation_cache")})
        ids = [f"alpaca-eval/{i}" for i in range(n)]
        out.append(RowScore(f"{name}/{ref}", "win_rate", _need(name, m["win_rate"], "win_rate"), ids,
                            [prefs[i] for i in range(n)], scale="0-100", extra=extra))
    if not out:
        raise RowError(f"benchmark '{name}': no reference was judged")
    return out


def target_task(name: str, summary: dict[str, Any], bdir: Path) -> list[RowScore]:
    metrics = summary.get("metrics") or {}
    if metrics.get("score") is None:
        raise RowError(f"benchmark '{name}': {summary.get('status') or 'no score'}")
    extra: dict[str, float] = {}
    for task, m in (metrics.get("tasks") or {}).items():
        extra.update(_flat(f"tasks.{task}.", {k: v for k, v in m.items() if k != "n"}))
    per_task = len(metrics.get("tasks") or {}) > 1 and metrics.get("aggregate") == "macro"
    rows = _plain(name, {"metrics": {"score": metrics["score"]}}, bdir, "score",
                  aggregate="task-macro" if per_task else "mean")
    rows[0].extra = extra
    rows[0].metric = str(metrics.get("metric") or "score").replace(",", "_")
    return rows


KINDS: dict[str, Callable[[str, dict[str, Any], Path], list[RowScore]]] = {
    "known_answer": known_answer, "query_loss": query_loss, "ifeval": ifeval, "openllm": openllm,
    "llmbar": llmbar, "alpaca_eval": alpaca_eval, "lm_eval": target_task,
}


def row_scores(name: str, kind: str, bdir: Path) -> list[RowScore]:
    """The row scores of benchmark ``name`` (of ``kind``) evaluated into ``bdir``."""
    path = bdir / "summary.json"
    if not path.is_file():
        raise RowError(f"benchmark '{name}': no evaluation summary at {path}")
    if kind not in KINDS:
        raise RowError(f"benchmark '{name}': kind '{kind}' has no result-row conversion")
    return KINDS[kind](name, json.loads(path.read_text("utf-8")), bdir)
