"""AlpacaEval through alpaca-eval with an open judge served by vLLM (OpenAI-compatible client).

1. The evaluated model answers the AlpacaEval instructions (``model_outputs.json``).
2. alpaca-eval's weighted (logprob) classifier annotator, pointed at the judge server through a
   generated client config, compares them with each reference:
   - ``standard``: the AlpacaEval 2 reference outputs (GPT-4 Turbo, ``gpt4_1106_preview``), read
     from a local file when given, else from the hub dataset;
   - ``pooled-random``: Chasing Random's reference, one output per instruction sampled (seeded)
     from the pooled outputs of the random-subset models (``options.random_outputs``: their
     ``model_outputs.json`` files), so 50 means parity with random.
3. Raw win rate (``get_winrate``). Length-controlled win rate needs alpaca-eval's ``df_gamed.csv``
   (a hub download); it is computed only when ``options.lc_df_gamed`` (or the environment's
   ``SELBENCH_ALPACA_EVAL_DF_GAMED``, set in the Docker image) points at a local copy, and
   the summary says so otherwise. Annotations are cached per judge in
   ``cache_root()/alpaca_eval/<judge key>/annotations.json`` (alpaca-eval keys them by pair).
   Judge outputs that cannot be parsed (no preference) are counted and reported, not fatal.
"""

from __future__ import annotations

import json
import math
import random
import shutil
from pathlib import Path
from typing import Any

import yaml

from selbench.evaluation.errors import DataMissingError, EvalError
from selbench.evaluation.scoring import Records, Target, generate_chat
from selbench.hashing import sha256_file, sha256_json
from selbench.paths import cache_root

STANDARD_REFERENCE = "gpt4_1106_preview"


def load_reference(path: Path | None, hub_id: str | None, revision: str | None) -> tuple[list[dict[str, Any]], dict[str, str]]:
    if path is not None:
        file = path / STANDARD_REFERENCE / "model_outputs.json" if path.is_dir() else path
        if not file.is_file():
            raise DataMissingError(f"alpaca_eval: reference outputs not found: {file}")
        return json.loads(file.read_text()), {str(file): sha256_file(file)}
    try:
        import datasets

        ds = datasets.load_dataset(hub_id or "tatsu-lab/alpaca_eval", "alpaca_eval_gpt4_baseline",
                                   revision=revision, trust_remote_code=False)["eval"]
    except Exception as exc:  # offline, gated, renamed
        raise DataMissingError(f"alpaca_eval: cannot load {hub_id}@{revision} from the hub ({str(exc).splitlines()[0]}); "
                               "give the benchmark a local `path` to the reference model_outputs.json") from None
    return [dict(r) for r in ds], {f"{hub_id}@{revision}": str(revision)}


def pooled_reference(instructions: list[str], files: list[Path], seed: int) -> list[dict[str, Any]]:
    """One output per instruction, drawn (seeded) from the pooled outputs of the random-subset runs."""
    pooled: dict[str, list[str]] = {}
    for file in files:
        if not Path(file).is_file():
            raise DataMissingError(f"alpaca_eval: pooled-random reference file not found: {file}")
        for row in json.loads(Path(file).read_text()):
            pooled.setdefault(row["instruction"], []).append(row["output"])
    rng = random.Random(seed)
    out = []
    for inst in instructions:
        if inst not in pooled:
            raise DataMissingError(f"alpaca_eval: no pooled-random output for instruction {inst[:60]!r}")
        out.append({"instruction": inst, "output": rng.choice(pooled[inst]), "generator": "pooled_random"})
    return out


def generate_outputs(target: Target, reference: list[dict[str, Any]], records: Records, decoding: Any,
                     generator: str) -> list[dict[str, Any]]:
    todo = [i for i, r in enumerate(reference) if f"gen/{i}" not in records.done]
    prompts = [[{"role": "user", "content": reference[i]["instruction"]}] for i in todo]
    for k, text, ntok in generate_chat(target, prompts, decoding):
        i = todo[k]
        records.add({"id": f"gen/{i}", "instruction": reference[i]["instruction"], "output": text, "tokens": ntok})
    return [{"instruction": r["instruction"], "output": records.done[f"gen/{i}"]["output"], "generator": generator,
             "dataset": r.get("dataset", "alpaca_eval")} for i, r in enumerate(reference)]


def write_annotator(folder: Path, *, base_url: str, model: str, logit_bias: dict[str, float] | None,
                    num_procs: int = 2) -> Path:
    """A weighted-logprob annotator config folder (``configs.yaml`` + prompt + client config)."""
    import alpaca_eval

    name = "selbench_judge"
    target = folder / name
    target.mkdir(parents=True, exist_ok=True)
    src = Path(alpaca_eval.__file__).parent / "evaluators_configs" / "alpaca_eval_clf_gpt4_turbo" / "alpaca_eval_clf.txt"
    shutil.copyfile(src, target / "alpaca_eval_clf.txt")
    client = folder / "client.yaml"
    client.write_text(yaml.safe_dump({"default": [{"api_key": "EMPTY", "base_url": base_url, "max_retries": 1,
                                                    "timeout": 300}]}))
    kwargs: dict[str, Any] = {"model_name": model, "max_tokens": 1, "temperature": 1, "logprobs": True,
                              "top_logprobs": 20, "requires_chatml": True, "price_per_token": 0,
                              "num_procs": num_procs, "client_config_path": str(client)}
    if logit_bias:
        kwargs["logit_bias"] = logit_bias
    config = {name: {"prompt_template": str(target / "alpaca_eval_clf.txt"), "fn_completions": "openai_completions",
                     "completions_kwargs": kwargs, "fn_completion_parser": "logprob_parser",
                     "completion_parser_kwargs": {"numerator_token": "m", "denominator_tokens": ["m", "M"],
                                                  "is_binarize": False},
                     "completion_key": "completions_all", "batch_size": 1}}
    (target / "configs.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return target


def choice_token_bias(tokenizer: Any, strength: float = 8.0) -> dict[str, float]:
    """``logit_bias`` that puts "m"/"M" in a random judge's top logprobs (a CI-only device)."""
    bias = {}
    for token in ("m", "M"):
        ids = tokenizer(token, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise EvalError(f"the judge tokenizer splits {token!r} into {len(ids)} tokens; the logprob annotator needs one")
        bias[str(ids[0])] = strength
    return bias


def annotate(model_outputs: list[dict[str, Any]], reference: list[dict[str, Any]], annotator_dir: Path,
             out_dir: Path, judge_key: str, *, lc_df_gamed: Path | None) -> dict[str, Any]:
    """Run alpaca-eval; returns win rates, counts and the per-pair annotations."""
    import pandas as pd
    from alpaca_eval import main as ae_main
    from alpaca_eval.metrics import get_winrate

    cache = cache_root() / "alpaca_eval" / judge_key[:16] / "annotations.json"
    cache.parent.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    with _float_preferences():
        _, annotations = ae_main.evaluate(
            model_outputs=model_outputs, reference_outputs=reference, annotators_config=str(annotator_dir),
            output_path=str(out_dir), fn_metric=_safe_winrate, sort_by="win_rate",
            is_return_instead_of_print=True, precomputed_leaderboard=None, is_cache_leaderboard=False,
            caching_path=str(cache),
        )
    df = pd.DataFrame(annotations)
    prefs = df["preference"] if "preference" in df else pd.Series([math.nan] * len(df))
    parseable = prefs.notna()
    result: dict[str, Any] = {"pairs": int(len(df)), "unparseable": int((~parseable).sum()),
                              "annotation_cache": str(cache)}
    if parseable.any():
        metrics = get_winrate(df[parseable])
        result.update({k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))})
    else:
        result.update(win_rate=None, note="no judge output could be parsed; win rate undefined")
    result["length_controlled_winrate"] = None
    if lc_df_gamed is None:
        result["length_controlled_status"] = ("not computed: alpaca-eval's df_gamed.csv (a hub download) is not "
                                              "provisioned locally; set options.lc_df_gamed (or "
                                              "SELBENCH_ALPACA_EVAL_DF_GAMED) to a local copy")
    elif parseable.any():
        result.update(_lc_winrate(df[parseable], lc_df_gamed))
    result["annotations"] = df.to_dict(orient="records")
    return result


def _float_preferences() -> Any:
    """Work around alpaca-eval 0.6.6 on pandas >= 3.

    ``PairwiseAnnotatorLocal._preprocess`` (alpaca_eval/annotators/pairwise_evaluator.py, "deals
    with equality") does ``df.loc[same_outputs, "preference"] = 1.5``. When every cached preference
    is a whole number the column is int64, and pandas 3 no longer upcasts on setitem (PDEP-6,
    https://github.com/pandas-dev/pandas/pull/50424): ``TypeError: Invalid value '1.5' for dtype
    'int64'``, even with an all-False mask. A judge that answers cleanly (any real one) triggers it
    on the second run. Casting the column to float after the base class's preprocessing fixes it.
    """
    from unittest import mock

    from alpaca_eval.annotators import base

    original = base.BaseAnnotator._preprocess

    def preprocess(self: Any, to_annotate: Any) -> Any:
        df = original(self, to_annotate)
        key = getattr(self, "annotation_key", None)
        if key is not None and key in df.columns:
            df[key] = df[key].astype("float64")
        return df

    return mock.patch.object(base.BaseAnnotator, "_preprocess", preprocess)


def _safe_winrate(annotations: Any, **kwargs: Any) -> dict[str, Any]:
    from alpaca_eval.metrics import get_winrate

    try:
        return get_winrate(annotations, **kwargs)
    except (TypeError, ZeroDivisionError, ValueError):  # every preference NaN: reported by annotate()
        return {"win_rate": math.nan, "standard_error": math.nan, "n_total": 0}


def _lc_winrate(df: Any, df_gamed: Path) -> dict[str, Any]:
    from unittest import mock

    from alpaca_eval.metrics import glm_winrate

    if not Path(df_gamed).is_file():
        return {"length_controlled_status": f"not computed: {df_gamed} not found"}
    try:
        with mock.patch.object(glm_winrate, "hf_hub_download", lambda *a, **k: str(df_gamed)):
            metrics = glm_winrate.get_length_controlled_winrate(df.copy(), save_weights_dir=None)
    except Exception as exc:  # the GLM needs the official 805 instructions; small runs may not fit
        return {"length_controlled_status": f"not computed: {type(exc).__name__}: {exc}"}
    return {"length_controlled_winrate": float(metrics["length_controlled_winrate"]),
            "length_controlled_status": f"computed with {df_gamed}"}


def judge_key(judge: dict[str, Any]) -> str:
    return sha256_json(judge)
