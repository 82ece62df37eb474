"""The service under pressure and failure, over real HTTP: the in-flight bound answers 503 with
Retry-After instead of queueing, and with the Triton backend a stopped tritonserver gives 503
with a clear code until it is back, with no restart of the service."""

import base64
import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest

from facev3.tritonserver.launcher import TritonProcess, free_ports
from tests.support.photos import photo_path
from tests.support.servers import Server
from tests.support.triton import repository as triton_repository

ROOT = Path(__file__).resolve().parents[1]
GROUP = {"images": [base64.b64encode(photo_path("t1.jpg").read_bytes()).decode()]}


def post(server: Server, payload) -> tuple[int, dict, dict]:
    return server.call("POST", "/v1/embeddings", orjson.dumps(payload), {"content-type": "application/json"})


@pytest.mark.parametrize("kind", ["granian", "robyn"])
def test_requests_beyond_the_inflight_bound_get_503_with_retry_after(kind):
    server = Server(kind, {"FACEV3_MAX_INFLIGHT": "1"})
    try:
        answers = []
        threads = [threading.Thread(target=lambda: answers.append(post(server, GROUP))) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        statuses = sorted(status for status, _, _ in answers)
        assert len(answers) == 6 and statuses[0] == 200 and statuses[-1] == 503, statuses
        refused = next((headers, body) for status, headers, body in answers if status == 503)
        assert refused[1]["error"]["code"] == "overloaded" and refused[0]["retry-after"] == "1"
        assert post(server, GROUP)[0] == 200  # nothing stays stuck behind the bound
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize("kind", ["granian", "robyn"])
def test_the_start_logs_where_each_model_runs(kind):
    """In the process that checks the settings and in the worker: the servers set up only their
    own loggers, and Robyn's raises the root logger to WARN."""
    server = Server(kind, {"FACEV3_RUNTIME": "onnxruntime"}, workers=1)
    assert server.stop() == 0
    log = server.process.stderr.read().decode()
    assert log.count("INFO facev3.backends: detector on onnxruntime, embedder on onnxruntime in fp32") == 2, log


@pytest.mark.parametrize("kind", ["granian", "robyn"])
def test_sigterm_lets_the_request_in_flight_finish(kind):
    server = Server(kind, {}, workers=1)
    four = {"images": GROUP["images"] * 4}  # about half a second of work
    answers = []
    request = threading.Thread(target=lambda: answers.append(post(server, four)))
    request.start()
    time.sleep(0.15)
    assert server.stop() == 0
    request.join(timeout=60)
    status, _, body = answers[0]
    assert status == 200 and [len(i["faces"]) for i in body["images"]] == [6, 6, 6, 6]


@pytest.mark.parametrize("kind", ["granian", "robyn"])
def test_embeddings_run_side_by_side_while_light_routes_answer(kind):
    """One worker process: inference requests run on its thread pool at the same time, and
    /metrics (served beside them) sees both in flight."""
    server = Server(kind, {}, workers=1)
    eight = {"images": GROUP["images"] * 8}  # about a second of work each
    try:
        answers = []
        requests = [threading.Thread(target=lambda: answers.append(post(server, eight)[0])) for _ in range(2)]
        for r in requests:
            r.start()
        seen = set()
        while any(r.is_alive() for r in requests):
            seen.add(server.inflight())
        assert answers == [200, 200] and 2.0 in seen
    finally:
        assert server.stop() == 0


def facev3_shm_regions() -> set[str]:
    return {name for name in os.listdir("/dev/shm") if name.startswith("facev3_")}


def test_a_stopped_triton_gives_503_until_it_is_back(tmp_path):
    regions_before = facev3_shm_regions()
    repository = triton_repository(tmp_path / "models_serving")
    with TritonProcess(repository, ROOT / ".venv-triton") as triton:
        # One worker, so that /readyz and the next request reach the same backend (a worker that saw
        # no outage recovering too is tested in test_triton.py).
        server = Server(
            "granian", {"FACEV3_BACKEND": "triton", "TRITON_URL": triton.grpc_url, "TRITON_TIMEOUT_S": "5"}, workers=1
        )
        try:
            assert server.call("GET", "/readyz")[2] == {"status": "ready", "backend": "triton"}
            assert len(post(server, GROUP)[2]["images"][0]["faces"]) == 6
            triton.stop()
            status, headers, body = server.call("GET", "/readyz")
            assert status == 503 and body["error"]["code"] == "backend_unavailable" and headers["retry-after"]
            status, headers, body = post(server, GROUP)
            assert status == 503 and body["error"]["code"] == "backend_unavailable" and headers["retry-after"]
            assert server.call("GET", "/healthz")[0] == 200  # the process itself is fine
            triton.start()
            deadline = time.monotonic() + 10
            while server.call("GET", "/readyz")[0] != 200:
                assert time.monotonic() < deadline, "/readyz did not recover within 10 s"
                time.sleep(0.2)
            status, _, body = post(server, GROUP)
            assert status == 200 and len(body["images"][0]["faces"]) == 6, body
            assert facev3_shm_regions() - regions_before  # the worker's shared-memory slots
        finally:
            assert server.stop() == 0
    assert facev3_shm_regions() == regions_before  # released on SIGTERM


def test_two_workers_on_triton_each_hold_their_slots_and_metrics_count_both(tmp_path):
    with TritonProcess(triton_repository(tmp_path / "models_serving"), ROOT / ".venv-triton") as triton:
        regions_before = facev3_shm_regions()  # with Triton's own (its python backend's)
        env = {
            "FACEV3_BACKEND": "triton",
            "TRITON_URL": triton.grpc_url,
            "TRITON_SHM": "system",
            "FACEV3_MAX_INFLIGHT": "3",
        }
        server = Server("granian", env, workers=2)
        try:
            for _ in range(6):
                assert post(server, GROUP)[0] == 200
            # Per worker: one slot (an input and an output region) per request in flight.
            assert len(facev3_shm_regions() - regions_before) == 2 * 3 * 2
            metrics = server.call("GET", "/metrics")[2].decode()
            served = sum(
                float(line.rsplit(" ", 1)[1])
                for line in metrics.splitlines()
                if line.startswith('facev3_requests_total{endpoint="/v1/embeddings",status="200"}')
            )
            assert served == 6  # summed over both workers, whichever answered /metrics
        finally:
            assert server.stop() == 0
        assert facev3_shm_regions() == regions_before


def serve_and_wait(env: dict[str, str], port: int) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "facev3.cli", "serve", "--port", str(port)]
    return subprocess.run(command, env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_a_second_server_on_a_port_in_use_fails_instead_of_sharing_it():
    first = Server("granian", {}, workers=1)
    try:
        second = serve_and_wait({}, first.port)
        assert second.returncode == 2
        assert f"cannot listen on 127.0.0.1:{first.port}" in second.stderr and second.stderr.count("\n") == 1
        assert first.call("GET", "/healthz")[0] == 200
    finally:
        first.stop()


def test_triton_down_at_start_is_one_line_not_a_traceback():
    dead = free_ports(1)[0]
    result = serve_and_wait(
        {"FACEV3_BACKEND": "triton", "TRITON_URL": f"127.0.0.1:{dead}", "TRITON_TIMEOUT_S": "2"}, free_ports(1)[0]
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"Triton at 127.0.0.1:{dead}" in result.stderr and result.stderr.count("\n") == 1


def test_robyn_is_quiet_at_the_info_log_level():
    server = Server("robyn", {"FACEV3_LOG_LEVEL": "info"}, workers=1)
    assert server.stop() == 0
    lines = server.process.stderr.read().decode().splitlines()
    robyns = [line for line in lines if " facev3." not in line]  # facev3's start lines say where models run
    assert len(robyns) < 5, robyns  # Robyn's INFO listed every route it added


def test_sigterm_while_the_worker_loads_its_models_stops_the_server():
    """A pod can be stopped while it starts. uvloop drops a signal that arrives before the
    worker's event loop runs, so a worker stopped while loading its models served on until the
    30 s kill timeout; facev3 holds the signal for the loop, and the server stops in a second or
    two (facev3.http.signals)."""
    port = free_ports(1)[0]
    command = [sys.executable, "-m", "facev3.cli", "serve", "--server", "granian", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--workers", "1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        for line in process.stdout:  # Granian's log
            if b"Spawning worker" in line:
                break
        # Granian imported the app before the fork, so the worker sets its handlers within some
        # 10 ms and then loads its models for a second or more (1 s on a fast machine).
        time.sleep(0.2)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=0.1)
        with pytest.raises(OSError):  # not serving yet: its event loop has not run
            connection.request("GET", "/healthz")
            connection.getresponse()
        connection.close()
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert time.monotonic() - signalled < 15, "the worker missed the signal and was killed at the timeout"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_a_worker_signalled_before_granian_set_its_handlers_exits():
    """The moments between Granian's fork and the worker's own handlers (some 10 ms: the app
    is imported in the main process) are too short to hit from outside, so this runs the hook as
    Granian does: in the main process, over a handler that only sets a flag, before a fork."""
    script = """
import os, signal, time
from facev3.http.signals import exit_workers_signalled_before_their_loop
flagged = []
signal.signal(signal.SIGTERM, lambda *_: flagged.append(True))  # Granian's main handler
exit_workers_signalled_before_their_loop()
started, start = os.pipe()
worker = os.fork()
if worker == 0:
    os.write(start, b"!")  # past CPython's after-fork reset of pending signals
    time.sleep(5)  # importing the app; the signal was lost and it went on to serve
    os._exit(3)
os.read(started, 1)
os.kill(worker, signal.SIGTERM)
status = os.waitpid(worker, 0)[1]
os.kill(os.getpid(), signal.SIGTERM)
print(os.waitstatus_to_exitcode(status), flagged)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert result.stdout.split() == ["0", "[True]"], result.stderr  # the worker exited; the main kept its flag
