"""The inference port: what the pipeline needs from a backend (onnxruntime in-process, Triton over
gRPC), so it never knows which one runs the models.

Faces are embedded through a crop stage: a writable batch of crop slots that the caller aligns
faces into and the backend embeds where they lie (with Triton's system shared memory the stage is
the registered input region, so crops are never copied on the way to the server).
"""

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

import numpy as np

from facev3.core.models import DetectorSpec, EmbedderSpec
from facev3.core.types import Detections


class CropStage(Protocol):
    crops: np.ndarray  # (capacity, height, width, 3) uint8 RGB (the embedder's crop size), writable

    def embed(self, count: int) -> np.ndarray:
        """crops[:count], count >= 1 -> (count, embedding_size) float32, not normalized, owned by the
        caller."""

    def aligned(self, count: int) -> None:
        """crops[:count] are final and another image follows: a stage may start embedding them
        while the caller decodes and detects it."""


class InferenceBackend(Protocol):
    name: str
    detector: DetectorSpec  # the models that actually run
    embedder: EmbedderSpec

    def detect(self, image_rgb: np.ndarray, max_side: int, score_threshold: float, nms_threshold: float) -> Detections:
        """Faces of one (h, w, 3) uint8 RGB image, detected on a copy whose longest side is at most
        max_side, in full-resolution pixels."""

    def stage(self) -> AbstractContextManager[CropStage]:
        """A crop stage held until the block ends (it may be a pooled resource: keep it briefly)."""

    def ready(self) -> bool:
        """Whether the models can answer now."""

    def close(self) -> None: ...


class ArrayStage:
    """A stage over a crops array and the function that embeds a prefix of it."""

    def __init__(self, embed: Callable[[np.ndarray], np.ndarray], crops: np.ndarray) -> None:
        self._embed, self.crops = embed, crops

    def embed(self, count: int) -> np.ndarray:
        return self._embed(self.crops[:count])

    def aligned(self, count: int) -> None:
        """Embeds nothing ahead: everything on `embed`."""


def embed_crops(backend: InferenceBackend, crops: np.ndarray) -> np.ndarray:
    """Embeddings of crops that are already aligned, (n, height, width, 3) uint8 RGB -> (n, D)
    float32, one stage-full at a time."""
    chunks = []
    with backend.stage() as stage:
        for start in range(0, len(crops), len(stage.crops)):
            chunk = crops[start : start + len(stage.crops)]
            stage.crops[: len(chunk)] = chunk
            chunks.append(stage.embed(len(chunk)))
    return np.concatenate(chunks) if chunks else np.zeros((0, backend.embedder.embedding_size), np.float32)
