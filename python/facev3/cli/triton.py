"""facev3 triton: generate a model repository from manifests, or serve one with a local
tritonserver for development."""

import argparse
import shutil
from pathlib import Path


def add_parser(commands) -> argparse.ArgumentParser:
    from facev3.tritonserver.repository import RUNTIMES

    parser = commands.add_parser("triton", help="Triton model repositories and a local tritonserver")
    actions = parser.add_subparsers(dest="action", required=True)
    repo = actions.add_parser("repo", help="write a model repository for a detector and an embedder")
    repo.add_argument("out", type=Path, help="the repository folder to create")
    repo.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="python",
        help="how the networks run: python (CPU, the local server), onnxruntime or tensorrt (GPU)",
    )
    repo.add_argument("--max-batch", type=int, default=32, help="crops per embedding batch")
    repo.add_argument("--max-side", type=int, default=1280, help="largest detector input side (TensorRT profile)")
    serve = actions.add_parser("serve", help="serve a generated repository on 127.0.0.1 until Ctrl-C")
    serve.add_argument(
        "--env",
        type=Path,
        default=Path(".venv-triton"),
        help="the numpy<2 env with nvidia-pytriton (scripts/setup-triton-env.sh)",
    )
    serve.add_argument("--workdir", type=Path, default=Path("build/triton"), help="where the repository is written")
    for command in (repo, serve):
        command.add_argument("--detector", help="built-in name or manifest path (default yunet)")
        command.add_argument("--embedder", help="built-in name or manifest path (default sface)")
    return parser


def run(args: argparse.Namespace) -> int:
    from facev3.models import registry
    from facev3.tritonserver.repository import write_repository

    detector = registry.resolve(args.detector, "detector")
    embedder = registry.resolve(args.embedder, "embedder")
    if args.action == "repo":
        write_repository(
            args.out, detector, embedder, runtime=args.runtime, max_batch=args.max_batch, max_side=args.max_side
        )
        print(f"{args.out}: face_detect runs {detector.tag}, face_embed runs {embedder.tag} ({args.runtime})")
        return 0
    return _serve(args, write_repository(_fresh(args.workdir / "models_serving"), detector, embedder))


def _fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    return folder


def _serve(args: argparse.Namespace, repository: Path) -> int:
    import signal

    from facev3.tritonserver.launcher import TritonProcess

    with TritonProcess(repository, args.env, log_path=args.workdir / "tritonserver.log") as server:
        print(
            f"tritonserver ready: TRITON_URL={server.grpc_url} "
            f"(HTTP {server.ports.http}, metrics {server.ports.metrics}); "
            f"log {server.log_path}",
            flush=True,
        )
        stop = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop)  # sigwait takes them instead of the default handlers
        signal.sigwait(stop)
    return 0
