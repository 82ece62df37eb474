"""The in-process throughput harness of bench/coalescing.py and bench/overlap.py: a pipeline on
the default settings, and requests a second from threads calling it back to back."""

import argparse
import threading
import time


def pipeline_and_args(doc: str, seconds: float, rounds: int):
    """The command line (--seconds, --rounds) and a pipeline on the default embedded backend."""
    from facev3 import bootstrap
    from facev3.config import Settings

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=seconds, help="per request, thread count, mode and round")
    parser.add_argument("--rounds", type=int, default=rounds)
    return bootstrap.build_pipeline(Settings()), parser.parse_args()


def throughput(pipeline, photos: list[bytes], threads: int, seconds: float) -> float:
    """Requests a second through the pipeline from `threads` threads calling it back to back."""
    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def work(i: int) -> None:
        while time.perf_counter() < stop:
            pipeline.run(photos)
            counts[i] += 1

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - started)
