"""libmerge_embeddings through facev3._native: weighted means of unit vectors and concatenation."""

import numpy as np
import pytest

from facev3 import _native


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(5)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_mean_of_normalized_rows_matches_numpy(rng):
    rows = (rng.standard_normal((4, 128)) * [[1], [5], [0.2], [9]]).astype(np.float32)
    np.testing.assert_allclose(_native.merge_embeddings(rows, renormalize=False), unit(rows).mean(0), atol=1e-6)
    np.testing.assert_allclose(_native.merge_embeddings(rows), unit(unit(rows).mean(0)), atol=1e-6)


def test_weights_scale_each_photo_of_a_template(rng):
    rows = rng.standard_normal((3, 64)).astype(np.float32)
    weights = np.array([0.5, 2.0, 0.0], np.float32)
    expected = unit((unit(rows) * weights[:, None]).sum(0) / weights.sum())
    np.testing.assert_allclose(_native.merge_embeddings(rows, weights), expected, atol=1e-6)


def test_groups_merge_separately_like_image_and_mirror(rng):
    pairs = rng.standard_normal((10, 2, 32)).astype(np.float32)
    merged = _native.merge_embeddings(pairs)
    assert merged.shape == (10, 32)
    np.testing.assert_allclose(merged, unit(unit(pairs).mean(1)), atol=1e-6)


def test_merging_into_out_writes_in_place(rng):
    rows = rng.standard_normal((3, 16)).astype(np.float32)
    out = np.empty(16, np.float32)
    assert _native.merge_embeddings(rows, out=out) is out
    np.testing.assert_allclose(out, unit(unit(rows).mean(0)), atol=1e-6)


@pytest.mark.parametrize(
    "rows,weights,code",
    [
        (np.zeros((2, 4), np.float32), None, "zero_vector"),
        (np.array([[1, 0], [-1, 0]], np.float32), None, "zero_vector"),
        (np.array([[1, np.nan]], np.float32), None, "non_finite"),
        (np.ones((2, 4), np.float32), np.array([1, -1], np.float32), "bad_weights"),
        (np.ones((2, 4), np.float32), np.array([0, 0], np.float32), "bad_weights"),
        (np.ones((2, 4), np.float32), np.array([1, 1, 1], np.float32), "shape"),
        (np.ones((0, 4), np.float32), None, "empty"),
        (np.ones((2, 4), np.float64), None, "dtype"),
    ],
)
def test_bad_merges_raise_input_error(rows, weights, code):
    with pytest.raises(_native.InputError) as err:
        _native.merge_embeddings(rows, weights)
    assert err.value.code == code


def test_concatenation_joins_parts_and_can_renormalize(rng):
    a = rng.standard_normal((5, 3)).astype(np.float32)
    b = rng.standard_normal((5, 7)).astype(np.float32)
    np.testing.assert_array_equal(_native.concat_embeddings([a, b]), np.hstack([a, b]))
    np.testing.assert_allclose(_native.concat_embeddings([a, b], renormalize=True), unit(np.hstack([a, b])), atol=1e-6)


def test_concatenation_needs_equal_row_counts():
    with pytest.raises(_native.InputError, match="same number of rows"):
        _native.concat_embeddings([np.ones((2, 3), np.float32), np.ones((3, 3), np.float32)])
