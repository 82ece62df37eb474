"""facev3._native.search (rerank_search): cosine top-k against numpy's normalize + matmul + sort,
and cosine_scores with many queries, which shares its kernel."""

import numpy as np
import pytest

from facev3 import _native
from tests.support.native import numpy_cosine, ticks_during

RNG_SEED = 20261213
ATOL = 2e-6  # float32 accumulation against numpy's float64


def numpy_top_k(queries: np.ndarray, candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best first, equal scores by lower index (a stable sort of the negated scores)."""
    cosine = numpy_cosine(queries, candidates)
    ids = np.argsort(-cosine, axis=1, kind="stable")[:, :k]
    return ids, np.take_along_axis(cosine, ids, axis=1)


def assert_is_the_top_k(ids, scores, queries, candidates, k):
    """The scores are numpy's k best and each id holds its score; near-ties may swap ids."""
    kept = min(k, len(candidates))
    cosine = numpy_cosine(queries, candidates)
    _, expected = numpy_top_k(queries, candidates, k)
    assert ids.shape == scores.shape == (len(queries), k)
    assert ids.dtype == np.int64 and scores.dtype == np.float32
    np.testing.assert_allclose(scores[:, :kept], expected, atol=ATOL)
    np.testing.assert_allclose(np.take_along_axis(cosine, ids[:, :kept], axis=1), scores[:, :kept], atol=ATOL)
    assert (np.diff(scores[:, :kept], axis=1) <= 0).all()
    assert all(len(set(row)) == kept for row in ids[:, :kept].tolist())


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(RNG_SEED)


def gaussian(rng, *shape) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize(
    "q,n,dim,k",
    [(1, 1, 1, 1), (1, 1000, 128, 10), (2, 257, 17, 5), (16, 2000, 512, 100), (40, 513, 1024, 7), (33, 100, 7, 100)],
)
def test_search_matches_numpy_normalize_matmul_and_sort(rng, q, n, dim, k):
    queries = gaussian(rng, q, dim)
    candidates = gaussian(rng, n, dim) * rng.uniform(0.1, 10, (n, 1)).astype(np.float32)
    ids, scores = _native.search(queries, candidates, k)
    assert_is_the_top_k(ids, scores, queries, candidates, k)


def test_well_separated_scores_give_numpys_ids_exactly(rng):
    queries, candidates = gaussian(rng, 20, 64), gaussian(rng, 3000, 64)
    ids, _ = _native.search(queries, candidates, 50)
    np.testing.assert_array_equal(ids, numpy_top_k(queries, candidates, 50)[0])


def test_one_query_gives_one_dimensional_results_equal_to_its_batch_row(rng):
    queries, candidates = gaussian(rng, 3, 32), gaussian(rng, 500, 32)
    ids, scores = _native.search(queries[1], candidates, 8)
    assert ids.shape == scores.shape == (8,)
    np.testing.assert_array_equal(ids, numpy_top_k(queries[1:2], candidates, 8)[0][0])
    batch_ids, batch_scores = _native.search(queries, candidates, 8)
    np.testing.assert_array_equal(ids, batch_ids[1])
    np.testing.assert_allclose(scores, batch_scores[1], atol=1e-6)


@pytest.mark.parametrize("q", [1, 37, 100])  # 100: threads split the queries, fewer the candidates
def test_the_number_of_threads_does_not_change_the_results(rng, q):
    queries, candidates = gaussian(rng, q, 48), gaussian(rng, 5000, 48)
    one = _native.search(queries, candidates, 20, threads=1)
    for threads in (None, 2, 3, 0):
        ids, scores = _native.search(queries, candidates, 20, threads=threads)
        np.testing.assert_array_equal(ids, one[0])
        np.testing.assert_array_equal(scores, one[1])


@pytest.mark.parametrize("threads", [1, 2])
def test_duplicate_candidates_rank_the_lower_index_first(rng, threads):
    distinct = gaussian(rng, 40, 24)
    candidates = distinct[rng.integers(0, 40, 3000)]  # every row many times over
    queries = gaussian(rng, 5, 24)
    ids, scores = _native.search(queries, candidates, 60, threads=threads)
    np.testing.assert_array_equal(ids, numpy_top_k(queries, candidates, 60)[0])
    tied = scores[:, 1:] == scores[:, :-1]
    assert tied.any() and (ids[:, 1:] > ids[:, :-1])[tied].all()


def test_k_larger_than_n_returns_every_candidate_then_minus_one_and_minus_infinity(rng):
    queries, candidates = gaussian(rng, 4, 16), gaussian(rng, 6, 16)
    ids, scores = _native.search(queries, candidates, 9)
    expected_ids, expected_scores = numpy_top_k(queries, candidates, 6)
    np.testing.assert_array_equal(ids[:, :6], expected_ids)
    np.testing.assert_allclose(scores[:, :6], expected_scores, atol=ATOL)
    assert (ids[:, 6:] == -1).all() and np.isneginf(scores[:, 6:]).all()


def test_k_equal_to_n_orders_every_candidate(rng):
    queries, candidates = gaussian(rng, 3, 16), gaussian(rng, 25, 16)
    ids, _ = _native.search(queries, candidates, 25)
    np.testing.assert_array_equal(ids, numpy_top_k(queries, candidates, 25)[0])


@pytest.mark.parametrize("k,threads", [(0, None), (-1, None), (5, -1)])
def test_k_below_one_and_negative_threads_are_refused(rng, k, threads):
    with pytest.raises(_native.InputError) as err:
        _native.search(gaussian(rng, 2, 8), gaussian(rng, 10, 8), k, threads=threads)
    assert err.value.code == "bad_parameter"


@pytest.mark.parametrize("q", [3, 70])  # 70: a few panels of queries, the threads split them
@pytest.mark.parametrize("where", ["query", "candidate"])
@pytest.mark.parametrize("value,code", [(0.0, "zero_vector"), (np.nan, "non_finite"), (np.inf, "non_finite")])
def test_zero_and_non_finite_rows_are_refused_with_their_code(rng, where, value, code, q):
    queries, candidates = gaussian(rng, q, 8), gaussian(rng, 3000, 8)
    row = queries[q - 2] if where == "query" else candidates[2500]  # the second thread's range
    if value == 0.0:
        row[:] = 0.0
    else:
        row[3] = value
    with pytest.raises(_native.InputError) as err:
        _native.search(queries, candidates, 5, threads=2)
    assert err.value.code == code


@pytest.mark.parametrize(
    "queries_shape,candidates_shape,code",
    [
        ((2, 8), (10, 9), "dim_mismatch"),
        ((2, 8), (0, 8), "empty"),
        ((0, 8), (10, 8), "empty"),
        ((2, 2, 8), (10, 8), "shape"),
    ],
)
def test_inconsistent_shapes_are_refused_with_their_code(rng, queries_shape, candidates_shape, code):
    with pytest.raises(_native.InputError) as err:
        _native.search(gaussian(rng, *queries_shape), gaussian(rng, *candidates_shape), 3)
    assert err.value.code == code


def test_wrong_dtype_is_refused_with_a_message_that_says_how_to_fix_it(rng):
    with pytest.raises(_native.InputError, match=r"float32 array, got float64; convert with np.asarray") as err:
        _native.search(gaussian(rng, 2, 8).astype(np.float64), gaussian(rng, 10, 8), 3)
    assert err.value.code == "dtype"


def test_row_strided_views_are_searched_in_place(rng):
    wide = gaussian(rng, 400, 96)
    candidates, queries = wide[::2, 16:80], wide[1:40:3, 8:72]  # row strides, no copies
    ids, scores = _native.search(queries, candidates, 12)
    assert_is_the_top_k(ids, scores, queries, candidates, 12)


def test_out_buffers_are_written_in_place(rng):
    queries, candidates = gaussian(rng, 3, 16), gaussian(rng, 100, 16)
    out_ids, out_scores = np.empty((3, 5), np.int64), np.empty((3, 5), np.float32)
    ids, scores = _native.search(queries, candidates, 5, out_ids=out_ids, out_scores=out_scores)
    assert np.shares_memory(ids, out_ids) and np.shares_memory(scores, out_scores)
    np.testing.assert_array_equal(out_ids, numpy_top_k(queries, candidates, 5)[0])


@pytest.mark.parametrize(
    "out_ids,out_scores,message",
    [
        (np.empty((3, 4), np.int64), None, r"out_ids must have shape \(3, 5\), got \(3, 4\)"),
        (None, np.empty(5, np.float32), r"out_scores must have shape \(3, 5\), got \(5,\)"),
        (np.empty((3, 5), np.int32), None, r"out_ids must be a int64 array, got int32"),
        (None, np.empty((5, 3), np.float32).T, r"out_scores must be C-contiguous"),
    ],
)
def test_out_buffers_of_the_wrong_shape_dtype_or_layout_are_refused(rng, out_ids, out_scores, message):
    with pytest.raises(_native.InputError, match=message):
        _native.search(gaussian(rng, 3, 16), gaussian(rng, 100, 16), 5, out_ids=out_ids, out_scores=out_scores)


def test_the_gil_is_released_during_search(rng):
    queries, candidates = gaussian(rng, 256, 512), gaussian(rng, 20_000, 512)  # ~2.6 G multiply-adds
    assert ticks_during(lambda: _native.search(queries, candidates, 100)) >= 20


@pytest.mark.parametrize("q,n,dim", [(2, 50, 3), (13, 700, 128), (40, 513, 1024), (100, 1000, 17)])
def test_cosine_scores_with_many_queries_still_match_numpy(rng, q, n, dim):
    queries, candidates = gaussian(rng, q, dim), gaussian(rng, n, dim)
    np.testing.assert_allclose(_native.cosine_scores(queries, candidates), numpy_cosine(queries, candidates), atol=ATOL)
