"""Fine-tuning throughput: a plain HF + peft loop against `selbench train` with the chasing-random-v1 recipe.

Builds a LLaMA-shaped model with random weights (``--shape 7b``: hidden 4096, 32 layers, 32
heads, FFN 11008, vocab 32000, 6.7B parameters; ``--shape tiny``: hidden 256, 4 layers, 4 heads,
FFN 688, vocab 8000, for a CPU), saves it as a model folder with a byte-level BPE tokenizer
trained on a synthetic Alpaca-format pool (word lengths and response lengths drawn to look like
Alpaca's, some responses longer than 512 tokens), then measures in one process:

(a) the plain loop: peft LoRA r=64 on every linear layer, AdamW (fused on CUDA), bf16 autocast on
    CUDA (fp32 on CPU), random tokens at batch 8 x 512, one optimizer step per batch;
(b) the suite's training stage (``selbench.training.stage.run_training``) with the
    chasing-random-v1 recipe unchanged except ``max_steps`` (and ``--per-device`` if given):
    LoRA r=64/alpha=16 on all linear layers, constant-length packing into 512-token blocks,
    effective batch 128 blocks, the recipe's per-device batch and gradient accumulation.

For each: tokens/s (non-padding tokens over the timed steps), TFLOP/s at 4N FLOPs per token
(N = the base model's parameters: forward 2N, backward through frozen weights 2N; attention not
counted), step time (median of the timed optimizer steps, after ``--warmup`` untimed ones) and
peak memory (CUDA: ``max_memory_allocated``; CPU: the process's peak RSS, which includes
everything loaded so far). Prints a table and one JSON object (``--json`` writes it too).

    python benchmarks/train_throughput.py --device cpu --shape tiny   # a few minutes on 2 cores (effective batch 16 on CPU)
    python benchmarks/train_throughput.py --device cuda --shape 7b --json /tmp/tp.json   # H200: ~4 min
    python benchmarks/train_throughput.py --device cuda --shape 7b --variants liger,compile,liger+compile

``--variants`` adds arms of (b) with the recipe's speed options on (``kernels: liger``,
``compile: true``, ``micro_batch_tokens``); ``--recipe targeted-v1`` measures the padded path.

The GPU run needs torch with CUDA, transformers (>= 4.54), peft, datasets, pydantic and the
suite on PYTHONPATH (``PYTHONPATH=suite``); vLLM is not needed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import string
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

SHAPES = {
    "7b": {"hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32, "intermediate_size": 11008,
           "vocab_size": 32000},
    "tiny": {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 688,
             "vocab_size": 8000},
}
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def synthetic_pool(n: int, seed: int = 0) -> list[dict[str, str]]:
    """Alpaca-format rows of pseudo-words: instruction 5-40 words, response log-normal around 110 words."""
    rng = random.Random(seed)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(5000)]

    def text(k: int) -> str:
        return " ".join(rng.choices(words, k=max(1, k))).capitalize() + "."

    return [{"instruction": text(rng.randint(5, 40)), "input": text(rng.randint(5, 30)) if rng.random() < 0.4 else "",
             "output": text(min(900, int(rng.lognormvariate(4.5, 0.8))))} for _ in range(n)]


def build_model_folder(folder: Path, shape: str, device: str, rows: list[dict[str, str]]) -> tuple[int, float]:
    """Random weights + a BPE tokenizer trained on the pool; returns (parameters, seconds)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    t0 = time.perf_counter()
    cfg = SHAPES[shape]
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=min(cfg["vocab_size"], 8000), special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator((r["instruction"] + " " + r["input"] + " " + r["output"] for r in rows), trainer=trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>")
    config = LlamaConfig(**cfg, max_position_embeddings=2048, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id, tie_word_embeddings=False)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.device(device):
        model = LlamaForCausalLM(config).to(dtype)
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return params, time.perf_counter() - t0


def _peak_memory_gib(device: str) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _reset_peak(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def plain_loop(folder: Path, device: str, steps: int, warmup: int, batch: int, seq: int) -> dict[str, Any]:
    """(a): LoRA r=64 on every linear layer, AdamW, random tokens, one optimizer step per batch."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    _reset_peak(device)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(device)
    model.config.use_cache = False
    model = get_peft_model(model, LoraConfig(r=64, lora_alpha=16, lora_dropout=0.05, target_modules=LORA_TARGETS,
                                             task_type="CAUSAL_LM"))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4, fused=device == "cuda")
    vocab = model.config.vocab_size
    gen = torch.Generator().manual_seed(0)
    times = []
    model.train()
    for step in range(warmup + steps):
        ids = torch.randint(4, vocab, (batch, seq), generator=gen).to(device)
        _sync(device)
        t = time.perf_counter()
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        _sync(device)
        if step >= warmup:
            times.append(time.perf_counter() - t)
    out = {"tokens_per_step": batch * seq, "step_s": statistics.median(times),
           "tokens_per_s": batch * seq * len(times) / sum(times), "peak_memory_gib": _peak_memory_gib(device),
           "config": f"LoRA r=64 alpha=16 all linear, batch {batch} x {seq}, AdamW{' fused' if device == 'cuda' else ''}, "
                     f"{'bf16 autocast' if device == 'cuda' else 'fp32'}"}
    del model, opt
    return out


def _step_timer(device: str, warmup: int) -> Any:
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        """Wall time and non-padding tokens of each optimizer step after ``warmup`` steps."""

        def __init__(self) -> None:
            self.times: list[float] = []
            self.tokens: list[int] = []
            self._t = 0.0
            self._seen = 0

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            _sync(device)
            self._t = time.perf_counter()
            self._seen = int(state.num_input_tokens_seen)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            _sync(device)
            if state.global_step > warmup:
                self.times.append(time.perf_counter() - self._t)
                self.tokens.append(int(state.num_input_tokens_seen) - self._seen)

    return StepTimer()


def parse_variant(text: str) -> dict[str, Any]:
    """``liger``, ``compile``, ``tokens=N`` (micro_batch_tokens), joined by ``+``: recipe updates."""
    update: dict[str, Any] = {}
    for part in filter(None, text.split("+")):
        if part == "liger":
            update["kernels"] = "liger"
        elif part == "compile":
            update["compile"] = True
        elif part.startswith("tokens="):
            update["micro_batch_tokens"] = int(part.split("=", 1)[1])
        else:
            raise SystemExit(f"error: unknown variant part '{part}' (liger, compile, tokens=N; join with +)")
    return update


def suite_train(folder: Path, device: str, rows: list[dict[str, str]], work: Path, steps: int, warmup: int,
                per_device: int | None, effective_batch: int | None, full: bool = False,
                recipe_name: str = "chasing-random-v1", variant: dict[str, Any] | None = None) -> dict[str, Any]:
    """(b): ``run_training`` with the chasing-random-v1 recipe (or ``recipe_name``'s) on the synthetic pool;
    ``variant``: the speed options to switch on (recipe fields)."""
    from selbench.hashing import ids_sha256
    from selbench.pools.loader import load_pool
    from selbench.specs.loader import load_spec
    from selbench.specs.models import ModelSpec, PoolSpec
    from selbench.training.stage import run_training

    _reset_peak(device)
    work.mkdir(parents=True, exist_ok=True)
    pool_file = work / "pool.jsonl"
    pool_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = load_spec(recipe_name)
    pool_spec = PoolSpec(name="synthetic", path=str(pool_file), fields="alpaca")
    base = ModelSpec(name="random-llama", path=str(folder), dtype="bfloat16" if device == "cuda" else "float32")
    spec = spec.model_copy(update={"pools": [pool_spec], "base_model": base})
    update: dict[str, Any] = {"max_steps": warmup + steps}
    if per_device:
        update["per_device_batch_size"] = per_device
    if effective_batch:
        update["effective_batch_size"] = effective_batch
    if full:
        update.update(method="full", learning_rate=2e-5, gradient_checkpointing=True,
                      optimizer="adamw_torch_fused" if device == "cuda" else "adamw_torch")
    update.update(variant or {})
    recipe = spec.recipe.model_copy(update=update)
    pool = load_pool(pool_spec, cache=work / "cache")
    ids = list(pool.data["id"])
    selection = {"ids": ids, "ids_sha256": ids_sha256(ids), "budget": len(ids), "seed": 0,
                 "pool": {"name": pool.name, "fingerprint": pool.fingerprint}, "selector": {"name": "all"}}
    timer = _step_timer(device, warmup)
    art = run_training(selection, spec, work / "runs", pool=pool, recipe=recipe, callbacks=[timer], progress=False,
                       checkpoint_every=10_000, cache=work / "cache")
    rec = art.record
    tr = rec["trainer"]
    return {"tokens_per_step": statistics.median(timer.tokens), "step_s": statistics.median(timer.times),
            "tokens_per_s": sum(timer.tokens) / sum(timer.times), "peak_memory_gib": _peak_memory_gib(device),
            "flops_per_token_factor": 6 if full else 4,
            "config": f"{recipe_name} recipe: " + ("full fine-tuning, gradient checkpointing, "
                                                       f"{recipe.optimizer}, " if full else
                                                       f"LoRA r={recipe.lora.r} alpha={recipe.lora.alpha} all linear, ") +
                      f"packing {recipe.packing} {recipe.max_length}, batch {recipe.effective_batch_size} = "
                      f"{tr['per_device_batch_size']} x {tr['gradient_accumulation_steps']} accumulation, "
                      f"{tr['precision']}, {tr['attn_implementation']}, micro-batches {tr.get('micro_batches')}, "
                      f"kernels {recipe.kernels}, compile {recipe.compile}",
            "data": rec["data"], "steps": rec["steps"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cpu")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    ap.add_argument("--steps", type=int, default=None, help="timed steps of each arm (default: 2 on CPU, 6 on CUDA)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    ap.add_argument("--per-device", type=int, default=None, help="override the recipe's per-device batch (blocks)")
    ap.add_argument("--effective-batch", type=int, default=None,
                    help="override the recipe's 128 blocks a step (default: 16 on CPU, where 128 x 512 tokens take minutes a "
                         "step; tokens/s does not depend on it beyond the optimizer step's share)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--full", action="store_true",
                    help="also run (c): the same recipe with method: full (lr 2e-5, gradient checkpointing, fused AdamW "
                         "on CUDA): its tokens/s (at 6N per token) and peak memory")
    ap.add_argument("--recipe", default="chasing-random-v1",
                    help="the spec whose recipe arm (b) runs (targeted-v1: padded batches, where tokens=N matters)")
    ap.add_argument("--variants", default="",
                    help="comma-separated extra arms of (b) with speed options on: liger, compile, tokens=N "
                         "(micro_batch_tokens), combined with + (e.g. liger+compile,tokens=16384)")
    ap.add_argument("--skip", choices=["plain", "suite"], default=None)
    ap.add_argument("--json", default=None)
    opts = ap.parse_args()
    variants = {text: parse_variant(text) for text in opts.variants.split(",") if text}  # a typo fails now, not after the first arms

    import torch

    if opts.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but torch sees no CUDA device", file=sys.stderr)
        return 2
    if opts.threads:
        torch.set_num_threads(opts.threads)
    steps = opts.steps or (6 if opts.device == "cuda" else 3)
    effective = opts.effective_batch or (None if opts.device == "cuda" else 16)
    # enough 512-token blocks for every optimizer step of (b), at ~300 tokens an example
    rows = synthetic_pool(int((steps + opts.warmup) * (effective or 128) * 512 / 300 * 1.15) + 64)
    result: dict[str, Any] = {"device": opts.device, "shape": opts.shape, "machine": _machine(opts.device),
                              "versions": _versions()}
    with tempfile.TemporaryDirectory(prefix="selbench-tp-") as tmp:
        folder = Path(tmp) / "model"
        params, build_s = build_model_folder(folder, opts.shape, opts.device, rows)
        result["parameters"] = params
        result["build_and_save_s"] = round(build_s, 1)
        arms = {}
        if opts.skip != "plain":
            arms["plain HF + peft loop"] = plain_loop(folder, opts.device, steps, opts.warmup, 8, 512)
        if opts.skip != "suite":
            arms[f"selbench train ({opts.recipe})"] = suite_train(folder, opts.device, rows, Path(tmp), steps, opts.warmup,
                                                                 opts.per_device, effective, recipe_name=opts.recipe)
        for k, (text, variant) in enumerate(variants.items()):
            arms[f"selbench train ({opts.recipe}) + {text}"] = suite_train(
                folder, opts.device, rows, Path(tmp) / f"variant-{k}", steps, opts.warmup, opts.per_device, effective,
                recipe_name=opts.recipe, variant=variant)
        if opts.full:
            arms["selbench train, method: full"] = suite_train(folder, opts.device, rows, Path(tmp) / "full", steps, opts.warmup,
                                                               opts.per_device, effective, full=True)
    for arm in arms.values():
        arm["tflops"] = arm.get("flops_per_token_factor", 4) * params * arm["tokens_per_s"] / 1e12
    result["arms"] = arms
    mem = "peak GPU memory GiB" if opts.device == "cuda" else "peak process RSS GiB"
    print(f"{opts.shape} shape ({params / 1e6:.1f}M parameters) on {result['machine']}")
    print(f"| arm | tokens/s | TFLOP/s (4N; 6N for full) | step s | tokens/step | {mem} |\n|---|---|---|---|---|---|")
    for name, a in arms.items():
        print(f"| {name} | {a['tokens_per_s']:,.0f} | {a['tflops']:.3g} | {a['step_s']:.2f} | {a['tokens_per_step']:,.0f} | "
              f"{a['peak_memory_gib']:.1f} |")
    for name, a in arms.items():
        print(f"{name}: {a['config']}")
    print(json.dumps(result, default=str))
    if opts.json:
        Path(opts.json).write_text(json.dumps(result, indent=1, default=str))
    return 0


def _machine(device: str) -> str:
    import torch

    if device == "cuda":
        return torch.cuda.get_device_name(0)
    return f"{platform.machine()} CPU, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "transformers", "peft"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


if __name__ == "__main__":
    sys.exit(main())
