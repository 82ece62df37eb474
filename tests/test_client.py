"""facev3.client against real servers on 127.0.0.1 (Granian with an API key, one Robyn case, the
embedded backend with real models and photos): typed results, the same embeddings over JSON and
MessagePack, the service's error codes in its exceptions, retries of a really overloaded server
(FACEV3_MAX_INFLIGHT=1), and the example script. The retry policy's timing is tested against
httpx.MockTransport with a recording sleep. AsyncClient runs under asyncio.run (no pytest plugin)."""

import asyncio
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import cv2
import httpx
import numpy as np
import orjson
import ormsgpack
import pytest

from facev3.client import (
    AsyncClient,
    AuthError,
    Client,
    EmbedResult,
    ImageError,
    RequestError,
    ServerError,
    TransportError,
    Unavailable,
)
from facev3.tritonserver.launcher import free_ports
from tests.support.photos import photo_path
from tests.support.servers import Server

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "client-key-" + uuid.uuid4().hex[:8]
MAX_CANDIDATES = 50
# One inference request at a time: the tests are sequential, and the retry tests need real 503s.
ENV = {"FACEV3_API_KEYS": API_KEY, "FACEV3_MAX_CANDIDATES": str(MAX_CANDIDATES), "FACEV3_MAX_INFLIGHT": "1"}
GROUP, ROB1, ROB2, OBAMA = (
    photo_path(name) for name in ("t1.jpg", "Rob_Lowe_0001.jpg", "Rob_Lowe_0002.jpg", "obama_small.jpg")
)


@pytest.fixture(scope="module")
def server():
    server = Server("granian", ENV, workers=1, api_key=API_KEY)
    yield server
    assert server.stop() == 0


def url(server: Server) -> str:
    return f"http://127.0.0.1:{server.port}"


@pytest.fixture
def client(server):
    with Client(url(server), api_key=API_KEY) as client:
        yield client


class Recording(httpx.HTTPTransport):
    """A real transport that notes each exchange: (request content type, status, answer content type)."""

    def __init__(self) -> None:
        super().__init__()
        self.exchanges = []

    def handle_request(self, request):
        response = super().handle_request(request)
        self.exchanges.append(
            (request.headers.get("content-type"), response.status_code, response.headers["content-type"])
        )
        return response


class AsyncRecording(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.statuses = []

    async def handle_async_request(self, request):
        response = await super().handle_async_request(request)
        self.statuses.append(response.status_code)
        return response


def face_table(result: EmbedResult) -> list[tuple]:
    return [(image.id, len(image.faces), image.width, image.height) for image in result.images]


# ---- results ----------------------------------------------------------------------------------


def test_info_describes_the_service_in_typed_fields(client):
    info = client.info()
    assert (info.embedder.name, info.embedder.embedding_size) == ("sface@2021dec", 128)
    assert info.detector.name.startswith("yunet@") and 0 < info.detector.default_threshold < 1
    assert info.calibration.cosine_threshold == pytest.approx(0.4803) and info.rerank_threshold == 0.5
    assert info.limits.max_candidates == MAX_CANDIDATES and info.backend == "local"
    assert client.healthz() and client.readyz()


def test_embeddings_are_the_same_over_json_and_msgpack_and_auto_learns_msgpack(server):
    results, exchanges = {}, {}
    for wire in ("json", "msgpack", "auto"):
        transport = Recording()
        with Client(url(server), api_key=API_KEY, wire=wire, transport=transport) as client:
            assert client.wire == (None if wire == "auto" else wire)
            results[wire] = [client.embed([GROUP, ROB1], ids=["group", "rob"]) for _ in range(2)]
            assert client.wire == ("json" if wire == "json" else "msgpack")
        exchanges[wire] = [(sent, answered) for sent, _, answered in transport.exchanges]
    json_, msgpack = "application/json", "application/msgpack"
    assert exchanges == {
        "json": [(json_, json_)] * 2,
        "msgpack": [(msgpack, msgpack)] * 2,
        "auto": [(json_, msgpack), (msgpack, msgpack)],  # asks for MessagePack, then sends it
    }
    reference = results["json"][0]
    assert reference.model == "sface@2021dec" and reference.embedding_size == 128
    assert face_table(reference) == [("group", 6, 1280, 886), ("rob", 1, 250, 250)]
    for result in [*results["json"][1:], *results["msgpack"], *results["auto"]]:
        assert face_table(result) == face_table(reference)
        for image, expected in zip(result.images, reference.images, strict=True):
            for face, other in zip(image.faces, expected.faces, strict=True):
                np.testing.assert_allclose(face.bbox, other.bbox, rtol=1e-6)
                np.testing.assert_allclose(face.landmarks, other.landmarks, rtol=1e-6)
                assert face.embedding.dtype == np.float32 and face.embedding.flags.writeable
                np.testing.assert_allclose(face.embedding, other.embedding, atol=1e-6)
    face = reference.images[1].faces[0]
    assert np.linalg.norm(face.embedding) == pytest.approx(1, abs=1e-5) and face.norm > 1 and face.aligned is None
    assert len(face.landmarks) == 5 and 0 < face.score <= 1


def test_photos_come_as_paths_bytes_or_files_and_a_bad_one_fails_alone(client):
    with open(ROB2, "rb") as file:
        result = client.embed([str(ROB1), b"not an image", file], ids=[7, "junk", "file"], return_aligned=True)
    rob, junk, from_file = result.images
    assert (rob.index, rob.id, rob.ok, len(rob.faces)) == (0, 7, True, 1)
    assert (junk.ok, junk.error.code, junk.faces) == (False, "unsupported_format", [])
    assert from_file.ok and from_file.id == "file" and len(from_file.faces) == 1
    crop = cv2.imdecode(np.frombuffer(rob.faces[0].aligned, np.uint8), cv2.IMREAD_COLOR)
    assert rob.faces[0].aligned.startswith(b"\x89PNG") and crop.shape == (112, 112, 3)
    single = client.embed(OBAMA.read_bytes(), max_faces=1, return_landmarks=False)  # one photo, not a list
    assert len(single.images) == 1 and single.images[0].faces[0].landmarks is None


def test_faces_carry_their_quality_and_min_quality_filters_them(client):
    faces = client.embed(photo_path("t1.jpg")).images[0].faces
    assert all(
        0 <= face.quality <= 1 and set(face.quality_factors) == {"size", "sharpness", "pose", "detection", "norm"}
        for face in faces
    )
    cut = sorted(face.quality for face in faces)[3]
    kept = client.embed(photo_path("t1.jpg"), min_quality=cut).images[0].faces
    assert len(kept) == 3 and min(face.quality for face in kept) >= cut


def test_rerank_matches_rob_lowe_with_himself_and_not_with_obama(client):
    embedded = client.embed([ROB1, ROB2, OBAMA])
    rob1, rob2, obama = (image.largest_face().embedding for image in embedded.images)
    by_dict = client.rerank(rob1, {"obama": obama, "rob2": rob2}, model=embedded.model, debug=True)
    assert [(m.id, m.match) for m in by_dict.results] == [("rob2", True), ("obama", False)]
    assert by_dict.results[0].score > by_dict.threshold > by_dict.results[1].score
    assert by_dict.matches == by_dict.results[:1] and by_dict.results[0].similarity == pytest.approx(
        by_dict.results[0].cosine
    )
    assert (by_dict.diagnostics.candidate_count, by_dict.diagnostics.method) == (2, "cosine")
    by_pairs = client.rerank(rob1.tolist(), [("obama", obama), ("rob2", rob2)])
    by_array = client.rerank(rob1, np.stack([obama, rob2]).astype(np.float64), ids=np.array([11, 12]), top_k=1)
    assert [(m.id, m.score) for m in by_pairs.results] == [(m.id, m.score) for m in by_dict.results]
    assert [(m.id, m.score) for m in by_array.results] == [(12, by_dict.results[0].score)]


def test_compare_takes_the_largest_face_of_each_photo(client):
    assert client.compare(ROB1, ROB2).match
    assert not client.compare(ROB1, OBAMA).match
    assert client.compare(GROUP, GROUP, threshold=0.99).score > 0.99
    blank = cv2.imencode(".png", np.full((200, 200, 3), 128, np.uint8))[1].tobytes()
    with pytest.raises(ImageError) as no_face:
        client.compare(ROB1, blank)
    with pytest.raises(ImageError) as unreadable:
        client.compare(b"not an image", ROB1)
    assert (no_face.value.code, unreadable.value.code) == ("no_face", "unsupported_format")


# ---- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["wrong", None])
def test_a_wrong_or_missing_key_raises_auth_error_at_once(server, key):
    with Client(url(server), api_key=key) as client, pytest.raises(AuthError) as raised:
        client.info()
    assert (raised.value.status, raised.value.code, raised.value.attempts) == (401, "unauthorized", 1)
    assert "API key" in raised.value.message


def test_bad_requests_raise_with_the_services_code_and_status(client):
    vector = np.ones(128, np.float32)
    cases = {
        ("too_many_candidates", 413): lambda: client.rerank(vector, dict.fromkeys(range(MAX_CANDIDATES + 1), vector)),
        ("dim_mismatch", 422): lambda: client.rerank(vector, {"short": vector[:64]}),
        ("model_mismatch", 422): lambda: client.rerank(vector, {"a": vector}, model="other@1"),
        ("invalid_value", 422): lambda: client.embed(ROB1, det_threshold=0.1),
    }
    for (code, status), call in cases.items():
        with pytest.raises(RequestError) as raised:
            call()
        assert (raised.value.code, raised.value.status, raised.value.attempts) == (code, status, 1)
    with pytest.raises(TypeError, match="ids"):
        client.rerank(vector, np.stack([vector, vector]))  # a 2-D array needs ids=


def test_an_unreachable_service_is_a_transport_error_after_the_retries():
    slept = []
    with Client(f"http://127.0.0.1:{free_ports(1)[0]}", retries=2, sleep=slept.append) as client:
        assert not client.healthz()  # a probe answers False, and does not retry
        with pytest.raises(TransportError) as raised:
            client.info()
    assert (raised.value.status, raised.value.code, raised.value.attempts, len(slept)) == (None, "connect_error", 3, 2)
    assert "cannot connect to GET http://127.0.0.1" in raised.value.message


# ---- retries against a really overloaded server --------------------------------------------------


def test_the_client_retries_an_overloaded_server_until_every_request_succeeds(server):
    transport = Recording()
    start = threading.Barrier(4)
    results = []

    def embed(client):
        start.wait()
        results.append(client.embed(GROUP))

    with Client(url(server), api_key=API_KEY, retries=20, backoff=0.1, max_backoff=2, transport=transport) as client:
        threads = [threading.Thread(target=embed, args=(client,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert [len(result.images[0].faces) for result in results] == [6, 6, 6, 6]
    statuses = [status for _, status, _ in transport.exchanges]
    assert statuses.count(200) == 4 and 503 in statuses and set(statuses) == {200, 503}, statuses


def test_async_client_mirrors_the_blocking_one(server):
    async def main():
        transport = AsyncRecording()
        async with AsyncClient(url(server), api_key=API_KEY, retries=20, backoff=0.1, transport=transport) as client:
            info = await client.info()
            assert await client.healthz() and await client.readyz()
            embedded = await asyncio.gather(*(client.embed([ROB1, ROB2, OBAMA]) for _ in range(3)))
            assert 503 in transport.statuses and client.wire == "msgpack"  # one at a time on the server: retried
            rob1, rob2, obama = (image.largest_face().embedding for image in embedded[0].images)
            ranked = await client.rerank(rob1, {"rob2": rob2, "obama": obama}, model=info.embedder.name)
            same = await client.compare(ROB1, ROB2)
        async with AsyncClient(url(server), api_key="wrong") as stranger:
            with pytest.raises(AuthError) as raised:
                await stranger.info()
        return embedded, ranked, same, raised.value

    embedded, ranked, same, refused = asyncio.run(main())
    assert all(face_table(result) == [(None, 1, 250, 250)] * 2 + [(None, 1, 320, 240)] for result in embedded)
    assert [(m.id, m.match) for m in ranked.results] == [("rob2", True), ("obama", False)] and same.match
    assert refused.code == "unauthorized"


def test_robyn_serves_the_client_in_msgpack_too():
    server = Server("robyn", {"FACEV3_MAX_INFLIGHT": "1"}, workers=1)
    try:
        with Client(url(server)) as client:
            embedded = client.embed([GROUP, ROB1])
            assert client.wire == "msgpack" and face_table(embedded) == [(None, 6, 1280, 886), (None, 1, 250, 250)]
            assert client.compare(ROB1, ROB2).match and not client.compare(ROB1, OBAMA).match
    finally:
        assert server.stop() == 0


def test_the_example_embeds_two_photos_and_compares_them(server):
    def run(*photos):
        command = [sys.executable, "examples/embed_and_compare.py", "--url", url(server), *map(str, photos)]
        env = {**os.environ, "FACEV3_API_KEY": API_KEY}
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout

    status, output = run(ROB1, ROB2)
    assert status == 0 and f"{ROB1}: 1 face(s) in 250x250" in output and "\nsame person: score 0." in output, output
    status, output = run(ROB1, OBAMA)
    assert status == 0 and "\ndifferent people: score 0.0" in output, output


# ---- the retry policy, timed against a mock transport -----------------------------------------------


INFO = {
    "version": "0",
    "backend": "local",
    "detector": {"name": "d@1", "default_threshold": 0.7},
    "embedder": {"name": "e@1", "embedding_size": 4},
    "calibration": {"name": "c", "cosine_threshold": 0.5, "scale": 10.0},
    "rerank_threshold": 0.5,
    "limits": {"max_images": 1, "max_candidates": 1, "max_body_bytes": 1, "max_pixels": 1},
}


def answer(status: int, code: str = "", headers: dict | None = None, body: bytes | None = None) -> httpx.Response:
    if body is None:
        body = orjson.dumps(INFO if status == 200 else {"error": {"code": code, "message": "refused"}})
    return httpx.Response(status, content=body, headers={"content-type": "application/json", **(headers or {})})


def script(outcomes, sent: list) -> httpx.MockTransport:
    """A transport that answers requests with `outcomes` in turn (a response, or an exception it
    raises), noting each request in `sent`."""
    queue = list(outcomes)

    def handler(request):
        sent.append(request)
        outcome = queue.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return httpx.MockTransport(handler)


def scripted(*outcomes, **settings) -> tuple[Client, list, list]:
    """A Client over script(outcomes), with the sleeps it asks for recorded instead of slept."""
    sent, slept = [], []
    client = Client("http://facev3.test", transport=script(outcomes, sent), sleep=slept.append, **settings)
    return client, sent, slept


def test_a_503_with_retry_after_is_retried_after_the_time_it_asks():
    client, sent, slept = scripted(answer(503, "overloaded", {"retry-after": "1"}), answer(200))
    assert client.info().embedder.name == "e@1"
    assert len(sent) == 2 and len(slept) == 1 and 1.0 <= slept[0] <= 1.25  # Retry-After, plus up to 25% jitter


def test_retry_after_is_capped_by_max_backoff():
    client, _, slept = scripted(answer(503, "backend_unavailable", {"retry-after": "30"}), answer(200), max_backoff=2)
    client.info()
    assert slept == [2.0]


def test_retries_are_bounded_and_the_last_error_is_raised_with_its_code():
    busy = answer(503, "overloaded", {"retry-after": "1"})
    client, sent, slept = scripted(*[busy] * 4, retries=3, backoff=0.5)
    with pytest.raises(Unavailable) as raised:
        client.info()
    assert (raised.value.code, raised.value.retry_after, raised.value.attempts) == ("overloaded", 1.0, 4)
    assert len(sent) == 4 and len(slept) == 3
    assert 1 <= slept[0] <= 1.25 and 1 <= slept[1] <= 1.25 and 2 <= slept[2] <= 2.5  # then the back-off passes it


def test_without_retry_after_the_backoff_doubles_with_jitter_up_to_its_cap():
    broken = httpx.ConnectError("refused")
    outcomes = [answer(502, body=b"<html>bad gateway</html>"), answer(504), broken, answer(503), answer(200)]
    client, sent, slept = scripted(*outcomes, retries=4, backoff=0.5, max_backoff=3)
    client.info()
    assert len(sent) == 5
    for got, base in zip(slept, [0.5, 1.0, 2.0, 3.0], strict=True):
        assert base <= got <= min(base * 1.25, 3.0)


@pytest.mark.parametrize(
    ("outcome", "kind", "code"),
    [
        (answer(422, "invalid_value"), RequestError, "invalid_value"),
        (answer(413, "too_many_candidates"), RequestError, "too_many_candidates"),
        (answer(401, "unauthorized"), AuthError, "unauthorized"),
        (answer(500, "internal_error"), ServerError, "internal_error"),
        (httpx.ReadTimeout("slow"), TransportError, "timeout"),
    ],
)
def test_client_mistakes_server_faults_and_read_timeouts_are_not_retried(outcome, kind, code):
    client, sent, slept = scripted(outcome, answer(200))
    with pytest.raises(kind) as raised:
        client.info()
    assert raised.value.code == code and len(sent) == 1 and slept == []


def test_an_answer_without_the_error_contract_gets_a_code_from_its_status():
    client, _, _ = scripted(answer(502, body=b"<html>bad gateway</html>"), retries=0)
    with pytest.raises(Unavailable) as raised:
        client.info()
    assert (raised.value.status, raised.value.code, raised.value.message) == (
        502,
        "http_502",
        "<html>bad gateway</html>",
    )


def test_auto_wire_sends_msgpack_once_the_service_answers_it_and_json_to_a_service_that_does_not():
    def service(speaks_msgpack: bool, seen: list):
        def handler(request):
            seen.append((request.headers["content-type"], request.headers["accept"]))
            payload = {
                "results": [],
                "threshold": 0.5,
                "diagnostics": dict.fromkeys(("latency_ms", "candidate_count"), 0),
            }
            payload["diagnostics"] |= {"method": "cosine", "calibration": "c"}
            if speaks_msgpack and "application/msgpack" in request.headers["accept"]:
                return httpx.Response(
                    200, content=ormsgpack.packb(payload), headers={"content-type": "application/msgpack"}
                )
            return httpx.Response(200, json=payload)

        return httpx.MockTransport(handler)

    both = "application/msgpack, application/json"
    for speaks, expected in [(True, "application/msgpack"), (False, "application/json")]:
        seen = []
        with Client("http://facev3.test", transport=service(speaks, seen)) as client:
            for _ in range(2):
                client.rerank([1.0, 0.0], {"a": [1.0, 0.0]})
        assert seen == [("application/json", both), (expected, both if speaks else "application/json")]


def test_async_retries_follow_the_same_policy():
    outcomes = [answer(503, "overloaded", {"retry-after": "1"}), httpx.ConnectError("refused"), answer(200)]
    slept = []

    async def sleep(seconds):
        slept.append(seconds)

    async def main():
        async with AsyncClient("http://facev3.test", transport=script(outcomes, sent), sleep=sleep) as client:
            return await client.info()

    sent = []
    assert asyncio.run(main()).limits.max_images == 1
    assert len(sent) == 3 and len(slept) == 2 and 1 <= slept[0] <= 1.25 and 1 <= slept[1] <= 1.25
