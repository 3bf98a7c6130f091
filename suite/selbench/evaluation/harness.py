"""lm-eval (in-process ``simple_evaluate``) against the suite's vLLM server.

- generation tasks with a chat template (IFEval): ``local-chat-completions`` with
  ``apply_chat_template`` (the server applies the served chat template);
- loglikelihood tasks (OpenLLM): ``local-completions`` without a chat template (lm-eval's chat
  template path crashes on loglikelihood), ``num_concurrent=1`` when a LoRA adapter is served
  (vLLM's CPU LoRA kernel dies on batched prompt logprobs).
If the server dies during a task it is restarted (within its budget) and the task is rerun; tasks
already finished were written to disk by the caller.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from selbench.evaluation.errors import ServerError
from selbench.evaluation.scoring import Target


def run_tasks(target: Target, tasks: list[str], *, include_path: Path | None, chat: bool, limit: int | None,
              num_fewshot: int | None, tokenizer_dir: str, lora: bool, seed: int = 0) -> dict[str, Any]:
    import lm_eval

    server = target.server
    if chat:
        model = "local-chat-completions"
        args = {"model": target.served, "base_url": f"{server.base_url}/chat/completions", "num_concurrent": 4,
                "max_retries": 1, "tokenizer_backend": None, "timeout": 600}
    else:
        model = "local-completions"
        args = {"model": target.served, "base_url": f"{server.base_url}/completions", "tokenizer": tokenizer_dir,
                "tokenizer_backend": "huggingface", "tokenized_requests": False,
                "num_concurrent": 1 if lora else 4, "max_retries": 1, "max_length": target.max_len,
                "timeout": 600}
    manager = task_manager(include_path)
    last: Exception | None = None
    for _ in range(server.max_restarts + 1):
        try:
            return lm_eval.simple_evaluate(
                model=model, model_args=args, tasks=tasks, num_fewshot=num_fewshot, limit=limit,
                log_samples=True, apply_chat_template=chat, task_manager=manager, random_seed=seed,
                numpy_random_seed=seed, torch_random_seed=seed, fewshot_random_seed=seed, verbosity="ERROR",
            )
        except Exception as exc:  # noqa: BLE001 - lm-eval wraps HTTP failures in many types
            if server.alive():
                raise
            last = exc
            server.ensure_alive(f"lm-eval tasks {tasks}")
    raise ServerError(f"lm-eval tasks {tasks} failed after a server restart: {last}")


_STOCK: list[Any] = []


def task_manager(include_path: Path | None) -> Any:
    """lm-eval's task index. Indexing lm-eval's ~10k stock task files takes 20-30 s on a small CPU,
    and a run calls the harness several times per model: generated local tasks are self-contained
    (a wrapper ``include``s its stock YAML by absolute path), so their folder is indexed alone, and
    the stock index (hub tasks by name) is built once per process."""
    from lm_eval.tasks import TaskManager

    if include_path is not None:
        return TaskManager(include_path=str(include_path), include_defaults=False)
    if not _STOCK:
        _STOCK.append(TaskManager())
    return _STOCK[0]


def task_metrics(results: dict[str, Any], task: str) -> dict[str, Any]:
    raw = results["results"].get(task, {})
    out = {}
    for key, value in raw.items():
        if key == "alias" or not isinstance(value, (int, float)):
            continue
        out[key.replace(",none", "")] = None if isinstance(value, float) and math.isnan(value) else value
    return out


def task_records(results: dict[str, Any], task: str) -> list[dict[str, Any]]:
    rows = []
    for sample in results.get("samples", {}).get(task, []):
        doc = sample.get("doc", {})
        pid = doc.get("key", doc.get("qID", doc.get("ind", sample.get("doc_id"))))
        resps = sample.get("filtered_resps")
        output = resps[0] if resps and isinstance(resps[0], str) else resps
        metrics = {m: sample.get(m) for m in sample.get("metrics", [])}
        row = {"id": pid, "doc_id": sample.get("doc_id"), "filter": sample.get("filter", "none"),
               "output": jsonable(output), "score": jsonable(metrics), "target": jsonable(sample.get("target"))}
        if isinstance(doc.get("subject"), str):  # MMLU: item ids keep their subject
            row["subject"] = doc["subject"]
        rows.append(row)
    return rows


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types (mappings keyed by str, lists; anything else as ``str``).

    lm-eval's samples hold tuples and other non-JSON objects; the per-item records written from
    them (here and in :mod:`selbench.evaluation.target_tasks`) must serialise the same way.
    """
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return str(value)
