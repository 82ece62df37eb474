"""Reading a usual rerank body into (query, ids, candidate matrix): facev3's native one-pass readers
(rerank_wire.h) against the parses a tuned app would write, and against a plain copy of the body,
what touching its bytes once costs (the memory limit of any reader).

    .venv/bin/python -m pytest bench/bench_rerank_read.py --benchmark-columns=median,iqr,ops
"""

import numpy as np
import orjson
import ormsgpack
import pybase64
import pytest
import simdjson

from bench.load_scenarios import rerank_body
from facev3 import native

SIZES = {"200x1024": (200, 1024), "1000x1024": (1000, 1024)}


@pytest.fixture(params=list(SIZES), scope="module")
def bodies(request):
    n, dim = SIZES[request.param]
    return request.param, rerank_body(n, dim, True), rerank_body(n, dim, False, msgpack=True)


def tuned_base64(body: bytes):
    """The tuned app's parse (bench/baselines/tuned_app.py): orjson, a decode per row, one join."""
    payload = orjson.loads(body)
    query = np.frombuffer(pybase64.b64decode(payload["query_b64"], validate=True), "<f4")
    items = payload["candidates"]
    rows = b"".join(pybase64.b64decode(c["embedding_b64"], validate=True) for c in items)
    return query, [c["id"] for c in items], np.frombuffer(rows, "<f4").reshape(len(items), -1)


PARSER = simdjson.Parser()  # kept, as facev3 keeps one a thread: fresh buffers page-fault


def simdjson_base64(body: bytes):
    """simdjson (facev3's general JSON parse) and the same decodes."""
    payload = PARSER.parse(body).as_dict()
    query = np.frombuffer(pybase64.b64decode(payload["query_b64"], validate=True), "<f4")
    items = payload["candidates"]
    rows = b"".join(pybase64.b64decode(c["embedding_b64"], validate=True) for c in items)
    return query, [c["id"] for c in items], np.frombuffer(rows, "<f4").reshape(len(items), -1)


def ormsgpack_rows(body: bytes):
    payload = ormsgpack.unpackb(body)
    items = payload["candidates"]
    rows = b"".join(c["embedding"] for c in items)
    return (
        np.frombuffer(payload["query"], "<f4"),
        [c["id"] for c in items],
        np.frombuffer(rows, "<f4").reshape(len(items), -1),
    )


@pytest.mark.parametrize("wire", ["base64", "msgpack"])
def test_facev3_read(benchmark, bodies, wire):
    size, base64_body, msgpack_body = bodies
    benchmark.group = f"read {wire} {size}"
    read, body, reference = (
        (native.read_rerank_b64, base64_body, tuned_base64)
        if wire == "base64"
        else (native.read_rerank_msgpack, msgpack_body, ormsgpack_rows)
    )
    _, query, ids, matrix = benchmark(read, body, 10_000)
    expected = reference(body)
    assert ids == expected[1]
    np.testing.assert_array_equal(query, expected[0])
    np.testing.assert_array_equal(matrix, expected[2])


def test_baseline_orjson_pybase64(benchmark, bodies):
    size, body, _ = bodies
    benchmark.group = f"read base64 {size}"
    benchmark(tuned_base64, body)


def test_baseline_simdjson_pybase64(benchmark, bodies):
    size, body, _ = bodies
    benchmark.group = f"read base64 {size}"
    benchmark(simdjson_base64, body)


def test_baseline_ormsgpack_join(benchmark, bodies):
    size, _, body = bodies
    benchmark.group = f"read msgpack {size}"
    benchmark(ormsgpack_rows, body)


@pytest.mark.parametrize("wire", ["base64", "msgpack"])
def test_baseline_plain_copy(benchmark, bodies, wire):
    """A copy of the body into a fresh array: reading and writing its bytes once."""
    size, base64_body, msgpack_body = bodies
    benchmark.group = f"read {wire} {size}"
    body = np.frombuffer(base64_body if wire == "base64" else msgpack_body, np.uint8)
    benchmark(np.copy, body)
