"""LESS gradient features per second: per-sample gradients in batches vs one backward per example.

Both paths compute the same thing for the same examples in one run: each example's LoRA
gradient (loss = mean CE over its own label tokens), Adam-preconditioned with (random) optimizer
moments and sketched to ``--dim`` dimensions by the seeded CountSketch, exactly as
``less_features`` does for pool examples. The loop is LESS's own method (batch size 1, one
backward per example); "batched" is ``selbench.representations.less.per_sample`` (hooks on the
LoRA layers, one einsum per layer). Each path runs once untimed (warm-up), then ``--rounds``
times for throughput (no device syncs; the two paths alternate so that load from other jobs on
a shared machine hits both alike; the median is reported), then once with a sync around the
preconditioning and the projection, which gives their share of the time. On CPU the examples per
CPU-second of the process are printed too: on a machine shared with other jobs they move less
than wall-clock rates. The last line compares
the two paths' features for the same examples (cosine). A third reference is the plain LoRA
training loop on the same batches (forward, backward into the LoRA weights, AdamW): issue 19's
goal is the batched features at >= 90% of its examples/s with the projection <= 5% of the time.

Shapes (random weights, random token ids; labels on the second half of each example):

- ``tiny``: the tiny spec's model dimensions (hidden 64, 2 layers, FFN 128, vocab 4096), LoRA
  r=16 on every linear layer, 128 tokens (the tiny recipe) -- CPU;
- ``small``: hidden 512, 4 layers, FFN 1376, vocab 8192, LoRA r=16, 256 tokens -- CPU;
- ``7b``: LLaMA-7B (hidden 4096, 32 layers, FFN 11008, vocab 32000) in bf16, LoRA r=64 on every
  linear layer (P = 159,907,840), 512 tokens, projection to 8192 -- the GPU anchor's setting
  (H100: the loop gives 3.5 examples/s; the goal is >= 4x that with the projection < 10%).

    python benchmarks/less_gradients.py                       # tiny and small on CPU
    python benchmarks/less_gradients.py --device cuda --shape 7b [--batch-size 8]
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass

import numpy as np

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@dataclass(frozen=True)
class Shape:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    tokens: int
    rank: int
    dim: int
    batch: int
    examples: int
    loop_examples: int
    dtype: str


SHAPES = {
    "tiny": Shape(64, 2, 2, 128, 4096, 128, 16, 8192, 16, 64, 32, "float32"),
    "small": Shape(512, 4, 8, 1376, 8192, 256, 16, 8192, 8, 32, 16, "float32"),
    "7b": Shape(4096, 32, 32, 11008, 32000, 512, 64, 8192, 8, 64, 16, "bfloat16"),
}


def build(shape: Shape, device: str, targets: str) -> tuple[object, int, int]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=shape.vocab, hidden_size=shape.hidden, intermediate_size=shape.ffn,
                         num_hidden_layers=shape.layers, num_attention_heads=shape.heads,
                         num_key_value_heads=shape.heads, head_dim=shape.hidden // shape.heads,
                         max_position_embeddings=max(2048, shape.tokens), tie_word_embeddings=False)
    dtype = getattr(torch, shape.dtype)
    torch.manual_seed(0)
    with torch.device(device):
        base = LlamaForCausalLM._from_config(config, dtype=dtype)
    n_params = sum(p.numel() for p in base.parameters())
    target = "all-linear" if targets == "all-linear" else targets.split(",")
    model = get_peft_model(base, LoraConfig(r=shape.rank, lora_alpha=2 * shape.rank, lora_dropout=0.0,
                                            target_modules=target, task_type="CAUSAL_LM"))
    gen = torch.Generator(device="cpu").manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:  # peft starts B at 0, which would zero every A gradient
                p.copy_((torch.randn(p.shape, generator=gen) * 0.01).to(p.dtype))
    model.eval()
    lora = sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)
    return model, n_params, lora


def examples(shape: Shape, n: int, seed: int = 0) -> list[tuple[list[int], list[int]]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        ids = rng.integers(10, shape.vocab, size=shape.tokens).tolist()
        half = shape.tokens // 2
        out.append((ids, [-100] * half + ids[half:]))
    return out


def train_steps(model: object, layers: dict, data: list, shape: Shape, device: str) -> float:
    """The plain LoRA training loop on the same examples and batch size (the issue's reference for
    LESS at the training rate): forward (bf16 autocast with a bf16 base), mean token loss of the
    batch, backward into the LoRA weights, AdamW (fused on CUDA; lr 0 so the weights, and the other
    paths' features, stay as they are). Returns the wall seconds."""
    import torch

    from selbench.representations.less.per_sample import _autocast, amp_dtype_of, collate

    params = [m.weight for m in layers.values()]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=0.0, fused=device == "cuda")
    amp = amp_dtype_of(model)
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for start in range(0, len(data), shape.batch):
        ids, mask, labels = (t.to(device) for t in collate(data[start:start + shape.batch], 0))
        with _autocast(device, amp):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels, use_cache=False).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    if device == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    for p in params:
        p.requires_grad_(False)
    return wall


def run_shape(name: str, shape: Shape, device: str, targets: str, rounds: int) -> None:
    import torch

    from selbench.representations.less.per_sample import gradient_features, lora_layers
    from selbench.representations.less.projection import CountSketch

    model, n_params, n_lora = build(shape, device, targets)
    layers = lora_layers(model)
    gen = torch.Generator(device="cpu").manual_seed(2)
    adam = {k: ((torch.randn(m.weight.shape, generator=gen) * 1e-4).to(device),
                (torch.rand(m.weight.shape, generator=gen) * 1e-8).to(device)) for k, m in layers.items()}
    proj = CountSketch(shape.dim, seed=0)
    threads = torch.get_num_threads() if device == "cpu" else None
    print(f"\n## {name} on {device}{f' ({threads} threads)' if threads else ''}: {n_params / 1e6:.1f}M parameters "
          f"({shape.dtype}), LoRA r={shape.rank} {targets} = {n_lora:,} gradient coordinates, {shape.tokens} tokens, "
          f"sketch to {shape.dim}, batch {shape.batch}")
    common = dict(pad_id=0, device=device, adam_state=adam)
    sizes = {"loop": shape.loop_examples, "batched": shape.examples}
    data = {mode: examples(shape, n) for mode, n in sizes.items()}
    warm = examples(shape, shape.batch, seed=99)
    for mode in sizes:  # warm-up: kernels, allocator, the sketch's hash cache
        gradient_features(model, warm[: (1 if mode == "loop" else shape.batch)], proj, batch_size=shape.batch,
                          mode=mode, **common)
    train_steps(model, layers, warm, shape, device)
    # the paths alternate, round after round, so a machine shared with other jobs slows them alike
    rates: dict[str, list[float]] = {mode: [] for mode in sizes}
    cpu_rates: dict[str, list[float]] = {mode: [] for mode in sizes}
    train_rates: list[float] = []
    train_cpu_rates: list[float] = []
    runs, peaks = {}, {}
    for _ in range(rounds):
        cpu0 = time.process_time()
        train_rates.append(len(data["batched"]) / train_steps(model, layers, data["batched"], shape, device))
        train_cpu_rates.append(len(data["batched"]) / max(time.process_time() - cpu0, 1e-9))
        for mode in sizes:
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            cpu0 = time.process_time()
            runs[mode] = gradient_features(model, data[mode], proj, batch_size=shape.batch, mode=mode, **common)
            rates[mode].append(sizes[mode] / runs[mode].wall_s)
            cpu_rates[mode].append(sizes[mode] / max(time.process_time() - cpu0, 1e-9))
            peaks[mode] = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
    timed = {mode: gradient_features(model, data[mode], proj, batch_size=shape.batch, mode=mode, timing=True, **common)
             for mode in sizes}
    print(f"{'mode':<8} {'examples':>8} {'examples/s (median of ' + str(rounds) + ')':>27} {'tokens/s':>10} "
          f"{'examples/CPU-s':>15} {'precond %':>10} {'projection %':>13} {'peak GiB':>9}")
    for mode in sizes:
        rate = float(np.median(rates[mode]))
        t = timed[mode]
        print(f"{mode:<8} {sizes[mode]:>8} {rate:27.2f} {rate * shape.tokens:10.0f} {np.median(cpu_rates[mode]):15.2f} "
              f"{100 * t.precondition_s / t.wall_s:10.1f} {100 * t.projection_s / t.wall_s:13.1f} {peaks[mode]:9.1f}")
    loop_rate, batch_rate = (float(np.median(rates[m])) for m in ("loop", "batched"))
    k = sizes["loop"]
    a, b = runs["loop"].features, runs["batched"].features[:k]  # the same examples (same seed)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    share = 100 * timed["batched"].projection_s / timed["batched"].wall_s
    cpu_ratio = float(np.median(cpu_rates["batched"]) / np.median(cpu_rates["loop"]))
    print(f"batched / loop: {batch_rate / loop_rate:.2f}x wall ({batch_rate:.2f} vs {loop_rate:.2f} examples/s, "
          f"rounds: batched {', '.join(f'{r:.2f}' for r in rates['batched'])}; "
          f"loop {', '.join(f'{r:.2f}' for r in rates['loop'])}); projection share of the batched time {share:.1f}%; "
          f"cosine(batched, loop) over {k} examples: min {cos.min():.6f}, mean {cos.mean():.6f}")
    train_rate = float(np.median(train_rates))
    print(f"plain LoRA training loop on the same batches: {train_rate:.2f} examples/s (rounds "
          f"{', '.join(f'{r:.2f}' for r in train_rates)}); batched LESS features at {100 * batch_rate / train_rate:.0f}% "
          f"of it (goal >= 90%), projection {share:.1f}% of the batched time (goal <= 5%)")
    if device == "cpu":
        print(f"per CPU-second: batched LESS features {np.median(cpu_rates['batched']):.2f} examples/s, the plain "
              f"training loop {np.median(train_cpu_rates):.2f}: {100 * np.median(cpu_rates['batched']) / np.median(train_cpu_rates):.0f}%")
        print(f"batched / loop per CPU-second (less sensitive to other jobs on a shared machine): {cpu_ratio:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--shape", default=None, help="tiny, small or 7b (default: tiny,small on cpu, 7b on cuda)")
    parser.add_argument("--targets", default="all-linear", help="all-linear or a comma list (q_proj,k_proj,v_proj,o_proj)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--examples", type=int, default=None)
    parser.add_argument("--loop-examples", type=int, default=None)
    parser.add_argument("--rank", type=int, default=None)
    parser.add_argument("--dim", type=int, default=None)
    parser.add_argument("--tokens", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3, help="alternating timed rounds per path (median)")
    args = parser.parse_args()
    names = (args.shape or ("7b" if args.device == "cuda" else "tiny,small")).split(",")
    for name in names:
        shape = SHAPES[name]
        updates = {k: v for k, v in {"batch": args.batch_size, "examples": args.examples, "rank": args.rank,
                                     "loop_examples": args.loop_examples, "dim": args.dim,
                                     "tokens": args.tokens}.items() if v is not None}
        shape = Shape(**{**shape.__dict__, **updates})
        started = time.perf_counter()
        run_shape(name, shape, args.device, args.targets, args.rounds)
        print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
