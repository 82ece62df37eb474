"""A face's quality: one number in 0-1 for "how much can this face be trusted", so that tiny,
blurred, turned or barely detected faces are not enrolled into galleries and then match everyone.

quality = size x sharpness x pose x detection x norm, each factor in 0-1 and about 1 when it gives
no reason for concern, so a single bad factor pulls the whole score down:
  size       the box's shorter side in pixels: 1 / (1 + exp(-(side - 20) / 3)); 0.5 at 20 px:
             SFace keeps 96% of its true accepts at 24 px and 38% at 16 px (docs/quality.md)
  sharpness  the variance of the Laplacian of the aligned crop's grey levels (central 80 x 80) over
             the variance of those grey levels, r, so that a dark or flat photo is not taken for
             a blurred one: 1 - exp(-r / 0.01); a sharp face gives r about 0.1-0.5, a Gaussian
             blur of 2% of the face's side 0.017 (factor 0.8), of 4% 0.007 (0.5)
  pose       the nose's offset from the eyes' midpoint across the face, over the eye distance (0
             when frontal, about 0.5 at a profile): 1 until 0.25, then falling to 0 at 0.6
  detection  the detector's score d: clip((d - 0.3) / 0.5, 0, 1)
  norm       the raw embedding's L2 norm n, which margin-trained embedders shrink for faces they
             cannot read: 1 / (1 + exp(-(n - midpoint) / width)) with the embedder manifest's
             [quality] norm_midpoint and norm_width (no such section: the factor is 1)
"""

import cv2
import numpy as np

from facev3.core.models import EmbedderSpec
from facev3.core.types import Quality


def sharpness(crops: np.ndarray) -> np.ndarray:
    """Laplacian variance over grey-level variance (at least 1) of each (n, h, w, 3) uint8 RGB
    crop's grey centre (80% of each side): the same for a photo and its darkened copy."""
    h, w = crops.shape[1:3]
    top, left = h // 7, w // 7
    values = np.empty(len(crops), np.float32)
    for i, crop in enumerate(crops):
        grey = cv2.cvtColor(np.ascontiguousarray(crop[top : h - top, left : w - left]), cv2.COLOR_RGB2GRAY)
        values[i] = cv2.Laplacian(grey, cv2.CV_32F).var() / max(float(grey.var()), 1.0)
    return values


def quality(
    box: np.ndarray,
    landmarks: np.ndarray,
    detection: float,
    relative_sharpness: float,
    norm: float,
    embedder: EmbedderSpec,
) -> Quality:
    side = float(min(box[2] - box[0], box[3] - box[1]))
    eyes = (landmarks[0] + landmarks[1]) / 2
    eye_distance = max(float(np.linalg.norm(landmarks[1] - landmarks[0])), 1e-6)
    turn = abs(float(np.dot(landmarks[2] - eyes, (landmarks[1] - landmarks[0]) / eye_distance))) / eye_distance
    factors = {
        "size": _logistic((side - 20.0) / 3.0),
        "sharpness": 1.0 - float(np.exp(-relative_sharpness / 0.01)),
        "pose": float(np.clip(1.0 - (turn - 0.25) / 0.35, 0.0, 1.0)),
        "detection": float(np.clip((detection - 0.3) / 0.5, 0.0, 1.0)),
        "norm": 1.0
        if embedder.norm_quality is None
        else _logistic((norm - embedder.norm_quality[0]) / embedder.norm_quality[1]),
    }
    return Quality(float(np.prod(list(factors.values()))), **factors)


def _logistic(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))
