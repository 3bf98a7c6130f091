"""Fixtures of the evaluation tests: the tiny model, a LoRA adapter that really changes it, and
ONE vLLM server (base + adapter) shared by the whole session."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

for key, value in {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                   "VLLM_HOST_IP": "127.0.0.1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1",
                   "VLLM_CPU_KVCACHE_SPACE": "1"}.items():
    os.environ.setdefault(key, value)

pytest.importorskip("torch", reason="the model stack is not installed")
pytest.importorskip("peft", reason="the model stack is not installed")

from sb_testing import NEEDS_EVAL_DATA, SHARED_DATA  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def need_vllm() -> None:
    if shutil.which("vllm") is None and not (Path(os.sys.executable).with_name("vllm")).is_file():
        pytest.skip("vllm is not installed")


@pytest.fixture(scope="session")
def eval_data() -> Path:
    if not (SHARED_DATA / "eval").is_dir():
        pytest.skip(NEEDS_EVAL_DATA)
    os.environ.setdefault("SELBENCH_EVAL_DATA", str(SHARED_DATA))
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_spec():
    from selbench.specs.loader import load_spec

    return load_spec("tiny")


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_spec) -> Path:
    from selbench.models.loader import resolve_base_model

    return Path(resolve_base_model(tiny_spec.base_model).source)


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_spec):
    from selbench.models.loader import load_tokenizer, resolve_base_model

    return load_tokenizer(resolve_base_model(tiny_spec.base_model))


def make_adapter(base: Path, folder: Path, r: int = 8, seed: int = 0) -> Path:
    """A LoRA adapter with random A *and* B (peft's init leaves B = 0, i.e. the base model)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    torch.manual_seed(seed)
    peft_model = get_peft_model(model, LoraConfig(r=r, lora_alpha=2 * r, target_modules=LORA_TARGETS,
                                                  init_lora_weights=False))
    peft_model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def adapter_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_adapter(tiny_model_dir, tmp_path_factory.mktemp("adapter") / "adapter")


@pytest.fixture(scope="session")
def server(tiny_model_dir: Path, adapter_dir: Path, tiny_tokenizer, tmp_path_factory) -> Iterator:
    """The one vLLM server of the session: base model as ``base``, the adapter as ``adapter``."""
    need_vllm()
    from selbench.evaluation.server import VllmServer

    template = tmp_path_factory.mktemp("tmpl") / "chat_template.jinja"
    template.write_text(tiny_tokenizer.chat_template)
    srv = VllmServer(tiny_model_dir, served_name="base", adapters={"adapter": adapter_dir}, max_model_len=1024,
                     log_dir=tmp_path_factory.mktemp("vllm-logs"), chat_template=template, start_timeout=600,
                     max_logprobs=20, max_restarts=0)
    with srv:
        yield srv


@pytest.fixture(scope="session")
def targets(server, tiny_tokenizer):
    from selbench.evaluation.scoring import Target

    return {name: Target(name, server, tiny_tokenizer, 1024) for name in ("base", "adapter")}
