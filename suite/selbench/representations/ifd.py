"""Cherry's Instruction-Following Difficulty: IFD(Q, A) = s(A | Q) / s(A).

``s(A | Q)`` is the mean token cross-entropy of the answer after the templated instruction;
``s(A)`` the same answer after the template's assistant header alone (Cherry_LLM prefixes the
bare answer with its response marker). IFD near 1 means the instruction barely helps; above 1
it hurts. Both losses come from one batched :class:`~selbench.services.forward.ForwardService`
(the original scored one example at a time).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from selbench.hashing import sha256_bytes
from selbench.representations.text import render_prompt, rows, user_turn


def ifd_from_losses(conditioned: Any, unconditioned: Any) -> np.ndarray:
    """Elementwise ratio; NaN where either loss is missing or the unconditioned loss is 0."""
    cond = np.asarray(conditioned, dtype=np.float64)
    uncond = np.asarray(unconditioned, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = cond / uncond
    out[~np.isfinite(cond) | ~np.isfinite(uncond) | (uncond <= 0)] = np.nan
    return out


def ifd_scores(pool: Any, ctx: Any, forward: Any, *, chat_template: str | None = None,
               name: str = "ifd") -> tuple[np.ndarray, dict[str, Any]]:
    """IFD per pool row (NaN for empty answers), plus both losses in the info, cached."""
    tok = forward.tokenizer
    key = {"pool": pool.fingerprint, "model": forward.loaded.identity, "max_length": forward.max_length,
           "template": sha256_bytes((chat_template or "").encode())}

    def compute() -> dict[str, np.ndarray]:
        items = rows(pool)
        answers = [r["output"] for r in items]
        conditioned = forward.answer_losses([render_prompt(tok, chat_template, user_turn(r)) for r in items], answers)
        bare = render_prompt(tok, chat_template, None)
        unconditioned = forward.answer_losses([bare] * len(items), answers)
        return {"ifd": ifd_from_losses(conditioned, unconditioned), "conditioned": conditioned,
                "unconditioned": unconditioned}

    arrays, info = ctx.services.cache.get_or_compute(name, key, compute)
    ifd = arrays["ifd"]
    finite = ifd[np.isfinite(ifd)]
    info.update({"ifd_mean": float(finite.mean()) if len(finite) else None,
                 "ifd_above_1": int((finite > 1).sum())})
    return ifd, info
