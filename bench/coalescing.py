"""Micro-batching across concurrent requests, measured on the embedded backend (issue 18):

    .venv/bin/python -m bench.coalescing [--seconds 5] [--rounds 4]

A model run costs less a face in batches (OpenVINO runs SFace 20% faster a face by 8 than one at
a time), but holding a request back to wait for others only adds latency while a stream is free:
two one-face requests on two idle streams finish sooner apart than as one batch on one stream.
So `Coalescer` has no timing window. A call runs at once while one of `slots` runs (the
runtime's streams) is free; a call that finds them all taken queues, and whichever call next
takes a slot runs its own faces together with those queued behind it, up to `max_faces`. A lone
request is never delayed, and under load the queue becomes the batch.

The script runs the one-face and the group photo through the pipeline from 1 to 8 threads, with
the backend's own embedding and with a Coalescer over it, in alternating rounds. On the 2-vCPU
development machine the batches formed (2 faces a run at 8 threads) but the pipeline ran 8%
slower than with OpenVINO's own queue of single-face runs, so the service does not coalesce
(docs/performance.md).
"""

import statistics
import threading
from collections import deque
from collections.abc import Callable

import numpy as np


class _Call:
    def __init__(self, crops: np.ndarray) -> None:
        self.crops = crops
        self.done = threading.Event()
        self.result: np.ndarray | None = None
        self.error: BaseException | None = None
        self.leads = False  # handed a slot: runs the next batch


class Coalescer:
    def __init__(self, run: Callable[[np.ndarray], np.ndarray], slots: int, max_faces: int) -> None:
        self._run = run  # crops (n, ...) -> (n, D); may be called from several threads at once
        self._max_faces = max_faces
        self._lock = threading.Lock()
        self._free = slots
        self._queue: deque[_Call] = deque()

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        call = _Call(crops)
        with self._lock:
            if self._free:
                self._free -= 1
                call.leads = True
            else:
                self._queue.append(call)
        if not call.leads:
            call.done.wait()
            if not call.leads:  # run in another call's batch
                if call.error is not None:
                    raise call.error
                return call.result
        self._lead(call)
        if call.error is not None:
            raise call.error
        return call.result

    def _lead(self, first: _Call) -> None:
        """Runs `first` with the calls queued behind it (up to max_faces in all), then hands the
        slot to the next queued call, or frees it."""
        batch = [first]
        with self._lock:
            faces = len(first.crops)
            while self._queue and faces + len(self._queue[0].crops) <= self._max_faces:
                faces += len(self._queue[0].crops)
                batch.append(self._queue.popleft())
        try:
            crops = first.crops if len(batch) == 1 else np.concatenate([c.crops for c in batch])
            embeddings = self._run(crops)
            start = 0
            for call in batch:
                call.result, start = embeddings[start : start + len(call.crops)], start + len(call.crops)
        except BaseException as error:  # every caller of the batch gets the runtime's error
            for call in batch:
                call.error = error
        finally:
            with self._lock:
                following = self._queue.popleft() if self._queue else None
                if following is None:
                    self._free += 1
                else:
                    following.leads = True
            for call in batch[1:]:
                call.done.set()
            if following is not None:
                following.done.set()


def main() -> None:
    from bench.in_process import pipeline_and_args, throughput
    from facev3.backends import runtimes
    from tests.support.photos import photo_path

    pipeline, args = pipeline_and_args(__doc__, seconds=5.0, rounds=4)
    backend = pipeline.backend
    plain_embed = backend._embed
    faces_per_run: list[int] = []

    def counted(crops: np.ndarray) -> np.ndarray:
        faces_per_run.append(len(crops))
        return plain_embed(crops)

    coalescer = Coalescer(counted, slots=runtimes.cores(), max_faces=backend.embed_batch)
    modes = {"own": counted, "coalesced": coalescer}
    print(f"embedder on {backend.runtimes['embedder']}, batch {backend.embed_batch}, {runtimes.cores()} cores")
    print("| photo | threads | own photos/s | coalesced photos/s | coalesced / own | faces a run (coalesced) |")
    print("|---|---|---|---|---|---|")
    for name in ("Rob_Lowe_0001.jpg", "t1.jpg"):
        photo = photo_path(name).read_bytes()
        for threads in (1, 2, 8):
            rates: dict[str, list[float]] = {mode: [] for mode in modes}
            sizes: list[int] = []
            for _ in range(args.rounds):
                for mode, embed in modes.items():
                    backend._embed = embed  # what the backend's crop stages call
                    faces_per_run.clear()
                    rates[mode].append(throughput(pipeline, [photo], threads, args.seconds))
                    if mode == "coalesced":
                        sizes += faces_per_run
            own_rate, coalesced = statistics.median(rates["own"]), statistics.median(rates["coalesced"])
            print(
                f"| {name} | {threads} | {own_rate:.1f} | {coalesced:.1f} | {coalesced / own_rate:.2f} | "
                f"{statistics.mean(sizes):.2f} |"
            )
    backend.close()


if __name__ == "__main__":
    main()
