"""The runtimes a model of the embedded backend runs on, behind one call: onnxruntime (every
device) and OpenVINO (CPU, `pip install 'facev3[openvino]'`).

Neither is faster for every model, and by how much depends on the CPU: on one core OpenVINO ran
SFace 1.9x faster than onnxruntime on a Xeon and 1.4x on an EPYC, and YuNet 0.75x as fast
(docs/performance.md). So "auto" times both on the model's own input at start-up and keeps the
faster; "onnxruntime" or "openvino" force one. Each gets the graph in the form it runs fastest
(facev3.models.onnx_cleaning).

Models compute in fp32 (TensorRT: fp16), except an embedder asked to run in bf16
(FACEV3_EMBEDDER_PRECISION): on a CPU with bf16 units it then runs on OpenVINO, SFace 1.6-1.9x
faster, with embeddings of real faces at a cosine of at least 0.9994 to fp32
(bench/quantize_embedder.py).
"""

import logging
import math
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from facev3.config import Precision, Runtime, SettingsError
from facev3.core.models import TensorInput
from facev3.models import onnx_cleaning

log = logging.getLogger("facev3.runtimes")

TIMED_RUNS = 5  # after 2 warm-up runs; the fastest run of each runtime is compared
# SFace on CUDA (an H200) embedded the most faces a second in the biggest batch tried, 256; the
# local backend's stage of 32 crops bounds it in practice.
GPU_FASTEST_BATCH = 256


class Model(Protocol):
    runtime: str
    precision: str  # what the model computes in: fp32, bf16 or fp16
    output_names: list[str]
    batch: int | None  # the graph's fixed batch, or None when it is free
    fastest_batch: int  # the embedder's batch that takes the least time a face on one thread
    takes_pixels: bool  # fed (n, h, w, 3) uint8 RGB rather than the float tensor of TensorInput
    # Each new input shape costs a plan (cuDNN's on a GPU: 0.1-3.8 s a shape on an H200), so it is
    # fed a few shapes, planned at the start.
    fixed_shapes: bool

    def run(self, outputs: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]: ...


class OnnxRuntimeModel:
    """A model on onnxruntime. On the CPU it runs the graph tuned for onnxruntime's CPU kernels;
    on CUDA, given its `pixels` input, the graph takes uint8 pixels and converts them on the GPU."""

    runtime = "onnxruntime"
    # Bigger batches spill SFace's activations out of cache on a CPU (bench/bench_embed_batch.py);
    # a GPU embeds more faces a second the bigger the batch (bench/gpu_check.py).
    fastest_batch = 2
    takes_pixels = False
    fixed_shapes = False

    def __init__(
        self, model, threads: int, providers: list, pixels: TensorInput | None = None
    ) -> None:  # model: onnx.ModelProto
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        wanted = provider_name(providers[0])
        if wanted == "CPUExecutionProvider":
            model = onnx_cleaning.for_onnxruntime(model)
        else:
            self.fastest_batch, self.fixed_shapes = GPU_FASTEST_BATCH, True
            if pixels is not None and wanted == "CUDAExecutionProvider":
                model, self.takes_pixels = onnx_cleaning.with_pixel_input(model, pixels), True
        self._session = ort.InferenceSession(model.SerializeToString(), options, providers=providers)
        if wanted not in self._session.get_providers():
            # onnxruntime only warns when a GPU provider cannot start (a CUDA, cuDNN or TensorRT
            # library missing) and runs the model on the CPU instead.
            raise SettingsError(
                f"onnxruntime could not start {wanted} (its log above says why): check that the CUDA, "
                "cuDNN and TensorRT libraries onnxruntime-gpu was built for are installed"
            )
        self.precision = "fp16" if any(fp16_tensorrt(provider) for provider in providers) else "fp32"
        self.output_names = [o.name for o in self._session.get_outputs()]
        batch = self._session.get_inputs()[0].shape[0]
        self.batch = batch if isinstance(batch, int) and batch > 0 else None

    def run(self, outputs: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._session.run(outputs, feeds)


class OpenVinoModel:
    """OpenVINO runs each call in the thread that makes it, on a compiled copy of the model that
    serves one call at a time. Copies are compiled as concurrent calls need them, up to `streams`
    (one per core); a call that finds `streams` calls running waits for one of them to end. The
    copies go with the model when the backend closes.

    Why copies rather than one compiled model with `streams` streams, which would share their
    weights: such a model hands each call to a stream thread of its own and back, two thread
    wake-ups that each wait for a busy core, and its threads escape the lower priority of the
    pool that calls (facev3.threads). On the one-face load at 2 connections, copies with that
    priority served 1.12x the requests/s of the shared model (docs/performance.md). A copy of
    SFace costs about 100 MB: its weights in the CPU's blocked layout and a batch's activations."""

    runtime = "openvino"
    # SFace a face on one thread: 12.0 ms alone, 10.6 in pairs, 9.7 by 6 to 8, 10.2 by 16.
    fastest_batch = 8
    takes_pixels = False
    fixed_shapes = False

    def __init__(
        self, model, threads: int, streams: int, precision: Precision = "fp32"
    ) -> None:  # model: onnx.ModelProto
        try:
            import openvino as ov
        except ImportError:
            raise SettingsError(
                "FACEV3_RUNTIME=openvino needs the openvino package: pip install 'facev3[openvino]'"
            ) from None
        self._core = ov.Core()
        self._network = self._core.read_model(model.SerializeToString(), b"")  # ONNX from memory; no weights file
        # One stream: OpenVINO then runs a call in the calling thread (with `threads` threads in
        # all). No pinning: several worker processes would each pin their threads to the same cores.
        # The precision always set: on a CPU with bf16 units (AVX512_BF16, AMX) OpenVINO would
        # otherwise compute every model in bf16 (SFace's embeddings of random crops then reach only
        # a cosine of 0.987 with fp32; of real faces 0.9994). Without the units bf16 is refused
        # here: OpenVINO would emulate it on any AVX-512 CPU, slower than fp32.
        if precision == "bf16" and not has_bf16_units(self._core):
            log.warning("this CPU has no bf16 units: the model computes in fp32")
            precision = "fp32"
        self.precision = precision
        self._config = {
            "NUM_STREAMS": 1,
            "INFERENCE_NUM_THREADS": threads,
            "ENABLE_CPU_PINNING": False,
            "INFERENCE_PRECISION_HINT": OPENVINO_PRECISIONS[precision],
        }
        self.output_names = [o.get_any_name() for o in self._network.outputs]
        first = self._network.inputs[0].get_partial_shape()[0]
        self.batch = first.get_length() if first.is_static else None
        self._running = threading.BoundedSemaphore(streams)
        self._idle: queue.SimpleQueue = queue.SimpleQueue()  # infer requests of the copies no call uses
        self._idle.put(self._copy())  # the first now: compiling checks the model, and the probe times it

    def _copy(self):  # -> openvino.InferRequest, which keeps its compiled copy alive
        return self._core.compile_model(self._network, "CPU", self._config).create_infer_request()

    def run(self, outputs: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        with self._running:
            try:
                request = self._idle.get_nowait()
            except queue.Empty:
                request = self._copy()
            try:
                results = request.infer(feeds)
                return [np.copy(results[name]) for name in outputs]
            finally:
                self._idle.put(request)


OPENVINO_PRECISIONS: dict[Precision, str] = {"fp32": "f32", "bf16": "bf16"}


def provider_name(provider) -> str:  # an onnxruntime provider: a name, or (name, options)
    return provider if isinstance(provider, str) else provider[0]


def fp16_tensorrt(provider) -> bool:  # an onnxruntime provider: a name, or (name, options)
    return (
        isinstance(provider, tuple)
        and provider[0] == "TensorrtExecutionProvider"
        and provider[1].get("trt_fp16_enable")
    )


def has_bf16_units(core) -> bool:  # core: openvino.Core
    return "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def openvino_installed() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def load(
    model,  # onnx.ModelProto
    runtime: Runtime,
    *,
    threads: int,
    streams: int,
    providers: list,
    probe: Callable[[Model], object],
    precision: Precision = "fp32",
    pixels: TensorInput | None = None,
) -> Model:
    """The model on `runtime`; for "auto" on a CPU with OpenVINO installed, on whichever of the
    two runs `probe` (one call with the model's usual input) faster. bf16 runs on OpenVINO, and
    "auto" keeps OpenVINO without timing where the CPU computes bf16. Given the model's `pixels`
    input, a model on CUDA takes uint8 pixels (Model.takes_pixels)."""
    cpu_only = providers == ["CPUExecutionProvider"]
    if runtime == "openvino" and not cpu_only:
        raise SettingsError("FACEV3_RUNTIME=openvino runs on the CPU only: use FACEV3_DEVICE=cpu")
    openvino_possible = cpu_only and runtime != "onnxruntime" and (runtime == "openvino" or openvino_installed())
    if precision == "bf16" and not openvino_possible:
        raise SettingsError(
            "FACEV3_EMBEDDER_PRECISION=bf16 runs on OpenVINO: use FACEV3_DEVICE=cpu, FACEV3_RUNTIME=auto "
            "or openvino, and pip install 'facev3[openvino]'"
        )
    if not openvino_possible:
        return OnnxRuntimeModel(model, threads, providers, pixels)
    openvino = OpenVinoModel(model, threads, streams, precision)
    if runtime == "openvino" or openvino.precision == "bf16":
        return openvino
    candidates = [OnnxRuntimeModel(model, threads, providers), openvino]
    timings = [_fastest_run(candidate, probe) for candidate in candidates]
    chosen = candidates[int(np.argmin(timings))]
    measured = ", ".join(
        f"{m.runtime} ({m.precision}) {t * 1e3:.1f} ms" for m, t in zip(candidates, timings, strict=True)
    )
    log.info("%s runs the model: %s a run", chosen.runtime, measured)
    return chosen


def _fastest_run(model: Model, probe: Callable[[Model], object]) -> float:
    for _ in range(2):
        probe(model)
    best = float("inf")
    for _ in range(TIMED_RUNS):
        started = time.perf_counter()
        probe(model)
        best = min(best, time.perf_counter() - started)
    return best


def cores(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """The CPUs this process may run on: its affinity, capped by its container's CPU quota (a
    Kubernetes CPU limit leaves the affinity at all of the node's cores, and each core here costs
    an OpenVINO copy of the embedder)."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = cpu_quota(cgroup)
    return count if quota is None else max(1, min(count, math.ceil(quota)))


def cpu_quota(cgroup: Path) -> float | None:
    """The CPUs' worth of time the cgroup may use (cgroup v2's cpu.max, else v1's CFS quota), or
    None when it is unlimited or unknown."""
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()
    except (OSError, ValueError):
        try:
            quota = (cgroup / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    if quota in ("max", "-1"):
        return None
    try:
        return int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None
