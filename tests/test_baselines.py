"""The load tests' tuned baseline (bench/baselines/tuned_app.py) finds facev3's faces and gives its
embeddings, so that a throughput ratio against it compares the same work; the transport floor
(bench/baselines/granian_floor.py) reads every byte of a body."""

import base64
import importlib
import os

import numpy as np
import orjson
import pytest

from bench.load_scenarios import ensure_baseline_models, photo_640, rerank_body
from facev3 import bootstrap
from facev3.config import Settings
from tests.support.photos import photo_path
from tests.support.servers import Server


@pytest.fixture(scope="module")
def tuned_app():
    before = os.environ.get("FACEV3_BASELINE_MODELS")
    os.environ["FACEV3_BASELINE_MODELS"] = str(ensure_baseline_models())
    try:
        yield importlib.import_module("bench.baselines.tuned_app")
    finally:
        if before is None:
            del os.environ["FACEV3_BASELINE_MODELS"]
        else:
            os.environ["FACEV3_BASELINE_MODELS"] = before


@pytest.fixture(scope="module")
def pipeline():
    pipeline = bootstrap.build_pipeline(Settings())
    yield pipeline
    pipeline.backend.close()


@pytest.mark.parametrize("name", ["group photo at 640 px", "Rob_Lowe_0001.jpg", "obama_small.jpg"])
def test_the_tuned_app_finds_facev3s_faces_with_its_embeddings(tuned_app, pipeline, name):
    photo = photo_640() if name.startswith("group") else photo_path(name).read_bytes()
    answer = orjson.loads(tuned_app.embed_images(orjson.dumps({"images": [base64.b64encode(photo).decode()]})))
    tuned = answer["images"][0]["faces"]
    (ours,), _ = pipeline.run([photo])
    assert len(tuned) == len(ours.faces) >= 1
    for face in ours.faces:
        x1, y1, x2, y2 = face.box
        twin = min(tuned, key=lambda t: abs(t["bbox"][0] - x1) + abs(t["bbox"][1] - y1))
        np.testing.assert_allclose(twin["bbox"], [x1, y1, x2 - x1, y2 - y1], atol=1.0)
        assert float(np.dot(twin["embedding"], face.embedding)) >= 0.999


def test_the_transport_floor_takes_in_the_whole_body_and_answers_a_constant():
    """The floor stack of the rerank load scenarios runs on a real Granian and reads every byte."""
    body = rerank_body(200, 1024, True)
    server = Server("floor", {}, workers=1)
    try:
        status, _, answer = server.call("POST", "/v1/rerank", body, {"content-type": "application/json"})
    finally:
        server.stop()
    assert status == 200 and answer == {"status": "ok", "bytes": len(body)}
