"""Property tests (hypothesis) of the request parsers and the handlers, in-process: for any body,
content type and JSON structure, the outcome is a parsed request or a typed 4xx (an ApiError, or
an error response {"error": {"code", "message"}}) whose code is one the API documents; never
another exception, never a 5xx. And re-ranking orders what it is given: it drops no candidate,
invents none, merges no ids, and decides `match` on the calibrated score alone.

HOSTILE_PROFILE=ci (default: a fixed seed, 60 examples a property) or full (1,500, random)."""

import base64
import re

import numpy as np
import orjson
import ormsgpack
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from facev3 import bootstrap
from facev3.api.errors import ApiError
from facev3.api.messages import HttpRequest
from facev3.api.requests import parse_embed_request, parse_multipart, parse_rerank_request
from facev3.config import Settings
from tests.hostile.conftest import FULL
from tests.support.servers import ROOT

settings.load_profile("hostile-full" if FULL else "hostile-ci")

KEY = "parser-key"
SETTINGS = Settings(max_images=4, max_candidates=50, max_body_bytes=3_000_000, api_keys=(KEY,))
DIM = 8

# The codes a client mistake may get. The README documents most of them; those it does not yet
# are listed apart (issue 12: "document every code, `empty` included"), and
# test_every_code_is_documented says which.
README = (ROOT / "README.md").read_text()
DOCUMENTED = set(re.findall(r"`([a-z0-9_]+)`", README[README.index("## HTTP API") :]))
CLIENT_CODES = {
    "malformed_json",
    "malformed_msgpack",
    "empty_body",
    "malformed_multipart",
    "unauthorized",
    "not_found",
    "method_not_allowed",
    "body_too_large",
    "too_many_images",
    "too_many_candidates",
    "too_many_faces",
    "unsupported_media_type",
    "missing_field",
    "unknown_field",
    "invalid_value",
    "bad_base64",
    "dim_mismatch",
    "non_finite",
    "zero_vector",
    "duplicate_id",
    "empty",
    "model_mismatch",
}
# Per-image errors inside a 200 (README: "A bad image inside a good request gets its own entry").
IMAGE_CODES = {
    "unsupported_format",
    "corrupt_image",
    "image_too_large",
    "image_too_small",
    "bad_base64",
    "too_many_faces",
}
UNDOCUMENTED = {"malformed_msgpack", "empty", "model_mismatch", "too_many_faces", "body_timeout", "deadline_exceeded"}


@pytest.fixture(scope="module")
def api():
    built = bootstrap.build_api(SETTINGS)
    yield built
    built.close()


def check_api_error(error: ApiError) -> None:
    assert 400 <= error.status < 500, (error.status, error.code, error.message)
    assert error.code in CLIENT_CODES, error.code
    assert error.message and "Traceback" not in error.message


def outcome(parse, *args):
    """Runs a parser: its value, or None after checking the ApiError it raised."""
    try:
        return parse(*args)
    except ApiError as error:
        check_api_error(error)
        return None


def check_response(response) -> dict | None:
    """A handler's answer: below 500, and a 4xx is exactly the error contract."""
    assert response.status < 500, response.body[:500]
    if response.status >= 400:
        assert response.content_type == "application/json"
        payload = orjson.loads(response.body)
        assert set(payload) == {"error"} and set(payload["error"]) == {"code", "message"}, payload
        assert payload["error"]["code"] in CLIENT_CODES, payload
        return payload
    return orjson.loads(response.body) if response.content_type == "application/json" and response.body else None


# ---- strategies ----------------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    finite,
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)),
    max_leaves=25,
)
ids = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(max_size=12),
    st.sampled_from([1, "1", 0, "0", -1, "", True, None, 1.0, [1], {"id": 1}]),
)
vectors = st.lists(st.floats(-4, 4, allow_nan=False, width=32), min_size=DIM, max_size=DIM)


def b64_vector(values) -> str:
    return base64.b64encode(np.asarray(values, "<f4").tobytes()).decode()


embeddings = st.one_of(
    vectors,
    vectors.map(b64_vector),
    st.lists(finite, max_size=DIM + 2),
    json_values,
)
candidates = (
    st.lists(
        st.dictionaries(
            st.sampled_from(["id", "embedding", "embedding_b64", "extra"]),
            st.one_of(ids, embeddings),
            max_size=4,
        )
        | st.builds(lambda i, v: {"id": i, "embedding": v}, ids, vectors)
        | json_values,
        max_size=8,
    )
    | json_values
)
rerank_payloads = st.fixed_dictionaries(
    {},
    optional={
        "query": st.one_of(vectors, json_values),
        "query_b64": st.one_of(vectors.map(b64_vector), json_values),
        "candidates": candidates,
        "threshold": st.one_of(finite, json_values),
        "top_k": st.one_of(st.integers(-5, 60), json_values),
        "method": st.one_of(st.sampled_from(["cosine", "kreciprocal", "qe", "COSINE", ""]), json_values),
        "debug": st.one_of(st.booleans(), json_values),
        "model": st.one_of(st.text(max_size=20), json_values),
        "bogus": json_values,
    },
)
images = st.one_of(
    st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()),
    st.text(max_size=30),
    st.builds(lambda i, d: {"id": i, "data": d}, ids, st.text(max_size=30)),
    json_values,
)
embed_payloads = st.fixed_dictionaries(
    {},
    optional={
        "images": st.lists(images, max_size=6) | json_values,
        "det_threshold": st.one_of(finite, json_values),
        "min_face_size": st.one_of(finite, json_values),
        "max_faces": st.one_of(st.integers(-2, 200), json_values),
        "normalize": st.one_of(st.booleans(), json_values),
        "return_aligned": st.one_of(st.booleans(), json_values),
        "return_landmarks": st.one_of(st.booleans(), json_values),
        "dedupe": st.one_of(st.booleans(), json_values),
        "mirror": st.one_of(st.booleans(), json_values),
        "other": json_values,
    },
)
content_types = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "APPLICATION/JSON",
            "application/msgpack",
            "application/x-msgpack",
            "application/vnd.msgpack",
            "multipart/form-data; boundary=abc",
            "multipart/form-data",
            "text/plain",
            "",
        ]
    ),
    st.text(max_size=40),
)


def mutate_json(text: bytes, draw) -> bytes:
    """Raw-JSON damage that a dict cannot express: special tokens, truncation, deep nesting."""
    kind = draw(st.sampled_from(["nan", "inf", "truncate", "nest", "huge", "dupkey", "bom", "none"]))
    if kind == "nan":
        return text.replace(b"0.", b"NaN", 1) if b"0." in text else text + b"NaN"
    if kind == "inf":
        return text.replace(b":", b":-Infinity,", 1)
    if kind == "truncate":
        return text[: draw(st.integers(0, max(0, len(text) - 1)))]
    if kind == "nest":
        depth = draw(st.integers(1, 3000))
        return text.replace(b"{", b'{"x":' + b"[" * depth + b"]" * depth + b",", 1) if text.startswith(b"{") else text
    if kind == "huge":
        return text.replace(b":", b":1" + b"0" * draw(st.integers(20, 400)) + b",", 1)
    if kind == "dupkey":
        return text.replace(b"{", b'{"query":[1],', 1)
    if kind == "bom":
        return b"\xef\xbb\xbf" + text
    return text


def encode(payload, content_type: str) -> bytes:
    if "msgpack" in content_type:
        try:
            return ormsgpack.packb(payload)
        except (TypeError, ormsgpack.MsgpackEncodeError):
            return b"\xc1"
    return orjson.dumps(payload)


# ---- parsers ---------------------------------------------------------------------------------------


@given(content_types, st.binary(max_size=3000))
def test_any_bytes_parse_or_fail_typed(content_type, body):
    outcome(parse_rerank_request, content_type, body, SETTINGS)
    outcome(parse_embed_request, content_type, body, SETTINGS)


@given(st.sampled_from(["application/json", "application/msgpack"]), rerank_payloads, st.data())
def test_rerank_payloads_parse_or_fail_typed(content_type, payload, data):
    body = encode(payload, content_type)
    if content_type == "application/json":
        body = mutate_json(body, data.draw)
    parsed = outcome(parse_rerank_request, content_type, body, SETTINGS)
    if parsed is not None:
        assert parsed.candidates.shape == (len(parsed.ids), len(parsed.query))
        assert 0.0 <= parsed.threshold <= 1.0
        assert all(type(i) in (int, str) for i in parsed.ids)
        assert len({(type(i), i) for i in parsed.ids}) == len(parsed.ids)


@given(st.sampled_from(["application/json", "application/msgpack"]), embed_payloads, st.data())
def test_embed_payloads_parse_or_fail_typed(content_type, payload, data):
    body = encode(payload, content_type)
    if content_type == "application/json":
        body = mutate_json(body, data.draw)
    parsed = outcome(parse_embed_request, content_type, body, SETTINGS)
    if parsed is not None:
        assert 1 <= len(parsed.images) <= SETTINGS.max_images
        threshold = parsed.options.det_threshold
        assert threshold is None or 0.3 <= threshold <= 1.0
        assert parsed.options.max_faces is None or 1 <= parsed.options.max_faces <= SETTINGS.max_faces_per_image


boundaries = st.one_of(
    st.text(st.characters(codec="ascii", exclude_characters='\r\n"'), min_size=0, max_size=300),
    st.sampled_from(["abc", "a" * 70, "a" * 71, "a" * 300, "", " ", "--", "a b"]),
)
part_names = st.one_of(st.sampled_from([b"images", b"image", b"file", b"max_faces", b"x"]), st.binary(max_size=12))


@st.composite
def multipart_bodies(draw):
    boundary = draw(boundaries)
    b = boundary.encode()
    chunks = []
    for _ in range(draw(st.integers(0, 6))):
        name = draw(part_names)
        filename = draw(st.one_of(st.none(), st.binary(max_size=12)))
        headers = b'Content-Disposition: form-data; name="' + name + b'"'
        if filename is not None:
            headers += b'; filename="' + filename + b'"'
        if draw(st.booleans()):
            headers += b"\r\nX-" + draw(st.binary(max_size=20)).replace(b"\r", b"") + b": v"
        chunks.append(b"--" + b + b"\r\n" + headers + b"\r\n\r\n" + draw(st.binary(max_size=40)) + b"\r\n")
    body = b"".join(chunks)
    ending = draw(st.sampled_from(["close", "none", "garbage", "truncate", "lf"]))
    if ending == "close":
        body += b"--" + b + b"--\r\n"
    elif ending == "garbage":
        body += draw(st.binary(max_size=50))
    elif ending == "truncate":
        body = (body + b"--" + b + b"--\r\n")[: draw(st.integers(0, len(body) + 4))]
    elif ending == "lf":
        body = (body + b"--" + b + b"--\r\n").replace(b"\r\n", b"\n")
    quoted = draw(st.booleans())
    content_type = "multipart/form-data; boundary=" + (f'"{boundary}"' if quoted else boundary)
    return content_type, body


@given(multipart_bodies())
def test_multipart_parses_or_fails_typed(content_type_and_body):
    content_type, body = content_type_and_body
    parsed = outcome(parse_multipart, content_type, body)
    if parsed is not None:
        found, _options = parsed
        assert all(item.data is not None for item in found)
    outcome(parse_embed_request, content_type, body, SETTINGS)


# ---- handlers (Api.handle, the real local backend) ------------------------------------------------

methods = st.sampled_from(["GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH", "TRACE", "FOO", "get", ""])
paths = st.one_of(
    st.sampled_from(
        ["/v1/rerank", "/v1/embeddings", "/v1/info", "/healthz", "/readyz", "/metrics", "/", "/docs", "/openapi.json"]
    ),
    st.sampled_from(["/v1/rerank/", "/v1%2Frerank", "//healthz", "/static/../x", "/static/app.js", "/nope"]),
    st.text(max_size=40).map(lambda t: "/" + t),
)
header_values = st.text(max_size=60)


@given(
    methods,
    paths,
    st.dictionaries(
        st.sampled_from(["content-type", "accept", "x-api-key", "authorization", "if-none-match", "x-other"]),
        header_values,
        max_size=4,
    ),
    st.binary(max_size=500),
)
def test_any_request_gets_a_typed_answer(api, method, path, headers, body):
    check_response(api.handle(HttpRequest(method, path, headers, body)))
    refused = api.admit(method, path, headers)
    assert refused is None or 400 <= refused.status < 600


@given(rerank_payloads, st.sampled_from(["application/json", "application/msgpack"]), st.booleans())
def test_rerank_handler_never_fails_on_input(api, payload, content_type, accept_msgpack):
    headers = {"content-type": content_type, "x-api-key": KEY}
    if accept_msgpack:
        headers["accept"] = "application/msgpack"
    check_response(api.handle(HttpRequest("POST", "/v1/rerank", headers, encode(payload, content_type))))


@given(embed_payloads)
def test_embed_handler_never_fails_on_input(api, payload):
    headers = {"content-type": "application/json", "x-api-key": KEY}
    answer = check_response(api.handle(HttpRequest("POST", "/v1/embeddings", headers, orjson.dumps(payload))))
    if answer is not None and "images" in answer:
        for image in answer["images"]:
            assert image["status"] == "ok" or image["error"]["code"] in IMAGE_CODES, image


@given(multipart_bodies())
def test_embed_handler_never_fails_on_multipart(api, content_type_and_body):
    content_type, body = content_type_and_body
    headers = {"content-type": content_type, "x-api-key": KEY}
    check_response(api.handle(HttpRequest("POST", "/v1/embeddings", headers, body)))


# ---- option bounds: accepted exactly when in range ----------------------------------------------------

GOOD = {"query": [1.0] + [0.0] * (DIM - 1), "candidates": [{"id": 1, "embedding": [1.0] * DIM}]}


@given(st.one_of(finite, json_values))
def test_threshold_is_accepted_exactly_in_0_1(value):
    parsed = outcome(parse_rerank_request, "application/json", orjson.dumps({**GOOD, "threshold": value}), SETTINGS)
    in_range = value is None or (type(value) in (int, float) and 0 <= value <= 1)
    assert (parsed is not None) == in_range, value


@given(st.one_of(finite, json_values))
def test_det_threshold_is_accepted_exactly_in_0_3_1(value):
    body = orjson.dumps({"images": ["aGk="], "det_threshold": value})
    parsed = outcome(parse_embed_request, "application/json", body, SETTINGS)
    in_range = value is None or (type(value) in (int, float) and 0.3 <= value <= 1)
    assert (parsed is not None) == in_range, value


@given(st.one_of(st.integers(-(2**63), 2**64 - 1), json_values))
def test_top_k_is_accepted_exactly_in_1_max_candidates(value):
    parsed = outcome(parse_rerank_request, "application/json", orjson.dumps({**GOOD, "top_k": value}), SETTINGS)
    in_range = value is None or (type(value) is int and 1 <= value <= SETTINGS.max_candidates)
    assert (parsed is not None) == in_range, value


# ---- re-ranking: orders, never invents ---------------------------------------------------------------


@st.composite
def rerank_requests(draw):
    n = draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    query = rng.normal(size=DIM).astype(np.float32)
    rows = rng.normal(size=(n, DIM)).astype(np.float32)
    pool = [1, "1", 2, "2", 0, "0", "a", -7, "-7", 10**18, "é", "", 2**63 - 1]
    chosen = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n, unique_by=lambda i: (type(i), i)))
    return {
        "query": query.tolist(),
        "candidates": [{"id": i, "embedding": r.tolist()} for i, r in zip(chosen, rows, strict=True)],
        "method": draw(st.sampled_from(["cosine", "kreciprocal", "qe"])),
        "threshold": draw(st.floats(0, 1)),
        "top_k": draw(st.one_of(st.none(), st.integers(1, 12))),
        "debug": True,
    }


def rerank(api, payload) -> dict:
    headers = {"content-type": "application/json", "x-api-key": KEY}
    response = api.handle(HttpRequest("POST", "/v1/rerank", headers, orjson.dumps(payload)))
    assert response.status == 200, response.body
    return orjson.loads(response.body)


@given(rerank_requests())
def test_rerank_orders_what_it_is_given_and_keeps_ids_apart(api, payload):
    answer = rerank(api, payload)
    given_ids = [c["id"] for c in payload["candidates"]]
    got = [r["id"] for r in answer["results"]]
    expected = len(given_ids) if payload["top_k"] is None else min(payload["top_k"], len(given_ids))
    assert len(got) == expected
    keyed = [(type(i).__name__, i) for i in got]  # 1 and "1" are different candidates
    assert len(set(keyed)) == len(keyed) and set(keyed) <= {(type(i).__name__, i) for i in given_ids}
    # The method's similarity orders the results; the score is the calibrated cosine, so it is
    # sorted only when the method is cosine.
    similarity = answer["debug"]["similarity"]
    assert similarity == sorted(similarity, reverse=True)
    if payload["method"] == "cosine":
        scores = [r["score"] for r in answer["results"]]
        assert scores == sorted(scores, reverse=True)
    assert all(r["match"] == (r["score"] >= payload["threshold"]) for r in answer["results"])
    assert len(answer["debug"]["similarity"]) == len(got)


@given(rerank_requests())
def test_candidates_opposite_the_query_never_match_whatever_the_method(api, payload):
    """A candidate whose cosine to the query is at most 0 is not the same person under any
    method: re-ranking may reorder, not turn strangers into matches."""
    query = np.asarray(payload["query"], np.float32)
    for candidate in payload["candidates"]:
        row = np.asarray(candidate["embedding"], np.float32)
        row -= max(0.0, float(row @ query) / float(query @ query) + 0.05) * query  # cosine <= 0
        assume(np.linalg.norm(row) > 1e-3)
        candidate["embedding"] = row.tolist()
    answer = rerank(api, {**payload, "threshold": 0.5})
    assert all(r["cosine"] <= 1e-6 for r in answer["results"])
    assert not [r for r in answer["results"] if r["match"]], answer["results"]


# ---- every code a client may get is documented ------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        pytest.param(
            code,
            marks=pytest.mark.xfail(strict=True, reason=f"issue 12: the README's error table lacks `{code}`")
            if code not in DOCUMENTED
            else (),
        )
        for code in sorted(CLIENT_CODES | IMAGE_CODES | UNDOCUMENTED | {"multipart_unsupported"})
    ],
)
def test_every_code_is_documented(code):
    assert code in DOCUMENTED
