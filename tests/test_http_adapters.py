"""The adapters over real HTTP on 127.0.0.1 (Granian RSGI and Robyn, the embedded backend with
real models and photos): that each moves requests and answers through Api.handle intact (routes,
keys, JSON and multipart bodies, content types, status codes), counts metrics across workers and
enforces the body limit, staying up for the next good request. The contract itself (every option
and every 4xx) is tested in-process in test_handlers.py; its tests named below run here again,
over HTTP, with this module's `server`."""

import orjson
import pytest

from tests import test_handlers as contract
from tests.support.photos import photo_path
from tests.support.servers import Server

API_KEY = contract.API_KEY


@pytest.fixture(scope="module", params=["granian", "robyn"])
def server(request):
    server = Server(request.param, {"FACEV3_API_KEYS": API_KEY, **contract.LIMITS}, api_key=API_KEY)
    yield server
    assert server.stop() == 0, f"{server.kind} did not exit cleanly on SIGTERM"


test_health_readiness_info_docs_and_metrics = contract.test_health_readiness_info_docs_and_metrics
test_unknown_routes_and_methods_are_json_errors = contract.test_unknown_routes_and_methods_are_json_errors
test_one_trailing_slash_names_the_same_route_on_both_servers = (
    contract.test_one_trailing_slash_names_the_same_route_on_both_servers
)
test_api_keys_are_required_and_accepted_as_bearer_or_header = (
    contract.test_api_keys_are_required_and_accepted_as_bearer_or_header
)
test_rerank_scores_order_and_decides_on_the_calibrated_threshold = (
    contract.test_rerank_scores_order_and_decides_on_the_calibrated_threshold
)
test_embeddings_json_per_image_in_input_order_with_ids = contract.test_embeddings_json_per_image_in_input_order_with_ids
test_one_bad_image_gets_its_error_and_the_others_succeed = (
    contract.test_one_bad_image_gets_its_error_and_the_others_succeed
)


def test_metrics_count_every_request_whichever_worker_answers(server):
    before = contract.healthz_count(server)
    for _ in range(10):
        server.call("GET", "/healthz")
    assert contract.healthz_count(server) - before == 10


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


def test_multipart_keeps_every_part_even_with_equal_filenames(server):
    body, content_type = contract.multipart(
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


# ---- bad input: errors from the adapter (body limit) and from the handlers reach the client ----

GOOD = contract.GOOD
JSON = {"content-type": "application/json"}
# Through the adapters, a sample of the contract's cases, and those only a socket can send.
BAD_REQUESTS = {
    **{
        name: case
        for name, case in contract.bad_requests().items()
        if name in ("malformed json", "wrong content type", "empty body", "zero vector", "too many images")
    },
    "oversize body": ("/v1/embeddings", orjson.dumps({"images": ["A" * 3_100_000]}), JSON, 413, "body_too_large"),
}


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_bad_input_gets_its_documented_error_and_the_server_stays_up(server, name):
    path, body, headers, status, code = BAD_REQUESTS[name]
    got_status, _, payload = server.call_raw("POST", path, body, headers)
    assert (got_status, payload["error"]["code"]) == (status, code), payload
    assert set(payload) == {"error"} and payload["error"]["message"] and "Traceback" not in payload["error"]["message"]
    assert server.post_json("/v1/rerank", GOOD)[0] == 200
