"""The tiny-llama builder: deterministic, cached, servable (head_dim, specials, chat template, eos ids)."""

from __future__ import annotations

import json
from pathlib import Path

from selbench.hashing import sha256_file
from selbench.models.tiny import META_FILE, SPECIAL_TOKENS, build_tiny_llama

SMALL = {"hidden_size": 32, "num_layers": 1, "num_heads": 1, "head_dim": 32, "vocab_size": 1024, "corpus_chars": 40_000}


def test_build_is_deterministic_and_cached(tmp_path: Path) -> None:
    first = build_tiny_llama(SMALL, cache=tmp_path / "a")
    second = build_tiny_llama(SMALL, cache=tmp_path / "b")
    assert first.name == second.name  # the folder is named by the hash of the arguments
    for name in ("model.safetensors", "tokenizer.json", "config.json", "generation_config.json", "chat_template.jinja"):
        assert sha256_file(first / name) == sha256_file(second / name), name
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_llama(SMALL, cache=tmp_path / "a") == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp  # reused, not rebuilt
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".tmp-")]
    other = build_tiny_llama({**SMALL, "seed": 1}, cache=tmp_path / "a")
    assert other != first and sha256_file(other / "model.safetensors") != sha256_file(first / "model.safetensors")


def test_tiny_model_is_servable(tiny_model_dir: Path, tiny_spec) -> None:
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    config = AutoConfig.from_pretrained(tiny_model_dir)
    args = tiny_spec.base_model.builder_args
    assert config.model_type == "llama"
    assert config.head_dim == args["head_dim"] >= 32
    assert config.hidden_size == args["hidden_size"] and config.num_hidden_layers == args["num_layers"]
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert len(tokenizer) == config.vocab_size <= args["vocab_size"]
    for token in SPECIAL_TOKENS:  # each special is one token, never split
        assert len(tokenizer(token, add_special_tokens=False)["input_ids"]) == 1
    generation = GenerationConfig.from_pretrained(tiny_model_dir)
    eos = generation.eos_token_id
    assert sorted(eos) == sorted(tokenizer.convert_tokens_to_ids(["</s>", "<|end|>"]))
    prompt = tokenizer.apply_chat_template([{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}],
                                           tokenize=False, add_generation_prompt=True)
    assert prompt == "<s><|system|>\ns<|end|>\n<|user|>\nhi<|end|>\n<|assistant|>\n"
    meta = json.loads((tiny_model_dir / META_FILE).read_text())
    assert meta["builder"] == "tiny-llama" and meta["parameters"] > 0
    # the byte-level BPE round-trips arbitrary text, including characters it never saw
    text = "Zürich: 12 + 30 = 42 ✓"
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == text
