"""The evaluation stage: one vLLM server for the base model (+ the LoRA adapters), one per fully
fine-tuned model (``method: full`` artifacts are model folders vLLM serves as models of their
own), every benchmark through them, a JSON summary and per-item JSONL records per benchmark.

Layout: ``<out>/eval/<spec>/<target>-<key12>/`` with ``evaluation.json`` (all summaries),
``server/`` (vLLM logs) and per benchmark ``<name>/summary.json`` + ``<name>/records.jsonl``.
Each summary records harness versions, decoding, judge, dataset hashes, model/adapter hashes
and the evaluation cost. Items already scored are kept across a crash and reused on rerun.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selbench.atomic import atomic_write_json, atomic_write_text
from selbench.evaluation.errors import DataMissingError, UnknownBenchmarkError
from selbench.evaluation.scoring import Records, Target
from selbench.evaluation.server import VllmServer, adapter_rank
from selbench.evaluation.serving import cuda_available as _cuda, resolve_path, served_max_len as _max_len
from selbench.evaluation.versions import versions
from selbench.hashing import sha256_json
from selbench.specs.models import BenchmarkSpec, Spec
from selbench.suggest import did_you_mean

KINDS = ("ifeval", "alpaca_eval", "llmbar", "openllm", "query_loss", "known_answer", "lm_eval")
ALIASES = {"alpaca-eval": "alpaca_eval", "alpacaeval": "alpaca_eval", "query-loss": "query_loss"}
ADAPTER_NAME = "adapter"


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
    """Evaluate one model: the base (``adapter=None``), the base + one LoRA adapter, or a fully
    fine-tuned model folder (a ``method: full`` training artifact)."""
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


def full_model_dir(path: Path | str) -> Path | None:
    """The complete model folder a ``method: full`` training wrote (the artifact folder or its
    ``model/``), or ``None`` when ``path`` is not one (then it must be a LoRA adapter).

    A full fine-tune is a saved transformers model (``config.json`` + weights, no
    ``adapter_config.json``): vLLM serves it as a model of its own, not as an adapter on the base."""
    path = Path(path)
    for folder in (path / "model", path):
        if (folder / "config.json").is_file() and not (folder / "adapter_config.json").is_file():
            return folder
    return None


def run_evaluation_many(spec: Spec, *, targets: dict[str, Path | None], benchmarks: list[str] | dict[str, list[str]],
                        out_dir: Path,
                        limit: int | None = None, port: int | None = None, start_timeout: float = 600.0,
                        random_outputs: list[Path] | None = None, progress: Any = None,
                        pooled_from: dict[str, list[str]] | None = None) -> dict[str, EvalResult]:
    """Evaluate several models (name -> adapter folder, a full model folder, or None for the base)
    through ONE vLLM server serving the base and every adapter, plus one server per full model,
    started one after another. A target whose evaluation is complete is reused, and no
    server is started at all when every target is done. ``benchmarks`` is one list for every
    target, or a list per target (the targeted track evaluates a targeted cell on its own task).

    AlpacaEval runs in two phases: every target's outputs are generated first, then the judge
    compares them with each reference (the judge is the evaluation server itself when it is the
    base model, else a second vLLM server the suite starts after stopping the first, or an API).
    So ``pooled_from`` (target -> the random targets whose outputs pool into its ``pooled-random``
    reference, see :mod:`selbench.pipeline.pooled_reference`) can name any target of the same call."""
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
    fulls = {name: folder for name, path in targets.items() if path is not None
             and (folder := full_model_dir(path)) is not None}
    adapters = {name: _adapter_dir(path) for name, path in targets.items() if path is not None and name not in fulls}
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
        full_info = None
        if name in fulls:  # keyed by the trained weights' content, like an adapter (base/LoRA keys unchanged)
            full_info = {"path": str(fulls[name].resolve()), "identity": folder_identity(fulls[name])}
            identity["full_model"] = full_info["identity"]
        key = sha256_json(identity)
        kind = "full" if full_info else "adapter" if adapter else "base"
        folder = out_dir / "eval" / spec.name / f"{kind}-{key[:12]}"
        plans[name] = {"adapter": adapter_info, "full_model": full_info, "identity": identity, "key": key,
                       "folder": folder}
    pooled_from = pooled_from or {}

    def pooled_files(name: str, bench: BenchmarkSpec) -> list[Path]:
        return ([Path(p) for p in bench.options.get("random_outputs", [])] + list(random_outputs or [])
                + [plans[src]["folder"] / bench.name / "model_outputs.json" for src in pooled_from.get(name, [])])

    results: dict[str, EvalResult] = {}
    todo = []
    for name, plan in plans.items():
        done = _finished(plan["folder"], per_target[name], limit, lambda b, n=name: pooled_files(n, b))
        if done is not None:
            results[name] = done
        else:
            todo.append(name)
    if not todo:
        return results
    max_len = _max_len(resolved.source, spec)
    judge = spec.judge
    self_judge = any(b.kind == "alpaca_eval" for b in selected) and judge_is_base(spec)
    force = bool(judge and judge.force_choice_tokens)
    first = plans[todo[0]]["folder"]
    first.mkdir(parents=True, exist_ok=True)
    (first / "chat_template.jinja").write_text(tokenizer.chat_template)

    def make_server(source: str, served_name: str, group_adapters: dict[str, Path], log_dir: Path) -> VllmServer:
        return VllmServer(
            source, served_name=served_name, adapters=group_adapters, port=port,
            log_dir=log_dir, max_model_len=max_len, chat_template=first / "chat_template.jinja",
            start_timeout=start_timeout,
            dtype="float32" if spec.base_model.dtype in ("auto", "float32") and not _cuda() else spec.base_model.dtype,
            max_logprobs=20, logprobs_mode="processed_logprobs" if (self_judge and force) else None,
        )

    groups = _server_groups(todo, adapters, fulls, resolved.source)
    deferred: list[tuple[str, BenchmarkSpec, Path, dict[str, Any], dict[str, Any]]] = []
    commons: dict[str, dict[str, Any]] = {}
    server: VllmServer | None = None
    try:
        for source, served_name, names in groups:
            if server is not None:
                server.stop()  # one model in memory at a time
            group_adapters = {n: adapters[n] for n in names if n in adapters}
            server = make_server(source, served_name, group_adapters,
                                 (first if source == resolved.source else plans[names[0]]["folder"]) / "server")
            say(f"starting vLLM ({source}, {len(group_adapters)} adapter(s))…")
            server.start()
            for name in names:
                plan = plans[name]
                folder = plan["folder"]
                folder.mkdir(parents=True, exist_ok=True)
                (folder / "chat_template.jinja").write_text(tokenizer.chat_template)
                served = name if name in adapters else served_name
                common = {"spec": spec.id, "target": served, "model": {"name": resolved.name, "source": resolved.source,
                          "identity": resolved.identity, "key": resolved.key}, "adapter": plan["adapter"],
                          "chat_template_sha256": template.sha256, "decoding": spec.decoding.model_dump(),
                          "versions": versions(), "limit": limit}
                if plan["full_model"] is not None:
                    common["full_model"] = plan["full_model"]
                commons[name] = common
                results[name] = EvalResult(folder)
                target = Target(served, server, tokenizer, max_len)
                for bench in per_target[name]:
                    bdir = folder / bench.name
                    bdir.mkdir(parents=True, exist_ok=True)
                    say(f"{name}: {bench.name} ({bench.kind})…")
                    meter = CostMeter().start()
                    t0 = time.monotonic()
                    if bench.kind == "alpaca_eval":  # generate now, judge once every target's outputs exist
                        from selbench.evaluation.alpaca_stage import generate

                        body = generate(bench, target, bdir, spec=spec, limit=limit or bench.limit)
                        body["cost"] = price(meter.stop(), spec.cost_model).to_dict()
                        body["wall_s"] = round(time.monotonic() - t0, 2)
                        deferred.append((name, bench, bdir, body, {"server": server.info()}))
                        continue
                    body = _run_one(bench, target, bdir, spec=spec, limit=limit or bench.limit,
                                    lora=name in adapters, tokenizer_dir=resolved.source,
                                    fine_tuned=name in adapters or name in fulls)
                    record = price(meter.stop(), spec.cost_model)
                    summary = {"benchmark": bench.model_dump(), **common, **body,
                               "wall_s": round(time.monotonic() - t0, 2), "cost": record.to_dict(),
                               "server": server.info()}
                    atomic_write_json(bdir / "summary.json", summary)
                    results[name].summaries[bench.name] = summary
                if not any(d[0] == name for d in deferred):  # done: a killed run reuses it
                    _write_evaluation(plan, results[name], server)
        if deferred:
            from selbench.evaluation.alpaca_stage import judge_all

            assert server is not None
            if self_judge and server.model != resolved.source:  # the self-judge is the base model itself
                server.stop()
                server = make_server(resolved.source, "base", {}, first / "judge-base-server")
                say(f"starting vLLM ({resolved.source}) as the judge…")
                server.start()
            judge_all(spec, deferred, commons, results, main=server, main_tokenizer=tokenizer, main_max_len=max_len,
                      pooled_files=pooled_files, self_judge=self_judge, force=force, start_timeout=start_timeout,
                      progress=say)
            for name in dict.fromkeys(d[0] for d in deferred):
                _write_evaluation(plans[name], results[name], server)
    finally:
        if server is not None:
            server.stop()
    return results


def _server_groups(todo: list[str], adapters: dict[str, Path], fulls: dict[str, Path],
                   base_source: str) -> list[tuple[str, str, list[str]]]:
    """``(model folder vLLM serves, served name, targets)`` per server, in start order: one server
    per fully fine-tuned model (it is a model of its own), then one for the base and every LoRA
    adapter, last so that a self-judging AlpacaEval can reuse it as the judge."""
    groups = [(str(fulls[name]), name, [name]) for name in todo if name in fulls]
    rest = [name for name in todo if name not in fulls]
    if rest:
        groups.append((base_source, "base", rest))
    return groups


def _write_evaluation(plan: dict[str, Any], result: EvalResult, server: VllmServer) -> None:
    """``evaluation.json``: the mark that every benchmark of this target is done."""
    atomic_write_json(plan["folder"] / "evaluation.json", {
        "identity": plan["identity"], "key": plan["key"], "folder": str(plan["folder"]), "server": server.info(),
        "benchmarks": {n: {k: v for k, v in s.items() if k in ("metrics", "status", "wall_s")}
                       for n, s in result.summaries.items()}})


def judge_is_base(spec: Spec) -> bool:
    """The AlpacaEval judge is the evaluated base model itself (no judge, or the base model's spec)."""
    judge = spec.judge
    return judge is None or (judge.api_base is None and (judge.model is None or judge.model == spec.base_model))


def _finished(folder: Path, selected: list[BenchmarkSpec], limit: int | None,
              pooled_files: Any = lambda bench: []) -> EvalResult | None:
    """The stored result when every selected benchmark already has its summary (same limit, and
    for AlpacaEval the same pooled-random reference files)."""
    from selbench.evaluation.alpaca_stage import pooled_sha256
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
        if bench.kind == "alpaca_eval" and (summary.get("pooled_reference") or {}).get("sha256") != \
                pooled_sha256(pooled_files(bench)):
            return None
        summaries[bench.name] = summary
    return EvalResult(folder, summaries)


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
             fine_tuned: bool, tokenizer_dir: str) -> dict[str, Any]:
    """``lora``: served as a LoRA adapter; ``fine_tuned``: trained with the chat template (an
    adapter or a full fine-tune: the targeted track's ``chat: auto`` tasks use it)."""
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

        return run_lm_eval_task(bench, target, bdir, spec=spec, limit=limit, lora=lora, tokenizer_dir=tokenizer_dir,
                                fine_tuned=fine_tuned)
    if bench.kind in ("ifeval", "openllm"):
        return _run_lm_eval(bench, target, bdir, spec=spec, limit=limit, lora=lora, tokenizer_dir=tokenizer_dir)
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
        from selbench.evaluation.row_scores import openllm_task_metric

        keys = {t: openllm_task_metric(t) for t in metrics}
        accs = [m.get(k[0] if k[1] == "none" else f"{k[0]},{k[1]}") for t, m in metrics.items() for k in [keys[t]]]
        accs = [a for a in accs if isinstance(a, (int, float))]
        body["average"] = sum(accs) / len(accs) if accs else None
    return body
