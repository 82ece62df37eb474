"""TRITON_URL with several servers, on two real tritonservers: requests are spread over both, a
server killed under load costs no failed request (its work is retried on the other), and it is
brought back when it answers again. The p99 latency while one server is down is printed (-s)."""

import json
import threading
import time
import urllib.request

import numpy as np
import pytest

from facev3 import bootstrap
from facev3.backends.triton.failover import TritonFailover, on_this_host
from facev3.config import Settings
from facev3.core.errors import BackendUnavailable
from facev3.tritonserver.launcher import TritonProcess, free_ports
from tests.support.photos import photo_path
from tests.support.triton import TRITON_ENV
from tests.support.triton import repository as triton_repository


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    repository = triton_repository(tmp_path_factory.mktemp("failover") / "repo")
    with TritonProcess(repository, TRITON_ENV) as first, TritonProcess(repository, TRITON_ENV) as second:
        yield first, second


def test_only_servers_on_this_host_get_shared_memory():
    assert on_this_host("127.0.0.1:8001") and on_this_host("localhost:8001") and on_this_host("[::1]:8001")
    assert not on_this_host("triton-0.triton:8001") and not on_this_host("10.1.2.3:8001")


def test_a_server_down_at_start_is_skipped_and_joins_when_it_answers(servers):
    first, _ = servers
    dead = f"127.0.0.1:{free_ports(1)[0]}"
    backend = TritonFailover([first.grpc_url, dead], shm="system", timeout_s=5, slots=2)
    try:
        assert backend.state() == {first.grpc_url: True, dead: False}
        (found,) = [backend.detect(np.zeros((64, 64, 3), np.uint8), 640, 0.7, 0.3)]
        assert len(found) == 0 and backend.ready()
    finally:
        backend.close()
    with pytest.raises(BackendUnavailable, match="no Triton server answered"):
        TritonFailover([dead], shm="none", timeout_s=2, slots=1)


def detections_served(server: TritonProcess) -> int:
    """face_detect's successful inferences since the server started (Triton's statistics)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{server.ports.http}/v2/models/face_detect/stats") as response:
        stats = json.load(response)["model_stats"][0]
    return int(stats["inference_stats"]["success"]["count"])


class Load:
    """Embedding requests from two threads until stopped: (start time, seconds, faces or error)."""

    def __init__(self, pipeline, photo: bytes) -> None:
        self.pipeline, self.photo = pipeline, photo
        self.records: list[tuple[float, float, object]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(2)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                (result,), _ = self.pipeline.run([self.photo])
                outcome = len(result.faces)
            except Exception as error:  # recorded: the test asserts there are none
                outcome = error
            self.records.append((started, time.monotonic() - started, outcome))

    def stop(self) -> list[tuple[float, float, object]]:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        return self.records


def test_a_server_killed_under_load_costs_no_failed_request_and_comes_back(servers):
    first, second = servers
    settings = Settings(backend="triton", triton_url=f"{first.grpc_url},{second.grpc_url}", triton_shm="system")
    pipeline = bootstrap.build_pipeline(settings)
    backend = pipeline.backend
    load = Load(pipeline, photo_path("Rob_Lowe_0001.jpg").read_bytes())
    try:
        time.sleep(2)
        killed_at = time.monotonic()
        first.kill()
        time.sleep(3)
        assert backend.state()[first.grpc_url] is False
        first.start()  # same ports; the watcher asks it once a second
        deadline = time.monotonic() + 30
        while not backend.state()[first.grpc_url] and time.monotonic() < deadline:
            time.sleep(0.2)
        back_at = time.monotonic()
        assert backend.state()[first.grpc_url] is True
        time.sleep(2)
    finally:
        records = load.stop()
        backend.close()
    failures = [outcome for _, _, outcome in records if not isinstance(outcome, int)]
    assert not failures, failures[:3]
    assert all(outcome == 1 for _, _, outcome in records)
    during = [seconds for started, seconds, _ in records if killed_at <= started < back_at]
    after = [started for started, _, _ in records if started >= back_at]
    assert len(during) >= 5 and len(after) >= 2
    assert detections_served(first) > 0  # back in the rotation: the restarted server took requests
    print(
        f"\nfailover: {len(records)} requests, 0 failed; while one server was down: {len(during)} requests, "
        f"p50 {np.percentile(during, 50) * 1e3:.0f} ms, p99 {np.percentile(during, 99) * 1e3:.0f} ms"
    )
