"""The API contract, driven in-process through Api.handle (no HTTP server) on the embedded backend
with real models and photos: every endpoint and option, and every bad input with its documented
4xx JSON error. What only a real server shows (the adapters, body streaming, workers, drain) is in
test_http_adapters.py and test_http_lifecycle.py."""

import base64
import io
import uuid

import numpy as np
import orjson
import ormsgpack
import pytest
from PIL import Image

from facev3 import bootstrap
from facev3.api.messages import HttpRequest
from facev3.config import load_settings
from tests.support.embeddings import vectors_with_cosines
from tests.support.photos import photo_path

API_KEY = "test-key-" + uuid.uuid4().hex[:8]
LIMITS = {"FACEV3_MAX_BODY_BYTES": "3000000", "FACEV3_MAX_IMAGES": "4", "FACEV3_MAX_CANDIDATES": "50"}


DEFAULT = object()


class InProcess:
    """Api.handle with the calls of tests.support.servers.Server, answered without a socket."""

    def __init__(self, api) -> None:
        self.api = api

    def call(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None, key=DEFAULT):
        key = API_KEY if key is DEFAULT else key
        sent = {"x-api-key": key} if key else {}
        request = HttpRequest(method, path, {k.lower(): v for k, v in {**sent, **(headers or {})}.items()}, body or b"")
        response = self.api.handle(request)
        headers = {"content-type": response.content_type, **dict(response.headers)}
        payload = orjson.loads(response.body) if "json" in response.content_type and response.body else response.body
        return response.status, headers, payload

    def post_json(self, path: str, payload, **kwargs):
        return self.call("POST", path, orjson.dumps(payload), {"content-type": "application/json"}, **kwargs)


@pytest.fixture(scope="module")
def server():
    api = bootstrap.build_api(load_settings({"FACEV3_API_KEYS": API_KEY, **LIMITS}))
    yield InProcess(api)
    api.close()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def f32_b64(vector) -> str:
    return b64(np.asarray(vector, "<f4").tobytes())


# ---- service endpoints ---------------------------------------------------------------------


def test_health_readiness_info_docs_and_metrics(server):
    status, _, body = server.call("GET", "/healthz", key=None)  # open without a key
    assert status == 200 and body["status"] == "ok"
    assert server.call("GET", "/readyz")[2] == {"status": "ready", "backend": "local"}
    info = server.call("GET", "/v1/info")[2]
    assert info["embedder"]["embedding_size"] == 128 and info["calibration"]["cosine_threshold"] == pytest.approx(
        0.4803
    )
    spec = server.call("GET", "/openapi.json")[2]
    assert spec["openapi"].startswith("3.") and {"/v1/embeddings", "/v1/rerank"} <= set(spec["paths"])
    status, headers, page = server.call("GET", "/docs")
    assert status == 200 and headers["content-type"].startswith("text/html") and b"/openapi.json" in page
    status, headers, metrics = server.call("GET", "/metrics", key=None)
    assert status == 200 and b"facev3_requests_total" in metrics and b'endpoint="/healthz"' in metrics


def healthz_count(server) -> float:
    metrics = server.call("GET", "/metrics")[2].decode()
    sample = 'facev3_requests_total{endpoint="/healthz",status="200"}'
    line = next(line for line in metrics.splitlines() if line.startswith(sample))
    return float(line.rsplit(" ", 1)[1])


def test_metrics_count_every_request(server):
    before = healthz_count(server)
    for _ in range(10):
        server.call("GET", "/healthz")
    assert healthz_count(server) - before == 10


def test_unknown_routes_and_methods_are_json_errors(server):
    status, _, body = server.call("GET", "/nope")
    assert status == 404 and body["error"]["code"] == "not_found"
    status, _, body = server.call("GET", "/v1/rerank")
    assert status == 405 and body["error"]["code"] == "method_not_allowed"


def test_one_trailing_slash_names_the_same_route_on_both_servers(server):
    assert server.call("GET", "/v1/info/")[2] == server.call("GET", "/v1/info")[2]
    status, _, body = server.call("GET", "/v1/rerank/")
    assert status == 405 and body["error"]["code"] == "method_not_allowed"
    assert server.call("GET", "/healthz//")[0] == 404


def test_api_keys_are_required_and_accepted_as_bearer_or_header(server):
    assert server.call("GET", "/v1/info", key=None)[0] == 401
    status, _, body = server.call("GET", "/v1/info", key="wrong")
    assert status == 401 and body["error"]["code"] == "unauthorized"
    assert server.call("GET", "/v1/info", headers={"authorization": f"Bearer {API_KEY}"}, key=None)[0] == 200


# ---- /v1/rerank -------------------------------------------------------------------------------


def test_rerank_scores_order_and_decides_on_the_calibrated_threshold(server):
    cosines = [0.9, 0.2, 0.4803, 0.46, 0.7]
    query, rows = vectors_with_cosines(cosines)
    payload = {
        "query": query.tolist(),
        "candidates": [{"id": f"c{i}", "embedding": r.tolist()} for i, r in enumerate(rows)],
    }
    status, _, body = server.post_json("/v1/rerank", payload)
    assert status == 200
    assert [r["id"] for r in body["results"]] == ["c0", "c4", "c2", "c3", "c1"]
    assert {r["id"]: r["match"] for r in body["results"]} == {
        "c0": True,
        "c4": True,
        "c2": True,
        "c3": False,
        "c1": False,
    }
    at_threshold = next(r for r in body["results"] if r["id"] == "c2")
    assert at_threshold["score"] == pytest.approx(0.5, abs=1e-5) and at_threshold["cosine"] == pytest.approx(
        0.4803, abs=1e-6
    )
    assert body["threshold"] == 0.5 and body["diagnostics"]["candidate_count"] == 5
    assert body["diagnostics"]["calibration"] == "sface_2021dec/v1" and "debug" not in body
    strict = server.post_json("/v1/rerank", {**payload, "threshold": 0.99, "top_k": 2})[2]
    assert [(r["id"], r["match"]) for r in strict["results"]] == [("c0", True), ("c4", False)]


def test_rerank_answers_the_same_for_floats_and_base64(server):
    rng = np.random.default_rng(4)
    query, rows = rng.standard_normal(128).astype(np.float32), rng.standard_normal((30, 128)).astype(np.float32)
    floats = {"query": query.tolist(), "candidates": [{"id": i, "embedding": r.tolist()} for i, r in enumerate(rows)]}
    packed = {
        "query_b64": f32_b64(query),
        "candidates": [{"id": i, "embedding_b64": f32_b64(r)} for i, r in enumerate(rows)],
    }
    a, b = server.post_json("/v1/rerank", floats)[2], server.post_json("/v1/rerank", packed)[2]
    assert a["results"] == b["results"]


@pytest.mark.parametrize("method", ["kreciprocal", "qe"])
def test_rerank_methods_and_debug_payload(server, method):
    query, rows = vectors_with_cosines([0.9, 0.5, 0.1])
    payload = {
        "query": query.tolist(),
        "candidates": [{"id": i, "embedding": r.tolist()} for i, r in enumerate(rows)],
        "method": method,
        "debug": True,
    }
    status, _, body = server.post_json("/v1/rerank", payload)
    assert status == 200 and body["diagnostics"]["method"] == method
    assert body["results"][0]["id"] == 0 and len(body["debug"]["similarity"]) == 3


def test_debug_similarities_follow_the_results_and_keep_ids_1_and_string_1_apart(server):
    query, rows = vectors_with_cosines([0.9, 0.5])
    payload = {
        "query": query.tolist(),
        "debug": True,
        "candidates": [{"id": 1, "embedding": rows[0].tolist()}, {"id": "1", "embedding": rows[1].tolist()}],
    }
    body = server.post_json("/v1/rerank", payload)[2]
    assert [r["id"] for r in body["results"]] == [1, "1"]
    assert body["debug"]["similarity"] == pytest.approx([0.9, 0.5], abs=1e-6)


# ---- /v1/embeddings ---------------------------------------------------------------------------


def test_embeddings_json_per_image_in_input_order_with_ids(server):
    images = [
        {"id": "group", "data": b64(photo_path("t1.jpg").read_bytes())},
        b64(photo_path("Rob_Lowe_0001.jpg").read_bytes()),
    ]
    status, _, body = server.post_json("/v1/embeddings", {"images": images})
    assert status == 200 and body["model"] == "sface@2021dec" and body["embedding_size"] == 128
    group, single = body["images"]
    assert (group["index"], group["id"], group["status"], group["width"], group["height"]) == (
        0,
        "group",
        "ok",
        1280,
        886,
    )
    assert len(group["faces"]) == 6 and (single["id"], len(single["faces"])) == (None, 1)
    face = single["faces"][0]
    assert len(face["bbox"]) == 4 and len(face["landmarks"]) == 5 and "aligned" not in face
    assert np.linalg.norm(face["embedding"]) == pytest.approx(1, abs=1e-5) and face["norm"] > 1
    assert set(body["timings_ms"]) == {"decode", "detect", "align", "embed"}


def test_embedding_options(server):
    image = b64(photo_path("t1.jpg").read_bytes())
    body = server.post_json(
        "/v1/embeddings",
        {"images": [image], "max_faces": 2, "return_aligned": True, "normalize": False, "return_landmarks": False},
    )[2]
    faces = body["images"][0]["faces"]
    assert len(faces) == 2 and body["normalized"] is False
    assert "landmarks" not in faces[0] and np.linalg.norm(faces[0]["embedding"]) == pytest.approx(
        faces[0]["norm"], rel=1e-5
    )
    assert Image.open(io.BytesIO(base64.b64decode(faces[0]["aligned"]))).size == (112, 112)
    strict = server.post_json("/v1/embeddings", {"images": [image], "det_threshold": 0.92, "min_face_size": 1})[2]
    assert 0 < len(strict["images"][0]["faces"]) < 6
    deduped = server.post_json("/v1/embeddings", {"images": [image, image], "dedupe": True})[2]
    assert deduped["images"][1]["duplicate_of"] == 0


def test_one_bad_image_gets_its_error_and_the_others_succeed(server):
    images = [b64(b"not an image"), "%%%not-base64%%%", b64(photo_path("Rob_Lowe_0002.jpg").read_bytes())]
    status, _, body = server.post_json("/v1/embeddings", {"images": images})
    assert status == 200
    assert [(i["status"], i.get("error", {}).get("code")) for i in body["images"]] == [
        ("error", "unsupported_format"),
        ("error", "bad_base64"),
        ("ok", None),
    ]
    assert len(body["images"][2]["faces"]) == 1


def multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    chunks = []
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        chunks.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(chunks) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_multipart_keeps_every_part_even_with_equal_filenames(server):
    body, content_type = multipart(
        [
            ("images", "photo.jpg", photo_path("Rob_Lowe_0001.jpg").read_bytes()),
            ("images", "photo.jpg", photo_path("t1.jpg").read_bytes()),
            ("max_faces", None, b"3"),
        ]
    )
    status, _, payload = server.call("POST", "/v1/embeddings", body, {"content-type": content_type})
    assert status == 200
    assert [(i["id"], len(i["faces"])) for i in payload["images"]] == [("photo.jpg", 1), ("photo.jpg", 3)]


# ---- bad input: the documented 4xx JSON error ----------------------------------------------------

QUERY = [1.0, 0.0, 0.0, 0.0]
GOOD = {"query": QUERY, "candidates": [{"id": "a", "embedding": [1.0, 1.0, 0.0, 0.0]}]}


def bad_requests():
    json_type = {"content-type": "application/json"}
    nan = f32_b64([np.nan, 1, 0, 0])
    return {
        "malformed json": ("/v1/rerank", b"{not json", json_type, 400, "malformed_json"),
        "wrong content type": (
            "/v1/rerank",
            orjson.dumps(GOOD),
            {"content-type": "text/plain"},
            415,
            "unsupported_media_type",
        ),
        "empty body": ("/v1/rerank", b"", json_type, 400, "empty_body"),
        "missing candidates": ("/v1/rerank", orjson.dumps({"query": QUERY}), json_type, 422, "missing_field"),
        "missing query": (
            "/v1/rerank",
            orjson.dumps({"candidates": GOOD["candidates"]}),
            json_type,
            422,
            "missing_field",
        ),
        "bad base64": (
            "/v1/rerank",
            orjson.dumps({"query_b64": "@@@", "candidates": GOOD["candidates"]}),
            json_type,
            422,
            "bad_base64",
        ),
        "dimension mismatch": (
            "/v1/rerank",
            orjson.dumps({"query": QUERY, "candidates": [{"id": 1, "embedding": [1.0, 2.0]}]}),
            json_type,
            422,
            "dim_mismatch",
        ),
        "nan in base64": (
            "/v1/rerank",
            orjson.dumps({"query_b64": nan, "candidates": GOOD["candidates"]}),
            json_type,
            422,
            "non_finite",
        ),
        "zero vector": (
            "/v1/rerank",
            orjson.dumps({"query": [0.0] * 4, "candidates": GOOD["candidates"]}),
            json_type,
            422,
            "zero_vector",
        ),
        "duplicate ids": (
            "/v1/rerank",
            orjson.dumps({"query": QUERY, "candidates": GOOD["candidates"] * 2}),
            json_type,
            422,
            "duplicate_id",
        ),
        "unknown option": ("/v1/rerank", orjson.dumps({**GOOD, "temperature": 2}), json_type, 422, "unknown_field"),
        "threshold out of range": (
            "/v1/rerank",
            orjson.dumps({**GOOD, "threshold": 3}),
            json_type,
            422,
            "invalid_value",
        ),
        "too many candidates": (
            "/v1/rerank",
            orjson.dumps({"query": QUERY, "candidates": [{"id": i, "embedding": QUERY} for i in range(51)]}),
            json_type,
            413,
            "too_many_candidates",
        ),
        "too many images": (
            "/v1/embeddings",
            orjson.dumps({"images": ["aGk="] * 5}),
            json_type,
            413,
            "too_many_images",
        ),
        "unknown embed option": (
            "/v1/embeddings",
            orjson.dumps({"images": ["aGk="], "colour": True}),
            json_type,
            422,
            "unknown_field",
        ),
        "no images": ("/v1/embeddings", orjson.dumps({"images": []}), json_type, 422, "empty"),
        # orjson writes at most 254 levels; the parser reads up to 1,024.
        "image id nested 300 levels": (
            "/v1/embeddings",
            b'{"images": [{"id": ' + b"[" * 300 + b"1" + b"]" * 300 + b', "data": "aGk="}]}',
            json_type,
            422,
            "invalid_value",
        ),
        **{
            name: (path, orjson.dumps(payload), json_type, status, code)
            for name, (path, payload, status, code) in {
                "images not a list": ("/v1/embeddings", {"images": "aGk="}, 422, "invalid_value"),
                "boolean in a vector": ("/v1/rerank", {**GOOD, "query": [1.0, True, 0.0, 0.0]}, 422, "invalid_value"),
                "null in a vector": ("/v1/rerank", {**GOOD, "query": [1.0, None, 0.0, 0.0]}, 422, "invalid_value"),
                "numeric string in a vector": ("/v1/rerank", {**GOOD, "query": ["1", 0, 0, 0]}, 422, "invalid_value"),
                "candidates not a list": (
                    "/v1/rerank",
                    {"query": QUERY, "candidates": {"id": 1}},
                    422,
                    "invalid_value",
                ),
                "no candidates": ("/v1/rerank", {"query": QUERY, "candidates": []}, 422, "empty"),
                "a boolean candidate id": (
                    "/v1/rerank",
                    {"query": QUERY, "candidates": [{"id": False, "embedding": QUERY}]},
                    422,
                    "invalid_value",
                ),
                "a candidate without id": (
                    "/v1/rerank",
                    {"query": QUERY, "candidates": [{"embedding": QUERY}]},
                    422,
                    "missing_field",
                ),
                "vectors of another model": ("/v1/rerank", {**GOOD, "model": "arcface@r100"}, 422, "model_mismatch"),
                "a method that does not exist": ("/v1/rerank", {**GOOD, "method": "bm25"}, 422, "invalid_value"),
            }.items()
        },
    }


@pytest.mark.parametrize("name", list(bad_requests()))
def test_bad_input_gets_its_documented_error_and_the_next_request_succeeds(server, name):
    path, body, headers, status, code = bad_requests()[name]
    got_status, _, payload = server.call("POST", path, body, headers)
    assert got_status == status, payload
    assert set(payload) == {"error"} and payload["error"]["message"] and "Traceback" not in payload["error"]["message"]
    assert payload["error"]["code"] == code
    assert server.post_json("/v1/rerank", GOOD)[0] == 200


def test_a_body_shorter_or_longer_than_its_content_length_is_refused(server):
    """What a server hands over when the client went away mid-upload is not served as complete."""
    body = orjson.dumps(GOOD)
    for declared in (len(body) + 50, len(body) - 1):
        headers = {"content-type": "application/json", "content-length": str(declared)}
        status, _, payload = server.call("POST", "/v1/rerank", body, headers)
        assert (status, payload["error"]["code"]) == (400, "incomplete_body"), payload
    headers = {"content-type": "application/json", "content-length": str(len(body))}
    assert server.call("POST", "/v1/rerank", body, headers)[0] == 200
    # A length the servers would refuse before the adapter is not the handler's to judge, and
    # never a 500 ("²" is a digit to str.isdigit, not to int).
    headers = {"content-type": "application/json", "content-length": "\u00b2"}
    assert server.call("POST", "/v1/rerank", body, headers)[0] == 200


# ---- layering: request errors stay out of the pipeline; info names what runs ----------------------


class CountingBackend:
    """The embedded backend, counting the images it is asked to detect faces in."""

    def __init__(self, backend) -> None:
        self._backend, self.detections = backend, 0

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def detect(self, *args):
        self.detections += 1
        return self._backend.detect(*args)


def test_an_image_refused_by_the_request_parser_never_reaches_the_pipeline(server):
    counting = CountingBackend(server.api.pipeline.backend)
    api = bootstrap.build_api(server.api.settings, counting)
    status, _, body = InProcess(api).post_json(
        "/v1/embeddings",
        {
            "images": [
                "%%%not-base64%%%",
                {"id": "rob", "data": b64(photo_path("Rob_Lowe_0001.jpg").read_bytes())},
                "@@",
            ]
        },
    )
    assert status == 200 and counting.detections == 1
    assert [(i["index"], i["status"]) for i in body["images"]] == [(0, "error"), (1, "ok"), (2, "error")]


def test_duplicates_point_at_the_request_index_of_their_original(server):
    photo = b64(photo_path("Rob_Lowe_0001.jpg").read_bytes())
    body = server.post_json("/v1/embeddings", {"images": ["@@", photo, "@@", photo], "dedupe": True})[2]
    assert body["images"][3]["duplicate_of"] == 1 and body["images"][3]["faces"] == body["images"][1]["faces"]


def test_info_names_the_detector_and_embedder_that_run(server):
    info = server.call("GET", "/v1/info")[2]
    assert info["detector"] == {"name": "yunet@2023mar", "default_threshold": 0.7}
    assert info["embedder"] == {"name": "sface@2021dec", "embedding_size": 128} and info["backend"] == "local"


# ---- work bounds -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bounded(server):
    settings = load_settings({"FACEV3_MAX_FACES_PER_IMAGE": "4", "FACEV3_MAX_FACES_PER_REQUEST": "8"})
    return InProcess(bootstrap.build_api(settings, server.api.pipeline.backend))


def test_an_image_with_more_faces_than_the_cap_is_refused_unless_the_largest_are_asked_for(bounded):
    group = b64(photo_path("t1.jpg").read_bytes())
    body = bounded.post_json("/v1/embeddings", {"images": [group]}, key=None)[2]
    assert (
        body["images"][0]["error"]["code"] == "too_many_faces" and "max_faces" in body["images"][0]["error"]["message"]
    )
    body = bounded.post_json("/v1/embeddings", {"images": [group], "max_faces": 4}, key=None)[2]
    assert len(body["images"][0]["faces"]) == 4


def test_a_request_with_more_faces_than_its_cap_gets_413(bounded):
    group = b64(photo_path("t1.jpg").read_bytes())
    status, _, body = bounded.post_json("/v1/embeddings", {"images": [group] * 3, "max_faces": 4}, key=None)
    assert status == 413 and body["error"]["code"] == "too_many_faces"


def test_inference_past_its_deadline_gets_503_with_retry_after(server):
    api = bootstrap.build_api(load_settings({"FACEV3_REQUEST_TIMEOUT_S": "0.000001"}), server.api.pipeline.backend)
    status, headers, body = InProcess(api).post_json(
        "/v1/embeddings", {"images": [b64(photo_path("t1.jpg").read_bytes())]}, key=None
    )
    assert status == 503 and body["error"]["code"] == "deadline_exceeded" and headers["retry-after"] == "1"


# ---- routing: one answer for every method, from the head alone where it can be -------------------


def test_405_names_the_allowed_methods_and_options_lists_them(server):
    status, headers, body = server.call("GET", "/v1/rerank")
    assert status == 405 and body["error"]["code"] == "method_not_allowed" and headers["allow"] == "POST, OPTIONS"
    status, headers, _ = server.call("OPTIONS", "/v1/info")
    assert status == 204 and headers["allow"] == "GET, HEAD, OPTIONS"


def test_head_answers_like_get_without_a_body(server):
    get, head = server.call("GET", "/v1/info"), server.call("HEAD", "/v1/info")
    assert head[0] == get[0] == 200 and head[2] == b"" and head[1]["content-type"] == get[1]["content-type"]


def test_a_request_is_refused_from_its_head_before_the_body_is_read(server):
    api = server.api
    assert api.admit("POST", "/v1/embeddings", {}).status == 401  # keys are set: no key, no upload
    assert api.admit("POST", "/nope", {"x-api-key": API_KEY}).status == 404
    assert api.admit("PUT", "/v1/rerank", {"x-api-key": API_KEY}).status == 405
    assert api.admit("POST", "/v1/embeddings", {"x-api-key": API_KEY}) is None
    assert api.admit("GET", "/healthz", {}) is None and api.admit("GET", "/readyz", {}) is None  # open paths


# ---- MessagePack: binary vectors in and out --------------------------------------------------------


def msgpack_call(server, path: str, payload: dict, accept: str = "application/msgpack"):
    headers = {"content-type": "application/msgpack", "accept": accept}
    request = HttpRequest("POST", path, {"x-api-key": API_KEY, **headers}, ormsgpack.packb(payload))
    response = server.api.handle(request)
    return response.status, response.content_type, response.body


def test_rerank_in_messagepack_with_binary_vectors_answers_like_json(server):
    rng = np.random.default_rng(5)
    query, rows = rng.standard_normal(128).astype(np.float32), rng.standard_normal((30, 128)).astype(np.float32)
    floats = {"query": query.tolist(), "candidates": [{"id": i, "embedding": r.tolist()} for i, r in enumerate(rows)]}
    binary = {"query": query.tobytes(), "candidates": [{"id": i, "embedding": r.tobytes()} for i, r in enumerate(rows)]}
    status, content_type, body = msgpack_call(server, "/v1/rerank", binary)
    assert status == 200 and content_type == "application/msgpack"
    assert ormsgpack.unpackb(body)["results"] == server.post_json("/v1/rerank", floats)[2]["results"]
    status, content_type, body = msgpack_call(server, "/v1/rerank", binary, accept="application/json")
    assert content_type == "application/json" and orjson.loads(body)["results"][0]["id"] is not None


def test_embeddings_in_messagepack_take_binary_images_and_give_binary_float32(server):
    photo = photo_path("Rob_Lowe_0001.jpg").read_bytes()
    status, _, body = msgpack_call(server, "/v1/embeddings", {"images": [{"id": "rob", "data": photo}]})
    face = ormsgpack.unpackb(body)["images"][0]["faces"][0]
    reference = server.post_json("/v1/embeddings", {"images": [b64(photo)]})[2]["images"][0]["faces"][0]
    assert status == 200 and isinstance(face["embedding"], bytes)
    np.testing.assert_array_equal(np.frombuffer(face["embedding"], "<f4"), np.float32(reference["embedding"]))


@pytest.mark.parametrize(
    "body,code",
    [(b"\xc1", "malformed_msgpack"), (b"\x92\x01\x02", "malformed_msgpack"), (b"\x81\x01\x02", "malformed_msgpack")],
)
def test_malformed_messagepack_is_a_400(server, body, code):
    request = HttpRequest("POST", "/v1/rerank", {"x-api-key": API_KEY, "content-type": "application/msgpack"}, body)
    response = server.api.handle(request)
    assert response.status == 400 and orjson.loads(response.body)["error"]["code"] == code
