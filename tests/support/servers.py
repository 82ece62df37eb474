"""HTTP servers started for tests and load runs, on 127.0.0.1 and a free port: facev3 (granian or
robyn, through `facev3 serve`), a baseline stack (bench/baselines, uvicorn) or Granian's transport
floor. Each waits for /healthz and stops with SIGTERM (SIGKILL of its group only if that hangs)."""

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson

from facev3.tritonserver.launcher import free_ports

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = object()


# The load tests' baseline stacks (uvicorn apps): the original plan's, and the tuned plain one.
BASELINES = {"baseline": "bench.baselines.fastapi_app:app", "tuned": "bench.baselines.tuned_app:app"}
# Granian answering a constant to any body (bench/baselines/granian_floor.py), served as facev3 is.
FLOOR = "bench.baselines.granian_floor:app"


class Server:
    def __init__(self, kind: str, env: dict[str, str], workers: int = 2, api_key: str | None = None) -> None:
        self.kind = kind
        self.api_key = api_key
        self.port = free_ports(1)[0]
        if kind in BASELINES:
            command = [
                sys.executable,
                "-m",
                "uvicorn",
                BASELINES[kind],
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
            ]
        elif kind == "floor":
            command = [
                sys.executable,
                "-m",
                "granian",
                *("--interface", "rsgi", "--loop", "uvloop", "--http", "1", "--log-level", "warning"),
                *("--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)),
                FLOOR,
            ]
        else:
            command = [
                sys.executable,
                "-m",
                "facev3.cli",
                "serve",
                "--server",
                kind,
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ]
        self.process = subprocess.Popen(
            command,
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.stderr.read().decode()[-3000:]
            try:
                if self.call("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"{kind} server did not answer /healthz")

    def call(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None, key=DEFAULT):
        key = self.api_key if key is DEFAULT else key
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            sent = {"x-api-key": key} if key else {}
            connection.request(method, path, body=body, headers={**sent, **(headers or {})})
            response = connection.getresponse()
            data = response.read()
            kind = response.getheader("content-type", "")
            return (
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                orjson.loads(data) if "json" in kind else data,
            )
        finally:
            connection.close()

    def inflight(self) -> float:
        """The worker's gauge of embedding and rerank requests in flight, from /metrics."""
        status, _, text = self.call("GET", "/metrics")
        assert status == 200
        lines = text.decode().splitlines()
        return next(float(line.split()[-1]) for line in lines if line.startswith("facev3_inflight_requests"))

    def call_raw(self, method: str, path: str, body: bytes, headers: dict):
        """A request over a plain socket that keeps reading when the server answers before the
        upload ends (Granian refuses an oversized body early and closes its side)."""
        head = f"{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {len(body)}\r\nconnection: close\r\n"
        sent = {"x-api-key": self.api_key} if self.api_key else {}
        head += "".join(f"{k}: {v}\r\n" for k, v in {**sent, **headers}.items()) + "\r\n"
        with socket.create_connection(("127.0.0.1", self.port), timeout=60) as sock:
            sock.sendall(head.encode())
            try:
                for start in range(0, len(body), 65536):
                    sock.sendall(body[start : start + 65536])
            except (BrokenPipeError, ConnectionResetError):
                pass
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        header, _, data = received.partition(b"\r\n\r\n")
        return int(header.split()[1]), {}, orjson.loads(data)

    def post_json(self, path: str, payload, **kwargs):
        return self.call("POST", path, orjson.dumps(payload), {"content-type": "application/json"}, **kwargs)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait()
