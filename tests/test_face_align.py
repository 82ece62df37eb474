"""face_align through facev3._native: the Umeyama similarity and the bilinear warp, against numpy
and OpenCV (cv2.estimateAffinePartial2D + cv2.warpAffine) on a real group photo."""

import cv2
import numpy as np
import pytest

from facev3 import _native

TEMPLATE = _native.ARCFACE_TEMPLATE


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(11)


def numpy_umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Umeyama 1991 with SVD and the reflection correction, in float64."""
    src, dst = src.astype(np.float64), dst.astype(np.float64)
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    u, sigma, vt = np.linalg.svd(d.T @ s / len(src))
    fix = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt))])
    rotation = u @ fix @ vt
    scale = np.trace(np.diag(sigma) @ fix) / s.var(0).sum()
    return np.hstack([scale * rotation, (md - scale * rotation @ ms)[:, None]])


def faces_on(image: np.ndarray, rng: np.random.Generator, count: int) -> np.ndarray:
    """Landmark sets: the template under random similarities, spread over the image and its edges."""
    h, w = image.shape[:2]
    faces = []
    for _ in range(count):
        angle = rng.uniform(-0.6, 0.6)
        scale = rng.uniform(0.6, 3.0)
        rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        centre = rng.uniform([-20, -20], [w + 20, h + 20])
        faces.append((TEMPLATE - 56.0) @ rot.T + centre)
    return np.array(faces, np.float32)


def test_similarity_matches_numpy_umeyama_with_svd(rng):
    for _ in range(50):
        src = rng.uniform(0, 500, (5, 2)).astype(np.float32)
        np.testing.assert_allclose(_native.estimate_similarity(src), numpy_umeyama(src, TEMPLATE), rtol=1e-5, atol=1e-3)


def test_mirrored_points_still_give_a_proper_rotation(rng):
    src = (TEMPLATE * [-1, 1]).astype(np.float32)  # reflected: the reflection case of Umeyama
    m = _native.estimate_similarity(src)
    np.testing.assert_allclose(m, numpy_umeyama(src, TEMPLATE), atol=1e-4)
    assert np.linalg.det(m[:, :2]) > 0


def test_similarity_matches_opencv_on_exact_points(rng):
    src = faces_on(np.zeros((900, 1300, 3), np.uint8), rng, 20)
    ours = _native.estimate_similarity(src)
    assert ours.shape == (20, 2, 3)
    for face, m in zip(src, ours, strict=True):
        expected, _ = cv2.estimateAffinePartial2D(face, TEMPLATE)
        np.testing.assert_allclose(m, expected, rtol=1e-4, atol=1e-3)


def test_similarity_takes_any_destination_points(rng):
    src = rng.uniform(0, 100, (7, 2)).astype(np.float32)
    dst = rng.uniform(0, 100, (7, 2)).astype(np.float32)
    np.testing.assert_allclose(_native.estimate_similarity(src, dst), numpy_umeyama(src, dst), rtol=1e-5, atol=1e-3)


def opencv_crops(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    crops = []
    for face in landmarks:
        m = numpy_umeyama(face, TEMPLATE)
        crops.append(
            cv2.warpAffine(image, m, (112, 112), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        )
    return np.array(crops)


def test_crops_match_opencv_warp_affine_on_a_real_photo(group_photo_bgr, rng):
    landmarks = faces_on(group_photo_bgr, rng, 64)
    ours = _native.align_faces(group_photo_bgr, landmarks)
    assert ours.shape == (64, 112, 112, 3) and ours.dtype == np.uint8
    diff = np.abs(ours.astype(np.int16) - opencv_crops(group_photo_bgr, landmarks))
    assert diff.mean() < 1.0, diff.mean()
    assert np.percentile(diff, 99.9) <= 2


def test_swap_rb_reverses_the_channels(group_photo_bgr, rng):
    landmarks = faces_on(group_photo_bgr, rng, 4)
    bgr = _native.align_faces(group_photo_bgr, landmarks)
    np.testing.assert_array_equal(_native.align_faces(group_photo_bgr, landmarks, swap_rb=True), bgr[..., ::-1])


def test_a_crop_of_a_larger_image_is_read_in_place(group_photo_bgr, rng):
    window = group_photo_bgr[100:700, 200:1000]  # row stride 3 * 1280, width 800
    landmarks = faces_on(window, rng, 8)
    np.testing.assert_array_equal(
        _native.align_faces(window, landmarks), _native.align_faces(np.ascontiguousarray(window), landmarks)
    )


def test_faces_past_the_border_read_black(group_photo_bgr):
    far_away = (TEMPLATE + np.float32(5000)).astype(np.float32)[None]
    assert not _native.align_faces(group_photo_bgr, far_away).any()


def test_crops_are_written_into_the_callers_buffer(group_photo_bgr, rng):
    landmarks = faces_on(group_photo_bgr, rng, 3)
    region = np.zeros((8, 112, 112, 3), np.uint8)  # e.g. a slot of an inference input buffer
    out = region[2:5]
    result = _native.align_faces(group_photo_bgr, landmarks, out=out)
    assert np.shares_memory(result, region)
    np.testing.assert_array_equal(region[2:5], _native.align_faces(group_photo_bgr, landmarks))
    assert not region[:2].any() and not region[5:].any()


def test_no_faces_gives_an_empty_batch(group_photo_bgr):
    assert _native.align_faces(group_photo_bgr, np.zeros((0, 5, 2), np.float32)).shape == (0, 112, 112, 3)


@pytest.mark.parametrize(
    "image,landmarks,code",
    [
        (np.zeros((10, 10, 3), np.uint8), np.zeros((1, 5, 2), np.float32), "degenerate"),
        (np.zeros((10, 10, 3), np.uint8), np.full((1, 5, 2), np.nan, np.float32), "non_finite"),
        (np.zeros((10, 10, 3), np.uint8), np.zeros((1, 5, 2), np.float64), "dtype"),
        (np.zeros((10, 10, 3), np.uint8), np.zeros((1, 4, 2), np.float32), "shape"),
        (np.zeros((10, 10, 3), np.float32), np.zeros((1, 5, 2), np.float32), "dtype"),
        (np.zeros((10, 10), np.uint8), np.zeros((1, 5, 2), np.float32), "shape"),
        (np.zeros((10, 20, 3), np.uint8)[:, ::2], np.zeros((1, 5, 2), np.float32), "bad_layout"),
        (np.zeros((0, 10, 3), np.uint8), TEMPLATE[None].copy(), "empty"),
    ],
)
def test_bad_alignment_inputs_raise_input_error(image, landmarks, code):
    with pytest.raises(_native.InputError) as err:
        _native.align_faces(image, landmarks)
    assert err.value.code == code


def test_a_bad_face_leaves_the_output_untouched(group_photo_bgr, rng):
    landmarks = faces_on(group_photo_bgr, rng, 3)
    landmarks[2] = 7.0  # all five points coincide
    out = np.full((3, 112, 112, 3), 99, np.uint8)
    with pytest.raises(_native.InputError):
        _native.align_faces(group_photo_bgr, landmarks, out=out)
    assert (out == 99).all()
