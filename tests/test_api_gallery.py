"""/v1/gallery/search on a real milvus-lite gallery enrolled by `facev3 gallery add`: the
largest face of a photo, Milvus' top-k re-ranked as /v1/rerank does, with labels and crops; the
route and /v1/info's "gallery" exist only when FACEV3_GALLERY names a gallery."""

import base64
import io

import orjson
import pytest
from PIL import Image

from facev3 import bootstrap
from facev3.api.messages import HttpRequest
from facev3.cli import main
from facev3.config import Settings
from facev3.gallery.errors import CollectionMissing
from tests.support.photos import photo_path


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    pytest.importorskip("pymilvus", reason="the milvus extra is not installed")
    database = tmp_path_factory.mktemp("gallery") / "faces.db"
    for name, label in (("Rob_Lowe_0001.jpg", "rob"), ("obama_small.jpg", "obama")):
        assert main(["gallery", "add", str(photo_path(name)), "--label", label, "--milvus", str(database)]) == 0
    api = bootstrap.build_api(Settings(gallery=str(database)))
    yield api
    api.close()


def post(api, payload: dict) -> tuple[int, dict]:
    request = HttpRequest("POST", "/v1/gallery/search", {"content-type": "application/json"}, orjson.dumps(payload))
    response = api.handle(request)
    return response.status, orjson.loads(response.body)


def b64(name: str) -> str:
    return base64.b64encode(photo_path(name).read_bytes()).decode()


def test_info_reports_the_gallery(gallery):
    info = orjson.loads(gallery.handle(HttpRequest("GET", "/v1/info", {}, b"")).body)
    assert info["gallery"] == {"collection": "faces_sface_2021dec"}


def test_a_photo_finds_its_person_first_with_a_match_and_the_crop(gallery):
    status, answer = post(gallery, {"image": b64("Rob_Lowe_0002.jpg")})
    assert status == 200 and answer["model"] == "sface@2021dec" and answer["face"]["quality"] > 0.5
    best, other = answer["results"]
    assert (best["label"], best["match"], other["label"], other["match"]) == ("rob", True, "obama", False)
    assert best["score"] > 0.5 > other["score"]
    assert Image.open(io.BytesIO(base64.b64decode(best["crop"]))).size == (112, 112)


def test_a_photo_without_a_face_or_a_bad_one_gets_its_own_error(gallery):
    blank = io.BytesIO()
    Image.new("RGB", (200, 200), "white").save(blank, "PNG")
    status, answer = post(gallery, {"image": base64.b64encode(blank.getvalue()).decode()})
    assert status == 200 and answer["error"]["code"] == "no_face" and answer["results"] == []
    status, answer = post(gallery, {"image": base64.b64encode(b"not a photo").decode()})
    assert status == 200 and answer["error"]["code"] == "unsupported_format"


@pytest.mark.parametrize(
    "payload,code",
    [
        ({}, "missing_field"),
        ({"image": "aGk=", "top_k": 0}, "invalid_value"),
        ({"image": "aGk=", "colour": 1}, "unknown_field"),
    ],
)
def test_bad_requests_are_typed_4xx(gallery, payload, code):
    status, answer = post(gallery, payload)
    assert status == 422 and answer["error"]["code"] == code


def test_without_a_gallery_there_is_no_route_and_a_missing_one_stops_the_start(tmp_path):
    api = bootstrap.build_api(Settings())
    try:
        assert post(api, {"image": b64("Rob_Lowe_0002.jpg")})[0] == 404
        assert "gallery" not in orjson.loads(api.handle(HttpRequest("GET", "/v1/info", {}, b"")).body)
    finally:
        api.close()
    pytest.importorskip("pymilvus", reason="the milvus extra is not installed")
    with pytest.raises(CollectionMissing, match="enrol faces first"):
        bootstrap.build_api(Settings(gallery=str(tmp_path / "empty.db")))
