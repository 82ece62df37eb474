"""Bring your own model, proved on real parts: SFace through its manifest is today's SFace bit for
bit; a 1024-d embedder (SFace plus a fixed orthonormal projection, tests/support/models.py) runs
end to end on the embedded backend and on a real tritonserver with system shared memory; an
embedder with the ArcFace convention (BGR, (x - 127.5) / 127.5, NHWC) gives SFace's embeddings;
and a manifest that disagrees with its model stops the start, naming the field."""

import base64
from pathlib import Path

import numpy as np
import onnxruntime as ort
import orjson
import pytest

from facev3 import bootstrap
from facev3.api.messages import HttpRequest
from facev3.config import Settings, SettingsError
from facev3.core.pipeline import EmbedOptions
from facev3.core.ports import embed_crops
from facev3.models import files, registry
from facev3.models.manifest import ManifestError, load_manifest, write_calibration
from facev3.tritonserver.launcher import TritonProcess
from tests.support import models
from tests.support.photos import photo_path
from tests.support.triton import TRITON_ENV
from tests.support.triton import repository as triton_repository

PHOTOS = ("t1.jpg", "Rob_Lowe_0001.jpg", "Rob_Lowe_0002.jpg", "obama_small.jpg")


@pytest.fixture(scope="module")
def derived(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    manifests = {"1024": models.sface_1024(folder), "arcface": models.sface_arcface_convention(folder)}
    # The projection keeps every cosine, so SFace's calibration is the 1024-d model's too
    # (test_calibrate fits it from the photos instead).
    write_calibration(manifests["1024"], registry.load("sface").spec.calibration)
    return manifests


@pytest.fixture(scope="module")
def sface_pipeline():
    # onnxruntime, as the code path written out below: OpenVINO agrees to cosine 0.999, not bit for bit.
    pipeline = bootstrap.build_pipeline(Settings(runtime="onnxruntime"))
    yield pipeline
    pipeline.backend.close()


@pytest.fixture(scope="module")
def sface_faces(sface_pipeline) -> list:
    results, _ = sface_pipeline.run([photo_path(name).read_bytes() for name in PHOTOS])
    return [face for result in results for face in result.faces]


def test_sface_through_its_manifest_gives_todays_embeddings_bit_for_bit(sface_pipeline, sface_faces):
    """Today's code path, written out: the fixed SFace graph on raw RGB NCHW planes, 2 at a time."""
    (result,), _ = sface_pipeline.run([photo_path("t1.jpg").read_bytes()], EmbedOptions(return_aligned=True))
    crops = np.array([face.aligned for face in result.faces])
    session = ort.InferenceSession(
        files.onnxruntime_model(registry.load("sface")).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    planes = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32)
    today = np.concatenate([session.run(["fc1"], {"data": planes[i : i + 2]})[0] for i in range(0, len(planes), 2)])
    np.testing.assert_array_equal(embed_crops(sface_pipeline.backend, crops), today)


def test_the_arcface_convention_gives_sfaces_embeddings(derived, sface_faces):
    pipeline = bootstrap.build_pipeline(Settings(embedder=str(derived["arcface"]), runtime="onnxruntime"))
    results, _ = pipeline.run([photo_path(name).read_bytes() for name in PHOTOS])
    faces = [face for result in results for face in result.faces]
    assert pipeline.backend.embedder.input.layout == "NHWC" and pipeline.backend.embedder.input.colour == "BGR"
    np.testing.assert_allclose([f.embedding for f in faces], [f.embedding for f in sface_faces], atol=1e-6)
    np.testing.assert_allclose([f.norm for f in faces], [f.norm for f in sface_faces], rtol=1e-6)


def call(api, method: str, path: str, payload: dict | None = None):
    body = orjson.dumps(payload) if payload is not None else b""
    response = api.handle(HttpRequest(method, path, {"content-type": "application/json"}, body))
    return response.status, orjson.loads(response.body)


def embeddings(api) -> dict:
    images = [{"id": name, "data": base64.b64encode(photo_path(name).read_bytes()).decode()} for name in PHOTOS]
    status, body = call(api, "POST", "/v1/embeddings", {"images": images})
    assert status == 200, body
    return body


def check_1024_d_service(api, sface_faces) -> None:
    """/v1/info, /v1/embeddings and /v1/rerank of a service running the 1024-d embedder."""
    status, info = call(api, "GET", "/v1/info")
    assert info["embedder"] == {"name": "sface-1024@test", "embedding_size": 1024}
    body = embeddings(api)
    assert body["model"] == "sface-1024@test" and body["embedding_size"] == 1024
    faces = [face for image in body["images"] for face in image["faces"]]
    vectors = np.array([face["embedding"] for face in faces], np.float32)
    assert vectors.shape == (len(sface_faces), 1024)
    reference = np.array([face.embedding for face in sface_faces])
    # SFace's cosines, whichever runtime each side ran on (they agree to a few 1e-6)
    np.testing.assert_allclose(vectors @ vectors.T, reference @ reference.T, atol=2e-5)
    owners = [image["id"] for image in body["images"] for _ in image["faces"]]
    rob = [i for i, owner in enumerate(owners) if owner.startswith("Rob")]
    query, candidates = vectors[rob[0]], [{"id": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]
    status, ranked = call(
        api, "POST", "/v1/rerank", {"query": query.tolist(), "candidates": candidates, "model": "sface-1024@test"}
    )
    assert status == 200, ranked
    assert {r["id"] for r in ranked["results"] if r["match"]} == set(rob)
    status, refused = call(
        api, "POST", "/v1/rerank", {"query": query.tolist(), "candidates": candidates, "model": "sface@2021dec"}
    )
    assert status == 422 and refused["error"]["code"] == "model_mismatch"


def test_a_1024_d_embedder_runs_end_to_end_on_the_embedded_backend(derived, sface_faces):
    api = bootstrap.build_api(Settings(embedder=str(derived["1024"])))
    try:
        check_1024_d_service(api, sface_faces)
    finally:
        api.close()


def test_a_1024_d_embedder_runs_on_tritonserver_with_system_shared_memory(derived, sface_faces, tmp_path):
    repository = triton_repository(tmp_path / "repo", embedder=str(derived["1024"]))
    with TritonProcess(repository, TRITON_ENV) as triton:
        # No FACEV3_EMBEDDER: the service takes the model (and its calibration) that Triton runs.
        api = bootstrap.build_api(Settings(backend="triton", triton_url=triton.grpc_url, triton_shm="system"))
        try:
            assert api.pipeline.backend.embedder.embedding_size == 1024
            check_1024_d_service(api, sface_faces)
        finally:
            api.close()
        # Naming another model than the one Triton runs stops the start, naming the field.
        with pytest.raises(
            SettingsError,
            match=r"FACEV3_EMBEDDER='sface' is sface@2021dec, .* runs sface-1024@test: they differ in name",
        ):
            bootstrap.build_backend(Settings(backend="triton", triton_url=triton.grpc_url, embedder="sface"))


def test_an_uncalibrated_embedder_embeds_but_cannot_decide_matches(tmp_path, sface_pipeline):
    manifest = models.sface_1024(tmp_path)
    pipeline = bootstrap.build_pipeline(Settings(embedder=str(manifest)))
    assert pipeline.run([photo_path("Rob_Lowe_0001.jpg").read_bytes()])[0][0].faces[0].embedding.shape == (1024,)
    with pytest.raises(SettingsError, match=r"sface-1024@test has no calibration: .*facev3 calibrate"):
        bootstrap.build_api(Settings(embedder=str(manifest)))


@pytest.mark.parametrize(
    "edit,field",
    [
        (('sha256 = "', 'sha256 = "0'), "source.sha256"),
        (('name = "embedding"', 'name = "features"'), "output.name"),
        (('name = "data"', 'name = "images"'), "input.name"),
        (("embedding_size = 1024", "embedding_size = 512"), "output.embedding_size"),
        (("size = [112, 112]", "size = [96, 112]"), "alignment.size"),
    ],
)
def test_a_wrong_manifest_stops_the_start_naming_the_field(tmp_path, edit, field):
    manifest = models.sface_1024(tmp_path)
    text = manifest.read_text()
    if field == "source.sha256":  # one hex digit more would not be a sha256: change the last one
        digest = load_manifest(manifest).source.sha256
        edit = (digest, digest[:-1] + ("0" if digest[-1] != "0" else "1"))
    manifest.write_text(text.replace(*edit, 1))
    with pytest.raises(ManifestError, match=rf"{manifest}: {field}: "):
        bootstrap.build_api(Settings(embedder=str(manifest)))


def test_calibrate_fits_the_1024_d_embedder_and_the_service_then_uses_it(tmp_path, sface_faces):
    """The projection keeps SFace's cosines, so the fit on the shared photos is SFace's."""
    from facev3.cli import main

    manifest = models.sface_1024(tmp_path)
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces"
    assert main(["calibrate", str(shared), "--embedder", str(manifest), "--write", str(manifest)]) == 0
    fitted, sface = load_manifest(manifest).spec.calibration, registry.load("sface").spec.calibration
    assert fitted.threshold == pytest.approx(sface.threshold, abs=1e-3) and fitted.scale == pytest.approx(
        sface.scale, rel=1e-2
    )
    assert "# A test embedder derived from SFace" in manifest.read_text()  # the rest of the file kept
    api = bootstrap.build_api(Settings(embedder=str(manifest)))
    try:
        check_1024_d_service(api, sface_faces)
    finally:
        api.close()
