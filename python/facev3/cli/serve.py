"""facev3 serve: the HTTP service (settings from the environment and .env)."""

import argparse
import os
import resource
import shutil
import socket
import sys
import tempfile

SERVERS = ("granian", "robyn")
FILES_KEPT_FREE = 256  # for models, logs, metrics files and Triton shared memory


def add_parser(commands) -> argparse.ArgumentParser:
    parser = commands.add_parser("serve", help="the HTTP service (settings from the environment and .env)")
    parser.add_argument("--server", choices=SERVERS, default="granian")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--workers", type=int, default=None, help="processes (granian) or threads (robyn); default FACEV3_WORKERS"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from facev3.config import load_settings

    settings = load_settings()
    workers = args.workers or settings.workers
    check_port_free(args.host, args.port)
    open_files = raise_open_file_limit()
    metrics_dir = None
    if args.server == "granian" and workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Worker processes share their metrics through files (see facev3.api.metrics); set before
        # prometheus-client is first imported, which picks its mode then.
        metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="facev3-metrics-")
    try:
        from facev3 import bootstrap  # imports prometheus-client: after PROMETHEUS_MULTIPROC_DIR

        bootstrap.configure_logging(settings)  # Granian's workers, forked, keep it
        # A wrong setting, a model that disagrees with its manifest or an unreachable Triton stops
        # here, in one line, not in every worker.
        bootstrap.build_api(settings).close()
        if args.server == "robyn":
            from facev3.http.supervisor import supervise

            command = [sys.executable, "-m", "facev3.http.robyn_app", args.host, str(args.port), str(workers)]
            return supervise(command, stop_timeout_s=30)
        return serve_granian(args, settings, workers, open_files)
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def check_port_free(host: str, port: int) -> None:
    """Binds the address without SO_REUSEPORT: a server already there makes this fail, where
    Granian's own bind would succeed and split the traffic with it."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers are fine
        try:
            probe.bind((host, port))
        except OSError as error:
            raise OSError(f"cannot listen on {host}:{port}: {error.strerror} (is another server there?)") from None


def raise_open_file_limit() -> int:
    """Every connection is a file descriptor: thousands of idle clients must not exhaust the soft
    limit (often 1,024) while the hard limit allows more. Returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def serve_granian(args: argparse.Namespace, settings, workers: int, open_files: int) -> int:
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings
    from granian.server import Server

    from facev3.http.signals import exit_workers_signalled_before_their_loop

    server = Server(
        "facev3.http.granian_app:app",
        address=args.host,
        port=args.port,
        interface=Interfaces.RSGI,
        workers=workers,
        log_level=settings.log_level,
        workers_kill_timeout=30,
        # uvloop: 1.12x the tuned app's single-face embeddings against asyncio's 0.98x in one
        # alternating run (the pool threads hand results back to the loop faster). It drops a
        # signal that arrives before the loop runs: see facev3.http.signals.
        loop=Loops.uvloop,
        # HTTP/1.1 only: Granian's cleartext HTTP/2 has no cut for a silent connection, and
        # clients and proxies speak HTTP/1.1 to a service like this one.
        http=HTTPModes.http1,
        # Granian's default (backlog // workers: 1,024 for one worker) counts connections, not
        # requests, so that many idle clients lock out everyone else. Requests are bounded by
        # FACEV3_MAX_INFLIGHT; the only limit worth having here is each worker process's files.
        backpressure=max(64, open_files - FILES_KEPT_FREE),
        http1_settings=HTTP1Settings(header_read_timeout=int(settings.header_timeout_s * 1000)),
    )
    server.on_startup(exit_workers_signalled_before_their_loop)
    server.serve()
    return 0
