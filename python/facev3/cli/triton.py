"""facev3 triton: a local tritonserver for development."""

import argparse
import shutil
from pathlib import Path


def add_parser(commands) -> argparse.ArgumentParser:
    parser = commands.add_parser("triton", help="a local tritonserver for development")
    actions = parser.add_subparsers(dest="action", required=True)
    serve = actions.add_parser("serve", help="serve a prepared copy of the model repository on 127.0.0.1 until Ctrl-C")
    serve.add_argument("--repository", type=Path, default=Path("triton-infer-custom/models_serving"))
    serve.add_argument(
        "--env",
        type=Path,
        default=Path(".venv-triton"),
        help="the numpy<2 env with nvidia-pytriton (scripts/setup-triton-env.sh)",
    )
    serve.add_argument("--workdir", type=Path, default=Path("build/triton"), help="where the prepared copy goes")
    return parser


def run(args: argparse.Namespace) -> int:
    import signal

    from facev3.tritonserver.launcher import TritonProcess
    from facev3.tritonserver.repository import copy_repository

    shutil.rmtree(args.workdir / "models_serving", ignore_errors=True)
    repository = copy_repository(args.repository, args.workdir / "models_serving")
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
