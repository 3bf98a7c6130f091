"""Targeted selection rules (RR, DG, UOT, KNN-Uniform, KNN-KDE) on hand-made similarity matrices.

Every expected order below is worked out by hand in the comments; random inputs are only used
for properties (prefix nesting, marginals, backend agreement, a naive re-implementation).
"""

from __future__ import annotations

import numpy as np
import pytest

from selbench.rules import (
    FlatIPIndex, PoolNeighbours, RuleError, SimilarityInputError, doubly_greedy, knn_kde, knn_uniform, round_robin,
    unbalanced_ot,
)
from selbench.rules.knn_search import top_l
from selbench.rules.tsds import knn_kde_mass, knn_uniform_mass
from selbench.rules.uot import uot_mass, uot_plan


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def random_world(m: int = 4, n: int = 60, d: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(S float32, pool features) with S = cosine(query, pool)."""
    rng = np.random.default_rng(seed)
    pool = unit(rng.normal(size=(n, d))).astype(np.float32)
    query = unit(rng.normal(size=(m, d))).astype(np.float32)
    return query @ pool.T, pool


# S used by the RR / DG known answers:
#            pool: 0     1     2     3     4
S_SMALL = [[0.90, 0.80, 0.10, 0.70, 0.00],   # q0 prefers 0 > 1 > 3 > 2 > 4
           [0.85, 0.20, 0.60, 0.50, 0.00]]   # q1 prefers 0 > 2 > 3 > 1 > 4


def test_round_robin_known_answer() -> None:
    # q0 takes 0; q1's best (0) is taken -> 2; q0 takes 1; q1: 0, 2 taken -> 3;
    # q0: 0, 1, 3, 2 all taken -> 4.
    assert round_robin(S_SMALL, 5).tolist() == [0, 2, 1, 3, 4]
    assert round_robin(S_SMALL, 2).dtype == np.int64
    # one query: round-robin is plain top-k
    assert round_robin([[0.1, 0.5, 0.3]], 3).tolist() == [1, 2, 0]


def test_doubly_greedy_known_answer() -> None:
    # column maxima: [0.90, 0.80, 0.60, 0.70, 0.00] -> 0, 1, 3, 2, 4
    assert doubly_greedy(S_SMALL, 5).tolist() == [0, 1, 3, 2, 4]
    assert doubly_greedy(S_SMALL, 3).tolist() == [0, 1, 3]


def test_ties_go_to_the_lower_index() -> None:
    assert round_robin(np.zeros((2, 4)), 4).tolist() == [0, 1, 2, 3]
    # q0 ties pool 1 and 3 at 0.9 -> takes 1; q1 ties 3 and 0 at 0.5 -> takes 0; q0 takes 3
    assert round_robin([[0.1, 0.9, 0.0, 0.9], [0.5, 0.0, 0.2, 0.5]], 4).tolist() == [1, 0, 3, 2]
    assert doubly_greedy([[1.0, 1.0, 0.0, 1.0]], 4).tolist() == [0, 1, 3, 2]
    # many equal values at the cut of a partial sort (4 L < N path): lowest indices win
    row = np.zeros((1, 40))
    row[0, [33, 20]] = 1.0
    assert top_l(row, 5).tolist() == [[20, 33, 0, 1, 2]]
    assert doubly_greedy(row, 5).tolist() == [20, 33, 0, 1, 2]


def test_top_l_matches_a_full_lexsort_on_tie_heavy_inputs() -> None:
    rng = np.random.default_rng(3)
    S = rng.integers(0, 4, size=(6, 300)).astype(np.float32)  # ~75 copies of each value per row
    for L in (1, 5, 60, 74, 76, 300):
        expected = np.stack([np.lexsort((np.arange(300), -r))[:L] for r in S])
        assert np.array_equal(top_l(S, L), expected), L


def naive_round_robin(S: np.ndarray, k: int) -> list[int]:
    """The definition, O(k N): argmax over the unused columns of row i, i cycling."""
    used = np.zeros(S.shape[1], dtype=bool)
    out: list[int] = []
    while len(out) < k:
        i = len(out) % S.shape[0]
        j = int(np.argmax(np.where(used, -np.inf, S[i])))
        used[j] = True
        out.append(j)
    return out


def test_round_robin_matches_the_definition_with_many_ties() -> None:
    rng = np.random.default_rng(5)
    for m, n in [(3, 50), (7, 500), (1, 20)]:
        S = rng.integers(0, 5, size=(m, n)).astype(np.float64)
        for k in (1, n // 3, n):
            assert round_robin(S, k).tolist() == naive_round_robin(S, k), (m, n, k)


def test_budgets_are_prefix_nested() -> None:
    S, pool = random_world(m=4, n=80)
    neighbours = PoolNeighbours(pool, backend="numpy")
    rules = {
        "rr": round_robin, "dg": doubly_greedy, "uot": unbalanced_ot,
        "knn-unif": lambda s, k: knn_uniform(s, k, max_k=10),
        "knn-kde": lambda s, k: knn_kde(s, k, pool_neighbours=neighbours, max_k=10, kde_k=20, pool_cap=False),
    }
    for name, rule in rules.items():
        full = rule(S, 80)
        assert sorted(full.tolist()) == list(range(80)), name  # a permutation: every k <= N works
        for k in (1, 5, 17, 40):
            assert rule(S, k).tolist() == full[:k].tolist(), (name, k)


@pytest.mark.parametrize("rule", [round_robin, doubly_greedy, unbalanced_ot, knn_uniform,
                                  lambda s, k: knn_kde(s, k, pool_neighbours=lambda r, kk, among=None: None)])
def test_bad_inputs_raise_clear_value_errors(rule) -> None:
    good = [[0.1, 0.2, 0.3]]
    cases = [
        (good, 0, "between 1 and the pool size 3"),
        (good, 4, "between 1 and the pool size 3"),
        (good, 1.5, "integer"),
        (good, True, "integer"),
        ([0.1, 0.2], 1, "2-D"),
        (np.zeros((1, 2, 2)), 1, "2-D"),
        (np.zeros((0, 3)), 1, "at least one query"),
        ([[0.1, np.nan, 0.2]], 1, "NaN"),
        ([[0.1, np.inf, 0.2]], 1, "infinite"),
        ([["a", "b"]], 1, "real numbers"),
    ]
    for S, k, message in cases:
        with pytest.raises(ValueError, match=message):
            rule(S, k)
    with pytest.raises(RuleError):  # also a selbench rule error (one line in the CLI)
        rule(good, 0)
    assert issubclass(SimilarityInputError, ValueError) and issubclass(SimilarityInputError, RuleError)


# ------------------------------------------------------------------------------------------- UOT

# Query 0 has four near-duplicates (pool 0-3, S = .900 .. .897); query 1 has one match (pool 4, .6).
#             pool: 0      1      2      3      4     5
S_CROWD = np.array([[0.900, 0.899, 0.898, 0.897, 0.0, 0.0],
                    [0.000, 0.000, 0.000, 0.000, 0.6, 0.0]])


def test_uot_spreads_each_querys_mass_known_answer() -> None:
    # Each query ships exactly 1/2. Query 0's half is spread over its four near-duplicates
    # (~ softmax of S / 0.02: weights 1, e^-.05, e^-.1, e^-.15 -> ~.13, .13, .12, .12), query 1's
    # half lands on pool 4 (its other columns are e^-30 less likely), pool 5 gets ~nothing:
    # UOT order 4, 0, 1, 2, 3, 5. DG is greedy on the crowd: 0, 1, 2, 3, 4, 5.
    # RR: q0 -> 0, q1 -> 4, q0 -> 1, q1 -> 2 (all its other columns tie at 0), q0 -> 3, q1 -> 5.
    mass = uot_mass(S_CROWD)
    assert mass.sum() == pytest.approx(1.0)  # all of the queries' mass arrives somewhere
    assert mass[4] == pytest.approx(0.5, abs=0.02)
    assert mass[:4].sum() == pytest.approx(0.5, abs=0.02)
    assert mass[:4].max() < 0.15 and mass[5] < 1e-6
    assert unbalanced_ot(S_CROWD, 6).tolist() == [4, 0, 1, 2, 3, 5]
    assert doubly_greedy(S_CROWD, 6).tolist() == [0, 1, 2, 3, 4, 5]
    assert round_robin(S_CROWD, 6).tolist() == [0, 4, 1, 2, 3, 5]
    assert unbalanced_ot(S_CROWD, 6, method="sinkhorn_stabilized").tolist() == [4, 0, 1, 2, 3, 5]


def test_uot_query_marginal_is_hard_and_pool_marginal_relaxed() -> None:
    S, _ = random_world(m=5, n=300, seed=2)
    plan = uot_plan(S)
    assert plan.shape == (5, 300) and (plan >= 0).all()
    np.testing.assert_allclose(plan.sum(axis=1), np.full(5, 1 / 5), rtol=1e-6)  # a = 1/M, hard
    col = plan.sum(axis=0)
    assert np.abs(col * 300 - 1).max() > 0.5  # b = 1/N is far from met: the pool side is relaxed
    np.testing.assert_allclose(uot_mass(S), col)  # the score is the mass received, summed over queries
    # extreme costs (a row of S = -1, C = 1 everywhere) stay finite and keep the hard marginal
    S2 = S.astype(np.float64).copy()
    S2[0] = -1.0
    plan2 = uot_plan(S2)
    assert np.isfinite(plan2).all()
    np.testing.assert_allclose(plan2.sum(axis=1), np.full(5, 1 / 5), rtol=1e-6)
    with pytest.raises(ValueError, match="reg must be positive"):
        uot_plan(S, reg=0.0)


# ------------------------------------------------------------------------------------------ TSDS


def test_knn_uniform_known_answer_one_query() -> None:
    # d = 1 - S = [.1, .2, .9, .15, .8]; sorted: .10 (0), .15 (3), .20 (1), .80 (4), .90 (2).
    # gap(K) = K d_{K+1} - sum_{k<=K} d_k: K=1 .05, K=2 .15, K=3 1.95. With alpha=.5, c=1 the loop
    # continues while .5 gap < .5 M = .5, so it stops at K* = 3: pool 0, 3, 1 get 1/3 each
    # (ties -> index order 0, 1, 3), then the zero-mass rest by max similarity: 4 (.2), 2 (.1).
    S = [[0.9, 0.8, 0.1, 0.85, 0.2]]
    mass = knn_uniform_mass(S, alpha=0.5, c=1.0)
    assert mass.level == 3 and mass.neighbours.tolist() == [3]
    np.testing.assert_allclose(mass.probs, [1 / 3, 1 / 3, 0, 1 / 3, 0])
    assert knn_uniform(S, 5, alpha=0.5, c=1.0).tolist() == [0, 1, 3, 4, 2]
    # with the paper's alpha=.01, C=5 the budget (495 M) is never reached here: K* = L = N
    assert knn_uniform_mass(S).level == 5
    assert knn_uniform_mass(S, max_k=2).level == 2  # L = min(max_k, N) caps K*


def test_knn_uniform_known_answer_two_queries() -> None:
    # q0 as above; q1: d = [.9, .05, .7, .8, .1] -> sorted .05 (1), .1 (4), .7 (2), .8 (3), .9 (0):
    # gap_q1(K) = .05, 1.25, 1.55; summed with q0: K=1 .10, K=2 1.40, K=3 3.50. Continue while
    # .5 gap < .5 * 2 = 1, i.e. gap < 2 -> K* = 3. q0 -> {0, 3, 1}, q1 -> {1, 4, 2}; each 1/6:
    # pool 1 gets 2/6, the others 1/6 -> order 1, then 0, 2, 3, 4 (ties by index).
    S = [[0.9, 0.8, 0.1, 0.85, 0.2], [0.1, 0.95, 0.3, 0.2, 0.9]]
    mass = knn_uniform_mass(S, alpha=0.5, c=1.0)
    assert mass.level == 3
    np.testing.assert_allclose(mass.probs, [1 / 6, 2 / 6, 1 / 6, 1 / 6, 1 / 6])
    assert knn_uniform(S, 5, alpha=0.5, c=1.0).tolist() == [1, 0, 2, 3, 4]


def density_world() -> tuple[np.ndarray, np.ndarray]:
    """One query q = e1. Pool 0-4: five near-duplicates 57 deg from q on one side (cos .545,
    tilted by .01 t along e3 so that pool 0 is nearest); pool 5: one lone example 53 deg away on
    the other side (cos .602, nearer than the crowd; 110 deg from it); pool 6-11: orthogonal
    fillers (cos 0, distance 1)."""
    dim = 12
    q = np.eye(dim)[0]
    pool = np.zeros((12, dim))
    a, b = np.deg2rad(57), np.deg2rad(53)
    for t in range(5):
        pool[t, [0, 1, 2]] = [np.cos(a), -np.sin(a), 0.01 * t]
    pool[5, [0, 1]] = [np.cos(b), np.sin(b)]
    for f in range(6):
        pool[6 + f, 4 + f] = 1.0
    pool = unit(pool).astype(np.float32)
    return (q[None, :] @ pool.T.astype(np.float64)), pool


def test_knn_kde_down_weights_a_crowd_where_knn_uniform_does_not() -> None:
    # d: lone .398, crowd ~.455, fillers 1. With alpha=.5, c=1 (stop when gap >= 1):
    # Uniform: gap(K) = .057 for K = 1..5, then K=6: 6 - (.398 + 5 x .455) = 3.33 -> K* = 6;
    #   the lone example and the crowd get 1/6 each -> order 0, 1, 2, 3, 4, 5 (ties by index).
    # KDE: densities: lone 1 (only itself within the kernel), each crowd member ~5 (itself and 4
    #   near-duplicates; the fillers and the lone example are outside the kernel). The level s
    #   rises 1 -> 1.2 -> ... -> ~2 when the next neighbour is a filler (cost 2 - .85 >= 1), so
    #   lone gets 1/(1 x 2 x 1) = .5 and each crowd member 1/(2 x 5) = .1: lone first.
    S, pool = density_world()
    opts = dict(alpha=0.5, c=1.0, max_k=12)
    neighbours = PoolNeighbours(pool)
    uniform = knn_uniform_mass(S, **opts)
    kde = knn_kde_mass(S, pool_neighbours=neighbours, pool_cap=False, **opts)
    assert uniform.level == 6
    np.testing.assert_allclose(uniform.probs[:6], 1 / 6)
    assert kde.probs[5] == pytest.approx(0.5, abs=0.01)
    np.testing.assert_allclose(kde.probs[:5], 0.1, atol=0.01)
    assert kde.probs.sum() == pytest.approx(1.0) and kde.probs[6:].sum() == 0
    assert knn_uniform(S, 6, **opts).tolist() == [0, 1, 2, 3, 4, 5]
    assert knn_kde(S, 6, pool_neighbours=neighbours, pool_cap=False, **opts).tolist()[0] == 5
    # sigma = 0 switches the density off: KNN-KDE's water-filling is then exactly KNN-Uniform
    flat = knn_kde(S, 12, pool_neighbours=neighbours, pool_cap=False, sigma=0.0, **opts)
    assert flat.tolist() == knn_uniform(S, 12, **opts).tolist()


def test_knn_kde_equals_knn_uniform_without_density_on_random_data() -> None:
    S, pool = random_world(m=6, n=200, seed=7)
    for alpha, c in [(0.3, 1.0), (0.6, 0.5)]:
        uniform = knn_uniform_mass(S, alpha=alpha, c=c, max_k=50)
        flat = knn_kde_mass(S, pool_neighbours=PoolNeighbours(pool), sigma=0.0, alpha=alpha, c=c, max_k=50,
                            pool_cap=False)
        assert 1 < uniform.level < 49  # the budget breaks inside the prefetched neighbourhood
        assert flat.level == uniform.level
        np.testing.assert_allclose(flat.probs, uniform.probs, atol=1e-12)


def test_knn_kde_without_a_budget_break_stops_one_short_of_the_prefetch() -> None:
    # The paper's alpha=.01, C=5 budget (495 M) is never reached on 5 examples, so the heap walk
    # runs out: TSDS only pushes neighbour kk + 1 while kk < max_k - 2, so with sigma = 0 and
    # L = max_k = 5 the 4 nearest (pool 4, 1, 3, 0) get 1/4 each and the farthest (2) nothing,
    # where KNN-Uniform's K* = L gives all 5 a fifth.
    S = [[0.5, 0.8, 0.1, 0.7, 0.9]]
    kde = knn_kde_mass(S, pool_neighbours=PoolNeighbours(np.eye(5)), sigma=0.0, pool_cap=False)
    assert kde.neighbours.tolist() == [4] and kde.level == 4
    np.testing.assert_allclose(kde.probs, [0.25, 0.25, 0, 0.25, 0.25])
    np.testing.assert_allclose(knn_uniform_mass(S).probs, 0.2)
    order = knn_kde(S, 5, pool_neighbours=PoolNeighbours(np.eye(5)), sigma=0.0, pool_cap=False)
    assert order.tolist() == [0, 1, 3, 4, 2]  # four ties by index, then the zero-mass one


def test_knn_caps_and_pool_neighbour_checks() -> None:
    S, pool = random_world(m=2, n=30)
    neighbours = PoolNeighbours(pool)
    # KNN-KDE caps max_k and kde_k at N // 10 = 3 by default; KNN-Uniform prefetches min(5000, N)
    assert knn_kde_mass(S, pool_neighbours=neighbours).prefetched == 3
    assert knn_kde_mass(S, pool_neighbours=neighbours, pool_cap=False).prefetched == 30
    assert knn_uniform_mass(S).prefetched == 30
    with pytest.raises(ValueError, match="pool_neighbours returned shape"):
        knn_kde(S, 3, pool_neighbours=lambda rows, k, among=None: np.ones((len(rows) + 1, k)))
    with pytest.raises(ValueError, match="unit-normalised"):
        knn_kde(S, 3, pool_neighbours=PoolNeighbours(0.5 * pool))  # self-similarity .25: no density
    with pytest.raises(ValueError, match="alpha"):
        knn_uniform(S, 3, alpha=1.5)
    with pytest.raises(ValueError, match="kde_scope"):
        knn_kde(S, 3, pool_neighbours=neighbours, kde_scope="everything")


# ------------------------------------------------------------------------------- neighbour search


def test_faiss_and_numpy_backends_agree() -> None:
    pytest.importorskip("faiss")
    rng = np.random.default_rng(11)
    pool = unit(rng.normal(size=(500, 16))).astype(np.float32)
    queries = unit(rng.normal(size=(40, 16))).astype(np.float32)
    fast = FlatIPIndex(pool, backend="faiss", batch_size=16)
    slow = FlatIPIndex(pool, backend="numpy", batch_size=7)
    assert (fast.backend, slow.backend) == ("faiss", "numpy")
    s1, i1 = fast.search(queries, 12)
    s2, i2 = slow.search(queries, 12)
    assert i1.shape == (40, 12) and i1.dtype == np.int64
    assert np.array_equal(i1, i2)
    np.testing.assert_allclose(s1, s2, atol=1e-5)
    brute = queries @ pool.T
    assert np.array_equal(i2, np.stack([np.lexsort((np.arange(500), -r))[:12] for r in brute]))
    # pool-pool neighbours within a subset: each row's nearest is itself, and only subset members
    subset = np.arange(0, 500, 5)
    for backend in ("faiss", "numpy"):
        sims, idx = PoolNeighbours(pool, backend=backend).neighbours(subset[:10], 4, among=subset)
        assert idx[:, 0].tolist() == subset[:10].tolist() and np.isin(idx, subset).all()
        np.testing.assert_allclose(sims[:, 0], 1.0, atol=1e-5)
    assert FlatIPIndex(pool[:3], backend="numpy").search(queries[:2], 10)[1].shape == (2, 3)  # k capped
