"""Bad input gives a clear SelbenchError, before (or instead of) a long run."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from selbench.errors import SelbenchError
from selbench.evaluation.errors import (
    AdapterError,
    AdapterRankError,
    DataMissingError,
    PortInUseError,
    ServerStartTimeout,
    UnknownBenchmarkError,
)
from selbench.evaluation.server import VllmServer, adapter_rank, lora_rank_for


def _fake_adapter(folder: Path, r: int) -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": r}))
    return folder


def test_errors_are_selbench_errors() -> None:
    for cls in (AdapterError, AdapterRankError, PortInUseError, ServerStartTimeout, UnknownBenchmarkError,
                DataMissingError):
        assert issubclass(cls, SelbenchError)


def test_missing_adapter(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match="not found"):
        VllmServer(tmp_path, adapters={"a": tmp_path / "nope"})
    (tmp_path / "empty").mkdir()
    with pytest.raises(AdapterError, match="adapter_config.json"):
        adapter_rank(tmp_path / "empty")


def test_adapter_rank_above_max(tmp_path: Path) -> None:
    adapter = _fake_adapter(tmp_path / "a", r=32)
    with pytest.raises(AdapterRankError, match="r=32"):
        VllmServer(tmp_path, adapters={"a": adapter}, max_lora_rank=16)
    # the default is derived from the adapter, never lm-eval's fixed 16
    assert VllmServer(tmp_path, adapters={"a": adapter}).max_lora_rank == 32
    assert lora_rank_for([9]) == 16
    assert "--max-lora-rank" in VllmServer(tmp_path, adapters={"a": adapter}).command()


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortInUseError, match=str(port)):
            VllmServer(tmp_path, port=port, log_dir=tmp_path).start()


def test_start_timeout_kills_the_group_and_shows_the_log(tiny_model_dir: Path, tmp_path: Path) -> None:
    server = VllmServer(tiny_model_dir, log_dir=tmp_path, start_timeout=2)
    t0 = time.monotonic()
    with pytest.raises(ServerStartTimeout, match="did not become healthy within 2 s") as info:
        server.start()
    assert "vllm" in str(info.value)  # the log tail (starts with the command line)
    assert server.proc is None
    assert time.monotonic() - t0 < 40


def test_unknown_benchmark(tiny_spec) -> None:
    from selbench.evaluation.stage import resolve_benchmarks

    with pytest.raises(UnknownBenchmarkError, match="ifevl.*ifeval"):
        resolve_benchmarks(tiny_spec, ["ifevl"])
    kinds = [b.kind for b in resolve_benchmarks(tiny_spec, ["ifeval", "alpaca_eval", "llmbar", "openllm"])]
    assert kinds == ["ifeval", "alpaca_eval", "llmbar", "openllm"]


def test_cli_needs_adapter_or_base_only(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from selbench.cli.main import app

    res = CliRunner().invoke(app, ["evaluate", "--spec", "tiny", "--benchmarks", "ifeval"])
    assert res.exit_code != 0
    res = CliRunner().invoke(app, ["evaluate", "--spec", "tiny", "--adapter", str(tmp_path / "nope"),
                                   "--benchmarks", "ifeval", "--out", str(tmp_path)])
    assert res.exit_code != 0 and isinstance(res.exception, AdapterError)
    assert "adapter folder not found" in str(res.exception)


def test_local_openllm_tasks_and_arc_missing(eval_data: Path, tmp_path: Path) -> None:
    import yaml

    from selbench.evaluation.lm_tasks import write_local_task

    for name in ("hellaswag", "mmlu", "truthfulqa_mc2", "winogrande", "gsm8k"):
        task, hashes = write_local_task(name, eval_data / "eval", tmp_path, shots=0)
        assert task == f"{name}_local" and hashes
        text = (tmp_path / f"{name}_local.yaml").read_text()
        assert "dataset_path: json" in text
    first = json.loads((tmp_path / "data" / "mmlu_test.jsonl").open().readline())
    assert set(first) == {"question", "subject", "choices", "answer"}
    with pytest.raises(DataMissingError, match="ARC"):
        write_local_task("arc_challenge", eval_data / "eval", tmp_path)
    assert yaml.safe_load is not None
