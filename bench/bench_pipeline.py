"""Whole pipeline, photo bytes to normalized embeddings, one thread each: facev3 on the embedded
onnxruntime backend vs the OpenCV FaceDetectorYN + FaceRecognizerSF loop on the same cleaned
model files and the same photos (detection on a copy whose longest side is 640)."""

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from facev3 import bootstrap
from facev3.config import Settings
from facev3.core import detection
from facev3.core.pipeline import EmbedOptions
from facev3.models import files, registry
from tests.support.photos import photo_path

SHARED_FACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces"


def single_face_640() -> bytes:
    """obama.jpg (910 x 1137, one face) re-encoded at 640 px on its longest side."""
    image = Image.open(SHARED_FACES / "fr" / "obama.jpg").convert("RGB")
    image.thumbnail((640, 640))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


PHOTOS = {"single 640px": single_face_640, "group t1 6 faces": lambda: photo_path("t1.jpg").read_bytes()}


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    cv2.setNumThreads(1)
    yunet, sface = files.export([registry.load("yunet"), registry.load("sface")], tmp_path_factory.mktemp("models"))
    detector = cv2.FaceDetectorYN.create(str(yunet), "", (640, 640), 0.7, 0.3, 5000)
    recognizer = cv2.FaceRecognizerSF.create(str(sface), "")
    return bootstrap.build_pipeline(Settings(threads=1)), detector, recognizer


def opencv_loop(data: bytes, detector, recognizer) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    w, h = detection.downscaled_size(*image.shape[:2], 640)  # the same INTER_AREA downscale
    small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA) if (h, w) != image.shape[:2] else image
    detector.setInputSize((w, h))
    _, faces = detector.detect(small)
    features = []
    for row in faces if faces is not None else []:
        full = row.copy()
        full[:14] /= np.array([w / image.shape[1], h / image.shape[0]] * 7, np.float32)
        feature = recognizer.feature(recognizer.alignCrop(image, full)).ravel()
        features.append(feature / np.linalg.norm(feature))
    return np.array(features)


@pytest.mark.parametrize("photo", list(PHOTOS))
def test_facev3_pipeline(benchmark, engines, photo):
    pipeline, _, _ = engines
    data = PHOTOS[photo]()
    benchmark.group = f"pipeline {photo}"
    (result,), times = benchmark(pipeline.run, [data])
    benchmark.extra_info["faces"] = len(result.faces)
    benchmark.extra_info["stage_ms_last_round"] = times.as_dict()
    assert result.faces


@pytest.mark.parametrize("photo", list(PHOTOS))
def test_baseline_opencv_yn_sf_loop(benchmark, engines, photo):
    _, detector, recognizer = engines
    benchmark.group = f"pipeline {photo}"
    features = benchmark(opencv_loop, PHOTOS[photo](), detector, recognizer)
    benchmark.extra_info["faces"] = len(features)


# ---- the upright retry: free where the upright photo has faces, 4 detections where it has none ----


def turned(data: bytes) -> bytes:
    image = np.rot90(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
    return cv2.imencode(".jpg", np.ascontiguousarray(image))[1].tobytes()


@pytest.mark.parametrize("rotations", ["fallback", "none"])
def test_rotations_on_an_upright_photo(benchmark, engines, rotations):
    pipeline, _, _ = engines
    benchmark.group = "rotations, single 640px upright"
    benchmark.name = "test_facev3_fallback" if rotations == "fallback" else "test_baseline_no_retry"
    (result,), _ = benchmark(pipeline.run, [single_face_640()], EmbedOptions(rotations=rotations))
    assert len(result.faces) == 1


@pytest.mark.parametrize("rotations", ["fallback", "auto"])
def test_rotations_on_a_photo_turned_by_a_quarter(benchmark, engines, rotations):
    pipeline, _, _ = engines
    benchmark.group = "rotations, single 640px turned 90 degrees"
    benchmark.name = f"test_facev3_{rotations}" if rotations == "fallback" else "test_auto"
    (result,), _ = benchmark(pipeline.run, [turned(single_face_640())], EmbedOptions(rotations=rotations))
    assert result.faces
