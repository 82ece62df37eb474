"""32 faces from one 1280 px photo: align_faces vs the per-face OpenCV loop, one thread each."""

import cv2
import numpy as np
import pytest

from facev3 import _native
from tests.support.photos import photo_path

FACES = 32
SEED = 9


@pytest.fixture(scope="module")
def photo_and_faces():
    cv2.setNumThreads(1)
    image = cv2.imread(str(photo_path("t1.jpg")))
    rng = np.random.default_rng(SEED)
    faces = []
    for _ in range(FACES):
        angle, scale = rng.uniform(-0.4, 0.4), rng.uniform(0.8, 2.5)
        rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        faces.append((_native.ARCFACE_TEMPLATE - 56) @ rot.T + rng.uniform([150, 150], [1130, 736]))
    return image, np.array(faces, np.float32)


def opencv_loop(image: np.ndarray, landmarks: np.ndarray, out: np.ndarray) -> None:
    for i, face in enumerate(landmarks):
        m, _ = cv2.estimateAffinePartial2D(face, _native.ARCFACE_TEMPLATE)
        out[i] = cv2.warpAffine(image, m, (112, 112), flags=cv2.INTER_LINEAR, borderValue=0)


def opencv_warp_only(image: np.ndarray, matrices: np.ndarray, out: np.ndarray) -> None:
    for i, m in enumerate(matrices):
        out[i] = cv2.warpAffine(image, m, (112, 112), flags=cv2.INTER_LINEAR, borderValue=0)


def test_facev3_align_faces(benchmark, photo_and_faces):
    image, landmarks = photo_and_faces
    benchmark.group = f"align {FACES} faces"
    out = np.empty((FACES, 112, 112, 3), np.uint8)
    benchmark(_native.align_faces, image, landmarks, out=out)
    reference = np.empty_like(out)
    opencv_loop(image, landmarks, reference)
    assert np.abs(out.astype(int) - reference).mean() < 1.0


def test_baseline_opencv_estimate_and_warp_loop(benchmark, photo_and_faces):
    image, landmarks = photo_and_faces
    benchmark.group = f"align {FACES} faces"
    benchmark(opencv_loop, image, landmarks, np.empty((FACES, 112, 112, 3), np.uint8))


def test_baseline_opencv_warp_only_loop(benchmark, photo_and_faces):
    image, landmarks = photo_and_faces
    benchmark.group = f"align {FACES} faces"
    matrices = _native.estimate_similarity(landmarks).astype(np.float64)
    benchmark(opencv_warp_only, image, matrices, np.empty((FACES, 112, 112, 3), np.uint8))
