"""The inference port and its embedded adapter on onnxruntime.

Every backend (local onnxruntime here, Triton over gRPC) offers the same two calls, so the
pipeline never knows which one runs the models.
"""

from typing import Protocol

import numpy as np

from facev3 import detection, models


class InferenceBackend(Protocol):
    name: str
    detector: detection.Detector
    embedding_size: int

    def detect(self, image_rgb: np.ndarray, max_side: int, score_threshold: float, nms_threshold: float) -> detection.Detections:
        """Faces of one (h, w, 3) uint8 RGB image, detected on a copy whose longest side is at most
        max_side, in full-resolution pixels."""

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """(n, 112, 112, 3) uint8 RGB aligned crops -> (n, embedding_size) float32, not normalized."""

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

    def embed(self, crops: np.ndarray) -> np.ndarray:
        # SFace normalizes inside the graph: raw 0-255 RGB planes in.
        planes = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32)
        batches = [self._embedder.run(["fc1"], {"data": planes[i : i + self.embed_batch]})[0]
                   for i in range(0, len(planes), self.embed_batch)]
        return np.concatenate(batches) if batches else np.zeros((0, self.embedding_size), np.float32)

    def ready(self) -> bool:
        return self._embedder is not None

    def close(self) -> None:
        self._detector = self._embedder = None
