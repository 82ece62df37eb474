"""The embedded backend: the models in-process, behind the inference port: on the CPU by default
(onnxruntime or OpenVINO per model, facev3.backends.runtimes), on an NVIDIA GPU with
FACEV3_DEVICE=cuda or tensorrt (onnxruntime-gpu) for people with a GPU and no Triton."""

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager

import numpy as np

from facev3.backends import runtimes
from facev3.config import Device, Precision, Runtime, SettingsError
from facev3.core import detection
from facev3.core.models import DetectorSpec, EmbedderSpec
from facev3.core.pipeline import PipelineSettings
from facev3.core.ports import ArrayStage, CropStage
from facev3.core.types import Detections
from facev3.models import files
from facev3.models.manifest import Manifest, ManifestError
from facev3.threads import compute_pool

log = logging.getLogger("facev3.backends")

LOCAL_STAGE_CROPS = 32
# CUDA on an H200 (docs/performance.md): channels-last convolutions ran SFace 1.2-1.25x faster, and
# cuDNN's heuristic choice of algorithm as fast as its exhaustive search. Either way cuDNN plans
# each new input shape, 0.1-3.8 s a shape: hence runs of fixed shapes (run_sizes, the detector's
# square canvas), planned when the backend starts.
CUDA = ("CUDAExecutionProvider", {"prefer_nhwc": "1", "cudnn_conv_algo_search": "HEURISTIC"})
# onnxruntime's execution providers for each device, best first; the CPU takes what a GPU provider
# leaves (shape ops, unsupported nodes).
PROVIDERS: dict[str, list] = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": [CUDA, "CPUExecutionProvider"],
    "tensorrt": [
        (
            "TensorrtExecutionProvider",
            {
                "trt_fp16_enable": True,
                "trt_engine_cache_enable": True,
                "trt_engine_cache_path": ".cache/facev3-tensorrt",
            },
        ),
        CUDA,
        "CPUExecutionProvider",
    ],
}


def providers(device: Device) -> list:
    """The execution providers for a device; one onnxruntime lacks stops the start, saying how to
    get it."""
    import onnxruntime as ort

    if device != "cpu" and hasattr(ort, "preload_dlls"):
        ort.preload_dlls()  # the CUDA and cuDNN libraries of the nvidia-* wheels, where they are installed
    wanted = PROVIDERS[device]
    missing = [name for name in map(runtimes.provider_name, wanted) if name not in ort.get_available_providers()]
    if missing:
        raise SettingsError(
            f"FACEV3_DEVICE={device} needs onnxruntime's {', '.join(missing)}: install "
            "onnxruntime-gpu in place of onnxruntime (pip install 'facev3[gpu]') on a machine with "
            "CUDA and cuDNN"
        )
    return wanted


# A blank photo of this size times the detector, and blank crops in batches of this size the
# embedder, when FACEV3_RUNTIME=auto picks their runtimes.
PROBE_PHOTO = (480, 640, 3)
PROBE_BATCH = 2


# The detection size a runtime that plans each input shape is planned for at the start: the
# pipeline's (the detector then sees one max_side x max_side canvas).
PLANNED_MAX_SIDE = PipelineSettings.max_side


def run_sizes(model: runtimes.Model, largest: int) -> tuple[int, ...] | None:
    """The batch sizes the embedder runs at, or None for any: a graph's fixed batch; on a runtime
    that plans each new shape, the powers of two up to `largest` (a run then does at most twice its
    faces' work, and a handful of shapes are planned)."""
    if model.batch:
        return (model.batch,)
    if model.fixed_shapes:
        return tuple(sorted({min(2**k, largest) for k in range(largest.bit_length() + 1)}))
    return None


class OverlappingStage(ArrayStage):
    """A stage that embeds each image's faces in the background as soon as they are aligned, while
    the request decodes and detects its next image, when `spare()` says a core is free for it;
    `embed` then waits for those runs and embeds the rest. With every core busy, faces wait for
    `embed` and run in the runtime's fastest batches, which then gives more images a second."""

    def __init__(
        self,
        embed: Callable[[np.ndarray], np.ndarray],
        crops: np.ndarray,
        background: Executor,
        spare: Callable[[], bool],
    ) -> None:
        super().__init__(embed, crops)
        self._background, self._spare = background, spare
        self._started: list[Future] = []  # runs over consecutive crops, from the first
        self._sent = 0  # crops[:_sent] are in started runs

    def aligned(self, count: int) -> None:
        if count > self._sent and self._spare():
            self._started.append(self._background.submit(self._embed, self.crops[self._sent : count]))
            self._sent = count

    def embed(self, count: int) -> np.ndarray:
        parts = [run.result() for run in self._started]
        if count > self._sent:
            parts.append(self._embed(self.crops[self._sent : count]))
        self._started, self._sent = [], 0  # a second embed (the mirror images) starts afresh
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


class LocalBackend:
    """The models in-process. One intra-op thread by default: on small shared CPUs requests in
    parallel (onnxruntime sessions, OpenVINO copies: one per core) beat threads within one; a
    request alone uses a spare core to embed one image while it detects the next, on threads
    `nice` levels below their creator's priority (facev3.threads)."""

    name = "local"

    def __init__(
        self,
        detector: Manifest,
        embedder: Manifest,
        *,
        threads: int = 1,
        embed_batch: int | None = None,
        device: Device = "cpu",
        runtime: Runtime = "auto",
        precision: Precision = "fp32",
        streams: int = 1,
        nice: int = 0,
    ) -> None:
        chosen = providers(device)
        self.detector: DetectorSpec = detector.spec
        self.embedder: EmbedderSpec = embedder.spec
        self._roles = {name: role for role, name in self.detector.outputs.items()}

        blank_photo = detection.prepare(np.zeros(PROBE_PHOTO, np.uint8), max(PROBE_PHOTO), self.detector).tensor

        def detect_blank(model: runtimes.Model) -> object:
            return model.run(model.output_names, {self.detector.input.name: blank_photo})

        def embed_blank(model: runtimes.Model) -> object:
            # One batch size for both runtimes, so that "auto" compares like with like.
            crops = np.zeros((model.batch or embed_batch or PROBE_BATCH, *self.embedder.alignment.shape), np.uint8)
            return model.run([self.embedder.output], {self.embedder.input.name: self._embedder_feed(model, crops)})

        load = {"runtime": runtime, "threads": threads, "streams": streams, "providers": chosen}
        self._detector = runtimes.load(files.load_model(detector), probe=detect_blank, **load)
        self._embedder = runtimes.load(
            files.load_model(embedder), probe=embed_blank, precision=precision, pixels=self.embedder.input, **load
        )
        self.runtimes = {"detector": self._detector.runtime, "embedder": self._embedder.runtime}
        self.embedder_precision = self._embedder.precision
        log.info(
            "detector on %s, embedder on %s in %s",
            self._detector.runtime,
            self._embedder.runtime,
            self.embedder_precision,
        )
        # A graph with a fixed batch gets its own; else the setting, else the runtime's fastest.
        self.embed_batch = self._embedder.batch or embed_batch or self._embedder.fastest_batch
        self._run_sizes = run_sizes(self._embedder, min(self.embed_batch, LOCAL_STAGE_CROPS))
        self._plan_shapes()
        self._streams = streams
        self._background = compute_pool(streams, "facev3-embed", nice)
        self._lock = threading.Lock()
        self._staged = 0  # requests holding a stage now
        self._probe(embedder)

    def _plan_shapes(self) -> None:
        """Runs each shape a runtime that plans shapes will be fed, now rather than in a request."""
        started, planned = time.perf_counter(), []
        if self._detector.fixed_shapes:
            self.detect(np.zeros(PROBE_PHOTO, np.uint8), PLANNED_MAX_SIDE, 1.0, self.detector.nms_threshold)
            planned.append(f"the detector's {PLANNED_MAX_SIDE} x {PLANNED_MAX_SIDE} canvas")
        if self._embedder.fixed_shapes:
            for size in self._run_sizes:
                self._embed(np.zeros((size, *self.embedder.alignment.shape), np.uint8))
            planned.append(f"the embedder's batches of {', '.join(map(str, self._run_sizes))}")
        if planned:
            log.info("planned %s in %.1f s", " and ".join(planned), time.perf_counter() - started)

    def _probe(self, embedder: Manifest) -> None:
        """One blank crop through the embedder: dims the graph leaves free must still agree."""
        with self.stage() as stage:
            stage.crops[:1] = 0
            got = stage.embed(1).shape
        if got != (1, self.embedder.embedding_size):
            raise ManifestError(
                f"model manifest {embedder.origin}: output.embedding_size: the model gives "
                f"{got[-1]} values per face, the manifest says {self.embedder.embedding_size}"
            )

    def detect(self, image_rgb: np.ndarray, max_side: int, score_threshold: float, nms_threshold: float) -> Detections:
        prepared = detection.prepare(image_rgb, max_side, self.detector, square=self._detector.fixed_shapes)
        names = self._detector.output_names
        raw = self._detector.run(names, {self.detector.input.name: prepared.tensor})
        outputs = {self._roles[name]: value for name, value in zip(names, raw, strict=True) if name in self._roles}
        return detection.decode(self.detector, outputs, prepared.grid, score_threshold, nms_threshold)

    @contextmanager
    def stage(self) -> Iterator[CropStage]:
        crops = np.empty((LOCAL_STAGE_CROPS, *self.embedder.alignment.shape), np.uint8)
        with self._lock:
            self._staged += 1
        try:
            yield OverlappingStage(self._embed, crops, self._background, self._spare_core)
        finally:
            with self._lock:
                self._staged -= 1

    def _spare_core(self) -> bool:
        """Fewer requests are embedding than the runtime may run at once (one per core)."""
        return self._staged < self._streams

    def _embedder_feed(self, model: runtimes.Model, crops: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(crops) if model.takes_pixels else self.embedder.input.tensor(crops)

    def _embed(self, crops: np.ndarray) -> np.ndarray:
        feed = self._embedder_feed(self._embedder, crops)
        batches = [self._run_embedder(feed[i : i + self.embed_batch]) for i in range(0, len(feed), self.embed_batch)]
        return np.concatenate(batches).reshape(len(feed), -1)  # a stage embeds at least one crop

    def _run_embedder(self, feed: np.ndarray) -> np.ndarray:
        """One run, padded with blank crops to the next of the run sizes when there are some."""
        count = len(feed)
        size = next((size for size in self._run_sizes or () if size >= count), count)
        if size > count:
            feed = np.concatenate([feed, np.zeros((size - count, *feed.shape[1:]), feed.dtype)])
        return self._embedder.run([self.embedder.output], {self.embedder.input.name: feed})[0][:count]

    def ready(self) -> bool:
        return self._embedder is not None

    def close(self) -> None:
        self._background.shutdown(wait=True)
        self._detector = self._embedder = None
