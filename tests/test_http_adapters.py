"""The adapters over real HTTP on 127.0.0.1 (Granian RSGI and Robyn, the embedded backend with
real models and photos): that each moves requests and answers through Api.handle intact (routes,
keys, JSON and multipart bodies, content types, status codes), counts metrics across workers and
enforces the body limit, staying up for the next good request. The contract itself (every option
and every 4xx) is tested in-process in test_handlers.py."""

import base64
import uuid

import numpy as np
import orjson
import pytest

from tests.support.embeddings import vectors_with_cosines
from tests.support.photos import photo_path
from tests.support.servers import Server

API_KEY = "test-key-" + uuid.uuid4().hex[:8]
LIMITS = {"FACEV3_MAX_BODY_BYTES": "3000000", "FACEV3_MAX_IMAGES": "4", "FACEV3_MAX_CANDIDATES": "50"}


@pytest.fixture(scope="module", params=["granian", "robyn"])
def server(request):
    server = Server(request.param, {"FACEV3_API_KEYS": API_KEY, **LIMITS}, api_key=API_KEY)
    yield server
    assert server.stop() == 0, f"{server.kind} did not exit cleanly on SIGTERM"


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


def test_metrics_count_every_request_whichever_worker_answers(server):
    before = healthz_count(server)
    for _ in range(10):
        server.call("GET", "/healthz")
    assert healthz_count(server) - before == 10


def test_unknown_routes_and_methods_are_json_errors(server):
    status, _, body = server.call("GET", "/nope")
    assert status == 404 and body["error"]["code"] == "not_found"
    status, _, body = server.call("GET", "/v1/rerank")
    assert status == 405 and body["error"]["code"] == "method_not_allowed"


def test_api_keys_are_required_and_accepted_as_bearer_or_header(server):
    assert server.call("GET", "/v1/info", key=None)[0] == 401
    status, _, body = server.call("GET", "/v1/info", key="wrong")
    assert status == 401 and body["error"]["code"] == "unauthorized"
    assert server.call("GET", "/v1/info", headers={"authorization": f"Bearer {API_KEY}"}, key=None)[0] == 200


# ---- the web page and its files (their contract in-process: test_static.py) -----------------------


def test_the_page_and_its_files_are_served_with_their_headers_and_no_key(server):
    status, headers, page = server.call("GET", "/", key=None)
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert headers["content-security-policy"].startswith("default-src 'self'") and b"/static/app.js" in page
    status, headers, script = server.call("GET", "/static/app.js", key=None)
    assert status == 200 and headers["content-type"].startswith("text/javascript") and b"/v1/embeddings" in script
    status, again, body = server.call("GET", "/static/app.js", headers={"if-none-match": headers["etag"]}, key=None)
    assert status == 304 and body == b"" and again["etag"] == headers["etag"]
    status, _, bundle = server.call("GET", "/static/swagger-ui/swagger-ui-bundle.js", key=None)
    assert status == 200 and len(bundle) > 1_000_000


@pytest.mark.parametrize(
    "path", ["/static/../bootstrap.py", "/static/%2e%2e/bootstrap.py", "/static/..%2fbootstrap.py", "/static/x.js"]
)
def test_paths_outside_the_packaged_files_are_404_json(server, path):
    status, headers, body = server.call("GET", path, key=None)  # sent as is: http.client does not normalize
    assert status == 404 and headers["content-type"] == "application/json" and body["error"]["code"] == "not_found"


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
    if server.kind == "robyn":  # Robyn 0.88 would merge the two parts: refused, never lossy
        assert status == 415 and payload["error"]["code"] == "multipart_unsupported"
        return
    assert status == 200
    assert [(i["id"], len(i["faces"])) for i in payload["images"]] == [("photo.jpg", 1), ("photo.jpg", 3)]


# ---- bad input: errors from the adapter (body limit) and from the handlers reach the client as JSON ----

QUERY = [1.0, 0.0, 0.0, 0.0]
GOOD = {"query": QUERY, "candidates": [{"id": "a", "embedding": [1.0, 1.0, 0.0, 0.0]}]}


def bad_requests():
    json_type = {"content-type": "application/json"}
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
        "zero vector": (
            "/v1/rerank",
            orjson.dumps({"query": [0.0] * 4, "candidates": GOOD["candidates"]}),
            json_type,
            422,
            "zero_vector",
        ),
        "too many images": (
            "/v1/embeddings",
            orjson.dumps({"images": ["aGk="] * 5}),
            json_type,
            413,
            "too_many_images",
        ),
        "oversize body": (
            "/v1/embeddings",
            orjson.dumps({"images": ["A" * 3_100_000]}),
            json_type,
            413,
            "body_too_large",
        ),
    }


@pytest.mark.parametrize("name", list(bad_requests()))
def test_bad_input_gets_its_documented_error_and_the_server_stays_up(server, name):
    path, body, headers, status, code = bad_requests()[name]
    got_status, _, payload = server.call_raw("POST", path, body, headers)
    assert got_status == status, payload
    assert set(payload) == {"error"} and payload["error"]["message"] and "Traceback" not in payload["error"]["message"]
    assert payload["error"]["code"] == code
    assert server.post_json("/v1/rerank", GOOD)[0] == 200
