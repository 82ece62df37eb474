"""Shared fixtures for the test suite."""

import numpy as np
import pytest

from tests.support.photos import photo_path


@pytest.fixture(scope="session")
def group_photo_bgr() -> np.ndarray:
    """insightface t1.jpg (1280 x 886, 6 people) as OpenCV decodes it: BGR uint8."""
    import cv2

    image = cv2.imread(str(photo_path("t1.jpg")), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (886, 1280, 3)
    return image
