"""The native readers of usual rerank bodies (cpp/include/facev3/rerank_wire.h), JSON with base64
vectors and MessagePack with binary ones, read exactly what the general parse (orjson or
ormsgpack, strict base64, the per-candidate checks) reads, and step aside for everything else, so
the general parse answers or names the problem."""

import base64
import random
from unittest import mock

import numpy as np
import orjson
import ormsgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facev3 import native
from facev3.api import rerank_bulk
from facev3.api.errors import ApiError
from facev3.api.requests import candidates_one_by_one, parse_rerank_request
from facev3.config import Settings

MAX = Settings().max_candidates
JSON, MSGPACK = "application/json", "application/msgpack"
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


def read_by_native(body: bytes, content_type: str = JSON):
    """What the request parse reads with the native reader, or None where it stepped aside."""
    return rerank_bulk.read_body(content_type, body, MAX)[0]


def read_by_general(body: bytes, content_type: str = JSON):
    """The same fields as the general parse reads them (the reference)."""
    if content_type == JSON:
        payload = orjson.loads(body)
        query = np.frombuffer(base64.b64decode(payload.pop("query_b64"), validate=True), "<f4")
    else:
        payload = ormsgpack.unpackb(body)
        query = np.frombuffer(payload.pop("query"), "<f4")
    ids, matrix = candidates_one_by_one(payload.pop("candidates"), len(query))
    return payload, query, ids, matrix


def assert_same(native_read, general_read):
    (others, query, ids, matrix), (g_others, g_query, g_ids, g_matrix) = native_read, general_read
    assert others == g_others and ids == g_ids
    assert [type(i) for i in ids] == [type(i) for i in g_ids]
    assert query.dtype == matrix.dtype == np.float32 and matrix.shape == g_matrix.shape
    assert query.tobytes() == g_query.tobytes() and matrix.tobytes() == g_matrix.tobytes()  # NaN payloads too


ids = st.one_of(
    st.integers(-(10**18) + 1, 10**18 - 1),
    st.text(st.characters(min_codepoint=0x20, exclude_categories=["Cs"], exclude_characters='"\\'), max_size=12),
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


msgpack_ids = st.one_of(
    st.integers(-(2**63), 2**63 - 1), st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
)
msgpack_keys = st.text(st.characters(exclude_categories=["Cs"]), max_size=10).filter(
    lambda k: k not in ("query", "query_b64", "candidates")
)


@st.composite
def usual_msgpack_bodies(draw) -> bytes:
    """ormsgpack writes each integer and length in its smallest form: test_every_integer_form covers the rest."""
    dim = draw(st.sampled_from([1, 2, 3, 64, 129]))
    n = draw(st.integers(1, 12))
    rows = [draw(st.binary(min_size=4 * dim, max_size=4 * dim)) for _ in range(n + 1)]
    identifiers = draw(st.lists(msgpack_ids, min_size=n, max_size=n, unique=True))
    items = [
        {"id": i, "embedding": v} if draw(st.booleans()) else {"embedding": v, "id": i}
        for i, v in zip(identifiers, rows[1:], strict=True)
    ]
    others = draw(st.dictionaries(msgpack_keys, json_values | st.binary(max_size=6), max_size=4))
    members = [("query", rows[0]), ("candidates", items), *others.items()]
    draw(st.randoms(use_true_random=False)).shuffle(members)
    return ormsgpack.packb(dict(members))


@settings(max_examples=300, deadline=None)
@given(usual_bodies())
def test_the_native_reader_reads_what_the_general_parse_reads(body):
    read = read_by_native(body)
    assert read is not None, body[:200]
    assert_same(read, read_by_general(body))


@settings(max_examples=300, deadline=None)
@given(usual_msgpack_bodies())
def test_the_msgpack_reader_reads_what_the_general_parse_reads(body):
    read = read_by_native(body, MSGPACK)
    assert read is not None, body[:200]
    assert_same(read, read_by_general(body, MSGPACK))


MUTATIONS = st.sampled_from(["replace", "delete", "insert", "repeat"])
BYTES = st.sampled_from(list(b'"\\{}[],: \n=+/0Aa-.e\x00\x7f\xc3\xff'))


def changed(body: bytes, changes) -> bytes:
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
    return bytes(data)


CHANGES = st.lists(st.tuples(MUTATIONS, st.integers(0, 10**6), BYTES), min_size=1, max_size=3)
SLOW = [HealthCheck.too_slow]


@settings(max_examples=1500, deadline=None, suppress_health_check=SLOW)
@given(usual_bodies(), CHANGES)
def test_a_changed_body_is_read_as_the_general_parse_reads_it_or_left_to_it(body, changes):
    """Whatever the native reader accepts, the general parse accepts and reads the same way."""
    body = changed(body, changes)
    read = read_by_native(body)
    if read is not None:
        assert_same(read, read_by_general(body))


@settings(max_examples=1500, deadline=None, suppress_health_check=SLOW)
@given(usual_msgpack_bodies(), st.lists(st.tuples(MUTATIONS, st.integers(0, 10**6), st.integers(0, 255)), max_size=3))
def test_a_changed_msgpack_body_is_read_as_the_general_parse_reads_it_or_left_to_it(body, changes):
    body = changed(body, changes)
    read = read_by_native(body, MSGPACK)
    if read is not None:
        assert_same(read, read_by_general(body, MSGPACK))


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
    "an id not UTF-8": body_with(candidates=[{**ONE, "id": "é"}]).replace("é".encode(), b"\xe9"),
    "an encoded surrogate in an id": body_with(candidates=[{**ONE, "id": "é"}]).replace("é".encode(), b"\xed\xa0\x80"),
    "a control character in an id": body_with(candidates=[{**ONE, "id": "a"}]).replace(b'"a"', b'"a\x01"'),
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


def packed(**change) -> bytes:
    members = {"query": VECTOR, "candidates": [{"id": 7, "embedding": VECTOR}]}
    return ormsgpack.packb({**members, **change})


VECTOR = np.array([1, 2, 3, 4], "<f4").tobytes()
NOT_USUAL_MSGPACK = {
    "float lists": packed(query=[1.0, 2.0, 3.0, 4.0]),
    "a base64 query as well": packed(query_b64=b64([1, 2, 3, 4])),
    "a key that is not a str": packed().replace(b"\xa5query", b"\x05", 1),
    "a repeated query": b"\x83\xa5query\xc4\x04abcd" + packed()[1:],
    "an extra candidate member": packed(candidates=[{"id": 7, "embedding": VECTOR, "score": 1}]),
    "a missing id": packed(candidates=[{"embedding": VECTOR}]),
    "a float id": packed(candidates=[{"id": 7.0, "embedding": VECTOR}]),
    "a boolean id": packed(candidates=[{"id": True, "embedding": VECTOR}]),
    "an id not UTF-8": packed(candidates=[{"id": "é", "embedding": VECTOR}]).replace("é".encode(), b"\xe9\x00"),
    "a binary id": packed(candidates=[{"id": b"7", "embedding": VECTOR}]),
    "an id past int64": packed(candidates=[{"id": 2**63, "embedding": VECTOR}]),
    "a base64 row": packed(candidates=[{"id": 7, "embedding_b64": b64([1, 2, 3, 4])}]),
    "a str row": packed(candidates=[{"id": 7, "embedding": "abcdefghijklmnop"}]),
    "rows of two widths": packed(candidates=[{"id": 7, "embedding": VECTOR}, {"id": 8, "embedding": VECTOR[:8]}]),
    "a query of 3 bytes": packed(query=b"abc"),
    "an empty query": packed(query=b""),
    "no candidates": packed(candidates=[]),
    "bytes after the map": packed() + b"\xc0",
    "a cut body": packed()[:-1],
    "an array": ormsgpack.packb([1]),
    "a byte no type has": packed(top_k=1).replace(b"\xa5top_k\x01", b"\xa5top_k\xc1"),
    "a count past the body": packed(x=[1]).replace(b"\xa1x\x91", b"\xa1x\xdd\xff\xff\xff\xff"),
}


@pytest.mark.parametrize("case", NOT_USUAL_MSGPACK)
def test_anything_unusual_in_msgpack_is_left_to_the_general_parse(case):
    assert native.read_rerank_msgpack(NOT_USUAL_MSGPACK[case], MAX) is None


@pytest.mark.parametrize(
    ("encoded", "value"),
    [
        (b"\x07", 7),
        (b"\xe0", -32),
        (b"\xcc\xff", 255),
        (b"\xcd\x01\x00", 256),
        (b"\xce\x00\x00\x00\x07", 7),
        (b"\xcf\x7f\xff\xff\xff\xff\xff\xff\xff", 2**63 - 1),
        (b"\xd0\x80", -128),
        (b"\xd1\xff\xfe", -2),
        (b"\xd2\x00\x00\x00\x07", 7),
        (b"\xd3\x80\x00\x00\x00\x00\x00\x00\x00", -(2**63)),
        (b"\xd9\x01a", "a"),
        (b"\xda\x00\x01a", "a"),
        (b"\xdb\x00\x00\x00\x01a", "a"),
    ],
)
def test_every_integer_and_string_form_of_an_id_reads_as_ormsgpack_reads_it(encoded, value):
    """ormsgpack writes the smallest form; other writers may not. Also bin 16 and 32 rows, map 16
    and array 16 containers."""
    body = (
        b"\xde\x00\x02\xa5query\xc5\x00\x04" + VECTOR[:4] + b"\xaacandidates\xdc\x00\x01"
        b"\xde\x00\x02\xa2id" + encoded + b"\xa9embedding\xc6\x00\x00\x00\x04" + VECTOR[:4]
    )
    assert ormsgpack.unpackb(body)["candidates"][0]["id"] == value
    read = read_by_native(body, MSGPACK)
    assert read is not None and read[2] == [value] and type(read[2][0]) is type(value)
    assert_same(read, read_by_general(body, MSGPACK))


def test_msgpack_options_come_back_as_a_map_for_ormsgpack_to_read():
    body = packed(top_k=3, model="sface@1", extra={"nested": [1, b"x", None, 2.5]})
    others = native.read_rerank_msgpack(body, MAX)[0]
    assert ormsgpack.unpackb(others) == {"top_k": 3, "model": "sface@1", "extra": {"nested": [1, b"x", None, 2.5]}}
    broken = packed(model="sface@1").replace(b"sface@1", b"sface\xff1")  # not UTF-8: ormsgpack refuses
    assert native.read_rerank_msgpack(broken, MAX) is not None and read_by_native(broken, MSGPACK) is None


def general_only():
    """The request parse with both native readers stepping aside."""
    patch = mock.patch.object
    return patch(rerank_bulk.native, "read_rerank_b64", return_value=None), patch(
        rerank_bulk.native, "read_rerank_msgpack", return_value=None
    )


MSGPACK_ONE = {"id": 7, "embedding": VECTOR}
REQUESTS = {
    "options": (JSON, body_with(top_k=1, threshold=0.4, method="qe", debug=True)),
    "an unknown option": (JSON, body_with(colour="red")),
    "an option of the wrong type": (JSON, body_with(top_k="one")),
    "a duplicate id": (JSON, body_with(candidates=[ONE, ONE])),
    "a NaN": (JSON, body_with(query_b64=b64([1, float("nan"), 3, 4]))),
    "msgpack options": (MSGPACK, packed(top_k=1, threshold=0.4, method="qe", debug=True, model=None)),
    "a msgpack unknown option": (MSGPACK, packed(colour="red")),
    "a msgpack option of the wrong type": (MSGPACK, packed(threshold=b"\x00")),
    "a msgpack duplicate id": (MSGPACK, packed(candidates=[MSGPACK_ONE, MSGPACK_ONE])),
}


@pytest.mark.parametrize("case", REQUESTS)
def test_a_request_read_natively_is_answered_as_the_general_parse_answers_it(case):
    content_type, body = REQUESTS[case]
    reader = native.read_rerank_b64 if content_type == JSON else native.read_rerank_msgpack
    assert reader(body, MAX) is not None  # the native reader takes it on

    def outcome():
        try:
            return parse_rerank_request(content_type, body, Settings())
        except ApiError as error:
            return error.status, error.code, error.message

    json_patch, msgpack_patch = general_only()
    with json_patch, msgpack_patch:
        expected = outcome()
    got = outcome()
    if isinstance(expected, tuple):
        assert got == expected
    else:
        fields = ("ids", "top_k", "threshold", "method", "debug", "model")
        assert [getattr(got, f) for f in fields] == [getattr(expected, f) for f in fields]
        assert got.query.tobytes() == expected.query.tobytes()
        assert got.candidates.tobytes() == expected.candidates.tobytes()


def test_the_matrix_is_a_float32_view_of_one_buffer_the_query_its_own_copy():
    others, query, ids, matrix = native.read_rerank_b64(body_with(), MAX)
    assert matrix.flags.c_contiguous and matrix.base is not None and query.base is None
    assert (others, ids, query.tolist(), matrix.tolist()) == (b"{}", [7], [1, 2, 3, 4], [[4, 3, 2, 1]])


def test_any_contiguous_buffer_is_read_in_place():
    body = body_with(top_k=2)
    expected = native.read_rerank_b64(body, MAX)
    for buffer in (bytearray(body), memoryview(body)):
        others, query, ids, matrix = native.read_rerank_b64(buffer, MAX)
        assert (others, ids, query.tolist(), matrix.tolist()) == (
            expected[0],
            expected[2],
            expected[1].tolist(),
            expected[3].tolist(),
        )
    with pytest.raises(native.InputError) as error:
        native.read_rerank_b64(memoryview(body)[::2], MAX)
    assert error.value.code == "bad_layout"


def test_no_candidate_allowed_reads_nothing():
    assert native.read_rerank_b64(body_with(), 0) is None
    assert native.read_rerank_msgpack(packed(), 0) is None


def test_ids_in_any_script_are_read_natively():
    names = ["José", "张伟", "Ærøskøbing 😀", "\x7f"]
    json_body = body_with(candidates=[{"id": n, "embedding_b64": ONE["embedding_b64"]} for n in names])
    msgpack_body = packed(candidates=[{"id": n, "embedding": VECTOR} for n in names])
    assert native.read_rerank_b64(json_body, MAX)[2] == names
    assert native.read_rerank_msgpack(msgpack_body, MAX)[2] == names
    assert_same(read_by_native(json_body), read_by_general(json_body))
    assert_same(read_by_native(msgpack_body, MSGPACK), read_by_general(msgpack_body, MSGPACK))
