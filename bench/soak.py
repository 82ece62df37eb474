"""Soak and faults under load, on facev3 (Granian) with the Triton backend and a local
tritonserver, loopback only, every phase bounded in time:

    .venv/bin/python -m bench.soak soak --minutes 10 --out bench/results/soak.json
    .venv/bin/python -m bench.soak faults --out bench/results/faults.json

soak:   mixed load (rerank base64 200x1024 on 4 connections + embeddings of one photo on 2),
        resident memory (PSS is not needed: RSS of each process tree) of the API and of
        tritonserver sampled every 5 s, growth after a 60 s warm-up, 5xx count, and facev3
        shared-memory regions and API threads left after the stop.
faults: under the same load: Triton stopped then restarted, a burst of malformed requests,
        requests beyond the in-flight bound, SIGTERM; what each answers and how fast it recovers.
"""

import argparse
import base64
import os
import threading
import time
from pathlib import Path

import orjson

from bench.load import run_load
from bench.load_scenarios import photo_640, rerank_body
from facev3.tritonserver.launcher import TritonProcess
from tests.support.servers import Server
from tests.support.triton import repository as triton_repository

ROOT = Path(__file__).resolve().parents[1]

JSON = {"content-type": "application/json"}


def tree_pids(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, []))
    return pids


def status_field(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_mb(root: int) -> float:
    return sum(status_field(pid, "VmRSS") for pid in tree_pids(root)) / 1024


def tree_threads(root: int) -> int:
    return sum(status_field(pid, "Threads") for pid in tree_pids(root))


def shm_regions() -> set[str]:
    return {name for name in os.listdir("/dev/shm") if name.startswith("facev3_")}


class MixedLoad:
    """Rerank and embeddings load in the background for `seconds`, results kept per kind."""

    def __init__(self, port: int, seconds: float) -> None:
        embed = orjson.dumps({"images": [base64.b64encode(photo_640()).decode()]})
        jobs = {"rerank": ("/v1/rerank", rerank_body(200, 1024, True), 4), "embeddings": ("/v1/embeddings", embed, 2)}
        self.results: dict = {}
        self.threads = [
            threading.Thread(target=self._run, args=(kind, port, *job, seconds)) for kind, job in jobs.items()
        ]
        for t in self.threads:
            t.start()

    def _run(self, kind, port, path, body, concurrency, seconds) -> None:
        self.results[kind] = run_load("127.0.0.1", port, "POST", path, body, JSON, concurrency, seconds).as_dict()

    def join(self) -> dict:
        for t in self.threads:
            t.join()
        return self.results


def with_stack(workdir: Path, env: dict[str, str], body):
    repository = triton_repository(workdir / "models_serving")
    with TritonProcess(repository, ROOT / ".venv-triton") as triton:
        server = Server(
            "granian",
            {"FACEV3_BACKEND": "triton", "TRITON_URL": triton.grpc_url, "TRITON_TIMEOUT_S": "5", **env},
            workers=1,
        )
        try:
            return body(triton, server)
        finally:
            server.stop()


def soak(minutes: float, workdir: Path) -> dict:
    regions_before = shm_regions()

    def body(triton, server):
        load = MixedLoad(server.port, minutes * 60)
        samples, started = [], time.monotonic()
        while any(t.is_alive() for t in load.threads):
            samples.append(
                {
                    "t": round(time.monotonic() - started, 1),
                    "api_rss_mb": round(tree_rss_mb(server.process.pid), 1),
                    "triton_rss_mb": round(tree_rss_mb(triton._process.pid), 1),
                    "api_threads": tree_threads(server.process.pid),
                }
            )
            time.sleep(5)
        results = load.join()
        warm = next(s for s in samples if s["t"] >= 60) if minutes * 60 > 90 else samples[len(samples) // 3]
        last = samples[-1]
        return {
            "minutes": minutes,
            "load": results,
            "samples": samples,
            "api_growth_pct": round(100 * (last["api_rss_mb"] / warm["api_rss_mb"] - 1), 2),
            "triton_growth_pct": round(100 * (last["triton_rss_mb"] / warm["triton_rss_mb"] - 1), 2),
            "api_threads_warm_last": [warm["api_threads"], last["api_threads"]],
            "server_errors_5xx": sum(
                v for r in results.values() for k, v in r["statuses"].items() if k.startswith("5")
            ),
        }

    report = with_stack(workdir, {}, body)
    report["shm_regions_left"] = sorted(shm_regions() - regions_before)
    return report


def faults(workdir: Path) -> dict:
    report = {}

    def outage(triton, server):
        load = MixedLoad(server.port, 20)
        time.sleep(5)
        triton.stop()
        stopped = time.monotonic()
        codes = {}
        probe = {"images": [base64.b64encode(photo_640()).decode()]}
        while time.monotonic() - stopped < 4:
            status, _, body = server.post_json("/v1/embeddings", probe)
            key = f"{status} {body.get('error', {}).get('code', 'ok') if isinstance(body, dict) else ''}"
            codes[key] = codes.get(key, 0) + 1
        triton.start()
        restarted = time.monotonic()
        while server.call("GET", "/readyz")[0] != 200 and time.monotonic() - restarted < 30:
            time.sleep(0.1)
        ready_s = round(time.monotonic() - restarted, 2)
        while server.post_json("/v1/embeddings", probe)[0] != 200 and time.monotonic() - restarted < 30:
            time.sleep(0.1)
        embeddings_s = round(time.monotonic() - restarted, 2)
        return {
            "answers_while_down": codes,
            "ready_again_after_restart_s": ready_s,
            "first_embedding_after_restart_s": embeddings_s,
            "load": load.join(),
        }

    report["triton_stop_restart"] = with_stack(workdir / "a", {}, outage)

    def malformed_burst(triton, server):
        load = MixedLoad(server.port, 8)
        bad = run_load("127.0.0.1", server.port, "POST", "/v1/rerank", b"{not json", JSON, 16, 4).as_dict()
        return {"malformed": bad, "good_load_meanwhile": load.join()}

    report["malformed_burst"] = with_stack(workdir / "b", {}, malformed_burst)

    def overload(triton, server):
        embed = orjson.dumps({"images": [base64.b64encode(photo_640()).decode()] * 4})
        result = run_load("127.0.0.1", server.port, "POST", "/v1/embeddings", embed, JSON, 8, 8).as_dict()
        return {"embeddings_8_connections_inflight_bound_2": result}

    report["overload"] = with_stack(workdir / "c", {"FACEV3_MAX_INFLIGHT": "2"}, overload)

    def sigterm(triton, server):
        load = MixedLoad(server.port, 10)
        time.sleep(4)
        exit_code = server.stop()
        return {"exit_code": exit_code, "load": load.join()}

    report["sigterm_under_load"] = with_stack(workdir / "d", {}, sigterm)
    report["shm_regions_left"] = sorted(shm_regions())
    return report


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["soak", "faults"])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        report = soak(args.minutes, Path(workdir)) if args.what == "soak" else faults(Path(workdir))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    summary = {k: v for k, v in report.items() if k != "samples"}
    print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
