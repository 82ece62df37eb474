"""Rerank request parsing: the bulk parses of the usual requests (simdjson's float lists, base64
rows a column at a time) agree with the per-candidate parse, and step aside for anything unusual
so that the per-candidate parse names the problem. The native base64 reader: test_rerank_wire.py."""

import base64

import numpy as np
import orjson
import pytest

from facev3.api import rerank_bulk
from facev3.api.errors import ApiError
from facev3.api.requests import candidates_in_bulk, candidates_one_by_one, parse_rerank_request
from facev3.api.rerank_bulk import read_json
from facev3.config import Settings

MAX = Settings().max_candidates


def b64(values) -> str:
    return base64.b64encode(np.asarray(values, "<f4").tobytes()).decode()


def candidates(dim: int, n: int = 5) -> list[dict]:
    rows = np.random.default_rng(dim).standard_normal((n, dim))
    return [{"id": i if i % 2 else f"milvus-{i}", "embedding_b64": b64(row)} for i, row in enumerate(rows)]


@pytest.mark.parametrize("dim", [1, 2, 3, 128, 1024])  # each padding: "==", "=", none
def test_the_bulk_parse_agrees_with_the_per_candidate_parse(dim):
    items = candidates(dim)
    bulk = candidates_in_bulk(items, dim)
    assert bulk is not None
    ids, matrix = candidates_one_by_one(items, dim)
    assert bulk[0] == ids == [f"milvus-{i}" if i % 2 == 0 else i for i in range(5)]
    np.testing.assert_array_equal(bulk[1], matrix)


def with_change(dim: int, index: int, change) -> list[dict]:
    items = candidates(dim)
    items[index] = change(dict(items[index]))
    return items


UNUSUAL = {
    "an extra field": (lambda c: {**c, "score": 0.3}, "unknown_field"),
    "float lists": (lambda c: {"id": c["id"], "embedding": [0.5] * 4}, None),
    "a boolean id": (lambda c: {**c, "id": True}, "invalid_value"),
    "a duplicate id": (lambda c: {**c, "id": 1}, "duplicate_id"),
    "a number for base64": (lambda c: {**c, "embedding_b64": 5}, "bad_base64"),
    "a character outside base64": (lambda c: {**c, "embedding_b64": "!" + c["embedding_b64"][1:]}, "bad_base64"),
    "a shorter row": (lambda c: {**c, "embedding_b64": b64([0.5] * 3)}, "dim_mismatch"),
    "not an object": (lambda c: [c["id"]], "invalid_value"),
}


@pytest.mark.parametrize("case", UNUSUAL)
def test_the_bulk_parse_steps_aside_and_the_error_names_the_candidate(case):
    change, code = UNUSUAL[case]
    items = with_change(4, 3, change)
    assert candidates_in_bulk(items, 4) is None
    body = orjson.dumps({"query_b64": b64([1, 0, 0, 0]), "candidates": items})
    if code is None:  # valid, only not the usual shape
        assert parse_rerank_request("application/json", body, Settings()).candidates.shape == (5, 4)
        return
    with pytest.raises(ApiError) as error:
        parse_rerank_request("application/json", body, Settings())
    assert error.value.code == code and "candidates[3]" in error.value.message


def test_rows_of_one_width_with_different_padding_are_not_misread():
    # dim 2: 8 bytes are 12 characters with one "="; a 9-byte and a 7-byte row have the same width.
    items = [
        {"id": 0, "embedding_b64": base64.b64encode(bytes(9)).decode()},
        {"id": 1, "embedding_b64": base64.b64encode(bytes(7)).decode()},
    ]
    assert len(items[0]["embedding_b64"]) == len(items[1]["embedding_b64"]) == len(b64([0, 0]))
    assert candidates_in_bulk(items, 2) is None
    with pytest.raises(ApiError) as error:
        candidates_one_by_one(items, 2)
    assert error.value.code == "bad_base64"  # 9 bytes are not whole float32 values


# ---- JSON float lists: simdjson's fast path agrees with the general parse, or steps aside ----------


def float_body(rows: np.ndarray, query: np.ndarray, **extra) -> dict:
    return {
        "query": query.tolist(),
        "candidates": [{"id": i, "embedding": r.tolist()} for i, r in enumerate(rows)],
        **extra,
    }


def test_the_float_list_fast_path_reads_what_the_general_parse_reads():
    rng = np.random.default_rng(7)
    rows, query = rng.standard_normal((30, 64)).astype(np.float32), rng.standard_normal(64).astype(np.float32)
    body = orjson.dumps(float_body(rows, query, top_k=5, method="qe"))
    float_lists, payload = read_json(body, MAX)
    assert payload is None
    others, fast_query, ids, matrix = float_lists
    np.testing.assert_array_equal(matrix, rows)
    np.testing.assert_array_equal(fast_query, query)
    assert ids == list(range(30)) and others == {"top_k": 5, "method": "qe"}
    parsed = parse_rerank_request("application/json", body, Settings())
    assert (parsed.top_k, parsed.method) == (5, "qe")


UNUSUAL_FLOATS = {
    "a boolean": (lambda b: b.replace(b"[1.0,", b"[true,", 1), "invalid_value"),
    "a string": (lambda b: b.replace(b"[1.0,", b'["1.0",', 1), "invalid_value"),
    "a null": (lambda b: b.replace(b"[1.0,", b"[null,", 1), "invalid_value"),
    "a nested list": (lambda b: b.replace(b"[1.0,", b"[[1.0],", 1), "invalid_value"),
    "a bracket inside a string id": (lambda b: b.replace(b'"id":0', b'"id":"[0]"', 1), None),
    "a duplicate id": (lambda b: b.replace(b'"id":1', b'"id":0', 1), "duplicate_id"),
    "an extra candidate field": (lambda b: b.replace(b'"id":1', b'"id":1,"x":2', 1), "unknown_field"),
    "a shorter row": (lambda b: b.replace(b"[1.0,", b"[", 1), "dim_mismatch"),
    "a base64 query as well": (lambda b: b.replace(b'"query"', b'"query_b64":"AACAPw==","query"', 1), "invalid_value"),
}


@pytest.mark.parametrize("case", UNUSUAL_FLOATS)
def test_the_float_list_fast_path_steps_aside_for_anything_unusual(case):
    change, code = UNUSUAL_FLOATS[case]
    rows = np.ones((3, 4), np.float32)
    body = change(orjson.dumps(float_body(rows, np.ones(4, np.float32))))
    if code is None:
        assert parse_rerank_request("application/json", body, Settings()).candidates.shape == (3, 4)
        return
    assert read_json(body, MAX)[0] is None
    with pytest.raises(ApiError) as error:
        parse_rerank_request("application/json", body, Settings())
    assert error.value.code == code


# ---- simdjson for every JSON rerank: what it reads is what orjson reads ------------------------------


def test_base64_rows_with_a_float_query_read_by_simdjson_are_what_orjson_reads():
    items = candidates(1024, 20)
    query = np.random.default_rng(0).standard_normal(1024).astype(np.float32)
    body = orjson.dumps({"query": query.tolist(), "candidates": items, "threshold": 0.4})
    usual, payload = read_json(body, MAX)
    assert usual is None and payload == orjson.loads(body)
    parsed = parse_rerank_request("application/json", body, Settings())
    ids, matrix = candidates_one_by_one(orjson.loads(body)["candidates"], 1024)
    assert parsed.ids == ids and parsed.threshold == 0.4
    np.testing.assert_array_equal(parsed.candidates, matrix)
    np.testing.assert_array_equal(parsed.query, query)


ONE_ROW = rb'"candidates":[{"id":0,"embedding":[1.0]}]'
SIMDJSON_AS_ORJSON = {
    "a repeated key (the last wins)": rb'{"top_k":1,"top_k":2,"query":[1.0],' + ONE_ROW + b"}",
    "escapes in strings": rb'{"query_b64":"AACAPw\u003d=","candidates":[{"id":"a\"b","embedding_b64":"AACAPw=="}]}',
    "float and base64 rows mixed": rb'{"query":[1],' + ONE_ROW[:-1] + rb',{"id":1,"embedding_b64":"AACAPw=="}]}',
}


@pytest.mark.parametrize("case", SIMDJSON_AS_ORJSON)
def test_unusual_but_valid_bodies_read_as_orjson_reads_them(case):
    body = SIMDJSON_AS_ORJSON[case]
    assert read_json(body, MAX) == (None, orjson.loads(body))
    parsed = parse_rerank_request("application/json", body, Settings())
    assert parsed.ids == [item["id"] for item in orjson.loads(body)["candidates"]]


REFUSED_BY_SIMDJSON = {
    "not JSON": b'{"query": [1.0',
    "a lone surrogate": rb'{"query":[1.0],"candidates":[{"id":"\ud800","embedding":[1.0]}]}',
    "bytes that are not UTF-8": b'{"query":[1.0],"candidates":[{"id":"\xff","embedding":[1.0]}]}',
    "an integer past 64 bits": rb'{"query":[1.0],"top_k":18446744073709551616,' + ONE_ROW + b"}",
    "not an object": b'[{"query":[1.0]}]',
}


@pytest.mark.parametrize("case", REFUSED_BY_SIMDJSON)
def test_what_simdjson_refuses_orjson_answers_for(case):
    """orjson reads or names what simdjson refuses: a big integer is a number to orjson, so the
    error comes from the field's own check."""
    body = REFUSED_BY_SIMDJSON[case]
    assert read_json(body, MAX) == (None, None)
    with pytest.raises(ApiError) as error:
        parse_rerank_request("application/json", body, Settings())
    assert error.value.status in (400, 422) and error.value.code in ("malformed_json", "invalid_value")


def test_what_one_parse_returned_survives_the_next_parse_on_the_same_thread():
    """The thread's simdjson parser is reused: nothing read from it may be a view of its buffers."""
    rows = np.arange(8, dtype=np.float32).reshape(4, 2)
    first = orjson.dumps(float_body(rows, np.ones(2, np.float32), method="qe"))
    others, query, ids, matrix = read_json(first, MAX)[0]
    read_json(orjson.dumps(float_body(rows + 100, np.zeros(2, np.float32), top_k=1)), MAX)
    assert others == {"method": "qe"} and ids == [0, 1, 2, 3]
    np.testing.assert_array_equal(query, np.ones(2))
    np.testing.assert_array_equal(matrix, rows)


def test_a_body_past_the_reused_size_gets_a_parser_of_its_own():
    """Base64 rows with a float query: neither usual request, so simdjson reads them."""
    read_json(orjson.dumps({"query": [1.0], "candidates": candidates(1)}), MAX)
    kept = rerank_bulk._threads.parser
    count = rerank_bulk.REUSED_PARSER_BYTES // 5000 + 1
    big = orjson.dumps({"query": np.ones(1024).tolist(), "candidates": candidates(1024, count)})
    assert len(big) > rerank_bulk.REUSED_PARSER_BYTES
    assert read_json(big, MAX) == (None, None)  # orjson reads it, after the parser's buffers are gone
    assert rerank_bulk._threads.parser is kept
    assert parse_rerank_request("application/json", big, Settings(max_candidates=count)).candidates.shape == (
        count,
        1024,
    )
