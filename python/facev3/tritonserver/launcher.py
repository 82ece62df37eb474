"""A real tritonserver on loopback, from the nvidia-pytriton wheel (no Docker), for development
and tests. It handles these pitfalls of the wheel's server:
  - the python stub for the environment's Python is copied into a backend directory of ours, with
    LD_LIBRARY_PATH pointing at the wheel's libraries (else the server hangs at "loading");
  - PATH starts with the environment's bin/, because the stub finds its site-packages through the
    first python3 on PATH (it ignores PYTHONPATH); that environment needs numpy < 2;
  - a unique --id is checked on GET /v2, so an old server on the same port is never mistaken
    for ours; readiness polling has a timeout;
  - the server runs in its own process group: SIGTERM, then SIGKILL of the group, then the
    python backend's /dev/shm regions (named by our prefix) are removed.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path


class TritonStartError(RuntimeError):
    pass


@dataclass(frozen=True)
class Ports:
    http: int
    grpc: int
    metrics: int


def free_ports(count: int = 3) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class TritonProcess:
    """tritonserver serving `repository` with the python models run in the `env` virtualenv."""

    def __init__(
        self, repository: Path, env: Path, ready_timeout_s: float = 120.0, log_path: Path | None = None
    ) -> None:
        self.repository = repository.resolve()
        self.env = env.resolve()
        site = next((self.env / "lib").glob("python3.*/site-packages"), None)
        if site is None:
            raise TritonStartError(f"no Python environment at {self.env} (run scripts/setup-triton-env.sh)")
        self._site = site
        self.ready_timeout_s = ready_timeout_s
        self.ports = Ports(*free_ports())
        self.server_id = f"facev3-{uuid.uuid4().hex[:12]}"
        self.shm_prefix = f"facev3_pb_{self.server_id[7:]}_"
        self._runtime = Path(tempfile.mkdtemp(prefix="facev3-triton-"))
        self.log_path = log_path or self._runtime / "tritonserver.log"
        self._process: subprocess.Popen | None = None
        self._backends = self._prepare_backends()

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.ports.grpc}"

    def _prepare_backends(self) -> Path:
        wheel = self._site / "pytriton" / "tritonserver"
        python_version = self._site.parent.name.removeprefix("python")
        stub = wheel / "python_backend_stubs" / python_version / "triton_python_backend_stub"
        if not stub.is_file():
            raise TritonStartError(
                f"no tritonserver python stub for Python {python_version} in {wheel} "
                f"(pip install nvidia-pytriton==0.7.0 into {self.env})"
            )
        backend = self._runtime / "backends" / "python"
        backend.mkdir(parents=True)
        for name in ("libtriton_python.so", "triton_python_backend_utils.py"):
            (backend / name).symlink_to(wheel / "backends" / "python" / name)
        shutil.copy2(stub, backend / stub.name)
        return backend.parent

    def _command(self) -> list[str]:
        return [
            str(self._site / "pytriton" / "tritonserver" / "bin" / "tritonserver"),
            f"--id={self.server_id}",
            f"--model-repository={self.repository}",
            f"--backend-directory={self._backends}",
            "--http-address=127.0.0.1",
            f"--http-port={self.ports.http}",
            "--grpc-address=127.0.0.1",
            f"--grpc-port={self.ports.grpc}",
            "--metrics-address=127.0.0.1",
            f"--metrics-port={self.ports.metrics}",
            "--allow-gpu-metrics=false",
            "--pinned-memory-pool-byte-size=0",
            "--cuda-memory-pool-byte-size=0:0",
            "--disable-auto-complete-config",
            f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}",
            "--strict-readiness=true",
            "--exit-on-error=true",
            "--exit-timeout-secs=10",
        ]

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        libs = str(self._site / "nvidia_pytriton.libs")
        env["LD_LIBRARY_PATH"] = libs + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
        env["PATH"] = f"{self.env / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
        env.pop("PYTHONPATH", None)
        return env

    def start(self) -> "TritonProcess":
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            self._command(),
            env=self._environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise TritonStartError(
                    f"tritonserver exited with {self._process.returncode}; log: {self.log_path}\n{self.log_tail()}"
                )
            if self._ours_and_ready():
                return self
            time.sleep(0.2)
        self.stop()
        raise TritonStartError(
            f"tritonserver not ready after {self.ready_timeout_s:.0f} s; log: {self.log_path}\n{self.log_tail()}"
        )

    def _get(self, path: str) -> bytes | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ports.http}{path}", timeout=2) as response:
                return response.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None

    def _ours_and_ready(self) -> bool:
        metadata = self._get("/v2")
        return (
            metadata is not None and self.server_id.encode() in metadata and self._get("/v2/health/ready") is not None
        )

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout_s: float = 20.0) -> None:
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        self._process = None
        for leftover in Path("/dev/shm").glob(f"{self.shm_prefix}*"):
            leftover.unlink(missing_ok=True)

    def kill(self) -> None:
        """Hard stop of the whole group, as a crash would (for fault tests)."""
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
        self.stop()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._runtime, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> "TritonProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
