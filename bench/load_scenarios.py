"""Load scenarios against facev3 (Granian, Robyn), the baseline stacks and Granian's transport floor
(bench/baselines), side by side in one run, same payloads, loopback only, each bounded in time:

    .venv/bin/python -m bench.load_scenarios --duration 10 --out bench/results/load.json

Prints a markdown table (requests/s and the ratio to the baseline, latency percentiles, errors)
and writes every result with the machine's description as JSON. `--rounds N` alternates the
stacks N times and reports medians and ranges: on a shared machine, the way to a fair ratio.
"""

import argparse
import base64
import io
import os
import platform
import statistics
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import ormsgpack
from PIL import Image

from bench.load import run_load
from tests.support.photos import photo_path
from tests.support.servers import Server

ROOT = Path(__file__).resolve().parents[1]

SEED = 11
# facev3 on its two servers, the original plan's pydantic app and the tuned plain FastAPI app.
STACKS = ("granian", "robyn", "baseline", "tuned")
# Rerank also runs on Granian's transport floor: the body taken in and a constant answered.
RERANK_STACKS = (*STACKS, "floor")
# facev3 with the Triton backend (a local tritonserver), shared memory on and off: only for the
# embedding scenarios, since rerank never calls the inference backend. stack -> (server, TRITON_SHM)
TRITON_STACKS = {
    f"{server}+triton-{name}": (server, shm)
    for server in ("granian", "robyn")
    for name, shm in (("shm", "system"), ("grpc", "none"))
}
ALL_STACKS = (*RERANK_STACKS, *TRITON_STACKS)


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    body: bytes
    content_type: str
    concurrency: int
    images: int = 0  # images per request (embeddings), for images/s
    stacks: tuple[str, ...] = STACKS


def rerank_body(n: int, dim: int, packed: bool, msgpack: bool = False) -> bytes:
    rng = np.random.default_rng(SEED)
    query, rows = rng.standard_normal(dim).astype(np.float32), rng.standard_normal((n, dim)).astype(np.float32)
    if msgpack:  # vectors as binary little-endian float32
        candidates = [{"id": i, "embedding": r.astype("<f4").tobytes()} for i, r in enumerate(rows)]
        return ormsgpack.packb({"query": query.astype("<f4").tobytes(), "candidates": candidates})
    if packed:
        b64 = lambda v: base64.b64encode(v.astype("<f4").tobytes()).decode()  # noqa: E731
        return orjson.dumps(
            {"query_b64": b64(query), "candidates": [{"id": i, "embedding_b64": b64(r)} for i, r in enumerate(rows)]}
        )
    return orjson.dumps(
        {"query": query.tolist(), "candidates": [{"id": i, "embedding": r.tolist()} for i, r in enumerate(rows)]}
    )


def photo_640() -> bytes:
    image = Image.open(photo_path("t1.jpg")).convert("RGB")
    image.thumbnail((640, 640))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def multipart(images: list[bytes]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="images"; filename="{i}.jpg"\r\n\r\n'.encode()
        + data
        + b"\r\n"
        for i, data in enumerate(images)
    ]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def scenarios() -> list[Scenario]:
    photo = photo_640()
    as_json = lambda n: orjson.dumps({"images": [base64.b64encode(photo).decode()] * n})  # noqa: E731
    one, one_type = multipart([photo])
    eight, eight_type = multipart([photo] * 8)
    json_type = "application/json"
    return [
        Scenario(
            "rerank 200x1024 floats", "/v1/rerank", rerank_body(200, 1024, False), json_type, 8, stacks=RERANK_STACKS
        ),
        Scenario("rerank 200x1024 b64", "/v1/rerank", rerank_body(200, 1024, True), json_type, 8, stacks=RERANK_STACKS),
        Scenario(
            "rerank 200x1024 msgpack",
            "/v1/rerank",
            rerank_body(200, 1024, False, msgpack=True),
            "application/msgpack",
            8,
            stacks=("granian", "robyn", "floor"),
        ),
        Scenario(
            "rerank 1000x1024 b64", "/v1/rerank", rerank_body(1000, 1024, True), json_type, 8, stacks=RERANK_STACKS
        ),
        Scenario(
            "embeddings 1 image json",  # the group photo: 6 faces
            "/v1/embeddings",
            as_json(1),
            json_type,
            2,
            images=1,
            stacks=STACKS + tuple(TRITON_STACKS),
        ),
        Scenario(
            "embeddings 1 face json",
            "/v1/embeddings",
            orjson.dumps({"images": [base64.b64encode(photo_path("Rob_Lowe_0001.jpg").read_bytes()).decode()]}),
            json_type,
            2,
            images=1,
            stacks=STACKS,
        ),
        Scenario(
            "embeddings 8 images json",
            "/v1/embeddings",
            as_json(8),
            json_type,
            2,
            images=8,
            stacks=STACKS + tuple(TRITON_STACKS),
        ),
        # The baseline has no multipart endpoint, and facev3's Robyn adapter refuses multipart.
        Scenario("embeddings 1 image multipart", "/v1/embeddings", one, one_type, 2, images=1, stacks=("granian",)),
        Scenario(
            "embeddings 8 images multipart", "/v1/embeddings", eight, eight_type, 2, images=8, stacks=("granian",)
        ),
    ]


def ensure_baseline_models() -> Path:
    directory = ROOT / "build" / "onnx"
    if not (directory / "sface-2021dec.onnx").exists():
        from facev3.models import files, registry

        files.export([registry.load("yunet"), registry.load("sface")], directory)
    return directory


def start(stack: str, env: dict[str, str], stack_resources: ExitStack) -> Server:
    if stack not in TRITON_STACKS:
        return Server(stack, env, workers=1)
    from facev3.tritonserver.launcher import TritonProcess
    from tests.support.triton import repository as triton_repository

    workdir = Path(stack_resources.enter_context(tempfile.TemporaryDirectory()))
    repository = triton_repository(workdir / "models_serving")
    triton = stack_resources.enter_context(TritonProcess(repository, ROOT / ".venv-triton"))
    server, shm = TRITON_STACKS[stack]
    return Server(
        server, {**env, "FACEV3_BACKEND": "triton", "TRITON_URL": triton.grpc_url, "TRITON_SHM": shm}, workers=1
    )


def run(stacks: list[str], names: list[str] | None, duration_s: float, rounds: int = 1) -> list[dict]:
    """Every stack is started first; then each round runs each scenario on each stack in turn, so
    a noisy neighbour on a shared machine weighs on all stacks alike rather than on one."""
    chosen = [s for s in scenarios() if names is None or s.name in names]
    env = {"FACEV3_BASELINE_MODELS": str(ensure_baseline_models())}
    results = []
    with ExitStack() as resources:
        servers = {}
        for stack in stacks:
            servers[stack] = start(stack, env, resources)
            resources.callback(servers[stack].stop)
        for scenario in chosen:
            for server in (servers[stack] for stack in stacks if stack in scenario.stacks):
                server.call("POST", scenario.path, scenario.body, {"content-type": scenario.content_type})  # warm up
        for round_index in range(rounds):
            for scenario in chosen:
                for stack in (stack for stack in stacks if stack in scenario.stacks):
                    result = run_load(
                        "127.0.0.1",
                        servers[stack].port,
                        "POST",
                        scenario.path,
                        scenario.body,
                        {"content-type": scenario.content_type},
                        scenario.concurrency,
                        duration_s,
                    )
                    results.append(
                        {
                            "stack": stack,
                            "scenario": scenario.name,
                            "round": round_index,
                            "concurrency": scenario.concurrency,
                            "images_per_request": scenario.images,
                            **result.as_dict(),
                        }
                    )
    return results


def table(results: list[dict]) -> str:
    """One row per scenario and stack: medians over the rounds, and with several rounds the range
    of req/s and of each round's ratio to the baseline stacks."""
    lines = [
        "| scenario | stack | req/s | images/s | vs baseline | vs tuned | p50 ms | p99 ms | p99/p50 | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    runs: dict[tuple[str, str], list[dict]] = {}
    for r in results:
        runs.setdefault((r["scenario"], r["stack"]), []).append(r)

    def spread(values: list[float], fmt: str) -> str:
        middle = format(statistics.median(values), fmt)
        return middle if len(values) == 1 else f"{middle} ({format(min(values), fmt)}-{format(max(values), fmt)})"

    def ratio(rows: list[dict], stack: str) -> str:
        other = {r["round"]: r["rps"] for r in runs.get((rows[0]["scenario"], stack), [])}
        ratios = [r["rps"] / other[r["round"]] for r in rows if other.get(r["round"])]
        return f"{spread(ratios, '.2f')}x" if ratios else "-"

    for (scenario, stack), rows in runs.items():
        rps = [r["rps"] for r in rows]
        images = rows[0]["images_per_request"]
        p50, p99 = statistics.median(r["p50_ms"] for r in rows), statistics.median(r["p99_ms"] for r in rows)
        tail = max((r["p99_ms"] / r["p50_ms"] for r in rows if r["p50_ms"]), default=None)
        lines.append(
            f"| {scenario} | {stack} | {spread(rps, '.1f')} | "
            f"{f'{statistics.median(rps) * images:.1f}' if images else '-'} | {ratio(rows, 'baseline')} | "
            f"{ratio(rows, 'tuned')} | {p50:.1f} | {p99:.1f} | {f'{tail:.2f}' if tail else '-'} | "
            f"{sum(r['errors'] for r in rows)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario, stack and round")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of every scenario on every stack in turn")
    parser.add_argument("--stacks", default=",".join(ALL_STACKS))
    parser.add_argument("--scenario", action="append", help="run only these (repeatable)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "load.json")
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    results = run(args.stacks.split(","), args.scenario, args.duration, args.rounds)
    machine = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_after": os.getloadavg(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(
        orjson.dumps(
            {
                "started": started,
                "duration_s": args.duration,
                "rounds": args.rounds,
                "machine": machine,
                "results": results,
            },
            option=orjson.OPT_INDENT_2,
        )
    )
    print(table(results))


if __name__ == "__main__":
    main()
