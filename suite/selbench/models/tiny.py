"""The ``tiny-llama`` builder: a random-init LLaMA-architecture model and its tokenizer.

Deterministic (same arguments -> byte-identical weights and tokenizer) and cached under
``cache_root()/models/tiny-llama-<hash>/``, keyed by the builder arguments (defaults filled in),
:data:`BUILDER_VERSION` and the corpus version. The folder is written atomically, so a killed
build leaves nothing behind and concurrent builds are harmless.

Choices forced by the serving stack (see the project's CPU notes):
- ``head_dim`` is set explicitly and must be one vLLM's CPU attention supports (>= 32);
- the tokenizer is byte-level BPE trained with ``tokenizers`` on :mod:`selbench.models.corpus`,
  with ``<s> </s> <unk> <pad> <|user|> <|assistant|> <|system|> <|end|>`` as special tokens;
- the chat template is the ``tiny-chat`` template (with ``{% generation %}`` tags) and
  ``generation_config.eos_token_id`` lists both ``</s>`` and ``<|end|>``.

Optional pretraining (``pretrain_steps > 0``): the random-init model is then fully trained, once,
on chat conversations about a tiny world *disjoint from the pool's*
(:mod:`selbench.tinyworld.pretrain_corpus`), optionally mixed with lines of the tokenizer
corpus, so that a LoRA fine-tune only has to learn the pool world's facts. It is deterministic
(seeded data order and init, fixed optimizer) and part of the cached build; with
``pretrain_steps: 0`` (the default) the arguments, key and weights are those of the plain
random-init model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from selbench.atomic import atomic_write_json
from selbench.models.builder_kit import (
    META_FILE, TrainLoop, builder_key, cached_build, parse_builder_args, seeded_init,
)
from selbench.models.corpus import CORPUS_VERSION, tiny_corpus
from selbench.models.padding import right_pad

BUILDER_NAME = "tiny-llama"
# Bump when the builder's output for the same arguments changes.
BUILDER_VERSION = 1

SPECIAL_TOKENS = ("<s>", "</s>", "<unk>", "<pad>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>")
VLLM_CPU_HEAD_DIMS = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)


class TinyLlamaArgs(BaseModel):
    """The builder arguments (``base_model.builder_args`` in a spec)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hidden_size: int = Field(default=64, gt=0)
    num_layers: int = Field(default=2, gt=0)
    num_heads: int = Field(default=2, gt=0)
    num_kv_heads: int | None = Field(default=None, gt=0)
    head_dim: int = 32
    intermediate_size: int | None = Field(default=None, gt=0)
    vocab_size: int = Field(default=4096, ge=512)
    max_position_embeddings: int = Field(default=1024, gt=0)
    tie_word_embeddings: bool = False
    rope_theta: float = Field(default=10000.0, gt=0)
    corpus_chars: int = Field(default=300_000, ge=10_000)
    seed: int = 0
    # pretraining (0 steps: none); see the module docstring
    pretrain_steps: int = Field(default=0, ge=0)
    pretrain_lr: float = Field(default=3e-3, gt=0)
    pretrain_batch_size: int = Field(default=32, gt=0)
    pretrain_corpus: Literal["tinyworld"] = "tinyworld"
    pretrain_entities: int = Field(default=64, ge=2)
    pretrain_world_seed: int = 1000
    pretrain_mix: float = Field(default=0.0, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _check(self) -> TinyLlamaArgs:
        if self.head_dim not in VLLM_CPU_HEAD_DIMS:
            raise ValueError(f"head_dim must be one of {VLLM_CPU_HEAD_DIMS} (vLLM's CPU attention), got {self.head_dim}")
        kv = self.num_kv_heads or self.num_heads
        if self.num_heads % kv:
            raise ValueError(f"num_heads ({self.num_heads}) must be a multiple of num_kv_heads ({kv})")
        return self

    def resolved(self) -> dict[str, Any]:
        data = self.model_dump()
        data["num_kv_heads"] = self.num_kv_heads or self.num_heads
        data["intermediate_size"] = self.intermediate_size or 2 * self.hidden_size
        if not self.pretrain_steps:  # the plain random-init model keeps its original key
            for name in list(data):
                if name.startswith("pretrain_"):
                    del data[name]
        return data


def parse_args(builder_args: dict[str, Any]) -> TinyLlamaArgs:
    return parse_builder_args(TinyLlamaArgs, BUILDER_NAME, builder_args)


def build_key(args: TinyLlamaArgs) -> str:
    return builder_key(BUILDER_NAME, BUILDER_VERSION, args.resolved(), trained=bool(args.pretrain_steps))


def tiny_chat_template() -> str:
    from selbench.training.templates import get_template

    return get_template("tiny-chat").chat_template


def train_tokenizer(vocab_size: int, corpus_chars: int, seed: int) -> Any:
    """A byte-level BPE ``PreTrainedTokenizerFast`` trained on :func:`tiny_corpus`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(tiny_corpus(corpus_chars, seed), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        model_max_length=1024,
    )
    fast.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS[4:])})
    fast.chat_template = tiny_chat_template()
    fast.padding_side = "right"
    return fast


def _build(args: TinyLlamaArgs, folder: Path) -> None:
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    resolved = args.resolved()
    tokenizer = train_tokenizer(args.vocab_size, args.corpus_chars, args.seed)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=args.hidden_size,
        intermediate_size=resolved["intermediate_size"],
        num_hidden_layers=args.num_layers,
        num_attention_heads=args.num_heads,
        num_key_value_heads=resolved["num_kv_heads"],
        head_dim=args.head_dim,
        max_position_embeddings=args.max_position_embeddings,
        rope_theta=args.rope_theta,
        tie_word_embeddings=args.tie_word_embeddings,
        bos_token_id=ids["<s>"],
        eos_token_id=ids["</s>"],
        pad_token_id=ids["<pad>"],
        torch_dtype="float32",
    )
    model = seeded_init(args.seed, lambda: LlamaForCausalLM(config).to(torch.float32))
    pretrain_info: dict[str, Any] = {}
    if args.pretrain_steps:
        pretrain_info = pretrain(model, tokenizer, args)
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<s>"], eos_token_id=[ids["</s>"], ids["<|end|>"]], pad_token_id=ids["<pad>"],
        do_sample=False,
    )
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    params = sum(p.numel() for p in model.parameters())
    atomic_write_json(folder / META_FILE, {
        "builder": BUILDER_NAME, "builder_version": BUILDER_VERSION, "corpus_version": CORPUS_VERSION,
        "args": resolved, "key": build_key(args), "parameters": params, "vocab_size": len(tokenizer),
        "special_token_ids": ids, **({"pretraining": pretrain_info} if pretrain_info else {}),
    })


def pretrain_texts(tokenizer: Any, args: TinyLlamaArgs) -> list[str]:
    """The pretraining examples, in training order (``steps x batch`` of them), as chat text."""
    import random

    from selbench.models.corpus import tiny_corpus
    from selbench.tinyworld.pretrain_corpus import pretrain_conversations

    total = args.pretrain_steps * args.pretrain_batch_size
    generic_count = int(round(total * args.pretrain_mix))
    conversations = pretrain_conversations(total - generic_count, args.pretrain_entities, args.pretrain_world_seed)
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": q}, {"role": "assistant", "content": a}],
                                           tokenize=False) for q, a in conversations]
    if generic_count:
        lines = [line[:400] for line in tiny_corpus(args.corpus_chars, args.seed)[1:]]
        rng = random.Random(args.seed + 11)
        texts += [rng.choice(lines) for _ in range(generic_count)]
    random.Random(args.seed + 13).shuffle(texts)
    return texts


def pretrain(model: Any, tokenizer: Any, args: TinyLlamaArgs) -> dict[str, Any]:
    """Full training of ``model`` in place (:class:`~selbench.models.builder_kit.TrainLoop`, loss on all tokens)."""
    import time

    texts = pretrain_texts(tokenizer, args)
    # truncated by hand: truncation=True would be stored in the saved tokenizer.json
    encoded = [row[:128] for row in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    pad = tokenizer.pad_token_id
    steps, batch = args.pretrain_steps, args.pretrain_batch_size
    started = time.perf_counter()
    with TrainLoop(model, args.pretrain_lr, steps) as loop:
        for step in range(steps):
            ids, mask = right_pad(encoded[step * batch:(step + 1) * batch], pad)
            labels = ids.masked_fill(mask == 0, -100)
            loop.step(model(input_ids=ids, attention_mask=mask, labels=labels).loss)
    return {"steps": steps, "examples": len(texts), "seconds": round(time.perf_counter() - started, 2),
            **loop.summary()}


def build_tiny_llama(builder_args: dict[str, Any] | None = None, *, cache: Path | None = None) -> Path:
    """The folder of the tiny model for these arguments, built on first use."""
    args = parse_args(builder_args or {})
    return cached_build(BUILDER_NAME, build_key(args), lambda scratch: _build(args, scratch), cache)
