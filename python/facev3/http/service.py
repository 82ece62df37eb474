"""The composition root: settings -> inference backend -> pipeline, calibration and metrics."""

import logging
from dataclasses import replace

import facev3
from facev3 import models
from facev3.decode import DecodeLimits
from facev3.http.metrics import Metrics
from facev3.http.settings import Settings
from facev3.pipeline import Pipeline, PipelineSettings


class Service:
    def __init__(self, settings: Settings, backend=None) -> None:
        self.settings = settings
        self.log = logging.getLogger("facev3")
        self.metrics = Metrics()
        self.calibration = models.SFACE_CALIBRATION
        self.embedder_name = models.SFACE.name
        limits = DecodeLimits(max_bytes=settings.max_image_bytes, max_pixels=settings.max_pixels)
        self.pipeline = Pipeline(backend or self._backend(), replace(PipelineSettings(), limits=limits))

    def _backend(self):
        s = self.settings
        if s.backend == "triton":
            from facev3.triton.backend import TritonBackend

            # One shared-memory slot per request in flight: a request never waits for a slot.
            return TritonBackend(s.triton_url, shm=s.triton_shm, detector=s.detector, timeout_s=s.triton_timeout_s,
                                 slots=s.max_inflight)
        from facev3.inference import LocalBackend

        return LocalBackend(threads=s.threads, detector=s.detector, embed_batch=s.max_batch_size)

    def ready(self) -> bool:
        return self.pipeline.backend.ready()

    def info(self) -> dict:
        backend = self.pipeline.backend
        return {
            "version": facev3.__version__,
            "backend": self.settings.backend,
            "detector": {"name": backend.detector.name, "default_threshold": backend.detector.default_threshold},
            "embedder": {"name": self.embedder_name, "embedding_size": backend.embedding_size},
            "calibration": {"name": self.calibration.name, "cosine_threshold": self.calibration.threshold,
                            "scale": self.calibration.scale},
            "rerank_threshold": self.settings.rerank_threshold,
            "limits": {"max_images": self.settings.max_images, "max_candidates": self.settings.max_candidates,
                       "max_body_bytes": self.settings.max_body_bytes, "max_pixels": self.settings.max_pixels},
        }

    def close(self) -> None:
        self.pipeline.backend.close()
