"""Bounded-time exhaustion checks against both real adapters: many idle or half-open connections
do not lock a good client out, a body that never arrives is cut, the worker's memory after bursts
of large bodies is bounded by the settings, /healthz stays fast while large reranks run, and
keyless uploads with keys set cost no memory. Measurements go to the HOSTILE_REPORT detail and
to build/test-artifacts/hostile/exhaustion.json. The long versions are @slow (HOSTILE_PROFILE=full)."""

import base64
import contextlib
import json
import pathlib
import resource
import socket
import threading
import time

import numpy as np
import orjson
import pytest

from tests.hostile.cases import ROBYN_BUFFERS_FIRST, ROBYN_NO_BODY_TIMEOUT
from tests.hostile.conftest import (
    API_KEY,
    BODY_TIMEOUT_S,
    ENV,
    FULL,
    HEADER_TIMEOUT_S,
    REPORT_PATH,
    reset_peak,
    status_kb,
)
from tests.hostile.rawhttp import exchange, request

MEASURED = REPORT_PATH.parent / "exhaustion.json"
KEY = {"X-API-Key": API_KEY}


def measured(name: str, **values) -> None:
    """Keeps a measurement for the report (one JSON object per check and adapter)."""
    MEASURED.parent.mkdir(parents=True, exist_ok=True)
    found = json.loads(MEASURED.read_text()) if MEASURED.exists() else {}
    found[name] = values
    MEASURED.write_text(json.dumps(found, indent=1))
    print(name, values)


def xfail_for(kind: str, reasons: dict[str, str]):
    return pytest.mark.xfail(strict=True, reason=reasons[kind]) if kind in reasons else ()


def adapters(**reasons: str):
    """granian and robyn, each with its xfail (strict) where the check fails today."""
    return [pytest.param(kind, marks=xfail_for(kind, reasons)) for kind in ("granian", "robyn")]


def own_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"this process may open {hard} files; the check needs {needed}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def worker(server) -> int:
    return min(server.wait_workers())


def good_request_seconds(server, within_s: float) -> float | None:
    started = time.monotonic()
    reply = exchange(server.port, request("GET", "/v1/info", headers=KEY), within_s)
    return time.monotonic() - started if reply.status == 200 else None


# ---- connections ----------------------------------------------------------------------------------

IDLE = 2000


def open_connections(port: int, count: int, first_bytes: bytes = b"") -> list[socket.socket]:
    opened = []
    for _ in range(count):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        opened.append(sock)
    if first_bytes:
        time.sleep(0.5)
        for sock in opened:
            with contextlib.suppress(OSError):
                sock.send(first_bytes)
    return opened


@pytest.mark.parametrize("kind", adapters())
def test_idle_connections_do_not_lock_out_a_good_client(kind, servers, record):
    """2,000 connections that never send a byte (`facev3 serve` raises the soft fd limit and sizes
    Granian's backpressure from it; the header timeout cuts each silent connection), then one
    good request: served within the header timeout plus 3 s."""
    own_fd_limit(IDLE + 200)
    server = servers.get(kind)
    idle = open_connections(server.port, IDLE)
    try:
        time.sleep(1.0)
        fds = len(list(pathlib.Path(f"/proc/{worker(server)}/fd").iterdir()))
        took = good_request_seconds(server, HEADER_TIMEOUT_S + 3)
    finally:
        for sock in idle:
            sock.close()
    measured(f"idle {IDLE} {kind}", good_request_s=took, worker_fds=fds)
    record(kind, f"{IDLE} idle connections", "ok" if took is not None else "hang", took or HEADER_TIMEOUT_S + 3)
    assert took is not None, f"a good request was not served within {HEADER_TIMEOUT_S + 3:.0f} s"
    assert server.healthy(30)[0]


@pytest.mark.parametrize("kind", adapters())
def test_half_open_heads_are_cut_and_a_good_client_gets_in(kind, servers, record):
    """2,000 connections that send half a request line and stop: cut by the header timeout."""
    own_fd_limit(IDLE + 200)
    server = servers.get(kind)
    half = open_connections(server.port, IDLE, b"GET /healthz HTT")
    try:
        took = good_request_seconds(server, HEADER_TIMEOUT_S + 3)
    finally:
        for sock in half:
            sock.close()
    measured(f"half heads {IDLE} {kind}", good_request_s=took)
    record(kind, f"{IDLE} half-open heads", "ok" if took is not None else "hang", took or HEADER_TIMEOUT_S + 3)
    assert took is not None


# ---- bodies that never arrive ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", adapters(robyn=ROBYN_NO_BODY_TIMEOUT))
def test_a_body_that_never_arrives_is_cut_within_the_body_timeout(kind, servers, record):
    server = servers.get(kind)
    head = request("POST", "/v1/rerank", b"", {"Content-Type": "application/json", "Content-Length": "1000", **KEY})
    reply = exchange(server.port, [head + b'{"query":'], BODY_TIMEOUT_S + 3)
    measured(f"body never arrives {kind}", cut_after_s=round(reply.elapsed, 2), status=reply.status, hung=reply.hung)
    record(kind, "a body that never arrives", "hang" if reply.hung else "ok", reply.elapsed)
    assert not reply.hung and reply.elapsed <= BODY_TIMEOUT_S + 1
    assert reply.status in (408, None) and (reply.status is None or reply.error_code == "body_timeout")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["granian", "robyn"])
def test_how_long_a_stalled_body_holds_its_slot_with_default_settings(kind, servers):
    """Measures (does not judge) the cut-off with the default FACEV3_BODY_TIMEOUT_S (30 s), up to
    120 s."""
    env = {k: v for k, v in ENV.items() if k != "FACEV3_BODY_TIMEOUT_S"}
    server = servers.get(kind, env)
    head = request("POST", "/v1/rerank", b"", {"Content-Type": "application/json", "Content-Length": "1000", **KEY})
    reply = exchange(server.port, [head], 120)
    measured(f"stalled body, default settings {kind}", held_s=round(reply.elapsed, 1), status=reply.status)


# ---- memory -------------------------------------------------------------------------------------------

BIG = 20_000_000


def big_body(size: int) -> bytes:
    """A rerank body of `size` bytes that parses all the way (a huge base64 query) and is then
    refused (no candidates): what a request may make the worker hold."""
    raw = (size - 40) * 3 // 4 // 4 * 4
    return b'{"query_b64":"' + base64.b64encode(np.ones(raw // 4, "<f4").tobytes()) + b'"}'


def burst(port: int, body: bytes, clients: int, rounds: int, headers: dict) -> list[int | None]:
    statuses: list[int | None] = []
    lock = threading.Lock()

    def one():
        for _ in range(rounds):
            head = {"Content-Type": "application/json", **headers}
            reply = exchange(port, request("POST", "/v1/rerank", body, head), 60)
            with lock:
                statuses.append(reply.status)

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return statuses


MEMORY_ENV = {**ENV, "FACEV3_MAX_BODY_BYTES": str(BIG + 1000), "FACEV3_BODY_TIMEOUT_S": "20"}


def memory_burst(kind: str, servers, headers: dict, clients: int, rounds: int) -> dict:
    """One burst of `clients` x `rounds` near-limit bodies on a fresh worker (so no earlier burst is
    in its "before"); its peak (VmHWM, reset before) and what it keeps (VmRSS) after, in MB above
    where it was."""
    server = servers.get(kind, MEMORY_ENV, fresh=True)
    pid = worker(server)
    before = status_kb(pid)
    reset_peak(pid)
    statuses = burst(server.port, big_body(BIG), clients, rounds, headers)
    time.sleep(1.0)
    after = status_kb(pid)
    return {
        "clients": clients,
        "rounds": rounds,
        "body_mb": BIG / 1e6,
        "rss_before_mb": before["VmRSS"] // 1024,
        "peak_growth_mb": round((after["VmHWM"] - before["VmRSS"]) / 1024),
        "kept_mb": round((after["VmRSS"] - before["VmRSS"]) / 1024),
        "statuses": sorted(set(map(str, statuses))),
    }


@pytest.mark.parametrize("kind", adapters())
def test_memory_peak_during_bursts_of_large_bodies_is_bounded_by_the_settings(kind, servers, record):
    """Bursts of concurrent near-limit bodies (20 MB): the worker's peak grows by at most
    4 copies of each body in flight on Granian (body, parsed text, base64 decode, slack), so
    memory is bounded by FACEV3_MAX_BODY_BYTES x concurrency. Robyn holds one more: it hands a
    UTF-8 body to Python as a str, which its adapter encodes back to bytes (97 MB for one 20 MB
    body against Granian's 60; 4 bodies peaked at 238-343 MB, above 4 copies in some runs)."""
    clients, rounds = (8, 6) if FULL else (4, 3)
    found = memory_burst(kind, servers, KEY, clients, rounds)
    measured(f"memory burst {kind}", **found)
    bound = clients * {"granian": 4, "robyn": 5}[kind] * BIG / 2**20
    ok = found["peak_growth_mb"] <= bound and found["statuses"] == ["422"]
    record(
        kind, "memory peak, bursts of 20 MB bodies", "ok" if ok else "wrong", 0, f"peak +{found['peak_growth_mb']} MB"
    )
    assert found["statuses"] == ["422"], found
    assert found["peak_growth_mb"] <= bound, f"peak grew {found['peak_growth_mb']} MB > {bound:.0f} MB"


@pytest.mark.parametrize("kind", adapters())
def test_memory_is_given_back_after_a_burst(kind, servers, record):
    """After the burst, the worker keeps at most 2 bodies' worth above where it was."""
    found = memory_burst(kind, servers, KEY, 4, 3)
    measured(f"memory kept {kind}", **found)
    bound = 2 * BIG / 2**20
    record(kind, "memory kept after a burst", "ok" if found["kept_mb"] <= bound else "wrong", 0, str(found))
    assert found["kept_mb"] <= bound, f"kept {found['kept_mb']} MB > {bound:.0f} MB after the burst"


@pytest.mark.parametrize("kind", adapters(robyn=ROBYN_BUFFERS_FIRST + " (keyless uploads are buffered)"))
def test_keyless_uploads_with_keys_set_cost_no_memory(kind, servers, record):
    """With API keys set, keyless 20 MB uploads are refused on their headers: the worker's peak
    grows by less than one upload, whatever their number."""
    clients, rounds = (8, 8) if FULL else (4, 3)
    found = memory_burst(kind, servers, {}, clients, rounds)
    uploaded_mb = clients * rounds * BIG / 2**20
    measured(f"keyless uploads {kind}", uploaded_mb=round(uploaded_mb), **found)
    ok = found["peak_growth_mb"] < BIG / 2**20 and set(found["statuses"]) <= {"401", "None"}
    record(kind, "keyless 20 MB uploads", "ok" if ok else "wrong", 0, f"peak +{found['peak_growth_mb']} MB")
    assert set(found["statuses"]) <= {"401", "None"}, found
    assert found["peak_growth_mb"] < BIG / 2**20, f"peak grew {found['peak_growth_mb']} MB for {uploaded_mb:.0f} MB"


# ---- the event loop during large reranks ----------------------------------------------------------------


def float_rerank(size_mb: float) -> bytes:
    """A valid rerank of about size_mb MB of float lists (float64 repr, as naive clients send)."""
    rng = np.random.default_rng(1)
    dim = 512
    per_row = dim * 21
    rows = max(1, int(size_mb * 1e6 / per_row))
    query = rng.normal(size=dim)
    candidates = [{"id": i, "embedding": rng.normal(size=dim).tolist()} for i in range(rows)]
    return orjson.dumps({"query": query.tolist(), "candidates": candidates})


def healthz_latency_during(server, body: bytes, clients: int, seconds: float) -> tuple[list[float], list]:
    stop = time.monotonic() + seconds
    statuses = []

    def client():
        while time.monotonic() < stop:
            head = {"Content-Type": "application/json", **KEY}
            statuses.append(exchange(server.port, request("POST", "/v1/rerank", body, head), 60).status)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    latencies = []
    time.sleep(0.3)
    while time.monotonic() < stop:
        started = time.monotonic()
        exchange(server.port, request("GET", "/healthz"), 10)
        latencies.append(time.monotonic() - started)
        time.sleep(0.05)
    for t in threads:
        t.join(120)
    return latencies, statuses


HEALTHZ_LIMIT_S = 0.5


def _check_healthz(kind, servers, record, clients: int, size_mb: float, seconds: float):
    env = {**ENV, "FACEV3_MAX_BODY_BYTES": str(int(size_mb * 1.2e6)), "FACEV3_MAX_CANDIDATES": "5000"}
    server = servers.get(kind, env)
    body = float_rerank(size_mb)
    latencies, statuses = healthz_latency_during(server, body, clients, seconds)
    worst, median = max(latencies), float(np.median(latencies))
    measured(
        f"healthz during {clients} x {size_mb:.0f} MB reranks {kind}",
        probes=len(latencies),
        median_ms=round(median * 1e3, 1),
        worst_ms=round(worst * 1e3, 1),
        reranks=len(statuses),
        statuses=sorted(set(map(str, statuses))),
    )
    record(
        kind,
        f"/healthz during {clients} x {size_mb:.0f} MB reranks",
        "ok" if worst < HEALTHZ_LIMIT_S else "wrong",
        worst,
    )
    assert all(s == 200 for s in statuses), sorted(set(map(str, statuses)))
    assert worst < HEALTHZ_LIMIT_S, f"/healthz took up to {worst:.2f} s (median {median * 1e3:.0f} ms)"


@pytest.mark.parametrize("kind", adapters())
def test_healthz_stays_fast_during_large_reranks(kind, servers, record):
    _check_healthz(kind, servers, record, clients=2, size_mb=8, seconds=6)


@pytest.mark.slow
@pytest.mark.parametrize("kind", adapters())
def test_healthz_stays_fast_during_four_30_mb_reranks(kind, servers, record):
    _check_healthz(kind, servers, record, clients=4, size_mb=30, seconds=25)


# ---- the in-flight bounds ----------------------------------------------------------------------------------


def wait_inflight(server, count: int, within_s: float) -> bool:
    """Whether the worker reports `count` requests in flight (its metrics gauge) within `within_s`."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if server.server.inflight() >= count:
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("kind", adapters())
def test_reranks_are_answered_while_embeddings_fill_the_inference_bound(kind, servers, record):
    """FACEV3_MAX_INFLIGHT=1 and an embedding of 8 group photos running: a malformed rerank gets
    its own 4xx and a good one its 200 (reranks have their own bound), not 503 overloaded."""
    from tests.hostile.cases import GOOD_BODY
    from tests.support.photos import photo_path

    server = servers.get(
        kind, {**ENV, "FACEV3_MAX_INFLIGHT": "1", "FACEV3_MAX_IMAGES": "16", "FACEV3_MAX_BODY_BYTES": "9000000"}
    )
    photo = base64.b64encode(photo_path("t1.jpg").read_bytes())
    body = b'{"images":[' + b",".join([b'"' + photo + b'"'] * 16) + b"]}"  # about a second's work
    head = {"Content-Type": "application/json", **KEY}
    embedding = threading.Thread(
        target=lambda: exchange(server.port, request("POST", "/v1/embeddings", body, head), 60)
    )
    embedding.start()
    assert wait_inflight(server, 1, within_s=10), "the first embedding never started"
    busy = exchange(server.port, request("POST", "/v1/embeddings", body, head), 10)
    bad = exchange(server.port, request("POST", "/v1/rerank", b'{"query": 1}', head), 10)
    good = exchange(server.port, request("POST", "/v1/rerank", GOOD_BODY, head), 10)
    embedding.join(60)
    measured(f"bounds {kind}", busy_embedding=busy.status, malformed_rerank=bad.status, good_rerank=good.status)
    ok = busy.status == 503 and bad.status == 422 and good.status == 200
    record(kind, "reranks while embeddings fill the bound", "ok" if ok else "wrong", 0, f"{busy.status} {bad.status}")
    assert busy.status == 503 and busy.error_code == "overloaded", busy.describe()  # the bound is full
    assert bad.status == 422 and bad.error_code == "invalid_value", bad.describe()
    assert good.status == 200, good.describe()
