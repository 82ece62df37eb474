"""facev3 serve: the HTTP service (settings from the environment and .env)."""

import argparse
import os
import shutil
import sys
import tempfile


def add_parser(commands) -> argparse.ArgumentParser:
    parser = commands.add_parser("serve", help="the HTTP service (settings from the environment and .env)")
    parser.add_argument("--server", choices=["granian", "robyn"], default="granian")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--workers", type=int, default=None, help="processes (granian) or threads (robyn); default FACEV3_WORKERS"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from facev3.config import SettingsError, load_settings

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
        # Worker processes share their metrics through files (see facev3.api.metrics).
        metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="facev3-metrics-")
    try:
        Server(
            "facev3.http.granian_app:app",
            address=args.host,
            port=args.port,
            interface=Interfaces.RSGI,
            workers=workers,
            log_level=settings.log_level,
            workers_kill_timeout=30,
        ).serve()
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0
