"""The values that flow through the face pipeline: detections, faces, per-image results and the
time spent in each stage. Small frozen dataclasses, no behaviour beyond derived properties."""

import time
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np

from facev3.core.errors import FaceError

Stage = Literal["decode", "detect", "align", "embed"]


@dataclass(frozen=True)
class Detections:
    """Faces of one image, best score first."""

    boxes: np.ndarray  # (n, 4) float32 x1, y1, x2, y2
    scores: np.ndarray  # (n,) float32
    landmarks: np.ndarray  # (n, 5, 2) float32

    def __len__(self) -> int:
        return len(self.scores)

    def take(self, index: np.ndarray) -> "Detections":
        return Detections(self.boxes[index], self.scores[index], self.landmarks[index])


@dataclass(frozen=True)
class Quality:
    """How much a face can be trusted, 0-1, and its factors (facev3.core.quality says how each is
    computed)."""

    score: float
    size: float
    sharpness: float
    pose: float
    detection: float
    norm: float

    def factors(self) -> dict[str, float]:
        return {
            "size": self.size,
            "sharpness": self.sharpness,
            "pose": self.pose,
            "detection": self.detection,
            "norm": self.norm,
        }


@dataclass(frozen=True)
class Face:
    box: np.ndarray  # (4,) x1, y1, x2, y2 in full-resolution pixels
    score: float
    landmarks: np.ndarray  # (5, 2)
    embedding: np.ndarray  # (D,) float32, unit length when normalized
    norm: float  # L2 norm of the raw (or mirror-fused) embedding
    aligned: np.ndarray | None  # (112, 112, 3) uint8 RGB when asked for
    quality: "Quality"

    @property
    def area(self) -> float:
        return float((self.box[2] - self.box[0]) * (self.box[3] - self.box[1]))


@dataclass(frozen=True)
class ImageResult:
    index: int
    width: int = 0
    height: int = 0
    faces: tuple[Face, ...] = ()
    error: FaceError | None = None
    duplicate_of: int | None = None

    def largest_face(self) -> Face | None:
        return max(self.faces, key=lambda f: f.area, default=None)


@dataclass
class StageTimes:
    """Milliseconds spent in each stage over one pipeline call."""

    decode: float = 0.0
    detect: float = 0.0
    align: float = 0.0
    embed: float = 0.0

    def add(self, stage: Stage, since: float) -> float:
        """Adds the time since `since` (a perf_counter reading) to `stage`; returns now."""
        now = time.perf_counter()
        setattr(self, stage, getattr(self, stage) + (now - since) * 1e3)
        return now

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
