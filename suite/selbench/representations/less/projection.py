"""A seeded CountSketch: a sparse Johnson-Lindenstrauss projection computed on the fly.

LESS projects each example's LoRA gradient (P coordinates) to ``d`` dimensions before comparing
by cosine. The paper uses TRAK's dense Rademacher projector; for a 7B model with LoRA r=64 on
every linear layer P is 159,907,840 (per layer: 4 x 64 x (4096 + 4096) for q/k/v/o plus
3 x 64 x (4096 + 11008) for gate/up/down, times 32 layers), so a dense P x 8192 matrix would be
1.3e12 entries: it can be neither stored nor regenerated for every batch at training speed.

CountSketch gives every coordinate ``i`` of a parameter one bucket ``h(i)`` in ``[0, d)`` and
one sign ``s(i)`` in ``{-1, +1}``; the projection is ``y[h(i)] += s(i) * x[i]``, i.e. the dense
matrix ``S`` with one ``±1`` per column. It is a JL transform: ``E ||Sx||^2 = ||x||^2`` and inner
products are preserved with variance ``(||x||^2 ||y||^2 + <x,y>^2 - 2 sum x_i^2 y_i^2) / d``, the
same order as a dense Rademacher projection for gradient-like (non-spiky) vectors. It costs one
multiply and one scatter-add per coordinate (O(P), not O(P d)).

``h`` and ``s`` come from a counter-based integer hash of (parameter name, coordinate index,
seed), computed with int64 tensor ops whose intermediate values stay below 2^60 (no overflow),
so CPU and GPU give the same buckets and signs, whatever the batch size. Parameters are keyed by
name (not by their position in a flattened vector), so the sketch of one layer does not depend
on which other layers carry LoRA. Hashes are cached per parameter up to ``cache_bytes`` (6 bytes
per coordinate) and recomputed on the fly beyond that.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

PROJECTION_KIND = "countsketch-v1"
_M32 = 0xFFFFFFFF
_MUL = 0x45D9F3B  # the multiplier of a well-mixing 32-bit integer hash (< 2^27, so x * _MUL < 2^59)


def _mix32(x: Any) -> Any:
    """A 32-bit integer hash (three xor-shift-multiply rounds) of int64 values in [0, 2^32)."""
    x = (((x >> 16) ^ x) * _MUL) & _M32
    x = (((x >> 16) ^ x) * _MUL) & _M32
    return (x >> 16) ^ x


def _keys(seed: int, name: str) -> tuple[int, int, int]:
    """Three 32-bit keys of (seed, parameter name), from sha256 (stable across platforms)."""
    digest = hashlib.sha256(f"{int(seed)}\x00{name}".encode()).digest()
    return tuple(int.from_bytes(digest[i:i + 4], "little") for i in (0, 4, 8))  # type: ignore[return-value]


def hash_codes(seed: int, name: str, start: int, stop: int, dim: int, device: Any = "cpu") -> tuple[Any, Any]:
    """Buckets (int64) and signs (float32, ±1) of coordinates ``start..stop-1`` of ``name``."""
    import torch

    k1, k2, k3 = _keys(seed, name)
    idx = torch.arange(start, stop, dtype=torch.int64, device=device)
    h = _mix32((idx & _M32) ^ k1)
    h = _mix32(h ^ ((idx >> 32) & _M32) ^ k2)
    bucket = h % dim
    sign = (_mix32(h ^ k3) & 1).to(torch.float32).mul_(-2.0).add_(1.0)
    return bucket, sign


class CountSketch:
    """``project(name, values)``: (B, n) values of parameter ``name`` -> (B, d) sketches.

    ``accumulate(out, name, values)`` adds into an existing (B, d) buffer, so one example's
    sketch is the sum over its LoRA parameters (the sketch of the concatenated gradient).
    """

    def __init__(self, dim: int, seed: int = 0, *, chunk: int = 1 << 22, cache_bytes: int = 2 << 30) -> None:
        if dim <= 0:
            raise ValueError(f"projection dim must be positive, got {dim}")
        self.dim = int(dim)
        self.seed = int(seed)
        self.chunk = int(chunk)
        self.cache_bytes = int(cache_bytes)
        self._cache: dict[tuple[str, int, str], tuple[Any, Any]] = {}
        self._cached_bytes = 0

    @property
    def identity(self) -> dict[str, Any]:
        return {"kind": PROJECTION_KIND, "dim": self.dim, "seed": self.seed}

    def _cached_codes(self, name: str, n: int, device: Any) -> tuple[Any, Any] | None:
        """The parameter's (int32 buckets, fp16 signs), cached while the cache has room; None when full."""
        key = (name, n, str(device))
        hit = self._cache.get(key)
        if hit is not None or self._cached_bytes + 6 * n > self.cache_bytes:
            return hit
        import torch

        bucket, sign = hash_codes(self.seed, name, 0, n, self.dim, device)
        hit = (bucket.to(torch.int32), sign.to(torch.float16))  # signs are exactly ±1 in fp16
        self._cache[key] = hit
        self._cached_bytes += 6 * n
        return hit

    def accumulate(self, out: Any, name: str, values: Any) -> Any:
        """``out += values @ S_name.T`` for ``values`` of shape (B, n) (a flattened parameter)."""
        n = values.shape[1]
        codes = self._cached_codes(name, n, values.device)
        if codes is not None:
            bucket, sign = codes
            out.index_add_(1, bucket, values * sign.to(values.dtype))
            return out
        for start in range(0, n, self.chunk):  # on the fly, a chunk of coordinates at a time
            stop = min(n, start + self.chunk)
            bucket, sign = hash_codes(self.seed, name, start, stop, self.dim, values.device)
            out.index_add_(1, bucket, values[:, start:stop] * sign.to(values.dtype))
        return out

    def project(self, name: str, values: Any) -> Any:
        import torch

        out = torch.zeros(values.shape[0], self.dim, dtype=values.dtype, device=values.device)
        return self.accumulate(out, name, values)

    def dense(self, name: str, n: int) -> np.ndarray:
        """The explicit (d, n) matrix of ``name`` (tests only: small ``n``)."""
        bucket, sign = hash_codes(self.seed, name, 0, n, self.dim)
        mat = np.zeros((self.dim, n), dtype=np.float32)
        mat[bucket.numpy(), np.arange(n)] = sign.numpy()
        return mat
