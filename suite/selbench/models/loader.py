"""Resolve and load a spec's base model: a hub id at a pinned revision, a local folder, or a builder.

:func:`resolve_base_model` is cheap (no torch for hub/path models) and returns a
:class:`ResolvedModel`: what to pass to ``from_pretrained`` and an ``identity`` dict that names
the exact weights (hub id + revision, builder + arguments + version, or a local folder's file
hashes) for artifact keys. :func:`load_base_model` returns ``(model, tokenizer)``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selbench.hashing import sha256_file, sha256_json
from selbench.models.errors import ModelError
from selbench.specs.models import ModelSpec
from selbench.suggest import did_you_mean

# Local folders up to this size are hashed byte for byte; larger ones by file names and sizes.
_FULL_HASH_LIMIT = 256 * 2**20
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json", ".model", ".jinja", ".txt", ".py")


def _build_tiny(args: dict[str, Any], cache: Path | None) -> Path:
    from selbench.models.tiny import build_tiny_llama

    return build_tiny_llama(args, cache=cache)


def _tiny_identity(args: dict[str, Any]) -> dict[str, Any]:
    from selbench.models.tiny import BUILDER_VERSION, CORPUS_VERSION, build_key, parse_args

    parsed = parse_args(args)
    return {"kind": "builder", "builder": "tiny-llama", "version": BUILDER_VERSION, "corpus_version": CORPUS_VERSION,
            "args": parsed.resolved(), "key": build_key(parsed)}


@dataclass(frozen=True)
class Builder:
    build: Callable[[dict[str, Any], Path | None], Path]
    identity: Callable[[dict[str, Any]], dict[str, Any]]


def _build_tiny_encoder(args: dict[str, Any], cache: Path | None) -> Path:
    from selbench.models.tiny_encoder import build_tiny_encoder

    return build_tiny_encoder(args, cache=cache)


def _tiny_encoder_identity(args: dict[str, Any]) -> dict[str, Any]:
    from selbench.models.tiny_encoder import identity

    return identity(args)


BUILDERS: dict[str, Builder] = {
    "tiny-llama": Builder(_build_tiny, _tiny_identity),
    # a sentence-transformers folder (EMBED's stand-in for gtr-t5-base), not a causal LM
    "tiny-sentence-encoder": Builder(_build_tiny_encoder, _tiny_encoder_identity),
}


@dataclass(frozen=True)
class ResolvedModel:
    """``source`` goes to ``from_pretrained``; ``revision`` is None for local folders."""

    name: str
    source: str
    revision: str | None
    identity: dict[str, Any]
    dtype: str = "auto"
    chat_template: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return sha256_json(self.identity)

    @property
    def is_local(self) -> bool:
        return self.revision is None


def folder_identity(path: Path) -> dict[str, Any]:
    """Names a local model folder by its content (small folders) or file names and sizes."""
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in _WEIGHT_SUFFIXES and ".tmp-" not in p.name)
    total = sum(p.stat().st_size for p in files)
    if total <= _FULL_HASH_LIMIT:
        entries = [[str(p.relative_to(path)), sha256_file(p)] for p in files]
        return {"kind": "path", "files_sha256": sha256_json(entries), "bytes": total}
    small = [[str(p.relative_to(path)), sha256_file(p) if p.suffix == ".json" else p.stat().st_size] for p in files]
    return {"kind": "path", "files_shallow": sha256_json(small), "bytes": total}


def resolve_base_model(spec: ModelSpec, *, cache: Path | None = None, build: bool = True) -> ResolvedModel:
    """Where the weights are and what identifies them; builds a builder model on first use."""
    if spec.builder is not None:
        builder = BUILDERS.get(spec.builder)
        if builder is None:
            raise ModelError(f"unknown model builder '{spec.builder}'{did_you_mean(spec.builder, list(BUILDERS))}")
        identity = builder.identity(spec.builder_args)
        folder = builder.build(spec.builder_args, cache) if build else Path("<not built>")
        return ResolvedModel(spec.name, str(folder), None, identity, spec.dtype, spec.chat_template)
    if spec.path is not None:
        folder = Path(os.path.expandvars(spec.path)).expanduser()
        if not folder.is_dir():
            raise ModelError(f"base model '{spec.name}': folder not found: {folder}")
        if not (folder / "config.json").is_file():
            raise ModelError(f"base model '{spec.name}': {folder} has no config.json (not a transformers model folder)")
        identity = folder_identity(folder)
        return ResolvedModel(spec.name, str(folder.resolve()), None, identity, spec.dtype, spec.chat_template)
    assert spec.hub_id is not None and spec.revision is not None  # the spec validator guarantees it
    identity = {"kind": "hub", "hub_id": spec.hub_id, "revision": spec.revision}
    return ResolvedModel(spec.name, spec.hub_id, spec.revision, identity, spec.dtype, spec.chat_template)


def _torch_dtype(name: str, device: str) -> Any:
    import torch

    if name == "auto":
        if device == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return getattr(torch, name)


def load_tokenizer(resolved: ResolvedModel) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved.source, revision=resolved.revision)
    except OSError as exc:
        raise ModelError(f"base model '{resolved.name}': cannot load the tokenizer from {resolved.source}"
                         f"{'@' + resolved.revision if resolved.revision else ''}: {str(exc).splitlines()[0]}") from None
    if tokenizer.pad_token is None:
        # LLaMA-1/2 have no pad token; padding positions are masked, so reusing unk/eos is safe
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
    if resolved.chat_template:
        tokenizer.chat_template = resolved.chat_template
    return tokenizer


def load_base_model(resolved: ResolvedModel, *, device: str = "cpu", attn_implementation: str | None = None) -> Any:
    """The base ``AutoModelForCausalLM`` (eval mode off; the caller trains or evaluates it)."""
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"revision": resolved.revision, "dtype": _torch_dtype(resolved.dtype, device)}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    try:
        model = AutoModelForCausalLM.from_pretrained(resolved.source, **kwargs)
    except OSError as exc:
        raise ModelError(f"base model '{resolved.name}': cannot load {resolved.source}"
                         f"{'@' + resolved.revision if resolved.revision else ''}: {str(exc).splitlines()[0]}") from None
    return model
