"""AlpacaEval inside the evaluation stage, in two phases.

1. :func:`generate`: each evaluated model answers the instructions through the evaluation
   server (``model_outputs.json``; resumable per item).
2. :func:`judge_all`: once every model of the call has its outputs, the judge compares them with
   each reference. Why two phases: the ``pooled-random`` reference is made of the random models'
   outputs, so it exists only after they have all generated; and a judge other than the base
   model can then be served by the suite on the same machine after the evaluation server stops
   (two 7B servers rarely fit one GPU together).

The judge is, in order: the evaluation server itself when the spec's judge is the base model (the
tiny scale: a plumbing check, said so in the summary); a vLLM server the suite starts for
``judge.model``; or ``judge.api_base``. Its identity goes into the summary, and alpaca-eval's
annotation cache is keyed by it (one cache per judge, one entry per compared pair).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selbench.atomic import atomic_write_json
from selbench.evaluation.errors import EvalError
from selbench.evaluation.scoring import Records, Target
from selbench.hashing import sha256_file, sha256_json
from selbench.specs.models import BenchmarkSpec, Spec

POOLED = ("pooled-random", "pooled_random")
SELF_JUDGE_NOTE = ("the judge is the evaluated base model itself: a plumbing check of the AlpacaEval path, "
                   "not a measurement of quality")


def generate(bench: BenchmarkSpec, target: Target, bdir: Path, *, spec: Spec, limit: int | None) -> dict[str, Any]:
    """Phase 1: the model's outputs (``model_outputs.json``); the reference is kept for phase 2."""
    from selbench.evaluation.alpaca import generate_outputs, load_reference
    from selbench.evaluation.serving import resolve_path

    reference, hashes = load_reference(resolve_path(bench), bench.hub_id, bench.revision)
    if limit:
        reference = reference[:limit]
    outputs = generate_outputs(target, reference, Records(bdir / "records.jsonl"), spec.decoding,
                               generator=target.served)
    atomic_write_json(bdir / "model_outputs.json", outputs)
    return {"_reference": reference, "dataset_sha256": hashes, "n_instructions": len(reference)}


def pooled_sha256(files: list[Path]) -> str | None:
    """Names the pooled-random reference: the sha256 of its source files' hashes, in order."""
    if not files:
        return None
    if not all(Path(f).is_file() for f in files):
        return "missing"
    return sha256_json([sha256_file(Path(f)) for f in files])


@dataclass
class Judge:
    url: str
    model: str
    desc: dict[str, Any]
    tokenizer: Any = None   # None: an API judge (prompts are not clipped, no logit bias)
    max_len: int = 0
    bias: dict[str, float] | None = None

    @property
    def key(self) -> str:
        """What the annotation cache is keyed by: the judge's identity, not where it was served from."""
        return sha256_json({k: v for k, v in self.desc.items() if k not in ("served_from", "note")})


@contextmanager
def judge_endpoint(spec: Spec, *, main: Any, main_tokenizer: Any, main_max_len: int, self_judge: bool, force: bool,
                   start_timeout: float, log_dir: Path, progress: Callable[[str], None]) -> Iterator[Judge]:
    from selbench.evaluation.alpaca import choice_token_bias

    judge = spec.judge
    common = {"annotator": "weighted logprob classifier (alpaca_eval_clf_gpt4_turbo prompt)"}
    if self_judge:
        bias = choice_token_bias(main_tokenizer) if force else None
        yield Judge(main.base_url, "base", {"model": spec.base_model.model_dump(),
                                            "served_by": "the evaluation server (the base model under evaluation)",
                                            "note": SELF_JUDGE_NOTE, "logit_bias": bias, **common},
                    main_tokenizer, main_max_len, bias)
        return
    assert judge is not None
    if judge.api_base:
        model = judge.api_model or "judge"
        yield Judge(judge.api_base, model, {"api_base": judge.api_base, "api_model": model, **common})
        return
    if judge.model is None:
        raise EvalError("alpaca_eval: the spec's judge has neither a model nor an api_base")
    from selbench.evaluation.server import VllmServer
    from selbench.evaluation.serving import cuda_available as _cuda, served_max_len as _max_len
    from selbench.models.loader import load_tokenizer, resolve_base_model

    main.stop()  # the judge takes the evaluation server's place (memory)
    resolved = resolve_base_model(judge.model)
    tokenizer = load_tokenizer(resolved)
    template = resolved.chat_template or getattr(tokenizer, "chat_template", None)
    if not template:
        raise EvalError(f"alpaca_eval: the judge model {judge.model.name} has no chat template")
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "judge_chat_template.jinja").write_text(template)
    tokenizer.chat_template = template
    max_len = _max_len(resolved.source, spec)
    server = VllmServer(resolved.source, served_name="judge", log_dir=log_dir, max_model_len=max_len,
                        chat_template=log_dir / "judge_chat_template.jinja", start_timeout=start_timeout,
                        dtype="float32" if judge.model.dtype in ("auto", "float32") and not _cuda() else judge.model.dtype,
                        max_logprobs=20, logprobs_mode="processed_logprobs" if force else None)
    progress(f"starting the judge's vLLM server ({judge.model.name})…")
    bias = choice_token_bias(tokenizer) if force else None
    with server:
        yield Judge(server.base_url, "judge", {
            "model": judge.model.model_dump(), "identity": resolved.identity, "key": resolved.key,
            "served_by": "a vLLM server started by the suite", "served_from": resolved.source, "logit_bias": bias,
            "server": {k: v for k, v in server.info().items() if k != "command"}, **common},
            tokenizer, max_len, bias)


def judge_all(spec: Spec, deferred: list[tuple[str, BenchmarkSpec, Path, dict[str, Any], dict[str, Any]]],
              commons: dict[str, dict[str, Any]], results: dict[str, Any], *, main: Any, main_tokenizer: Any,
              main_max_len: int, pooled_files: Callable[[str, BenchmarkSpec], list[Path]], self_judge: bool,
              force: bool, start_timeout: float, progress: Callable[[str], None]) -> None:
    """Phase 2: judge every deferred (target, benchmark) against each reference; write summaries."""
    import time

    from selbench.cost.meter import CostMeter
    from selbench.cost.pricing import price
    from selbench.evaluation.alpaca import annotate, pooled_reference, write_annotator
    from selbench.evaluation.versions import versions

    log_dir = deferred[0][2].parent / "judge-server"
    with judge_endpoint(spec, main=main, main_tokenizer=main_tokenizer, main_max_len=main_max_len,
                        self_judge=self_judge, force=force, start_timeout=start_timeout, log_dir=log_dir,
                        progress=progress) as judge:
        for name, bench, bdir, body, extra in deferred:
            progress(f"{name}: {bench.name}: judging…")
            meter = CostMeter().start()
            t0 = time.monotonic()
            reference = body.pop("_reference")
            outputs = json.loads((bdir / "model_outputs.json").read_text("utf-8"))
            annotator = write_annotator(bdir / "judge", base_url=judge.url, model=judge.model, logit_bias=judge.bias)
            fit = (_judge_fitter(judge.tokenizer, annotator / "alpaca_eval_clf.txt", judge.max_len)
                   if judge.tokenizer is not None else None)
            lc = bench.options.get("lc_df_gamed") or os.environ.get("SELBENCH_ALPACA_EVAL_DF_GAMED")
            files = pooled_files(name, bench)
            metrics: dict[str, Any] = {}
            for ref in bench.options.get("references", ["standard"]):
                if ref == "standard":
                    reference_rows = reference
                elif ref in POOLED:
                    if not files:
                        metrics[ref] = {"status": "skipped: no random-subset outputs given (--random-outputs or "
                                                  "options.random_outputs; `selbench run` passes them)"}
                        continue
                    reference_rows = pooled_reference([r["instruction"] for r in reference], files,
                                                      spec.decoding.seed)
                else:
                    raise EvalError(f"alpaca_eval: unknown reference '{ref}' (standard, pooled-random)")
                judged_outputs, judged_refs, cut = outputs, reference_rows, 0
                if fit is not None:  # a short-context judge: clip long texts so the judge prompt fits
                    judged_outputs, judged_refs, cut = fit(outputs, reference_rows)
                res = annotate(judged_outputs, judged_refs, annotator, bdir / f"alpaca_eval-{ref}", judge.key,
                               lc_df_gamed=Path(lc) if lc else None)
                res["pairs_clipped_to_fit_judge_context"] = cut
                annotations = _with_items(res.pop("annotations"), judged_outputs, f"{bench.name}/{ref}")
                with open(bdir / f"annotations-{ref}.jsonl", "w", encoding="utf-8") as fh:
                    for a in annotations:
                        fh.write(json.dumps({k: (None if isinstance(v, float) and v != v else v) for k, v in a.items()},
                                            ensure_ascii=False, default=str) + "\n")
                metrics[ref] = res
            judge_cost = price(meter.stop(), spec.cost_model).to_dict()
            summary = {"benchmark": bench.model_dump(), **commons[name], **extra, "metrics": metrics,
                       "judge": judge.desc, "n_instructions": body["n_instructions"],
                       "dataset_sha256": body["dataset_sha256"],
                       "pooled_reference": {"files": [str(f) for f in files], "sha256": pooled_sha256(files)},
                       "harness": {"alpaca_eval": versions()["alpaca_eval"], "fn_metric": "get_winrate"},
                       "wall_s": round(body["wall_s"] + time.monotonic() - t0, 2), "cost": body["cost"],
                       "generation_wall_s": body["wall_s"], "judge_wall_s": round(time.monotonic() - t0, 2),
                       "judge_cost": judge_cost}
            atomic_write_json(bdir / "summary.json", summary)
            results[name].summaries[bench.name] = summary


def _with_items(annotations: list[dict[str, Any]], outputs: list[dict[str, Any]], what: str) -> list[dict[str, Any]]:
    """Each annotation with ``item``: the index of the model output it judged (by instruction and
    output as sent to the judge), so per-item scores never depend on alpaca-eval's row order."""
    index: dict[tuple[str, str], list[int]] = {}
    for i, o in enumerate(outputs):
        index.setdefault((o["instruction"], o["output"]), []).append(i)
    out = []
    for a in annotations:
        key = (a.get("instruction"), a.get("output_2"))  # alpaca-eval: output_1 is the reference
        if not index.get(key):
            raise EvalError(f"{what}: alpaca-eval returned an annotation for an output it was not given")
        out.append({**a, "item": index[key].pop(0)})
    if len(out) != len(outputs):
        raise EvalError(f"{what}: {len(out)} annotations for {len(outputs)} outputs")
    return out


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
