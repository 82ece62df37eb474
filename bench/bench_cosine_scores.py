"""Fused cosine scoring vs numpy (normalize + matmul), and vs a plain read of the same bytes."""

import numpy as np
import pytest

from facev3 import _native

SEED = 3
SIZES = {"200x1024": (200, 1024), "10000x512": (10_000, 512)}


def numpy_cosine(query: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    q = query / np.linalg.norm(query)
    c = candidates / np.linalg.norm(candidates, axis=1, keepdims=True)
    return c @ q


@pytest.fixture(params=list(SIZES), scope="module")
def arrays(request):
    rng = np.random.default_rng(SEED)
    n, dim = SIZES[request.param]
    return request.param, rng.standard_normal(dim).astype(np.float32), rng.standard_normal((n, dim)).astype(np.float32)


def test_facev3_cosine_scores(benchmark, arrays):
    size, query, candidates = arrays
    benchmark.group = f"cosine {size}"
    out = np.empty(len(candidates), np.float32)
    result = benchmark(_native.cosine_scores, query, candidates, out=out)
    np.testing.assert_allclose(result, numpy_cosine(query, candidates), atol=1e-5)


def test_baseline_numpy_normalize_matmul(benchmark, arrays):
    size, query, candidates = arrays
    benchmark.group = f"cosine {size}"
    benchmark(numpy_cosine, query, candidates)


def test_baseline_plain_read(benchmark, arrays):
    """numpy's SIMD max over the candidate bytes: what just reading the memory costs."""
    size, _, candidates = arrays
    benchmark.group = f"cosine {size}"
    benchmark(np.max, candidates)
