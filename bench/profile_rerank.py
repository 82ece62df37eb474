"""py-spy profile of facev3 on Granian under the rerank base64 200x1024 load (8 connections):
collapsed stacks of the worker process, 200 Hz for 8 s, into
bench/results/pyspy_rerank_b64_granian.txt (not committed).

    .venv/bin/python -m bench.profile_rerank
"""

import subprocess
import threading
import time
from pathlib import Path

from bench.load import run_load
from bench.load_scenarios import rerank_body
from tests.support.servers import Server

ROOT = Path(__file__).resolve().parents[1]

OUT = ROOT / "bench" / "results" / "pyspy_rerank_b64_granian.txt"


def main() -> None:
    server = Server("granian", {}, workers=1)
    try:
        body = rerank_body(200, 1024, True)
        result = {}
        load = threading.Thread(
            target=lambda: result.update(
                load=run_load(
                    "127.0.0.1", server.port, "POST", "/v1/rerank", body, {"content-type": "application/json"}, 8, 12
                )
            )
        )
        load.start()
        time.sleep(2)
        worker = subprocess.run(
            ["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True
        ).stdout.split()[0]
        subprocess.run(
            [
                str(ROOT / ".venv" / "bin" / "py-spy"),
                "record",
                "--pid",
                worker,
                "--duration",
                "8",
                "--rate",
                "200",
                "--format",
                "raw",
                "--output",
                str(OUT),
                "--nonblocking",
            ],
            check=True,
            capture_output=True,
        )
        load.join()
        print(result["load"])
    finally:
        server.stop()


if __name__ == "__main__":
    main()
