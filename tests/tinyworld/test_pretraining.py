"""Pretraining of the tiny base model: cached with the build, deterministic, off by default."""

from __future__ import annotations

import json
from pathlib import Path

from selbench.hashing import sha256_file
from selbench.models.tiny import META_FILE, build_key, build_tiny_llama, parse_args

SMALL = {"hidden_size": 32, "num_layers": 1, "num_heads": 1, "head_dim": 32, "vocab_size": 1024, "corpus_chars": 40_000}
PRETRAINED = {**SMALL, "pretrain_steps": 6, "pretrain_batch_size": 8, "pretrain_entities": 16, "pretrain_mix": 0.25}


def test_no_pretraining_keeps_the_plain_models_key() -> None:
    plain = parse_args(SMALL)
    assert "pretrain_steps" not in plain.resolved()
    assert build_key(plain) == build_key(parse_args({**SMALL, "pretrain_steps": 0, "pretrain_lr": 1.0}))
    assert build_key(plain) != build_key(parse_args(PRETRAINED))


def test_pretraining_is_cached_and_deterministic(tmp_path: Path) -> None:
    first = build_tiny_llama(PRETRAINED, cache=tmp_path / "a")
    meta = json.loads((first / META_FILE).read_text())
    assert meta["pretraining"]["steps"] == 6 and meta["pretraining"]["loss_last"] < meta["pretraining"]["loss_first"]
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_llama(PRETRAINED, cache=tmp_path / "a") == first  # second build: no retraining
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp
    second = build_tiny_llama(PRETRAINED, cache=tmp_path / "b")
    for name in ("model.safetensors", "tokenizer.json", "config.json", "generation_config.json", "chat_template.jinja"):
        assert sha256_file(first / name) == sha256_file(second / name), name
    plain = build_tiny_llama(SMALL, cache=tmp_path / "a")
    assert sha256_file(plain / "model.safetensors") != sha256_file(first / "model.safetensors")
    assert sha256_file(plain / "tokenizer.json") == sha256_file(first / "tokenizer.json")
    assert (plain / "chat_template.jinja").read_text() == (first / "chat_template.jinja").read_text()
