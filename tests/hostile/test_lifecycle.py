"""Start-up, shutdown and the CLI under user mistakes (issue 12): a server started in the
background (SIGINT ignored, as a script's `&` leaves it) stops on SIGTERM; a busy port, an
unreachable Triton and bad settings stop the start with one line, not a traceback; `facev3 embed`
fails (non-zero) when nothing was embedded, and says what the user got wrong in one line."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from facev3.tritonserver.launcher import free_ports
from tests.hostile.cases import png
from tests.hostile.rawhttp import exchange, request
from tests.support.photos import photo_path
from tests.support.servers import ROOT, Server

FACEV3 = [sys.executable, "-m", "facev3.cli"]


def run_cli(args: list[str], env: dict | None = None, cwd=ROOT, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*FACEV3, *args],
        env={**os.environ, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def one_line_error(result: subprocess.CompletedProcess) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert len(lines) <= 2, result.stderr[-3000:]


def serve_in_background(kind: str, port: int) -> subprocess.Popen:
    """`facev3 serve` as `cmd &` from a script starts it: SIGINT ignored, its own group."""
    return subprocess.Popen(
        [*FACEV3, "serve", "--server", kind, "--port", str(port), "--workers", "1"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        start_new_session=True,
    )


def wait_healthy(port: int, process: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited during start-up"
        try:
            if exchange(port, request("GET", "/healthz"), 5).status == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError("no /healthz")


@pytest.mark.parametrize("kind", ["granian", "robyn"])
def test_sigterm_stops_a_server_started_in_the_background(kind):
    port = free_ports(1)[0]
    process = serve_in_background(kind, port)
    try:
        wait_healthy(port, process)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=40)
        took = time.monotonic() - started
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert code == 0 and took < 10, (code, took)


@pytest.mark.parametrize("kind", ["granian", "robyn"])
def test_a_second_server_on_a_busy_port_fails_and_the_first_keeps_all_traffic(kind):
    first = Server(kind, {}, workers=1)
    try:
        second = run_cli(["serve", "--server", kind, "--port", str(first.port), "--workers", "1"], timeout=90)
        one_line_error(second)
        assert str(first.port) in second.stderr
        assert all(exchange(first.port, request("GET", "/healthz"), 5).status == 200 for _ in range(20))
    finally:
        first.stop()


def test_a_port_held_by_another_program_is_refused():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        one_line_error(run_cli(["serve", "--port", str(port)], timeout=90))


@pytest.mark.parametrize("kind", ["granian", "robyn"])
def test_triton_down_at_start_is_one_line_or_a_not_ready_start(kind):
    port, dead = free_ports(2)
    env = {"FACEV3_BACKEND": "triton", "TRITON_URL": f"127.0.0.1:{dead}", "TRITON_TIMEOUT_S": "2"}
    process = subprocess.Popen(
        [*FACEV3, "serve", "--server", kind, "--port", str(port), "--workers", "1"],
        env={**os.environ, **env},
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:  # it started: then not ready, and alive
            assert exchange(port, request("GET", "/readyz"), 10).status == 503
            assert exchange(port, request("GET", "/healthz"), 10).status == 200
            return
        stderr = process.stderr.read()
        one_line_error(subprocess.CompletedProcess(process.args, process.returncode, "", stderr))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)


@pytest.mark.parametrize(
    "env",
    [
        {"FACEV3_API_KEYS": " , "},
        {"FACEV3_MAX_INFLIGHT": "abc"},
        {"FACEV3_MAX_BODY_BYTES": "-1"},
        {"FACEV3_BODY_TIMEOUT_S": "0"},
        {"FACEV3_BACKEND": "gpu"},
        {"RERANK_THRESHOLD": "2"},
    ],
    ids=lambda env: ",".join(f"{k}={v!r}" for k, v in env.items()),
)
def test_bad_settings_refuse_to_start_in_one_line(env):
    one_line_error(run_cli(["serve", "--port", str(free_ports(1)[0])], env=env, timeout=90))


# ---- facev3 embed --------------------------------------------------------------------------------------


def test_embed_a_missing_file_is_one_line(tmp_path):
    one_line_error(run_cli(["embed", str(tmp_path / "nope.jpg"), "--out", str(tmp_path / "o.jsonl")]))


def test_embed_into_a_missing_folder_is_one_line(tmp_path):
    photo = photo_path("Rob_Lowe_0001.jpg")
    one_line_error(run_cli(["embed", str(photo), "--out", str(tmp_path / "no" / "o.jsonl")]))


def test_embed_fails_when_every_input_failed(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"not a photo")
    (tmp_path / "b.jpg").write_bytes(b"")
    result = run_cli(["embed", str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg"), "--out", str(tmp_path / "o.jsonl")])
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr


def test_embed_fails_when_nothing_was_embedded(tmp_path):
    (tmp_path / "blank.png").write_bytes(png(200, 200))
    result = run_cli(["embed", str(tmp_path / "blank.png"), "--out", str(tmp_path / "o.npy")])
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr


def test_embed_with_a_bad_setting_is_one_line(tmp_path):
    photo = photo_path("Rob_Lowe_0001.jpg")
    one_line_error(run_cli(["embed", str(photo), "--out", str(tmp_path / "o.jsonl")], env={"FACEV3_THREADS": "x"}))


def test_triton_serve_outside_the_repository_is_one_line(tmp_path):
    one_line_error(run_cli(["triton", "serve"], cwd=tmp_path, timeout=60))


def test_a_dead_robyn_worker_is_replaced_within_a_second_and_the_reason_logged():
    """What a Robyn panic does (the process aborts), done with SIGKILL: the supervisor starts a
    new worker within a second, logs why, and the service answers again shortly after."""
    from tests.hostile.conftest import Running, worker_pids

    server = Running("robyn", {})
    try:
        (old,) = server.workers
        killed = time.monotonic()
        os.kill(old, signal.SIGKILL)
        while not (worker_pids(server.server.process.pid) - {old}) and time.monotonic() - killed < 10:
            time.sleep(0.02)
        replaced = time.monotonic() - killed
        healthy, _ = server.healthy(30)
        serving = time.monotonic() - killed
        time.sleep(0.5)
        assert any("SIGKILL" in line and "restart" in line for line in server.log), server.log_tail()
        assert replaced < 1.0, f"a new worker after {replaced:.2f} s"
        assert healthy and serving < 10, f"serving again after {serving:.1f} s"
        print(f"robyn worker replaced after {replaced:.2f} s, serving after {serving:.2f} s")
    finally:
        server.stop()
