"""The face pipeline on the embedded (onnxruntime) backend, on real photos: face counts, labelled
identities against the calibrated threshold, parity with OpenCV's own YuNet + SFace, options."""

from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest

from facev3 import bootstrap
from facev3.backends import local
from facev3.backends.local import LocalBackend
from facev3.config import Settings
from facev3.core import detection
from facev3.core.errors import BackendUnavailable
from facev3.core.pipeline import EmbedOptions, Pipeline
from facev3.core.ports import embed_crops
from facev3.evaluation.labelled import PairSet, load_labelled
from facev3.models import files, registry
from tests.support.photos import photo_path

SFACE_CALIBRATION = registry.resolve("sface", "embedder").spec.calibration
SHARED_FACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces"


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return bootstrap.build_pipeline(Settings())


@pytest.fixture(scope="module")
def labelled() -> PairSet:
    """Single-person photos with an identity from ../shared/data/faces, and their pairs."""
    assert (SHARED_FACES / "MANIFEST.json").is_file(), f"the shared photo set is missing: {SHARED_FACES}"
    return load_labelled(SHARED_FACES)


def test_group_photo_yields_six_faces(pipeline):
    (result,), times = pipeline.run([photo_path("t1.jpg").read_bytes()])
    assert (result.width, result.height) == (1280, 886)
    assert len(result.faces) == 6
    assert all(0.7 <= f.score <= 1 for f in result.faces)
    assert all(ms > 0 for ms in times.as_dict().values()) and set(times.as_dict()) == {
        "decode",
        "detect",
        "align",
        "embed",
    }


def test_every_labelled_photo_yields_its_face_and_pairs_fall_on_the_right_side(pipeline, labelled):
    results, _ = pipeline.run([photo.path.read_bytes() for photo in labelled.photos])
    assert all(r.error is None and r.faces for r in results), [
        str(p.path) for p, r in zip(labelled.photos, results, strict=True) if not r.faces
    ]
    vectors = np.array([r.largest_face().embedding for r in results])
    cosines, same, _ = labelled.scored(vectors, np.ones(len(vectors), bool))
    assert same.sum() >= 20 and (~same).sum() >= 200
    assert cosines[same].min() > SFACE_CALIBRATION.threshold > cosines[~same].max()


def test_embeddings_are_unit_length_unless_asked_raw(pipeline):
    data = [photo_path("Rob_Lowe_0001.jpg").read_bytes()]
    (unit,), _ = pipeline.run(data)
    (raw,), _ = pipeline.run(data, EmbedOptions(normalize=False))
    face, raw_face = unit.faces[0], raw.faces[0]
    assert np.linalg.norm(face.embedding) == pytest.approx(1, abs=1e-5)
    assert np.linalg.norm(raw_face.embedding) == pytest.approx(raw_face.norm, rel=1e-5) and raw_face.norm > 2
    np.testing.assert_allclose(raw_face.embedding / raw_face.norm, face.embedding, atol=1e-6)


def test_options_filter_faces_and_return_crops(pipeline):
    data = [photo_path("t1.jpg").read_bytes()]
    (two,), _ = pipeline.run(data, EmbedOptions(max_faces=2, return_aligned=True))
    (all_six,), _ = pipeline.run(data)
    areas = sorted((f.area for f in all_six.faces), reverse=True)
    assert sorted((f.area for f in two.faces), reverse=True) == pytest.approx(areas[:2])
    assert all(f.aligned.shape == (112, 112, 3) for f in two.faces)
    (none,), _ = pipeline.run(data, EmbedOptions(min_face_size=10_000))
    assert none.faces == ()
    (strict,), _ = pipeline.run(data, EmbedOptions(det_threshold=0.92))
    assert 0 < len(strict.faces) < 6


def test_mirror_fusion_stays_close_to_the_plain_embedding(pipeline):
    data = [photo_path("Rob_Lowe_0002.jpg").read_bytes()]
    (plain,), _ = pipeline.run(data)
    (fused,), _ = pipeline.run(data, EmbedOptions(mirror=True))
    similarity = float(plain.faces[0].embedding @ fused.faces[0].embedding)
    assert 0.85 < similarity < 0.9999


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_mirror_fusion_is_the_mean_of_each_face_and_its_mirror_image(pipeline):
    data = [photo_path("t1.jpg").read_bytes()]
    (plain,), _ = pipeline.run(data, EmbedOptions(return_aligned=True))
    (fused,), _ = pipeline.run(data, EmbedOptions(mirror=True, return_aligned=True, normalize=False))
    crops = np.array([f.aligned for f in fused.faces])
    np.testing.assert_array_equal(crops, [f.aligned for f in plain.faces])  # the originals, not the mirrored stage
    original, mirrored = embed_crops(pipeline.backend, crops), embed_crops(pipeline.backend, crops[:, :, ::-1].copy())
    expected = unit(unit(original) + unit(mirrored)) * np.linalg.norm(original, axis=1, keepdims=True)
    np.testing.assert_allclose([f.embedding for f in fused.faces], expected, rtol=1e-5, atol=1e-5)


def test_faces_spread_over_several_stages_come_back_in_order(pipeline, monkeypatch):
    photos = [photo_path(n).read_bytes() for n in ("t1.jpg", "Rob_Lowe_0001.jpg", "obama_small.jpg", "t1.jpg")]
    one_stage, _ = pipeline.run(photos, EmbedOptions(return_aligned=True))
    stages = []
    stage = pipeline.backend.stage
    monkeypatch.setattr(local, "LOCAL_STAGE_CROPS", 4)
    monkeypatch.setattr(pipeline.backend, "stage", lambda: stages.append(1) or stage())
    several, _ = pipeline.run(photos, EmbedOptions(return_aligned=True))
    assert len(stages) == 4  # 14 faces, 4 at a time; a group photo's faces span stages
    for a, b in zip(several, one_stage, strict=True):
        assert len(a.faces) == len(b.faces) > 0
        np.testing.assert_array_equal([f.aligned for f in a.faces], [f.aligned for f in b.faces])
        np.testing.assert_allclose([f.embedding for f in a.faces], [f.embedding for f in b.faces], atol=1e-5)


class DetectFailsOnSecondImage:
    """The embedded backend, except that detection fails on the second image (as when Triton
    goes down mid-request); counts crop stages taken and given back."""

    def __init__(self, backend: LocalBackend) -> None:
        self._backend, self.detector, self.embedder = backend, backend.detector, backend.embedder
        self.detections, self.stages_open = 0, 0

    def detect(self, *args):
        self.detections += 1
        if self.detections == 2:
            raise BackendUnavailable("Triton went away")
        return self._backend.detect(*args)

    @contextmanager
    def stage(self):
        self.stages_open += 1
        try:
            with self._backend.stage() as stage:
                yield stage
        finally:
            self.stages_open -= 1


def test_a_backend_failure_mid_request_gives_the_crop_stage_back(pipeline):
    backend = DetectFailsOnSecondImage(pipeline.backend)
    with pytest.raises(BackendUnavailable):
        Pipeline(backend).run([photo_path("t1.jpg").read_bytes(), photo_path("Rob_Lowe_0001.jpg").read_bytes()])
    assert backend.detections == 2 and backend.stages_open == 0


def test_identical_images_are_embedded_once_when_deduplicated(pipeline):
    a, b = photo_path("Rob_Lowe_0001.jpg").read_bytes(), photo_path("obama_small.jpg").read_bytes()
    results, _ = pipeline.run([a, b, a], EmbedOptions(dedupe=True))
    assert results[2].duplicate_of == 0 and results[0].duplicate_of is None
    np.testing.assert_array_equal(results[2].faces[0].embedding, results[0].faces[0].embedding)


def test_a_bad_image_fails_alone_and_the_next_call_still_works(pipeline):
    good = photo_path("Rob_Lowe_0001.jpg").read_bytes()
    results, _ = pipeline.run([b"not an image", good, photo_path("t1.jpg").read_bytes()[:5000]])
    assert [r.error.code if r.error else None for r in results] == ["unsupported_format", None, "corrupt_image"]
    assert len(results[1].faces) == 1
    (again,), _ = pipeline.run([good])
    assert len(again.faces) == 1


# ---- parity with OpenCV's FaceDetectorYN + FaceRecognizerSF on the same cleaned files --------


@pytest.fixture(scope="module")
def opencv_models(tmp_path_factory):
    directory = tmp_path_factory.mktemp("models")
    return files.export([registry.load("yunet"), registry.load("sface")], directory)


@pytest.mark.parametrize("name", ["t1.jpg", "Rob_Lowe_0001.jpg", "obama_small.jpg"])
def test_detection_and_embeddings_match_opencv(pipeline, opencv_models, name):
    yunet_path, sface_path = opencv_models
    data = photo_path(name).read_bytes()
    (ours,), _ = pipeline.run([data])

    image_bgr = cv2.imread(str(photo_path(name)))
    w, h = detection.downscaled_size(*image_bgr.shape[:2], 640)
    small_bgr = (
        cv2.resize(image_bgr, (w, h), interpolation=cv2.INTER_AREA) if (h, w) != image_bgr.shape[:2] else image_bgr
    )
    detector = cv2.FaceDetectorYN.create(str(yunet_path), "", (w, h), 0.7, 0.3, 5000)
    _, faces = detector.detect(small_bgr)
    assert faces is not None and len(faces) == len(ours.faces)
    scale = np.array([w / image_bgr.shape[1], h / image_bgr.shape[0]])
    recognizer = cv2.FaceRecognizerSF.create(str(sface_path), "")
    for face, row in zip(ours.faces, faces[np.argsort(-faces[:, -1], kind="stable")], strict=True):
        box = np.array([row[0], row[1], row[0] + row[2], row[1] + row[3]]).reshape(2, 2) / scale
        np.testing.assert_allclose(face.box.reshape(2, 2), box, atol=1.0)
        np.testing.assert_allclose(face.landmarks, row[4:14].reshape(5, 2) / scale, atol=1.0)
        full_row = np.concatenate([box.ravel(), row[4:14].reshape(5, 2).ravel() / np.tile(scale, 5), row[14:]]).astype(
            np.float32
        )
        full_row[2:4] -= full_row[:2]  # x, y, w, h
        crop = recognizer.alignCrop(image_bgr, full_row)
        reference = recognizer.feature(crop).ravel()
        assert float(face.embedding @ (reference / np.linalg.norm(reference))) >= 0.999


# ---- CenterFace, the optional detector -------------------------------------------------------


@pytest.fixture(scope="module")
def centerface_pipeline() -> Pipeline:
    return bootstrap.build_pipeline(Settings(detector="centerface"))


def test_centerface_finds_the_six_faces_of_the_group_photo(centerface_pipeline):
    (result,), _ = centerface_pipeline.run([photo_path("t1.jpg").read_bytes()])
    assert len(result.faces) == 6
    assert all(0.5 <= f.score <= 1 for f in result.faces)


def test_centerface_faces_embed_like_yunet_faces_and_keep_identities_apart(pipeline, centerface_pipeline, labelled):
    data = [photo.path.read_bytes() for photo in labelled.photos]
    yunet_results, _ = pipeline.run(data)
    centerface_results, _ = centerface_pipeline.run(data)
    faces = [r.largest_face() for r in centerface_results]
    assert all(face is not None for face in faces)
    for ours, theirs in zip(faces, yunet_results, strict=True):
        reference = theirs.largest_face()
        inter_ocular = np.linalg.norm(reference.landmarks[0] - reference.landmarks[1])
        # CenterFace puts the mouth corners lower than YuNet: same face, close points.
        assert np.linalg.norm(ours.landmarks - reference.landmarks, axis=1).max() < 0.35 * inter_ocular
        assert float(ours.embedding @ reference.embedding) > 0.85
    cosines, same, _ = labelled.scored(np.array([f.embedding for f in faces]), np.ones(len(faces), bool))
    assert cosines[same].min() > SFACE_CALIBRATION.threshold > cosines[~same].max()
