"""Per-example gradients of the LoRA weights, a whole padded batch per forward/backward.

LESS needs the gradient of *each* example's loss (the mean cross-entropy over its own label
tokens) with respect to every LoRA matrix. The original code runs one forward/backward per
example (batch size 1), which leaves a GPU mostly idle. Here a batch is run once and the
per-example gradients are read off the LoRA layers with hooks, as Opacus-style per-sample
gradient methods do for linear layers:

- a forward hook on every LoRA ``A``/``B`` linear keeps its input ``x`` (B, T, in) and puts a
  tensor hook on its output, which receives ``dL/dy`` (B, T, out) during the backward pass;
- the gradient of example ``b``'s loss with respect to that weight is then
  ``einsum('to,ti->oi', dy[b], x[b])``: rows do not interact in a causal LM with a padding mask,
  so backpropagating the *sum* of per-example mean losses gives each row's own ``dy``.

Padding is on the right; padded positions get no loss and no real token attends to them, so
their ``dy`` is zero (the hook also masks it, to be safe with any attention kernel). The model
runs in eval mode (LoRA dropout off, deterministic). The LoRA weights need no ``.grad``: their
``requires_grad`` is off and the input embeddings' output is made a leaf instead, so autograd
computes activation gradients only, and the per-example einsums replace the (summed) weight
gradients a normal backward would compute.

When the frozen base weights are bf16/fp16 (a GPU), the forward runs under autocast, as the
warm-up trained, and the einsums take bf16 inputs (accumulating in float32 inside the matmul);
the gradients handed on are float32. On CPU everything is float32.

Each per-example gradient goes straight to a ``consumer(name, grads)`` (Adam preconditioning
and the projection), so the full per-example gradient of all layers (160M floats per example
for 7B, LoRA r=64 on every linear) never exists at once. :func:`looped_gradients` is the
one-backward-per-example reference, used by the tests and as the benchmark's baseline.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from selbench.models.padding import length_sorted_batches, right_pad

IGNORE_INDEX = -100
Example = tuple[Sequence[int], Sequence[int]]  # (input_ids, labels with -100 on unscored tokens)
Consumer = Callable[[str, Any], None]           # (canonical parameter name, (B, out, in) gradients)


def canonical_name(param_name: str, adapter: str = "default") -> str:
    """A LoRA parameter's name without peft's wrapper prefix and adapter segment
    (``model.layers.0.self_attn.q_proj.lora_A.weight``): stable across peft versions and adapters."""
    name = re.sub(r"^(base_model\.model\.)+", "", param_name)
    return name.replace(f".{adapter}.", ".")


def lora_layers(model: Any, adapter: str = "default") -> dict[str, Any]:
    """Canonical weight name -> the ``nn.Linear`` holding it, for every LoRA A/B of ``adapter``."""
    import torch

    out: dict[str, Any] = {}
    for name, module in model.named_modules():
        if re.search(rf"\.lora_[AB]\.{re.escape(adapter)}$", name):
            if not isinstance(module, torch.nn.Linear):
                raise TypeError(f"{name}: only LoRA on linear layers is supported (got {type(module).__name__})")
            out[canonical_name(name + ".weight", adapter)] = module
    if not out:
        raise ValueError("the model has no LoRA layers (wrap it with peft first)")
    return out


def collate(examples: Sequence[Example], pad_id: int) -> tuple[Any, Any, Any]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (padding labelled -100)."""
    import torch

    ids, mask = right_pad([list(e[0]) for e in examples], pad_id)
    labels = torch.full(ids.shape, IGNORE_INDEX, dtype=torch.long)
    for row, (_, lab) in enumerate(examples):
        labels[row, : len(lab)] = torch.tensor(list(lab), dtype=torch.long)
    return ids, mask, labels


def example_losses(logits: Any, labels: Any) -> tuple[Any, Any]:
    """Per-row mean token cross-entropy over the row's own label tokens, and the label counts."""
    import torch

    shift_logits, shift_labels = logits[:, :-1].float(), labels[:, 1:]
    ce = torch.nn.functional.cross_entropy(shift_logits.reshape(-1, shift_logits.shape[-1]), shift_labels.reshape(-1),
                                           reduction="none", ignore_index=IGNORE_INDEX).view(shift_labels.shape)
    counts = (shift_labels != IGNORE_INDEX).sum(1)
    return ce.sum(1) / counts.clamp_min(1), counts


def n_label_tokens(example: Example) -> int:
    """Label tokens that are scored (position 0 is never predicted)."""
    return sum(1 for t in list(example[1])[1:] if t != IGNORE_INDEX)


class _Hooks:
    """Forward/tensor hooks that hand each LoRA layer's per-example gradient to ``consumer``."""

    def __init__(self, model: Any, layers: dict[str, Any], consumer: Consumer, einsum_dtype: Any = None) -> None:
        self.model, self.layers, self.consumer = model, layers, consumer
        self.einsum_dtype = einsum_dtype
        self.mask: Any = None
        self.calls: dict[str, int] = {}
        self.leaves: list[Any] = []
        self.handles: list[Any] = []

    def __enter__(self) -> _Hooks:
        def leaf(_module: Any, _inputs: Any, out: Any) -> Any:
            # the backward pass starts from the embeddings' output, so no weight needs a gradient
            out = out.detach().requires_grad_()
            self.leaves.append(out)
            return out

        self.handles.append(self.model.get_input_embeddings().register_forward_hook(leaf))
        for name, module in self.layers.items():
            self.handles.append(module.register_forward_hook(self._forward_hook(name)))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()

    def _forward_hook(self, name: str) -> Callable[..., None]:
        def hook(_module: Any, inputs: tuple[Any, ...], out: Any) -> None:
            self.calls[name] = self.calls.get(name, 0) + 1
            if self.calls[name] > 1:
                raise RuntimeError(f"{name} ran twice in one forward pass; per-example gradients assume once")
            if not out.requires_grad:
                raise RuntimeError(f"{name}: its output needs no gradient (is the model in no_grad mode?)")
            x = inputs[0].detach()
            # kept in the einsum's precision: under bf16 autocast peft hands the LoRA layers a
            # float32 copy of x, and a bf16 copy halves what the hooks hold until the backward pass
            saved = [x.to(self.einsum_dtype) if self.einsum_dtype is not None else x]

            def on_grad(dy: Any) -> None:
                x = saved.pop()
                dy = dy * self.mask.unsqueeze(-1).to(dy.dtype)
                self.consumer(name, _einsum_grads(dy, x, self.einsum_dtype))

            out.register_hook(on_grad)

        return hook


def _einsum_grads(dy: Any, x: Any, dtype: Any = None) -> Any:
    """(B, T, out) x (B, T, in) -> (B, out, in) per-example weight gradients, returned in float32.

    ``dtype`` (bf16 under mixed precision) is the matmul's input precision; the sum over tokens
    accumulates in float32 inside the matmul either way."""
    import torch

    dtype = dtype or torch.float32
    return torch.einsum("bto,bti->boi", dy.to(dtype), x.to(dtype)).float()


def _autocast(device: Any, amp_dtype: Any) -> Any:
    import contextlib

    import torch

    if amp_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=amp_dtype)


def amp_dtype_of(model: Any) -> Any:
    """bf16/fp16 when the frozen base weights are in half precision (run the forward under
    autocast, as the warm-up trained), else None (plain float32)."""
    import torch

    dtype = model.get_input_embeddings().weight.dtype
    return dtype if dtype in (torch.bfloat16, torch.float16) else None


def batched_gradients(model: Any, layers: dict[str, Any], examples: Sequence[Example], consumer: Consumer,
                      pad_id: int, device: Any, amp_dtype: Any = None) -> Any:
    """One forward/backward for ``examples``; ``consumer(name, (B, out, in))`` per LoRA weight.

    Every example needs at least one label token (filter with :func:`n_label_tokens`).
    ``amp_dtype``: run the forward under autocast and the einsums in that precision.
    Returns the per-example losses (B,).
    """
    import torch

    ids, mask, labels = collate(examples, pad_id)
    ids, mask, labels = ids.to(device), mask.to(device), labels.to(device)
    for module in layers.values():
        module.weight.requires_grad_(False)
    hooks = _Hooks(model, layers, consumer, amp_dtype)
    hooks.mask = mask
    with hooks, torch.enable_grad():
        with _autocast(device, amp_dtype):
            logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
        losses, counts = example_losses(logits, labels)
        if bool((counts == 0).any()):
            raise ValueError("an example in the batch has no label token")
        del logits
        torch.autograd.grad(losses.sum(), hooks.leaves)
    missing = [n for n in layers if hooks.calls.get(n, 0) != 1]
    if missing:
        raise RuntimeError(f"LoRA layers not run in the forward pass: {missing[:3]}")
    return losses.detach()


def looped_gradients(model: Any, layers: dict[str, Any], examples: Sequence[Example], consumer: Consumer,
                     device: Any, amp_dtype: Any = None) -> Any:
    """The reference: one forward/backward per example (no padding), ``consumer(name, (1, out, in))``."""
    import torch

    params = {name: module.weight for name, module in layers.items()}
    previous = {name: p.requires_grad for name, p in params.items()}
    losses = []
    try:
        for p in params.values():
            p.requires_grad_(True)
        for example in examples:
            ids, _, labels = collate([example], 0)
            with torch.enable_grad():
                with _autocast(device, amp_dtype):
                    logits = model(input_ids=ids.to(device), use_cache=False).logits
                loss, counts = example_losses(logits, labels.to(device))
                if int(counts[0]) == 0:
                    raise ValueError("an example has no label token")
                grads = torch.autograd.grad(loss[0], list(params.values()))
            for name, g in zip(params, grads):
                consumer(name, g.float().unsqueeze(0))
            losses.append(loss.detach())
    finally:
        for name, p in params.items():
            p.requires_grad_(previous[name])
    return torch.cat(losses) if losses else torch.zeros(0)


@dataclass
class GradientRun:
    """Sketched gradients of a list of examples, and what computing them took."""

    features: np.ndarray            # (N, d) float32, unnormalised; zero rows for examples without labels
    losses: np.ndarray              # (N,) float64, NaN for examples without labels
    tokens: int = 0                 # tokens run through the model (padding excluded)
    wall_s: float = 0.0
    precondition_s: float = 0.0     # measured only with ``timing=True`` (it synchronises the device)
    projection_s: float = 0.0
    empty: int = 0                  # examples without a label token (zero features)
    stats: dict[str, Any] = field(default_factory=dict)


def gradient_features(model: Any, examples: Sequence[Example], projector: Any, *, batch_size: int, pad_id: int,
                      device: Any, adam_state: dict[str, tuple[Any, Any]] | None = None, mode: str = "batched",
                      timing: bool = False) -> GradientRun:
    """Sketched (and, with ``adam_state``, Adam-preconditioned) LoRA gradients per example.

    ``mode="batched"``: length-sorted padded batches of ``batch_size`` through
    :func:`batched_gradients`; ``mode="loop"``: :func:`looped_gradients`, one example at a time
    (the reference). ``adam_state`` maps canonical names to the checkpoint's (exp_avg,
    exp_avg_sq) on ``device``. Both modes use the same consumer, so they differ only in how the
    gradients are obtained.
    """
    import torch

    from selbench.representations.less.adam import adam_precondition

    layers = lora_layers(model)
    amp = amp_dtype_of(model)
    if adam_state is not None:
        missing = sorted(set(layers) - set(adam_state))
        if missing:
            raise KeyError(f"no optimizer state for {missing[:3]}")
    n = len(examples)
    run = GradientRun(np.zeros((n, projector.dim), dtype=np.float32), np.full(n, np.nan))
    valid = [i for i, e in enumerate(examples) if n_label_tokens(e) > 0]
    run.empty = n - len(valid)
    sync = torch.cuda.synchronize if timing and str(device).startswith("cuda") else (lambda: None)
    buf: list[Any] = [None]

    def consume(name: str, grads: Any) -> None:
        if timing:
            sync()
            t0 = time.perf_counter()
        if adam_state is not None:
            m, v = adam_state[name]
            grads = adam_precondition(grads, m, v)
        if timing:
            sync()
            t1 = time.perf_counter()
            run.precondition_s += t1 - t0
        projector.accumulate(buf[0], name, grads.reshape(grads.shape[0], -1))
        if timing:
            sync()
            run.projection_s += time.perf_counter() - t1

    was_training = model.training
    model.eval()
    start = time.perf_counter()
    try:
        size = batch_size if mode == "batched" else 1
        for batch in length_sorted_batches([len(examples[i][0]) for i in valid], size):
            rows = [valid[j] for j in batch]
            buf[0] = torch.zeros(len(rows), projector.dim, dtype=torch.float32, device=device)
            chunk = [examples[i] for i in rows]
            if mode == "batched":
                losses = batched_gradients(model, layers, chunk, consume, pad_id, device, amp)
            elif mode == "loop":
                losses = looped_gradients(model, layers, chunk, consume, device, amp)
            else:
                raise ValueError(f"unknown mode {mode!r} (batched or loop)")
            run.features[rows] = buf[0].cpu().numpy()
            run.losses[rows] = losses.double().cpu().numpy()
            run.tokens += sum(len(e[0]) for e in chunk)
        if str(device).startswith("cuda"):
            torch.cuda.synchronize()
    finally:
        model.train(was_training)
    run.wall_s = time.perf_counter() - start
    run.stats = {"mode": mode, "batch_size": batch_size, "amp_dtype": str(amp) if amp else None,
                 "lora_parameters": int(sum(m.weight.numel() for m in layers.values()))}
    return run
