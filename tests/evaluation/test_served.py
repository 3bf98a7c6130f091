"""Through the one shared vLLM server: LoRA parity with HF+peft, adapter != base, benchmarks,
unparseable judge outputs, and (last) a server that dies mid-run."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SENTENCE = "Write a short poem about the sea. Use no commas and end with the word ocean."


def _hf_logprobs(model_dir: Path, adapter: Path | None, ids: list[int]) -> list[float]:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    model.eval()
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float()
    logp = torch.log_softmax(logits, -1)
    return [0.0] + [float(logp[i - 1, ids[i]]) for i in range(1, len(ids))]


def test_lora_logprobs_match_hf_peft_and_differ_from_base(targets, tiny_model_dir, adapter_dir, tiny_tokenizer):
    """Guards the 'adapter silently not applied' class of bug."""
    from selbench.evaluation.scoring import chat_ids, prompt_logprobs

    ids = chat_ids(tiny_tokenizer, [{"role": "user", "content": SENTENCE}], generation_prompt=True)
    served_lora = prompt_logprobs(targets["adapter"], ids)
    served_base = prompt_logprobs(targets["base"], ids)
    hf_lora = _hf_logprobs(tiny_model_dir, adapter_dir, ids)
    hf_base = _hf_logprobs(tiny_model_dir, None, ids)
    assert max(abs(a - b) for a, b in zip(served_lora, hf_lora)) < 2e-3
    assert max(abs(a - b) for a, b in zip(served_base, hf_base)) < 2e-3
    assert max(abs(a - b) for a, b in zip(served_lora, served_base)) > 0.05


def test_llmbar_and_query_loss_differ_between_adapter_and_base(targets, eval_data, tmp_path):
    from selbench.evaluation.llmbar import run_llmbar
    from selbench.evaluation.query_loss import run_query_loss
    from selbench.evaluation.scoring import Records

    out = {}
    for name, target in targets.items():
        res = run_llmbar(target, eval_data / "eval" / "llmbar", Records(tmp_path / f"{name}.jsonl"),
                         sets=["Natural"], limit=3)
        rows = [json.loads(x) for x in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
        assert len(rows) == 3 and all(len(r["judgements"]) == 2 for r in rows)
        m = res["metrics"]["Natural"]
        assert {"accuracy", "pair_accuracy", "positional_agreement"} <= set(m) and res["chance"]["accuracy"] == 0.5
        out[name] = [j["logprob_a"] for r in rows for j in r["judgements"]]
    assert out["base"] != out["adapter"]

    queries = tmp_path / "q.jsonl"
    queries.write_text("\n".join(json.dumps({"id": i, "instruction": f"Add {i} and {i}.", "output": str(2 * i)})
                                 for i in range(3)))
    losses = {n: run_query_loss(t, queries, Records(tmp_path / f"ql-{n}.jsonl"), limit=None)["metrics"]
              for n, t in targets.items()}
    assert losses["base"]["mean_token_ce"] > 0 and losses["base"]["mean_token_ce"] != losses["adapter"]["mean_token_ce"]
    # rerun reuses every scored item (nothing recomputed, nothing lost)
    again = run_query_loss(targets["base"], queries, Records(tmp_path / "ql-base.jsonl"), limit=None)["metrics"]
    assert again == losses["base"]


def test_ifeval_through_lm_eval(targets, eval_data, tiny_model_dir, tmp_path):
    from selbench.evaluation.harness import run_tasks, task_metrics, task_records
    from selbench.evaluation.lm_tasks import write_local_task
    from selbench.evaluation.nltk_data import ensure_punkt_tab

    ensure_punkt_tab()
    task, _ = write_local_task("ifeval", eval_data, tmp_path, max_gen_toks=24,
                               ifeval_file=eval_data / "eval" / "ifeval" / "input_data.jsonl")
    outputs = {}
    for name, target in targets.items():
        res = run_tasks(target, [task], include_path=tmp_path, chat=True, limit=3, num_fewshot=None,
                        tokenizer_dir=str(tiny_model_dir), lora=name == "adapter")
        metrics = task_metrics(res, task)
        assert {"prompt_level_strict_acc", "inst_level_strict_acc", "prompt_level_loose_acc",
                "inst_level_loose_acc"} <= set(metrics)
        rows = task_records(res, task)
        assert [r["id"] for r in rows] == [1000, 1001, 1005] or len(rows) == 3
        outputs[name] = [r["output"] for r in rows]
    assert outputs["base"] != outputs["adapter"]


def test_unparseable_judge_outputs_are_counted(targets, server, tmp_path):
    """A random judge without the logit-bias device never says m/M: counted, not a crash."""
    from selbench.evaluation.alpaca import annotate, write_annotator

    annotator = write_annotator(tmp_path / "judge", base_url=server.base_url, model="base", logit_bias=None)
    rows = [{"instruction": f"Say {w}.", "output": w, "generator": "x"} for w in ("yes", "no")]
    refs = [{"instruction": r["instruction"], "output": "maybe", "generator": "ref"} for r in rows]
    res = annotate(rows, refs, annotator, tmp_path / "out", "test-unparseable", lc_df_gamed=None)
    assert res["pairs"] == 2 and res["unparseable"] == 2 and res["win_rate"] is None
    assert "not provisioned" in res["length_controlled_status"]


def test_zz_server_death_is_detected(server, targets, tmp_path):
    """Runs last: kill the worker mid-run; with no restarts left the error is clear and the
    records already written stay."""
    from selbench.evaluation.errors import ServerDiedError
    from selbench.evaluation.scoring import Records, prompt_logprobs

    records = Records(tmp_path / "r.jsonl")
    records.add({"id": "done-before", "score": 1.0})
    os.killpg(server.proc.pid, signal.SIGKILL)
    server.proc.wait(timeout=30)
    with pytest.raises(ServerDiedError, match="died"):
        prompt_logprobs(targets["base"], [1, 2, 3])
    assert "done-before" in Records(tmp_path / "r.jsonl").done
