"""Without the evaluation data folder or the hub, `selbench run` names each unreachable benchmark
(one line each, with how to provide it) before it does any work."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture()
def no_data(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SELBENCH_EVAL_DATA", "SELBENCH_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_each_unreachable_benchmark_gets_one_line(no_data: None) -> None:
    from selbench.evaluation.availability import unreachable
    from selbench.specs.loader import load_spec

    spec = load_spec("tiny")
    lines = unreachable(spec, [b.name for b in spec.benchmarks])
    assert [line.split(":")[0] for line in lines] == ["ifeval", "alpaca-eval", "llmbar", "openllm"]
    assert "SELBENCH_EVAL_DATA" in lines[2] and "no hub copy" in lines[2]
    assert "google/IFEval@966cd89545d6b6acfd7638bc708b98261ca58e84" in lines[0] and "HF_HUB_OFFLINE" in lines[0]
    assert unreachable(spec, ["known-answer"]) == []


def test_hub_user_reaches_the_pinned_benchmarks(no_data: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from selbench.evaluation.availability import unreachable
    from selbench.specs.loader import load_spec

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    spec = load_spec("tiny")
    assert [line.split(":")[0] for line in unreachable(spec, [b.name for b in spec.benchmarks])] == ["llmbar"]


def test_run_stops_before_any_work(no_data: None, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from selbench.cli.main import app
    from selbench.errors import SelbenchError

    res = CliRunner().invoke(app, ["run", "--spec", "tiny", "--benchmarks", "all", "--limit", "2", "--out",
                                   str(tmp_path / "runs")])
    assert isinstance(res.exception, SelbenchError), res.output
    message = str(res.exception)
    assert message.startswith("cannot reach the data of ifeval, alpaca-eval, llmbar, openllm")
    assert len(message.splitlines()) == 5
    assert not (tmp_path / "runs").exists()


def test_run_without_the_data_folder_is_one_error_and_exit_2(tmp_path: Path) -> None:
    from sb_testing import run_cli

    proc = run_cli("run", "--benchmarks", "llmbar", "--out", str(tmp_path / "runs"),
                   env={"SELBENCH_EVAL_DATA": str(tmp_path / "empty")})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: cannot reach the data of llmbar") and "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_unknown_benchmark_is_a_user_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from selbench.cli.main import app

    res = CliRunner().invoke(app, ["run", "--benchmarks", "ifevl", "--out", str(tmp_path)])
    assert "did you mean 'ifeval'" in str(res.exception).lower(), res.output
