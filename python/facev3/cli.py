"""The facev3 command line: embed folders of photos, compare two photos, export the models."""

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="facev3", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    embed = commands.add_parser("embed", help="detect, align and embed every face of photos or folders")
    embed.add_argument("paths", nargs="+", type=Path)
    embed.add_argument("--out", type=Path, required=True, help="FILE.jsonl (one line per photo) or FILE.npy (+ FILE.index.jsonl)")
    embed.add_argument("--mirror", action="store_true", help="fuse each face with its mirror image")
    embed.add_argument("--det-threshold", type=float, default=None)
    embed.add_argument("--threads", type=int, default=1)
    embed.add_argument("--detector", choices=["yunet", "centerface"], default="yunet")

    compare = commands.add_parser("compare", help="cosine, calibrated score and decision for the largest face of two photos")
    compare.add_argument("a", type=Path)
    compare.add_argument("b", type=Path)
    compare.add_argument("--detector", choices=["yunet", "centerface"], default="yunet")

    export = commands.add_parser("models", help="model files").add_subparsers(dest="action", required=True)
    export_dir = export.add_parser("export", help="write the cleaned ONNX files (for Triton and TensorRT)")
    export_dir.add_argument("directory", type=Path)

    triton = commands.add_parser("triton", help="a local tritonserver for development").add_subparsers(dest="action", required=True)
    triton_serve = triton.add_parser("serve", help="serve a prepared copy of the model repository on 127.0.0.1 until Ctrl-C")
    triton_serve.add_argument("--repository", type=Path, default=Path("triton-infer-custom/models_serving"))
    triton_serve.add_argument("--env", type=Path, default=Path(".venv-triton"), help="the numpy<2 env with nvidia-pytriton (scripts/setup-triton-env.sh)")
    triton_serve.add_argument("--workdir", type=Path, default=Path("build/triton"), help="where the prepared copy goes")

    serve = commands.add_parser("serve", help="the HTTP service (settings from the environment and .env)")
    serve.add_argument("--server", choices=["granian", "robyn"], default="granian")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=None, help="processes (granian) or threads (robyn); default FACEV3_WORKERS")

    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "triton":
        return _triton_serve(args)
    if args.command == "models":
        from facev3.models import export_models

        for path in export_models(args.directory):
            print(path)
        return 0
    if args.command == "compare":
        return _compare(args.a, args.b, args.detector)
    return _embed(args)


def _serve(args: argparse.Namespace) -> int:
    from facev3.http.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"facev3 serve: invalid setting: {error}", file=sys.stderr)
        return 2
    workers = args.workers or settings.workers
    if args.server == "robyn":
        from facev3.http.robyn_app import serve

        serve(args.host, args.port, workers)
        return 0
    from granian.constants import Interfaces
    from granian.server import Server

    metrics_dir = None
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Worker processes share their metrics through files (see facev3.http.metrics).
        metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="facev3-metrics-")
    try:
        Server("facev3.http.rsgi_app:app", address=args.host, port=args.port, interface=Interfaces.RSGI,
               workers=workers, log_level=settings.log_level, workers_kill_timeout=30).serve()
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _triton_serve(args: argparse.Namespace) -> int:
    import signal

    from facev3.triton.process import TritonProcess
    from facev3.triton.repository import copy_repository

    shutil.rmtree(args.workdir / "models_serving", ignore_errors=True)
    repository = copy_repository(args.repository, args.workdir / "models_serving")
    with TritonProcess(repository, args.env, log_path=args.workdir / "tritonserver.log") as server:
        print(f"tritonserver ready: TRITON_URL={server.grpc_url} (HTTP {server.ports.http}, metrics {server.ports.metrics}); "
              f"log {server.log_path}", flush=True)
        stop = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop)  # sigwait takes them instead of the default handlers
        signal.sigwait(stop)
    return 0


def _pipeline(threads: int = 1, detector: str = "yunet"):
    from facev3.inference import LocalBackend
    from facev3.pipeline import Pipeline

    return Pipeline(LocalBackend(threads=threads, detector=detector))


def _photos(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            yield path


def _embed(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from facev3.pipeline import EmbedOptions

    pipeline = _pipeline(args.threads, args.detector)
    options = EmbedOptions(det_threshold=args.det_threshold, mirror=args.mirror)
    photos = list(_photos(args.paths))
    as_npy = args.out.suffix == ".npy"
    index_path = args.out.with_suffix(".index.jsonl") if as_npy else args.out
    vectors, failed = [], 0
    with index_path.open("wb") as index:
        for path in tqdm(photos, unit="photo", disable=len(photos) < 20, file=sys.stderr):
            try:
                data = path.read_bytes()
            except OSError as exc:
                record = {"path": str(path), "error": {"code": "unreadable", "message": str(exc)}}
            else:
                (result,), _ = pipeline.run([data], options)
                record = {"path": str(path), "width": result.width, "height": result.height}
                if result.error is not None:
                    record["error"] = {"code": result.error.code, "message": result.error.message}
                else:
                    record["faces"] = [_face_record(f, None if as_npy else f.embedding) for f in result.faces]
                    if as_npy:
                        for face_no, face in enumerate(result.faces):
                            record["faces"][face_no]["row"] = len(vectors)
                            vectors.append(face.embedding)
            if "error" in record:
                failed += 1
                print(f"{path}: {record['error']['code']}: {record['error']['message']}", file=sys.stderr)
            index.write(orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
    if as_npy:
        np.save(args.out, np.array(vectors, np.float32).reshape(len(vectors), pipeline.backend.embedding_size))
    print(f"{len(photos) - failed} of {len(photos)} photos embedded -> {args.out}", file=sys.stderr)
    return 0


def _face_record(face, embedding) -> dict:
    record = {"bbox": face.box.tolist(), "score": face.score, "landmarks": face.landmarks.tolist(), "norm": face.norm}
    if embedding is not None:
        record["embedding"] = embedding.tolist()
    return record


def _compare(a: Path, b: Path, detector: str) -> int:
    from facev3 import native
    from facev3.models import SFACE_CALIBRATION

    pipeline = _pipeline(detector=detector)
    results, _ = pipeline.run([a.read_bytes(), b.read_bytes()])
    largest = []
    for path, result in zip((a, b), results):
        face = result.largest_face()
        if face is None:
            reason = result.error.message if result.error else "no face found"
            print(f"{path}: {reason}", file=sys.stderr)
            return 2
        largest.append(face.embedding)
    scored = native.rerank(largest[0], largest[1][None], calibration_threshold=SFACE_CALIBRATION.threshold,
                           calibration_scale=SFACE_CALIBRATION.scale)
    print(orjson.dumps({
        "cosine": float(scored.cosine[0]),
        "score": float(scored.score[0]),
        "match": bool(scored.match[0]),
        "calibration": SFACE_CALIBRATION.name,
    }).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
