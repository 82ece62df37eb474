"""A small closed-loop HTTP/1.1 load generator on asyncio: `concurrency` keep-alive connections,
each sending the same request back to back for `duration_s`, then stopping. Loopback only.
Reports requests/s, latency percentiles and errors (connection failures and non-2xx)."""

import asyncio
import ipaddress
import time
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    statuses: dict

    def as_dict(self) -> dict:
        return asdict(self)


def encode_request(method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "host: 127.0.0.1",
        f"content-length: {len(body)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    lengths = [int(line.split(":", 1)[1]) for line in lines[1:] if line.lower().startswith("content-length:")]
    length = lengths[0] if lengths else None
    if length is None:  # chunked: read chunks until the terminating zero-size chunk
        while True:
            size = int((await reader.readline()).strip() or b"0", 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(length)
    return status


async def _connection(port: int, request: bytes, deadline: float, latencies: list, statuses: dict) -> None:
    reader = writer = None
    while time.monotonic() < deadline:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            started = time.perf_counter()
            writer.write(request)
            await writer.drain()
            status = await asyncio.wait_for(read_response(reader), timeout=max(1.0, deadline - time.monotonic() + 30))
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            statuses["connection_error"] = statuses.get("connection_error", 0) + 1
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.05)
    if writer is not None:
        writer.close()


def run_load(
    host: str,
    port: int,
    method: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    concurrency: int,
    duration_s: float,
) -> LoadResult:
    assert ipaddress.ip_address(host).is_loopback, "load tests target 127.0.0.0/8 only"
    request = encode_request(method, path, body, headers)
    latencies: list[float] = []
    statuses: dict = {}

    async def main() -> float:
        started = time.monotonic()
        deadline = started + duration_s
        await asyncio.gather(*(_connection(port, request, deadline, latencies, statuses) for _ in range(concurrency)))
        return time.monotonic() - started

    seconds = asyncio.run(main())
    ms = np.array(latencies) * 1e3 if latencies else np.array([np.nan])
    errors = sum(count for status, count in statuses.items() if not (isinstance(status, int) and 200 <= status < 300))
    return LoadResult(
        len(latencies),
        errors,
        round(seconds, 3),
        round(len(latencies) / seconds, 2),
        *(round(float(np.percentile(ms, q)), 2) for q in (50, 95, 99)),
        {str(k): v for k, v in statuses.items()},
    )
