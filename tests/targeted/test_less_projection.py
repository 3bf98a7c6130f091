"""LESS's CountSketch projection and Adam preconditioning: small, exact checks."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")


def test_projection_equals_its_explicit_dense_matrix() -> None:
    from selbench.representations.less.projection import CountSketch

    proj = CountSketch(64, seed=7)
    x = torch.randn(3, 1000, generator=torch.Generator().manual_seed(0))
    dense = proj.dense("layer.lora_A.weight", 1000)
    assert dense.shape == (64, 1000)
    assert (np.abs(dense).sum(0) == 1).all(), "one ±1 per column"
    assert set(np.unique(dense)) == {-1.0, 0.0, 1.0}
    np.testing.assert_allclose(proj.project("layer.lora_A.weight", x).numpy(), x.numpy() @ dense.T, rtol=1e-5, atol=1e-5)


def test_projection_is_deterministic_seeded_and_batch_independent() -> None:
    from selbench.representations.less.projection import CountSketch, hash_codes

    x = torch.randn(5, 20_000, generator=torch.Generator().manual_seed(1))
    a = CountSketch(256, seed=0).project("w", x)
    b = CountSketch(256, seed=0).project("w", x)
    assert torch.equal(a, b)
    assert not torch.allclose(a, CountSketch(256, seed=1).project("w", x))
    assert not torch.allclose(a, CountSketch(256, seed=0).project("other", x)), "parameters are keyed by name"
    one_by_one = torch.cat([CountSketch(256, seed=0).project("w", x[i:i + 1]) for i in range(5)])
    torch.testing.assert_close(a, one_by_one, rtol=1e-5, atol=1e-5)
    # the on-the-fly chunked path (no cache) gives the same sketch as the cached path
    fly = CountSketch(256, seed=0, chunk=3000, cache_bytes=0)
    torch.testing.assert_close(fly.project("w", x), a, rtol=1e-5, atol=1e-5)
    assert fly._cache == {}
    # a chunk of coordinates hashes the same as the whole range (counter-based)
    whole = hash_codes(0, "w", 0, 20_000, 256)[0]
    assert torch.equal(hash_codes(0, "w", 12_345, 15_000, 256)[0], whole[12_345:15_000])
    # pinned values: a change of the hash silently changes every cached LESS feature
    assert hash_codes(0, "w", 0, 6, 8192)[0].tolist() == PINNED_BUCKETS
    assert hash_codes(0, "w", 0, 6, 8192)[1].tolist() == PINNED_SIGNS


PINNED_BUCKETS = [5098, 4672, 566, 4025, 6828, 1953]
PINNED_SIGNS = [1.0, 1.0, -1.0, 1.0, 1.0, -1.0]


def test_projection_approximately_preserves_norms_and_inner_products() -> None:
    from selbench.representations.less.projection import CountSketch

    gen = torch.Generator().manual_seed(2)
    x = torch.randn(20, 50_000, generator=gen, dtype=torch.float64)
    y = 0.6 * x + 0.8 * torch.randn(20, 50_000, generator=gen, dtype=torch.float64)  # cosine ~0.6
    proj = CountSketch(4096, seed=0)
    sx, sy = proj.project("w", x), proj.project("w", y)
    ratio = (sx.norm(dim=1) / x.norm(dim=1)).numpy()
    assert np.abs(ratio - 1).max() < 0.1, ratio   # sd ~ 1/sqrt(2 * 4096) ~ 1.1%
    assert abs(ratio.mean() - 1) < 0.02
    cos = torch.nn.functional.cosine_similarity
    err = (cos(sx, sy, dim=1) - cos(x, y, dim=1)).abs().max()
    assert err < 0.05, err
    # the sketch is a projection, not an identity: far smaller than the input
    assert sx.shape == (20, 4096)


def test_adam_preconditioning_matches_hand_computation() -> None:
    from selbench.representations.less.adam import adam_precondition

    g = torch.tensor([[0.5, -2.0, 0.0]], dtype=torch.float64)
    m = torch.tensor([0.1, 0.2, -0.3], dtype=torch.float64)
    v = torch.tensor([0.04, 0.0, 1e-4], dtype=torch.float64)
    out = adam_precondition(g, m, v)
    hand = []
    for gi, mi, vi in zip([0.5, -2.0, 0.0], [0.1, 0.2, -0.3], [0.04, 0.0, 1e-4]):
        m2 = 0.9 * mi + 0.1 * gi            # m' = b1 m + (1 - b1) g
        v2 = 0.999 * vi + 0.001 * gi * gi   # v' = b2 v + (1 - b2) g^2
        hand.append(m2 / (v2 + 1e-8) ** 0.5)  # eps inside the root, no bias correction
    np.testing.assert_allclose(out.numpy()[0], hand, rtol=1e-12)
    # batch rows broadcast against the shared moments
    two = adam_precondition(torch.cat([g, 2 * g]), m, v)
    np.testing.assert_allclose(two[0].numpy(), hand, rtol=1e-12)
    assert not np.allclose(two[1].numpy(), hand)
