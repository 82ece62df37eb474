"""The embedded backend: the models on onnxruntime in-process (CPU), behind the inference port."""

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from facev3.core import detection
from facev3.core.ports import CROP_SHAPE, ArrayStage, CropStage
from facev3.core.types import Detections
from facev3.models import onnx_cleaning, sources

LOCAL_STAGE_CROPS = 32


class LocalBackend:
    """onnxruntime in-process (CPU). One intra-op thread by default: on small shared CPUs one
    worker process per core beats threads."""

    name = "local"

    def __init__(self, threads: int = 1, detector: str = "yunet", embed_batch: int = 2) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = ["CPUExecutionProvider"]
        self.detector = detection.DETECTORS[detector]
        self.embedder = sources.SFACE.name
        detector_model = onnx_cleaning.clean_model_bytes(sources.DETECTOR_SOURCES[detector])
        self._detector = ort.InferenceSession(detector_model, options, providers=providers)
        self._embedder = ort.InferenceSession(
            onnx_cleaning.clean_model_bytes(sources.SFACE), options, providers=providers
        )
        self._detector_outputs = [o.name for o in self._detector.get_outputs()]
        self.embedding_size = int(self._embedder.get_outputs()[0].shape[1])
        # 2 is the fastest batch on a 2-core AVX2 CPU with one thread (bench/bench_embed_batch.py):
        # bigger batches spill the activations out of cache.
        self.embed_batch = embed_batch

    def detect(self, image_rgb: np.ndarray, max_side: int, score_threshold: float, nms_threshold: float) -> Detections:
        prepared = detection.prepare(image_rgb, max_side, self.detector.bgr)
        raw = self._detector.run(self._detector_outputs, {self.detector.input_name: prepared.tensor})
        outputs = dict(zip(self._detector_outputs, raw, strict=True))
        return detection.decode(self.detector, outputs, prepared.grid, score_threshold, nms_threshold)

    @contextmanager
    def stage(self) -> Iterator[CropStage]:
        yield ArrayStage(self._embed, np.empty((LOCAL_STAGE_CROPS, *CROP_SHAPE), np.uint8))

    def _embed(self, crops: np.ndarray) -> np.ndarray:
        # SFace normalizes inside the graph: raw 0-255 RGB planes in.
        planes = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32)
        batches = [
            self._embedder.run(["fc1"], {"data": planes[i : i + self.embed_batch]})[0]
            for i in range(0, len(planes), self.embed_batch)
        ]
        return np.concatenate(batches)  # a stage embeds at least one crop

    def ready(self) -> bool:
        return self._embedder is not None

    def close(self) -> None:
        self._detector = self._embedder = None
