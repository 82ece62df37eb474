"""The native reader of usual base64 rerank bodies (cpp/include/facev3/rerank_wire.h) reads exactly
what the general parse (orjson, strict base64, the per-candidate checks) reads, and steps aside
for everything else, so the general parse answers or names the problem."""

import base64
import random
from unittest import mock

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facev3 import native
from facev3.api import rerank_bulk
from facev3.api.errors import ApiError
from facev3.api.requests import candidates_one_by_one, parse_rerank_request
from facev3.config import Settings

MAX = Settings().max_candidates
SPACES = ["", "", " ", "\n", "\t", "\r\n  "]


def b64(values) -> str:
    return base64.b64encode(np.asarray(values, "<f4").tobytes()).decode()


def dump(members: list[tuple[str, object]], rng: random.Random) -> bytes:
    """A JSON object written by hand, JSON whitespace between its tokens (orjson writes none)."""

    def space() -> str:
        return rng.choice(SPACES)

    def value(v) -> str:
        if isinstance(v, list) and v and all(isinstance(item, dict) for item in v):
            return "[" + space() + ("," + space()).join(obj(list(item.items())) for item in v) + space() + "]"
        return orjson.dumps(v).decode()

    def obj(items) -> str:
        parts = [space() + orjson.dumps(k).decode() + space() + ":" + space() + value(v) + space() for k, v in items]
        return "{" + ",".join(parts) + "}" if parts else "{" + space() + "}"

    return (space() + obj(members) + space()).encode()


def read_by_native(body: bytes):
    """What read_json reads with the native reader, or None where it stepped aside."""
    return rerank_bulk._usual_base64(body, MAX)


def read_by_general(body: bytes):
    """The same fields as the general parse reads them (the reference)."""
    payload = orjson.loads(body)
    query = np.frombuffer(base64.b64decode(payload["query_b64"], validate=True), "<f4")
    ids, matrix = candidates_one_by_one(payload["candidates"], len(query))
    others = {k: v for k, v in payload.items() if k not in ("query_b64", "candidates")}
    return others, query, ids, matrix


def assert_same(native_read, general_read):
    (others, query, ids, matrix), (g_others, g_query, g_ids, g_matrix) = native_read, general_read
    assert others == g_others and ids == g_ids
    assert [type(i) for i in ids] == [type(i) for i in g_ids]
    assert query.dtype == matrix.dtype == np.float32 and matrix.shape == g_matrix.shape
    assert query.tobytes() == g_query.tobytes() and matrix.tobytes() == g_matrix.tobytes()  # NaN payloads too


ids = st.one_of(
    st.integers(-(10**18) + 1, 10**18 - 1),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='"\\'), max_size=12),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
other_keys = st.text(st.characters(exclude_categories=["Cc", "Cs"], exclude_characters='"\\'), max_size=10).filter(
    lambda k: k not in ("query", "query_b64", "candidates")
)  # keys JSON writes without escapes


@st.composite
def usual_bodies(draw) -> bytes:
    dim = draw(st.sampled_from([1, 2, 3, 4, 5, 7, 64, 129]))
    n = draw(st.integers(1, 12))
    rows = draw(st.binary(min_size=4 * dim * (n + 1), max_size=4 * dim * (n + 1)))  # any bits: NaN, inf too
    vectors = [base64.b64encode(rows[4 * dim * i : 4 * dim * (i + 1)]).decode() for i in range(n + 1)]
    identifiers = draw(st.lists(ids, min_size=n, max_size=n, unique=True))
    items = [
        {"id": i, "embedding_b64": v} if draw(st.booleans()) else {"embedding_b64": v, "id": i}
        for i, v in zip(identifiers, vectors[1:], strict=True)
    ]
    others = draw(st.dictionaries(other_keys, json_values, max_size=4))
    members = [("query_b64", vectors[0]), ("candidates", items), *others.items()]
    rng = draw(st.randoms(use_true_random=False))
    rng.shuffle(members)
    return dump(members, rng)


@settings(max_examples=300, deadline=None)
@given(usual_bodies())
def test_the_native_reader_reads_what_the_general_parse_reads(body):
    read = read_by_native(body)
    assert read is not None, body[:200]
    assert_same(read, read_by_general(body))


MUTATIONS = st.sampled_from(["replace", "delete", "insert", "repeat"])
BYTES = st.sampled_from(list(b'"\\{}[],: \n=+/0Aa-.e\x00\x7f\xc3\xff'))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(usual_bodies(), st.lists(st.tuples(MUTATIONS, st.integers(0, 10**6), BYTES), min_size=1, max_size=3))
def test_a_changed_body_is_read_as_the_general_parse_reads_it_or_left_to_it(body, changes):
    """Whatever the native reader accepts, the general parse accepts and reads the same way."""
    data = bytearray(body)
    for kind, at, byte in changes:
        at %= len(data) + 1
        if kind == "replace" and at < len(data):
            data[at] = byte
        elif kind == "delete":
            del data[at : at + 1]
        elif kind == "insert":
            data[at:at] = bytes([byte])
        else:
            data[at:at] = data[at : at + 5]
    read = read_by_native(bytes(data))
    if read is not None:
        assert_same(read, read_by_general(bytes(data)))


def body_with(**change) -> bytes:
    members = {"query_b64": b64([1, 2, 3, 4]), "candidates": [{"id": 7, "embedding_b64": b64([4, 3, 2, 1])}]}
    return orjson.dumps({**members, **change})


ONE = {"id": 7, "embedding_b64": b64([4, 3, 2, 1])}
NOT_USUAL = {
    "float lists": body_with(query_b64=None).replace(b'"query_b64":null', b'"query":[1,2,3,4]'),
    "a float query as well": body_with(query=[1, 2, 3, 4]),
    "an escaped key": body_with().replace(b'"query_b64"', b'"query\\u005fb64"'),
    "an escaped other key": body_with(top_k=1).replace(b'"top_k"', b'"top\\u005fk"'),
    "a repeated query": body_with().replace(b"{", b'{"query_b64":"AACAPw==",', 1),
    "a repeated candidate key": body_with(candidates=[{**ONE}]).replace(b'"id":7', b'"id":7,"id":8'),
    "an extra candidate member": body_with(candidates=[{**ONE, "score": 1}]),
    "a missing id": body_with(candidates=[{"embedding_b64": ONE["embedding_b64"]}]),
    "float rows": body_with(candidates=[{"id": 7, "embedding": [1, 2, 3, 4]}]),
    "a non-ASCII id": body_with(candidates=[{**ONE, "id": "é"}]),
    "an escaped id": body_with(candidates=[{**ONE, "id": 'a"b'}]),
    "a float id": body_with(candidates=[{**ONE, "id": 7.0}]),
    "an exponent id": body_with().replace(b'"id":7', b'"id":7e0'),
    "a leading zero": body_with().replace(b'"id":7', b'"id":07'),
    "a 19-digit id": body_with(candidates=[{**ONE, "id": 10**18}]),
    "a boolean id": body_with(candidates=[{**ONE, "id": True}]),
    "no candidates": body_with(candidates=[]),
    "candidates not a list": body_with(candidates={"id": 7}),
    "no query": orjson.dumps({"candidates": [ONE]}),
    "an empty query": body_with(query_b64=""),
    "a query of 3 bytes": body_with(query_b64=base64.b64encode(b"abc").decode()),
    "rows of two widths": body_with(candidates=[ONE, {"id": 8, "embedding_b64": b64([1, 2, 3])}]),
    "a query of another width": body_with(query_b64=b64([1, 2, 3])),
    "a padding too many": body_with(query_b64=b64([1, 2, 3, 4])[:-1] + "=="),
    "padding inside": body_with(query_b64="AA==" + b64([1, 2, 3, 4])[4:]),
    "no padding": body_with(query_b64=b64([1, 2, 3, 4]).rstrip("=")),
    "a space in base64": body_with(query_b64=b64([1, 2, 3, 4])[:8] + " " + b64([1, 2, 3, 4])[8:]),
    "URL-safe base64": body_with(query_b64=b64([1, 2, 3, 4]).replace("A", "-")),
    "base64 as a number": body_with(query_b64=5),
    "text after the object": body_with() + b" x",
    "a second object": body_with() + body_with(),
    "an array": b"[" + body_with() + b"]",
    "an unclosed object": body_with()[:-1],
    "a trailing comma": body_with()[:-1] + b",}",
    "an empty body": b"",
}


@pytest.mark.parametrize("case", NOT_USUAL)
def test_anything_unusual_is_left_to_the_general_parse(case):
    assert native.read_rerank_b64(NOT_USUAL[case], MAX) is None


def test_more_candidates_than_allowed_are_left_to_the_general_parse_which_refuses_them():
    rows = [{"id": i, "embedding_b64": b64([i + 1, 1])} for i in range(4)]
    body = orjson.dumps({"query_b64": b64([1, 1]), "candidates": rows})
    assert native.read_rerank_b64(body, 4)[3].shape == (4, 2)
    assert native.read_rerank_b64(body, 3) is None
    with pytest.raises(ApiError) as error:
        parse_rerank_request("application/json", body, Settings(max_candidates=3))
    assert error.value.code == "too_many_candidates"


def test_past_sixteen_other_members_the_general_parse_reads_the_body():
    body = body_with(**{f"x{i}": i for i in range(16)})
    assert native.read_rerank_b64(body, MAX) is not None
    body = body_with(**{f"x{i}": i for i in range(17)})
    assert native.read_rerank_b64(body, MAX) is None


def test_other_members_come_back_as_they_stand_for_orjson_to_check():
    body = body_with(top_k=3, model="sface@1").replace(b'"top_k":3', b'"top_k" :\t3 ')
    assert native.read_rerank_b64(body, MAX)[0] == b'{"top_k" :\t3,"model":"sface@1"}'
    broken = body_with(top_k=3).replace(b'"top_k":3', b'"top_k":[1 2]')
    assert native.read_rerank_b64(broken, MAX) is not None and read_by_native(broken) is None  # orjson refuses


def general_only():
    return mock.patch.object(rerank_bulk.native, "read_rerank_b64", return_value=None)


REQUESTS = {
    "options": body_with(top_k=1, threshold=0.4, method="qe", debug=True),
    "an unknown option": body_with(colour="red"),
    "an option of the wrong type": body_with(top_k="one"),
    "a duplicate id": body_with(candidates=[ONE, ONE]),
    "a NaN": body_with(query_b64=b64([1, float("nan"), 3, 4])),
}


@pytest.mark.parametrize("case", REQUESTS)
def test_a_request_read_natively_is_answered_as_the_general_parse_answers_it(case):
    def outcome():
        try:
            return parse_rerank_request("application/json", REQUESTS[case], Settings())
        except ApiError as error:
            return error.status, error.code, error.message

    with general_only():
        expected = outcome()
    got = outcome()
    if isinstance(expected, tuple):
        assert got == expected
    else:
        assert (got.ids, got.top_k, got.threshold, got.method, got.debug) == (
            expected.ids,
            expected.top_k,
            expected.threshold,
            expected.method,
            expected.debug,
        )
        assert got.query.tobytes() == expected.query.tobytes()
        assert got.candidates.tobytes() == expected.candidates.tobytes()


def test_the_matrix_is_a_float32_view_of_one_buffer_the_query_its_own_copy():
    others, query, ids, matrix = native.read_rerank_b64(body_with(), MAX)
    assert matrix.flags.c_contiguous and matrix.base is not None and query.base is None
    assert (others, ids, query.tolist(), matrix.tolist()) == (b"{}", [7], [1, 2, 3, 4], [[4, 3, 2, 1]])
