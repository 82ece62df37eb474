"""The inference port and its embedded adapter on onnxruntime.

Every backend (local onnxruntime here, Triton over gRPC) offers the same calls, so the pipeline
never knows which one runs the models. Faces are embedded through a crop stage: a writable batch
of crop slots that the caller aligns faces into and the backend embeds where they lie (with
Triton's system shared memory the stage is the registered input region, so crops are never
copied on the way to the server).
"""

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

import numpy as np

from facev3 import detection, models, native

CROP_SHAPE = (native.ALIGNED_SIZE, native.ALIGNED_SIZE, 3)
LOCAL_STAGE_CROPS = 32


class CropStage(Protocol):
    crops: np.ndarray  # (capacity, 112, 112, 3) uint8 RGB, writable

    def embed(self, count: int) -> np.ndarray:
        """crops[:count], count >= 1 -> (count, embedding_size) float32, not normalized, owned by the
        caller."""


class InferenceBackend(Protocol):
    name: str
    detector: detection.Detector
    embedding_size: int

    def detect(self, image_rgb: np.ndarray, max_side: int, score_threshold: float, nms_threshold: float) -> detection.Detections:
        """Faces of one (h, w, 3) uint8 RGB image, detected on a copy whose longest side is at most
        max_side, in full-resolution pixels."""

    def stage(self) -> AbstractContextManager[CropStage]:
        """A crop stage held until the block ends (it may be a pooled resource: keep it briefly)."""

    def ready(self) -> bool:
        """Whether the models can answer now."""

    def close(self) -> None: ...


class LocalBackend:
    """onnxruntime in-process (CPU). One intra-op thread by default: on small shared CPUs one
    worker process per core beats threads (notes/models.md §7.3)."""

    name = "local"

    def __init__(self, threads: int = 1, detector: str = "yunet", embed_batch: int = 2) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = ["CPUExecutionProvider"]
        self.detector = detection.DETECTORS[detector]
        self._detector = ort.InferenceSession(models.clean_model_bytes(self.detector.source), options, providers=providers)
        self._embedder = ort.InferenceSession(models.clean_model_bytes(models.SFACE), options, providers=providers)
        self._detector_outputs = [o.name for o in self._detector.get_outputs()]
        self.embedding_size = int(self._embedder.get_outputs()[0].shape[1])
        # 2 is the fastest batch on a 2-core AVX2 CPU with one thread (bench/bench_embed_batch.py):
        # bigger batches spill the activations out of cache.
        self.embed_batch = embed_batch

    def detect(self, image_rgb: np.ndarray, max_side: int, score_threshold: float, nms_threshold: float) -> detection.Detections:
        prepared = detection.prepare(image_rgb, max_side, self.detector.bgr)
        raw = self._detector.run(self._detector_outputs, {self.detector.input_name: prepared.tensor})
        outputs = dict(zip(self._detector_outputs, raw))
        return detection.decode(self.detector, outputs, prepared.grid, score_threshold, nms_threshold)

    @contextmanager
    def stage(self) -> Iterator[CropStage]:
        yield ArrayStage(self._embed, np.empty((LOCAL_STAGE_CROPS, *CROP_SHAPE), np.uint8))

    def _embed(self, crops: np.ndarray) -> np.ndarray:
        # SFace normalizes inside the graph: raw 0-255 RGB planes in.
        planes = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32)
        batches = [self._embedder.run(["fc1"], {"data": planes[i : i + self.embed_batch]})[0]
                   for i in range(0, len(planes), self.embed_batch)]
        return np.concatenate(batches)  # a stage embeds at least one crop

    def ready(self) -> bool:
        return self._embedder is not None

    def close(self) -> None:
        self._detector = self._embedder = None


class ArrayStage:
    """A stage over a crops array and the function that embeds a prefix of it."""

    def __init__(self, embed: Callable[[np.ndarray], np.ndarray], crops: np.ndarray) -> None:
        self._embed, self.crops = embed, crops

    def embed(self, count: int) -> np.ndarray:
        return self._embed(self.crops[:count])


def embed_crops(backend: InferenceBackend, crops: np.ndarray) -> np.ndarray:
    """Embeddings of crops that are already aligned, (n, 112, 112, 3) uint8 RGB -> (n, D) float32,
    one stage-full at a time."""
    chunks = []
    with backend.stage() as stage:
        for start in range(0, len(crops), len(stage.crops)):
            chunk = crops[start : start + len(stage.crops)]
            stage.crops[: len(chunk)] = chunk
            chunks.append(stage.embed(len(chunk)))
    return np.concatenate(chunks) if chunks else np.zeros((0, backend.embedding_size), np.float32)
