"""The evaluation stage: one vLLM server for the base model (+ the adapter), every benchmark
through it, a JSON summary and per-item JSONL records per benchmark.

Layout: ``<out>/eval/<spec>/<target>-<key12>/`` with ``evaluation.json`` (all summaries),
``server/`` (vLLM logs) and per benchmark ``<name>/summary.json`` + ``<name>/records.jsonl``.
Each summary records harness versions, decoding, judge, dataset hashes, model/adapter hashes
and the evaluation cost. Items already scored are kept across a crash and reused on rerun.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selbench.atomic import atomic_write_json, atomic_write_text
from selbench.evaluation.errors import DataMissingError, EvalError, UnknownBenchmarkError
from selbench.evaluation.scoring import Records, Target
from selbench.evaluation.server import VllmServer, adapter_rank
from selbench.data_paths import resolve_eval_path
from selbench.evaluation.versions import versions
from selbench.hashing import sha256_json
from selbench.specs.models import BenchmarkSpec, Spec
from selbench.suggest import did_you_mean

KINDS = ("ifeval", "alpaca_eval", "llmbar", "openllm", "query_loss", "known_answer", "lm_eval")
ALIASES = {"alpaca-eval": "alpaca_eval", "alpacaeval": "alpaca_eval", "query-loss": "query_loss"}
ADAPTER_NAME = "adapter"


def resolve_path(bench: BenchmarkSpec) -> Path | None:
    """A benchmark's local data (``None``: it comes from the hub); see :mod:`selbench.data_paths`."""
    return None if bench.path is None else resolve_eval_path(bench.path, f"benchmark '{bench.name}'")


def resolve_benchmarks(spec: Spec, names: list[str]) -> list[BenchmarkSpec]:
    out = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        by_name = [b for b in spec.benchmarks if b.name == name]
        kind = ALIASES.get(name, name)
        by_kind = [b for b in spec.benchmarks if b.kind == kind]
        if by_name:
            out.append(by_name[0])
        elif by_kind:
            out.extend(by_kind)
        elif kind in KINDS:
            out.append(BenchmarkSpec(name=kind.replace("_", "-"), kind=kind))  # type: ignore[arg-type]
        else:
            known = sorted({b.name for b in spec.benchmarks} | set(KINDS))
            raise UnknownBenchmarkError(f"unknown benchmark '{name}'{did_you_mean(name, known)} "
                                        f"(known: {', '.join(known)})")
    return out


@dataclass
class EvalResult:
    folder: Path
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)


def run_evaluation(spec: Spec, *, adapter: Path | None, benchmarks: list[str], out_dir: Path,
                   limit: int | None = None, port: int | None = None, start_timeout: float = 600.0,
                   random_outputs: list[Path] | None = None, progress: Any = None) -> EvalResult:
    """Evaluate one model: the base (``adapter=None``) or the base + one LoRA adapter."""
    name = ADAPTER_NAME if adapter is not None else "base"
    return run_evaluation_many(spec, targets={name: adapter}, benchmarks=benchmarks, out_dir=out_dir, limit=limit,
                               port=port, start_timeout=start_timeout, random_outputs=random_outputs,
                               progress=progress)[name]


def _adapter_dir(adapter: Path) -> Path:
    adapter = Path(adapter)
    if (adapter / "adapter" / "adapter_config.json").is_file():  # a `selbench train` artifact folder
        adapter = adapter / "adapter"
    adapter_rank(adapter)  # clear error for a missing / non-LoRA folder, before anything starts
    return adapter


def run_evaluation_many(spec: Spec, *, targets: dict[str, Path | None], benchmarks: list[str] | dict[str, list[str]],
                        out_dir: Path,
                        limit: int | None = None, port: int | None = None, start_timeout: float = 600.0,
                        random_outputs: list[Path] | None = None, progress: Any = None) -> dict[str, EvalResult]:
    """Evaluate several models (name -> adapter folder, or None for the base) through ONE vLLM
    server serving every adapter. A target whose evaluation is complete is reused, and the
    server is not started at all when every target is done. ``benchmarks`` is one list for every
    target, or a list per target (the targeted track evaluates a targeted cell on its own task)."""
    from selbench.cost.meter import CostMeter
    from selbench.cost.pricing import price
    from selbench.models.loader import folder_identity, load_tokenizer, resolve_base_model
    from selbench.training.templates import get_template

    say = progress or (lambda msg: None)
    wanted = benchmarks if isinstance(benchmarks, dict) else {name: list(benchmarks) for name in targets}
    per_target = {name: resolve_benchmarks(spec, wanted.get(name, [])) for name in targets}
    if not targets or not all(per_target.values()):
        raise UnknownBenchmarkError("no benchmark given (--benchmarks ifeval,alpaca_eval,llmbar,openllm,query_loss)")
    selected = list({b.name: b for bs in per_target.values() for b in bs}.values())
    adapters = {name: _adapter_dir(path) for name, path in targets.items() if path is not None}
    resolved = resolve_base_model(spec.base_model)
    template = get_template(spec.recipe.template)
    tokenizer = load_tokenizer(resolved)
    tokenizer.chat_template = resolved.chat_template or template.chat_template
    plans: dict[str, dict[str, Any]] = {}
    for name in targets:
        adapter = adapters.get(name)
        adapter_info = None if adapter is None else {
            "path": str(adapter.resolve()), "identity": folder_identity(adapter), "r": adapter_rank(adapter)}
        # the adapter's content, not where it lies: identical runs (or a moved run folder) share evaluations
        adapter_key = None if adapter_info is None else {k: v for k, v in adapter_info.items() if k != "path"}
        identity = {"spec": spec.id, "model": resolved.identity, "adapter": adapter_key, "template": template.sha256,
                    "decoding": spec.decoding.model_dump()}
        key = sha256_json(identity)
        folder = out_dir / "eval" / spec.name / f"{'adapter' if adapter else 'base'}-{key[:12]}"
        plans[name] = {"adapter": adapter_info, "identity": identity, "key": key, "folder": folder}
    results: dict[str, EvalResult] = {}
    todo = []
    for name, plan in plans.items():
        done = _finished(plan["folder"], per_target[name], limit)
        if done is not None:
            results[name] = done
        else:
            todo.append(name)
    if not todo:
        return results
    max_len = _max_len(resolved.source, spec)
    judge = spec.judge
    self_judge = any(b.kind == "alpaca_eval" for b in selected) and (
        judge is None or (judge.api_base is None and (judge.model is None or judge.model == spec.base_model)))
    force = bool(judge and judge.force_choice_tokens)
    first = plans[todo[0]]["folder"]
    first.mkdir(parents=True, exist_ok=True)
    (first / "chat_template.jinja").write_text(tokenizer.chat_template)
    server = VllmServer(
        resolved.source, served_name="base", adapters={n: adapters[n] for n in todo if n in adapters}, port=port,
        log_dir=first / "server", max_model_len=max_len, chat_template=first / "chat_template.jinja",
        start_timeout=start_timeout,
        dtype="float32" if spec.base_model.dtype in ("auto", "float32") and not _cuda() else spec.base_model.dtype,
        max_logprobs=20, logprobs_mode="processed_logprobs" if (self_judge and force) else None,
    )
    say(f"starting vLLM ({resolved.source}, {len([n for n in todo if n in adapters])} adapter(s))…")
    with server:
        for name in todo:
            plan = plans[name]
            folder = plan["folder"]
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "chat_template.jinja").write_text(tokenizer.chat_template)
            served = name if name in adapters else "base"
            common = {"spec": spec.id, "target": served, "model": {"name": resolved.name, "source": resolved.source,
                      "identity": resolved.identity, "key": resolved.key}, "adapter": plan["adapter"],
                      "chat_template_sha256": template.sha256, "decoding": spec.decoding.model_dump(),
                      "versions": versions(), "limit": limit}
            result = EvalResult(folder)
            target = Target(served, server, tokenizer, max_len)
            for bench in per_target[name]:
                bdir = folder / bench.name
                bdir.mkdir(parents=True, exist_ok=True)
                say(f"{name}: {bench.name} ({bench.kind})…")
                meter = CostMeter().start()
                t0 = time.monotonic()
                body = _run_one(bench, target, bdir, spec=spec, limit=limit or bench.limit, lora=served != "base",
                                tokenizer_dir=resolved.source, random_outputs=random_outputs or [],
                                self_judge=self_judge, force=force)
                record = price(meter.stop(), spec.cost_model)
                summary = {"benchmark": bench.model_dump(), **common, **body, "wall_s": round(time.monotonic() - t0, 2),
                           "cost": record.to_dict(), "server": server.info()}
                atomic_write_json(bdir / "summary.json", summary)
                result.summaries[bench.name] = summary
            atomic_write_json(folder / "evaluation.json", {
                "identity": plan["identity"], "key": plan["key"], "folder": str(folder), "server": server.info(),
                "benchmarks": {n: {k: v for k, v in s.items() if k in ("metrics", "status", "wall_s")}
                               for n, s in result.summaries.items()}})
            results[name] = result
    return results


def _finished(folder: Path, selected: list[BenchmarkSpec], limit: int | None) -> EvalResult | None:
    """The stored result when every selected benchmark already has its summary (same limit)."""
    if not (folder / "evaluation.json").is_file():
        return None
    summaries = {}
    for bench in selected:
        path = folder / bench.name / "summary.json"
        if not path.is_file():
            return None
        summary = json.loads(path.read_text("utf-8"))
        if summary.get("limit") != limit:
            return None
        summaries[bench.name] = summary
    return EvalResult(folder, summaries)


def _max_len(source: str, spec: Spec) -> int:
    try:
        config = json.loads((Path(source) / "config.json").read_text())
        native = int(config.get("max_position_embeddings", 4096))
    except (OSError, ValueError):
        native = 4096
    return min(native, 4096)


def _cuda() -> bool:
    from selbench.evaluation.server import _has_cuda

    return _has_cuda()


def _write_records(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)


def _query_set_rows(spec: Spec, target: str, bdir: Path) -> Path:
    """The target's query set written as instruction/output rows (loaded as the selection stage loads it)."""
    from selbench.targeted.query_set import QuerySetError, load_query_set

    try:
        query_set = load_query_set(spec, target)
    except QuerySetError as exc:
        raise DataMissingError(str(exc)) from None
    path = bdir / "query_set.jsonl"
    atomic_write_text(path, "".join(json.dumps(item.as_row()) + "\n" for item in query_set.items))
    return path


def _run_one(bench: BenchmarkSpec, target: Target, bdir: Path, *, spec: Spec, limit: int | None, lora: bool,
             tokenizer_dir: str, random_outputs: list[Path], self_judge: bool, force: bool) -> dict[str, Any]:
    records = Records(bdir / "records.jsonl")
    opts = bench.options
    if bench.kind == "llmbar":
        from selbench.evaluation.llmbar import run_llmbar

        root = resolve_path(bench)
        if root is None:
            raise DataMissingError("llmbar: give the benchmark a `path` (LLMBar is not on the hub)")
        sets = list(opts.get("sets", ["Natural", "Adversarial"]))
        return run_llmbar(target, root, records, sets=sets, limit=limit, both_orders=bool(opts.get("both_orders", True)))
    if bench.kind == "query_loss":
        from selbench.evaluation.query_loss import run_query_loss

        path = resolve_path(bench)
        if path is None and opts.get("target"):  # the targeted track: the loss on a target's query set
            path = _query_set_rows(spec, str(opts["target"]), bdir)
        if path is None:
            raise DataMissingError(f"query_loss '{bench.name}': give the benchmark a `path` to the query set (jsonl) "
                                   "or `options.target` (a target of the spec's targeted section)")
        return run_query_loss(target, path, records, limit=limit)
    if bench.kind == "known_answer":
        from selbench.evaluation.known_answer import run_known_answer
        from selbench.tinyworld.evalsets import known_answer_file

        path = resolve_path(bench)
        if path is None:
            world = opts.get("world") or next(
                (p.generator_args for p in spec.pools if p.generator == "tiny-world"), None)
            if world is None:
                raise DataMissingError(f"known_answer '{bench.name}': give a `path` to the items (jsonl), "
                                       "`options.world`, or a tiny-world pool in the spec")
            path = known_answer_file(world)
        return run_known_answer(target, path, records, limit=limit, decoding=spec.decoding,
                                exact_match=bool(opts.get("exact_match", True)), families=opts.get("families"))
    if bench.kind == "lm_eval":  # a target task of the targeted track (BBH, GSM8K, MMLU, ...)
        from selbench.evaluation.target_tasks import run_lm_eval_task

        return run_lm_eval_task(bench, target, bdir, spec=spec, limit=limit, lora=lora, tokenizer_dir=tokenizer_dir)
    if bench.kind in ("ifeval", "openllm"):
        return _run_lm_eval(bench, target, bdir, spec=spec, limit=limit, lora=lora, tokenizer_dir=tokenizer_dir)
    if bench.kind == "alpaca_eval":
        return _run_alpaca(bench, target, bdir, records, spec=spec, limit=limit, random_outputs=random_outputs,
                           self_judge=self_judge, force=force)
    raise UnknownBenchmarkError(f"benchmark kind '{bench.kind}' is not run by the evaluation stage")


def _run_lm_eval(bench: BenchmarkSpec, target: Target, bdir: Path, *, spec: Spec, limit: int | None, lora: bool,
                 tokenizer_dir: str) -> dict[str, Any]:
    from selbench.evaluation.harness import run_tasks, task_metrics, task_records
    from selbench.evaluation.lm_tasks import LOCAL_MISSING, write_local_task
    from selbench.evaluation.nltk_data import ensure_punkt_tab

    path = resolve_path(bench)
    local = path is not None
    task_dir = bdir / "tasks"
    hashes: dict[str, str] = {}
    missing: dict[str, str] = {}
    metrics: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    if bench.kind == "ifeval":
        ensure_punkt_tab()
        wanted = {"ifeval": 0}
    else:
        wanted = dict(bench.options.get("tasks") or {t: 0 for t in ("hellaswag", "mmlu", "truthfulqa_mc2",
                                                                     "winogrande", "gsm8k", "arc_challenge")})
    plan: list[tuple[str, str, int]] = []  # (name, lm-eval task, shots)
    for name, shots in wanted.items():
        if local:
            try:
                task, h = write_local_task(name, path, task_dir, shots=int(shots),
                                           max_gen_toks=spec.decoding.max_new_tokens,
                                           ifeval_file=path if bench.kind == "ifeval" else None)
            except DataMissingError as exc:
                if name in LOCAL_MISSING:
                    missing[name] = str(exc)
                    continue
                raise
            hashes.update(h)
            plan.append((name, task, int(shots)))
        else:
            plan.append((name, name, int(shots)))
    revision = bench.revision
    for name, task, shots in plan:
        results = run_tasks(target, [task], include_path=task_dir if local else None, chat=bench.kind == "ifeval",
                            limit=limit, num_fewshot=shots if bench.kind == "openllm" else None,
                            tokenizer_dir=tokenizer_dir, seed=spec.decoding.seed,
                            # serial whenever the server has LoRA enabled: vLLM's CPU LoRA logits kernel fails on
                            # batched prompt logprobs even for the base model's requests (cpu-stack.md pitfall 6)
                            lora=lora or bool(getattr(target.server, "adapters", None)))
        metrics[name] = task_metrics(results, task)
        metrics[name]["num_fewshot"] = shots
        for row in task_records(results, task):
            rows.append({"task": name, **row})
        _write_records(bdir / "records.jsonl", rows)
    body: dict[str, Any] = {"metrics": metrics if bench.kind == "openllm" else metrics.get("ifeval", {}),
                            "harness": {"lm_eval": versions()["lm_eval"],
                                        "backend": "local-chat-completions" if bench.kind == "ifeval"
                                        else "local-completions",
                                        "tasks": {n: t for n, t, _ in plan}, "source": "local" if local else "hub",
                                        "hub_revision": revision},
                            "dataset_sha256": hashes}
    if missing:
        body["missing"] = missing
        body["status"] = "partial: " + "; ".join(missing.values())
    if bench.kind == "openllm" and metrics:
        accs = [m.get("acc", m.get("exact_match,strict-match")) for m in metrics.values()]
        accs = [a for a in accs if isinstance(a, (int, float))]
        body["average"] = sum(accs) / len(accs) if accs else None
    return body


def _run_alpaca(bench: BenchmarkSpec, target: Target, bdir: Path, records: Records, *, spec: Spec,
                limit: int | None, random_outputs: list[Path], self_judge: bool, force: bool) -> dict[str, Any]:
    from selbench.evaluation.alpaca import (
        annotate,
        choice_token_bias,
        generate_outputs,
        judge_key,
        load_reference,
        pooled_reference,
        write_annotator,
    )

    path = resolve_path(bench)
    reference, hashes = load_reference(path, bench.hub_id, bench.revision)
    if limit:
        reference = reference[:limit]
    refs = list(bench.options.get("references", ["standard"]))
    pooled_files = [Path(p) for p in bench.options.get("random_outputs", [])] + list(random_outputs)
    outputs = generate_outputs(target, reference, records, spec.decoding, generator=target.served)
    atomic_write_json(bdir / "model_outputs.json", outputs)
    judge = spec.judge
    if self_judge:
        judge_url, judge_model = target.server.base_url, "base"
        judge_desc = {"model": spec.base_model.model_dump(), "served_by": "the evaluation server (same base model)"}
    elif judge is not None and judge.api_base:
        judge_url, judge_model = judge.api_base, judge.api_model or "judge"
        judge_desc = {"api_base": judge.api_base, "api_model": judge_model}
    else:
        raise EvalError("alpaca_eval: a judge model other than the base model needs its own server; start it with "
                        "`vllm serve` and set judge.api_base / judge.api_model in the spec")
    bias = choice_token_bias(target.tokenizer) if force else None
    judge_desc.update({"annotator": "weighted logprob classifier (alpaca_eval_clf_gpt4_turbo prompt)",
                       "logit_bias": bias})
    annotator = write_annotator(bdir / "judge", base_url=judge_url, model=judge_model, logit_bias=bias)
    fit = _judge_fitter(target.tokenizer, annotator / "alpaca_eval_clf.txt", target.max_len) if self_judge else None
    lc = bench.options.get("lc_df_gamed") or os.environ.get("SELBENCH_ALPACA_EVAL_DF_GAMED")  # the image bakes it
    results: dict[str, Any] = {}
    for ref in refs:
        if ref == "standard":
            reference_rows = reference
        elif ref in ("pooled-random", "pooled_random"):
            if not pooled_files:
                results[ref] = {"status": "skipped: no random-subset outputs given (--random-outputs or "
                                          "options.random_outputs)"}
                continue
            reference_rows = pooled_reference([r["instruction"] for r in reference], pooled_files, spec.decoding.seed)
        else:
            raise EvalError(f"alpaca_eval: unknown reference '{ref}' (standard, pooled-random)")
        judged_outputs, judged_refs, cut = outputs, reference_rows, 0
        if fit is not None:  # a short-context judge: clip long texts so the judge prompt fits
            judged_outputs, judged_refs, cut = fit(outputs, reference_rows)
        res = annotate(judged_outputs, judged_refs, annotator.parent / annotator.name, bdir / f"alpaca_eval-{ref}",
                       judge_key(judge_desc), lc_df_gamed=Path(lc) if lc else None)
        res["pairs_clipped_to_fit_judge_context"] = cut
        annotations = res.pop("annotations")
        with open(bdir / f"annotations-{ref}.jsonl", "w", encoding="utf-8") as fh:
            for a in annotations:
                fh.write(json.dumps({k: (None if isinstance(v, float) and v != v else v) for k, v in a.items()},
                                    ensure_ascii=False, default=str) + "\n")
        results[ref] = res
    return {"metrics": results, "judge": judge_desc, "n_instructions": len(reference),
            "dataset_sha256": hashes, "harness": {"alpaca_eval": versions()["alpaca_eval"],
                                                  "fn_metric": "get_winrate"}}


def _judge_fitter(tokenizer: Any, template: Path, max_len: int) -> Any:
    """Clips instruction/outputs (in tokens) so the judge prompt fits the judge's context."""
    fixed = len(tokenizer(template.read_text(), add_special_tokens=False)["input_ids"]) + 48
    budget = max(64, max_len - fixed)

    def clip(text: str, n: int) -> tuple[str, bool]:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        return (text, False) if len(ids) <= n else (tokenizer.decode(ids[:n]), True)

    def fit(outputs: list[dict[str, Any]], refs: list[dict[str, Any]]) -> tuple[list, list, int]:
        new_out, new_ref, cut = [], [], 0
        for o, r in zip(outputs, refs):
            inst, c0 = clip(o["instruction"], budget // 4)
            per = (budget - len(tokenizer(inst, add_special_tokens=False)["input_ids"])) // 2
            a, c1 = clip(o["output"], per)
            b, c2 = clip(r["output"], per)
            new_out.append({**o, "instruction": inst, "output": a})
            new_ref.append({**r, "instruction": inst, "output": b})
            cut += c0 or c1 or c2
        return new_out, new_ref, cut

    return fit
