"""The ``tiny-sentence-encoder`` builder: a small sentence-transformers model made offline.

It stands in for ``sentence-transformers/gtr-t5-base`` (the targeted track's EMBED
representation) at the tiny scale and in tests. The folder it writes is an ordinary
sentence-transformers model (``SentenceTransformer(folder)`` loads it, exactly as it would load
gtr-t5-base from the hub), with the same shape of pipeline: a T5 *encoder* (``T5EncoderModel``),
mean pooling over the real tokens, and unit-length output; the tokenizer appends ``</s>`` like
T5's and has no BOS token.

- The tokenizer is byte-level BPE trained with ``tokenizers`` on :mod:`selbench.models.corpus`
  (the tiny LLaMA's corpus), with the chat markers as special tokens.
- ``train_steps > 0``: after the seeded random init, the encoder is trained contrastively
  (in-batch negatives, symmetric InfoNCE, like sentence-transformers' MultipleNegativesRanking)
  on pairs of texts that state the same fact of the tiny *pretraining* world
  (:func:`selbench.tinyworld.pretrain_corpus.pretrain_conversations`, no entity shared with the
  pool worlds), with different question phrasings and layouts (plain text or a chat template).
  It then embeds by content (entity, attribute) rather than by surface layout. With
  ``train_steps: 0`` it is the plain random-init encoder: deterministic vectors that only
  reflect token overlap.

Deterministic (same arguments -> same weights: seeded init and data order, one thread) and cached
under ``cache_root()/models/tiny-sentence-encoder-<hash>/``, keyed by the arguments (defaults
filled in), :data:`BUILDER_VERSION` and the corpus versions. The folder is written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from selbench.atomic import atomic_write_json
from selbench.models.builder_kit import (
    META_FILE, TrainLoop, builder_key, cached_build, parse_builder_args, seeded_init,
)
from selbench.models.corpus import CORPUS_VERSION, tiny_corpus

BUILDER_NAME = "tiny-sentence-encoder"
# Bump when the builder's output for the same arguments changes.
BUILDER_VERSION = 1

# T5's layout: <pad> = 0, </s> = 1, <unk> = 2; the chat markers stay single tokens.
SPECIAL_TOKENS = ("<pad>", "</s>", "<unk>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>")


class TinyEncoderArgs(BaseModel):
    """The builder arguments (``builder_args`` of the embedding model's ModelSpec)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    d_model: int = Field(default=64, gt=0)
    num_layers: int = Field(default=2, gt=0)
    num_heads: int = Field(default=2, gt=0)
    d_kv: int = Field(default=32, gt=0)
    d_ff: int | None = Field(default=None, gt=0)
    vocab_size: int = Field(default=4096, ge=512)
    max_seq_length: int = Field(default=256, gt=0)
    corpus_chars: int = Field(default=300_000, ge=10_000)
    seed: int = 0
    # contrastive training on the pretraining world (0 steps: the random-init encoder)
    train_steps: int = Field(default=200, ge=0)
    train_batch_size: int = Field(default=32, ge=2)
    train_lr: float = Field(default=2e-3, gt=0)
    train_temperature: float = Field(default=0.05, gt=0)
    train_entities: int = Field(default=64, ge=2)
    train_world_seed: int = 1000

    def resolved(self) -> dict[str, Any]:
        data = self.model_dump()
        data["d_ff"] = self.d_ff or 2 * self.d_model
        if not self.train_steps:  # the random-init encoder's key does not depend on unused settings
            for name in list(data):
                if name.startswith("train_"):
                    del data[name]
        return data


def parse_args(builder_args: dict[str, Any]) -> TinyEncoderArgs:
    return parse_builder_args(TinyEncoderArgs, BUILDER_NAME, builder_args)


def build_key(args: TinyEncoderArgs) -> str:
    return builder_key(BUILDER_NAME, BUILDER_VERSION, args.resolved(), trained=bool(args.train_steps))


def identity(builder_args: dict[str, Any]) -> dict[str, Any]:
    """What names the built weights (the model identity in cache keys)."""
    args = parse_args(builder_args)
    return {"kind": "builder", "builder": BUILDER_NAME, "version": BUILDER_VERSION, "corpus_version": CORPUS_VERSION,
            "args": args.resolved(), "key": build_key(args)}


def train_tokenizer(args: TinyEncoderArgs) -> Any:
    """Byte-level BPE wrapped as a fast tokenizer that appends ``</s>`` (T5-style, no BOS)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    # a leading space, so a word is the same token at the start of a text and inside it
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=args.vocab_size, special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(tiny_corpus(args.corpus_chars, args.seed), trainer=trainer)
    eos = tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", eos)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
                                   model_max_length=args.max_seq_length)
    fast.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS[3:])})
    fast.padding_side = "right"
    return fast


#: how a training text is laid out: plain "question answer", or a chat template's conversation
TRAIN_FORMATS = ("plain", "tulu", "tiny-chat", "alpaca")


def render_view(tokenizer: Any, question: str, answer: str, fmt: str) -> str:
    """One text stating a fact: plain, or the conversation in a chat template (stripped, as EMBED's pool text)."""
    if fmt == "plain":
        return f"{question} {answer}"
    from selbench.training.templates import get_template

    messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return tokenizer.apply_chat_template(messages, chat_template=get_template(fmt).chat_template, tokenize=False).strip()


def training_pairs(args: TinyEncoderArgs, tokenizer: Any) -> list[tuple[str, str]]:
    """Positive pairs in training order: two texts stating the same fact of the pretraining world.

    Each pair is a conversation of :func:`pretrain_conversations` and another question about the
    same fact with the same answer (drawn from a second stream of that world's conversations, so
    usually a different phrasing), each laid out in a random :data:`TRAIN_FORMATS` format.
    """
    import random

    from selbench.tinyworld.pretrain_corpus import pretrain_conversations

    count = args.train_steps * args.train_batch_size
    anchors = pretrain_conversations(count, args.train_entities, args.train_world_seed)
    questions: dict[str, list[str]] = {}
    for question, answer in anchors + pretrain_conversations(count, args.train_entities, args.train_world_seed + 1):
        questions.setdefault(answer, []).append(question)
    rng = random.Random(args.seed + 17)
    pairs = []
    for question, answer in anchors:
        other = rng.choice(questions[answer])
        pairs.append((render_view(tokenizer, question, answer, rng.choice(TRAIN_FORMATS)),
                      render_view(tokenizer, other, answer, rng.choice(TRAIN_FORMATS))))
    return pairs


def train(model: Any, args: TinyEncoderArgs) -> dict[str, Any]:
    """Contrastive training in place: each text against its positive and the batch's other positives."""
    import time

    import torch

    pairs = training_pairs(args, model.tokenizer)
    steps, batch = args.train_steps, args.train_batch_size
    targets = torch.arange(batch)
    started, cpu_started = time.perf_counter(), time.process_time()
    with TrainLoop(model, args.train_lr, steps) as loop:
        for step in range(steps):
            chunk = pairs[step * batch:(step + 1) * batch]
            q = model(model.preprocess([p[0] for p in chunk]))["sentence_embedding"]
            a = model(model.preprocess([p[1] for p in chunk]))["sentence_embedding"]
            logits = torch.nn.functional.normalize(q, dim=-1) @ torch.nn.functional.normalize(a, dim=-1).T
            logits = logits / args.train_temperature
            loop.step(0.5 * (torch.nn.functional.cross_entropy(logits, targets[: len(chunk)])
                             + torch.nn.functional.cross_entropy(logits.T, targets[: len(chunk)])))
    return {"steps": steps, "pairs": len(pairs), "seconds": round(time.perf_counter() - started, 2),
            "cpu_seconds": round(time.process_time() - cpu_started, 2), **loop.summary()}


def _build(args: TinyEncoderArgs, folder: Path) -> None:
    import shutil

    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling
    from transformers import T5Config, T5EncoderModel

    resolved = args.resolved()
    tokenizer = train_tokenizer(args)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    config = T5Config(
        vocab_size=len(tokenizer), d_model=args.d_model, d_kv=args.d_kv, d_ff=resolved["d_ff"],
        num_layers=args.num_layers, num_heads=args.num_heads, feed_forward_proj="relu", dropout_rate=0.0,
        pad_token_id=ids["<pad>"], eos_token_id=ids["</s>"], decoder_start_token_id=ids["<pad>"],
        is_encoder_decoder=False, use_cache=False, tie_word_embeddings=False,
    )
    encoder = seeded_init(args.seed, lambda: T5EncoderModel(config).to(torch.float32))
    # the HF encoder goes through a folder: that is how sentence-transformers' Transformer module loads
    hf_dir = folder / "_hf"
    encoder.save_pretrained(hf_dir, safe_serialization=True)
    tokenizer.save_pretrained(hf_dir)
    modules = [Transformer(str(hf_dir), max_seq_length=args.max_seq_length), Pooling(args.d_model, "mean"), Normalize()]
    model = SentenceTransformer(modules=modules, device="cpu")
    train_info = train(model, args) if args.train_steps else {}
    model.eval()
    shutil.rmtree(hf_dir)
    model.save(str(folder), create_model_card=False)
    params = sum(p.numel() for p in model.parameters())
    atomic_write_json(folder / META_FILE, {
        "builder": BUILDER_NAME, "builder_version": BUILDER_VERSION, "corpus_version": CORPUS_VERSION,
        "args": resolved, "key": build_key(args), "parameters": params, "vocab_size": len(tokenizer),
        "special_token_ids": ids, **({"training": train_info} if train_info else {}),
    })


def build_tiny_encoder(builder_args: dict[str, Any] | None = None, *, cache: Path | None = None) -> Path:
    """The folder of the tiny sentence encoder for these arguments, built on first use."""
    args = parse_args(builder_args or {})
    return cached_build(BUILDER_NAME, build_key(args), lambda scratch: _build(args, scratch), cache)
