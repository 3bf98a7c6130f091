"""`selbench evaluate` end to end on the tiny scale: all four benchmarks through its own vLLM server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_evaluate_all_four(eval_data, adapter_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from selbench.cli.main import app

    res = CliRunner().invoke(app, ["evaluate", "--spec", "tiny", "--adapter", str(adapter_dir), "--benchmarks",
                                   "ifeval,alpaca_eval,llmbar,openllm", "--limit", "2", "--out", str(tmp_path),
                                   "--json"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    [folder] = list((tmp_path / "eval" / "tiny").iterdir())
    for name in ("ifeval", "alpaca-eval", "llmbar", "openllm"):
        summary = json.loads((folder / name / "summary.json").read_text())
        assert summary["versions"]["lm_eval"] and summary["decoding"]["temperature"] == 0.0
        assert summary["adapter"]["identity"] and summary["model"]["key"] and "cost" in summary
        assert (folder / name / "records.jsonl").stat().st_size > 0
    openllm = json.loads((folder / "openllm" / "summary.json").read_text())
    assert "arc_challenge" in openllm["missing"] and "hellaswag" in openllm["metrics"]
    alpaca = json.loads((folder / "alpaca-eval" / "summary.json").read_text())
    assert alpaca["metrics"]["standard"]["win_rate"] is not None
    assert alpaca["metrics"]["standard"]["length_controlled_winrate"] is None
    assert (folder / "server" / "vllm-1.log").is_file()
