"""The GPU check (scripts/gpu-check.sh runs it on a machine with an NVIDIA GPU): parity of the GPU
path with the CPU (cosine >= 0.999 per face), embedding throughput (faces/s) at batch 1-32 and
whole-pipeline throughput (images/s) on onnxruntime's CUDA and TensorRT providers, and Triton
with CUDA shared memory when the local tritonserver can use the GPU. One JSON of results; every
step is bounded by what is left of the time budget and records why it was skipped.

    python -m bench.gpu_check --out build/gpu-check.json [--budget-s 540]
    python -m bench.gpu_check --device cpu --dry-run --out /tmp/check.json   # the same code, on the CPU, small

The anchor: InsightFace-REST reports about 6,460 faces/s for its small model on an RTX 2080 SUPER;
the goal on an H100/H200-class GPU is >= 10,000 faces/s.
"""

import argparse
import json
import os
import platform
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from facev3 import bootstrap
from facev3.config import Settings
from facev3.core.pipeline import EmbedOptions
from facev3.core.ports import embed_crops
from tests.support.photos import PHOTOS, photo_path

CALLERS = os.cpu_count() or 1  # the pipeline's callers at once in the many-callers measure
BATCHES = (1, 2, 4, 8, 16, 32)  # the local backend's stage holds 32 crops: no run is bigger
PARITY_MIN_COSINE = 0.999


class Budget:
    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()


def gpu_description() -> str:
    try:
        return subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "no nvidia-smi"


def photos() -> list[bytes]:
    return [photo_path(name).read_bytes() for name in PHOTOS]


def parity(device: str) -> dict:
    """Every face's embedding on `device` against the CPU's, over the test photos."""
    cpu, other = (bootstrap.build_pipeline(Settings(device=d)) for d in ("cpu", device))
    try:
        ours, reference = other.run(photos())[0], cpu.run(photos())[0]
    finally:
        cpu.backend.close()
        other.backend.close()
    cosines = [
        float(a.embedding @ b.embedding)
        for mine, theirs in zip(ours, reference, strict=True)
        for a, b in zip(mine.faces, theirs.faces, strict=False)
    ]
    faces = ([len(r.faces) for r in ours], [len(r.faces) for r in reference])
    return {
        "faces_per_photo": faces[0],
        "cpu_faces_per_photo": faces[1],
        "min_cosine": min(cosines),
        "ok": faces[0] == faces[1] and min(cosines) >= PARITY_MIN_COSINE,
    }


def throughput(device: str, budget: Budget, crops_per_batch: int, seconds_each: float) -> dict:
    """faces/s of the embedder alone at each batch size, and images/s of the whole pipeline."""
    started = time.perf_counter()
    pipeline = bootstrap.build_pipeline(Settings(device=device))  # plans the shapes a GPU is fed
    start_s = time.perf_counter() - started
    backend = pipeline.backend
    try:
        (group,), _ = pipeline.run([photo_path("t1.jpg").read_bytes()], EmbedOptions(return_aligned=True))
        aligned = np.array([face.aligned for face in group.faces])
        faces_per_s = {}
        for batch in BATCHES:
            if budget.left() < 2 * seconds_each:
                faces_per_s[batch] = "skipped: out of time"
                continue
            backend.embed_batch = batch
            crops = np.resize(aligned, (max(batch, crops_per_batch), *aligned.shape[1:]))
            embed_crops(backend, crops)  # warm-up (TensorRT builds its engine for the new shape here)
            count, started = 0, time.perf_counter()
            while time.perf_counter() - started < seconds_each:
                embed_crops(backend, crops)
                count += len(crops)
            faces_per_s[batch] = round(count / (time.perf_counter() - started), 1)
        data = photo_path("t1.jpg").read_bytes()
        pipeline.run([data] * 8)  # warm-up
        images, stage_ms, started = 0, Counter(), time.perf_counter()
        while time.perf_counter() - started < seconds_each and budget.left() > seconds_each:
            _, times = pipeline.run([data] * 8)
            images += 8
            stage_ms.update(times.as_dict())
        elapsed = time.perf_counter() - started
        return {
            "start_s": round(start_s, 1),
            "faces_per_s_by_batch": faces_per_s,
            "pipeline_images_per_s_t1_6_faces": round(images / elapsed, 1),
            "pipeline_ms_an_image_by_stage": {k: round(v / max(images, 1), 2) for k, v in stage_ms.items()},
            f"pipeline_images_per_s_{CALLERS}_callers": callers_images_per_s(pipeline, data, budget, seconds_each),
        }
    finally:
        backend.close()


def callers_images_per_s(pipeline, data: bytes, budget: Budget, seconds_each: float) -> float:
    """images/s of the pipeline called from CALLERS threads at once, as a server's requests call
    it: decoding and detecting on the CPU cores while the GPU embeds."""
    stop = time.perf_counter() + min(seconds_each, max(budget.left() - seconds_each, 0.0))
    counts = [0] * CALLERS

    def call(i: int) -> None:
        while time.perf_counter() < stop:
            pipeline.run([data] * 8)
            counts[i] += 8

    started = time.perf_counter()
    with ThreadPoolExecutor(CALLERS) as pool:
        list(pool.map(call, range(CALLERS)))
    return round(sum(counts) / (time.perf_counter() - started), 1)


def step(name: str, results: dict, budget: Budget, minimum_s: float, run) -> None:
    """results[name] = run(), or why it was skipped; every step is timed."""
    if budget.left() < minimum_s:
        results[name] = {"skipped": f"out of time ({budget.left():.0f} s left, needs {minimum_s:.0f})"}
        return
    started = time.monotonic()
    try:
        results[name] = run()
    except Exception as error:  # a step that cannot run here is recorded, and the others still run
        first_line = str(error).splitlines()[0] if str(error) else ""
        results[name] = {"skipped": f"{type(error).__name__}: {first_line}"}
    results[name]["seconds"] = round(time.monotonic() - started, 1)


def triton_cuda(budget: Budget, seconds_each: float) -> dict:
    """The local tritonserver (nvidia-pytriton's build) with CUDA shared memory against plain gRPC:
    parity with the embedded backend and faces/s of 32-crop embedding calls. Its python backend
    runs the networks with onnxruntime in .venv-triton, so this measures the transport and the
    server path, not GPU inference inside Triton (the TensorRT image of build.sh needs Docker)."""
    import tempfile

    from facev3.backends.triton.backend import TritonBackend
    from facev3.tritonserver.launcher import TritonProcess
    from tests.support.triton import TRITON_ENV
    from tests.support.triton import repository as triton_repository

    local = bootstrap.build_pipeline(Settings())
    (group,), _ = local.run([photo_path("t1.jpg").read_bytes()], EmbedOptions(return_aligned=True))
    crops = np.resize(np.array([face.aligned for face in group.faces]), (32, 112, 112, 3))
    reference = embed_crops(local.backend, crops)
    local.backend.close()
    results = {}
    with (
        tempfile.TemporaryDirectory() as workdir,
        TritonProcess(triton_repository(Path(workdir) / "repo"), TRITON_ENV) as server,
    ):
        for shm in ("cuda", "none"):
            backend = TritonBackend(server.grpc_url, shm=shm, timeout_s=30)
            try:
                embedded = embed_crops(backend, crops)
                cosine = float(np.min(np.sum(_unit(embedded) * _unit(reference), axis=1)))
                count, started = 0, time.perf_counter()
                while time.perf_counter() - started < seconds_each and budget.left() > seconds_each:
                    embed_crops(backend, crops)
                    count += len(crops)
                results[shm] = {
                    "min_cosine_vs_embedded": cosine,
                    "faces_per_s": round(count / (time.perf_counter() - started), 1),
                }
            finally:
                backend.close()
    return results


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("build/gpu-check.json"))
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda", help="cpu: the dry run's device")
    parser.add_argument("--budget-s", type=float, default=540.0)
    parser.add_argument("--dry-run", action="store_true", help="small sizes and short runs (checks the script)")
    args = parser.parse_args()
    budget = Budget(args.budget_s)
    seconds_each, crops = (0.2, 8) if args.dry_run else (3.0, 256)
    results: dict = {"gpu": gpu_description(), "python": platform.python_version(), "dry_run": args.dry_run}
    step("parity_cuda", results, budget, 10, lambda: parity(args.device))
    step("throughput_cuda", results, budget, 30, lambda: throughput(args.device, budget, crops, seconds_each))
    if args.device != "cpu":
        step("parity_tensorrt", results, budget, 60, lambda: parity("tensorrt"))
        step("throughput_tensorrt", results, budget, 60, lambda: throughput("tensorrt", budget, crops, seconds_each))
        step("triton_cuda_shm", results, budget, 90, lambda: triton_cuda(budget, seconds_each))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
