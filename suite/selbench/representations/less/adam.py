"""LESS's Adam preconditioning of a pool example's gradient.

LESS scores a pool example by the update Adam *would* make with that example's gradient from
the warm-up checkpoint's optimizer state, not by the raw gradient: one more Adam step,

    m' = beta1 * m + (1 - beta1) * g
    v' = beta2 * v + (1 - beta2) * g^2
    g~ = m' / sqrt(v' + eps)

with ``eps`` inside the square root and no bias correction, exactly as LESS's
``obtain_gradients_with_adam`` does (betas 0.9/0.999, the Trainer's AdamW defaults; eps 1e-8).
Query examples keep their plain gradient. ``m``/``v`` broadcast over the batch dimension.
"""

from __future__ import annotations

from typing import Any

BETA1 = 0.9
BETA2 = 0.999
EPS = 1e-8


def adam_precondition(g: Any, m: Any, v: Any, *, beta1: float = BETA1, beta2: float = BETA2, eps: float = EPS) -> Any:
    """``m' / sqrt(v' + eps)`` elementwise; ``g`` may carry leading batch dimensions.

    Written with in-place operations on the batch-sized temporaries (``g`` itself is not
    modified): for 7B-shaped LoRA a batch of gradients is ~10^9 numbers, so each pass counts."""
    num = g.mul(1.0 - beta1).add_(beta1 * m)                          # m'
    den = g.mul(g).mul_(1.0 - beta2).add_(beta2 * v + eps).sqrt_()   # sqrt(v' + eps)
    return num.div_(den)
