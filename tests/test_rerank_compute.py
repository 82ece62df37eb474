"""librerank_compute through facev3._native: cosine scores, calibration, threshold, top-k and
the two re-ranking methods, each against a straightforward numpy implementation."""

import numpy as np
import pytest

from facev3 import _native
from tests.support.embeddings import vectors_with_cosines
from tests.support.native import numpy_cosine

RNG_SEED = 20261124
CAL = {"calibration_threshold": 0.45, "calibration_scale": 12.0}


def numpy_calibrated(similarity: np.ndarray, threshold: float, scale: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-scale * (similarity.astype(np.float64) - threshold)))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(RNG_SEED)


# ---- cosine_scores -------------------------------------------------------------------------


@pytest.mark.parametrize("n,dim", [(1, 1), (7, 7), (200, 1024), (513, 512), (33, 17)])
def test_cosine_scores_match_numpy_normalize_and_matmul(rng, n, dim):
    query = rng.standard_normal(dim).astype(np.float32)
    candidates = (rng.standard_normal((n, dim)) * rng.uniform(0.1, 10, (n, 1))).astype(np.float32)
    got = _native.cosine_scores(query, candidates)
    assert got.shape == (n,) and got.dtype == np.float32
    np.testing.assert_allclose(got, numpy_cosine(query[None], candidates)[0], atol=2e-6)


def test_several_queries_give_a_query_by_candidate_matrix(rng):
    queries = rng.standard_normal((5, 64)).astype(np.float32)
    candidates = rng.standard_normal((40, 64)).astype(np.float32)
    got = _native.cosine_scores(queries, candidates)
    assert got.shape == (5, 40)
    np.testing.assert_allclose(got, numpy_cosine(queries, candidates), atol=2e-6)


def test_row_strided_slices_are_scored_in_place(rng):
    wide = rng.standard_normal((50, 96)).astype(np.float32)
    candidates = wide[::2, 16:80]  # every other row, a column window: no copy needed
    query = rng.standard_normal(64).astype(np.float32)
    np.testing.assert_allclose(
        _native.cosine_scores(query, candidates), numpy_cosine(query[None], candidates)[0], atol=2e-6
    )


def test_scores_stay_in_the_unit_interval_where_rounding_would_overshoot(rng):
    rows = rng.standard_normal((300, 1024)).astype(np.float32)
    self_scores = np.diagonal(_native.cosine_scores(rows, rows))
    opposite_scores = np.diagonal(_native.cosine_scores(rows, -rows))
    assert self_scores.max() <= 1.0 and self_scores.min() > 1.0 - 1e-6
    assert opposite_scores.min() >= -1.0 and opposite_scores.max() < -1.0 + 1e-6
    unclamped = np.einsum("ij,ij->i", rows, rows) / np.square(np.linalg.norm(rows, axis=1))
    assert (unclamped > 1.0).any(), "the data should contain rows whose float32 cosine exceeds 1"


@pytest.mark.parametrize(
    "candidates,code",
    [
        (np.zeros((0, 8), np.float32), "empty"),
        (np.ones((3, 9), np.float32), "dim_mismatch"),
        (np.array([[1, np.nan] + [0] * 6], np.float32), "non_finite"),
        (np.array([[np.inf] + [0] * 7], np.float32), "non_finite"),
        (np.zeros((2, 8), np.float32), "zero_vector"),
        (np.ones((3, 8), np.float16), "dtype"),
        (np.ones((3, 8), np.float64), "dtype"),
        (np.ones((3, 8, 1), np.float32), "shape"),
        (np.ones((8, 3), np.float32).T, "bad_layout"),
        (np.ones((3, 16), np.float32)[:, ::2], "bad_layout"),
    ],
)
def test_bad_candidates_raise_input_error_with_a_stable_code(candidates, code):
    with pytest.raises(_native.InputError) as err:
        _native.cosine_scores(np.ones(8, np.float32), candidates)
    assert err.value.code == code
    assert isinstance(err.value, ValueError)


def test_a_zero_query_is_rejected():
    with pytest.raises(_native.InputError, match="zero vector") as err:
        _native.cosine_scores(np.zeros(8, np.float32), np.ones((2, 8), np.float32))
    assert err.value.code == "zero_vector"


def test_wrong_dtype_message_says_how_to_fix_it():
    with pytest.raises(_native.InputError, match=r"float32 array, got float16; convert with np.asarray"):
        _native.cosine_scores(np.ones(8, np.float16), np.ones((2, 8), np.float32))


def test_out_of_the_wrong_shape_is_rejected():
    with pytest.raises(_native.InputError, match=r"out must have shape \(2,\)"):
        _native.cosine_scores(np.ones(8, np.float32), np.ones((2, 8), np.float32), out=np.empty(3, np.float32))


# ---- rerank: calibration, threshold, order -------------------------------------------------


def test_calibrated_score_is_one_half_at_the_operating_threshold():
    query, candidates = vectors_with_cosines([0.45, 0.9, 0.0])
    result = _native.rerank(query, candidates, **CAL)
    assert result.score[0] == pytest.approx(0.5, abs=1e-6)
    np.testing.assert_allclose(result.score, numpy_calibrated(result.cosine, 0.45, 12.0), atol=1e-6)


def test_match_is_decided_on_the_calibrated_score():
    cosines = [0.80, 0.46, 0.44, 0.10, 0.60, 0.30]
    query, candidates = vectors_with_cosines(cosines)
    at_operating_point = _native.rerank(query, candidates, **CAL)
    assert at_operating_point.match.tolist() == [True, True, False, False, True, False]
    stricter = _native.rerank(query, candidates, **CAL, match_threshold=0.9)
    expected = numpy_calibrated(np.array(cosines), 0.45, 12.0) >= 0.9
    assert stricter.match.tolist() == expected.tolist() == [True, False, False, False, False, False]
    assert _native.rerank(query, candidates, **CAL, match_threshold=0.0).match.all()


def test_order_is_best_first_and_top_k_is_clamped_to_n():
    cosines = [0.2, 0.9, -0.3, 0.5, 0.9]
    query, candidates = vectors_with_cosines(cosines)
    assert _native.rerank(query, candidates, **CAL).order.tolist() == [1, 4, 3, 0, 2]  # tie by index
    assert _native.rerank(query, candidates, **CAL, top_k=2).order.tolist() == [1, 4]
    assert _native.rerank(query, candidates, **CAL, top_k=50).order.tolist() == [1, 4, 3, 0, 2]
    assert _native.rerank(query, candidates, **CAL, top_k=0).order.tolist() == []


@pytest.mark.parametrize(
    "options",
    [
        {"method": "nope"},
        {"match_threshold": 1.5},
        {"k1": 0},
        {"k2": 0},
        {"lambda_value": -0.1},
        {"qe_k": 0},
        {"qe_alpha": float("nan")},
        {"top_k": -1},
    ],
)
def test_out_of_range_options_are_rejected(options):
    query, candidates = vectors_with_cosines([0.5, 0.1])
    with pytest.raises(_native.InputError) as err:
        _native.rerank(query, candidates, **CAL, **options)
    assert err.value.code == "bad_parameter"


def test_calibration_needs_a_positive_scale():
    query, candidates = vectors_with_cosines([0.5])
    with pytest.raises(_native.InputError):
        _native.rerank(query, candidates, calibration_threshold=0.4, calibration_scale=0.0)


def test_rerank_takes_one_query_only(rng):
    with pytest.raises(_native.InputError, match=r"query must have shape \(dim,\)"):
        _native.rerank(np.ones((2, 4), np.float32), np.ones((3, 4), np.float32), **CAL)


# ---- k-reciprocal re-ranking (Zhong et al. 2017) ---------------------------------------------


def numpy_kreciprocal(query, candidates, k1, k2, lam):
    """The formulas of rerank_compute.h, written out one by one in float64."""
    x = np.vstack([query, candidates]).astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    m = len(x)
    d = 2.0 - 2.0 * np.clip(x @ x.T, -1, 1)
    np.fill_diagonal(d, 0.0)
    k1, k2 = min(k1, m - 1), min(k2, m)
    rank = np.array([np.lexsort((np.arange(m), d[i])) for i in range(m)])

    def reciprocal(i, k):
        return [j for j in rank[i, : k + 1] if i in rank[j, : k + 1]]

    v = np.zeros((m, m))
    for i in range(m):
        r = set(reciprocal(i, k1))
        expanded = set(r)
        for j in r:
            rj = reciprocal(j, (k1 + 1) // 2)
            if 3 * len(r.intersection(rj)) >= 2 * len(rj):
                expanded.update(rj)
        members = sorted(expanded)
        weights = np.exp(-d[i, members])
        v[i, members] = weights / weights.sum()
    if k2 > 1:
        v = np.stack([v[rank[i, :k2]].mean(axis=0) for i in range(m)])
    jaccard = np.array([1.0 - np.minimum(v[0], v[g]).sum() / np.maximum(v[0], v[g]).sum() for g in range(1, m)])
    return 1.0 - ((1.0 - lam) * jaccard + lam * d[0, 1:]) / 2.0


def clustered_embeddings(rng, identities=6, per_identity=5, dim=32):
    centres = rng.standard_normal((identities, dim))
    members = centres.repeat(per_identity, axis=0) + 0.6 * rng.standard_normal((identities * per_identity, dim))
    query = centres[0] + 0.6 * rng.standard_normal(dim)
    return query.astype(np.float32), members.astype(np.float32)


@pytest.mark.parametrize("k1,k2,lam", [(20, 6, 0.3), (5, 3, 0.3), (4, 1, 0.5), (100, 50, 0.0)])
def test_kreciprocal_matches_the_papers_formulas_in_numpy(rng, k1, k2, lam):
    query, candidates = clustered_embeddings(rng)
    result = _native.rerank(query, candidates, **CAL, method="kreciprocal", k1=k1, k2=k2, lambda_value=lam)
    np.testing.assert_allclose(result.similarity, numpy_kreciprocal(query, candidates, k1, k2, lam), atol=2e-5)
    np.testing.assert_array_equal(result.order, np.lexsort((np.arange(len(candidates)), -result.similarity)))


def test_kreciprocal_with_lambda_one_is_the_cosine(rng):
    query, candidates = clustered_embeddings(rng)
    result = _native.rerank(query, candidates, **CAL, method="kreciprocal", lambda_value=1.0)
    np.testing.assert_allclose(result.similarity, result.cosine, atol=2e-6)


def test_kreciprocal_pulls_the_querys_identity_ahead_of_the_others(rng):
    query, candidates = clustered_embeddings(rng, identities=8, per_identity=6)
    result = _native.rerank(query, candidates, **CAL, method="kreciprocal", k1=6, k2=3)
    assert set(result.order[:6].tolist()) == set(range(6))  # identity 0 holds rows 0..5


# ---- alpha query expansion -----------------------------------------------------------------


def numpy_alpha_qe(query, candidates, k, alpha):
    q = query.astype(np.float64) / np.linalg.norm(query)
    c = candidates.astype(np.float64) / np.linalg.norm(candidates, axis=1, keepdims=True)
    cos = c @ q
    top = np.lexsort((np.arange(len(c)), -cos))[:k]
    expanded = q + sum(cos[i] ** alpha * c[i] for i in top if cos[i] > 0)
    return c @ (expanded / np.linalg.norm(expanded))


@pytest.mark.parametrize("k,alpha", [(1, 0.0), (3, 3.0), (5, 1.0), (100, 3.0)])
def test_alpha_query_expansion_matches_numpy(rng, k, alpha):
    query, candidates = clustered_embeddings(rng)
    result = _native.rerank(query, candidates, **CAL, method="qe", qe_k=k, qe_alpha=alpha)
    np.testing.assert_allclose(result.similarity, numpy_alpha_qe(query, candidates, k, alpha), atol=2e-6)
    np.testing.assert_allclose(result.score, numpy_calibrated(result.cosine, 0.45, 12.0), atol=1e-6)


@pytest.mark.parametrize("method", ["cosine", "kreciprocal", "qe"])
def test_whatever_the_method_score_and_match_are_the_calibrated_cosines_and_it_only_reorders(rng, method):
    query, candidates = clustered_embeddings(rng)
    result = _native.rerank(query, candidates, **CAL, method=method, match_threshold=0.6)
    np.testing.assert_allclose(result.score, numpy_calibrated(result.cosine, 0.45, 12.0), atol=1e-6)
    np.testing.assert_array_equal(result.match, result.score >= 0.6)
    np.testing.assert_array_equal(result.order, np.lexsort((np.arange(len(candidates)), -result.similarity)))


def test_query_expansion_ignores_neighbours_with_negative_cosine():
    query, candidates = vectors_with_cosines([-0.5, -0.2])
    result = _native.rerank(query, candidates, **CAL, method="qe", qe_k=2)
    np.testing.assert_allclose(result.similarity, result.cosine, atol=1e-6)
