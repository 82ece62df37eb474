"""Prometheus metrics (prometheus-client). With several worker processes, `facev3 serve` sets
PROMETHEUS_MULTIPROC_DIR: every worker writes its samples there and /metrics, whichever worker
answers, reports the sum over all of them (prometheus-client's multiprocess mode)."""

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from facev3.core.types import ImageResult, StageTimes


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "facev3_requests", "HTTP requests by endpoint and status", ["endpoint", "status"], registry=r
        )
        self.latency = Histogram("facev3_request_seconds", "HTTP request latency", ["endpoint"], registry=r)
        self.stage = Histogram(
            "facev3_pipeline_stage_seconds", "Pipeline time per stage and request", ["stage"], registry=r
        )
        self.quality = Histogram(
            "facev3_face_quality",
            "Quality of each face returned (0-1)",
            registry=r,
            buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
        )
        self.faces = Histogram(
            "facev3_faces_per_image", "Faces found per image", registry=r, buckets=(0, 1, 2, 3, 5, 10, 20, 50, 100)
        )
        self.candidates = Histogram(
            "facev3_rerank_candidates",
            "Candidates per rerank request",
            registry=r,
            buckets=(1, 10, 50, 100, 200, 500, 1000, 5000),
        )
        self.rerank_time = Histogram("facev3_rerank_seconds", "Rerank scoring time", registry=r)
        self.inflight = Gauge(
            "facev3_inflight_requests",
            "Embedding and rerank requests in flight",
            registry=r,
            multiprocess_mode="livesum",
        )

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def observe_pipeline(self, times: StageTimes, results: list[ImageResult]) -> None:
        for stage, ms in times.as_dict().items():
            self.stage.labels(stage).observe(ms / 1e3)
        for result in results:
            if result.error is None:
                self.faces.observe(len(result.faces))
            for face in result.faces:
                self.quality.observe(face.quality.score)

    def observe_rerank(self, candidates: int, seconds: float) -> None:
        self.candidates.observe(candidates)
        self.rerank_time.observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            merged = CollectorRegistry()
            MultiProcessCollector(merged)
            return generate_latest(merged), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
