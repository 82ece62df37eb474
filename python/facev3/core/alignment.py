"""Five-point similarity alignment of faces into an embedder's crops.

The ArcFace 112 x 112 template, which nearly every embedder uses, runs in the C++ core (one call
for all faces, written straight into the caller's buffer). Any other template or crop size named
by a manifest uses the same least-squares similarity (native.estimate_similarity) and OpenCV's
bilinear warp, one face at a time.
"""

import cv2
import numpy as np

from facev3 import native
from facev3.core.models import Alignment

NATIVE = Alignment()


def align(image_rgb: np.ndarray, landmarks: np.ndarray, alignment: Alignment, out: np.ndarray) -> None:
    """Writes the crops of the faces whose (n, 5, 2) float32 landmarks are given into out, an
    (n, height, width, 3) uint8 view."""
    if alignment == NATIVE:
        native.align_faces(image_rgb, landmarks, out=out)
        return
    template = np.asarray(alignment.template, np.float32)
    height, width = alignment.size
    for face, crop in zip(landmarks, out, strict=True):
        matrix = native.estimate_similarity(face[None], template)[0]
        cv2.warpAffine(
            image_rgb,
            matrix,
            (width, height),
            dst=crop,
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
