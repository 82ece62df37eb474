"""The micro-batching harness (bench/coalescing.py): each caller gets its own rows whatever batch
they ran in, a lone call runs at once, queued calls share one run, and a failed run fails every
caller in it and frees its slot."""

import threading

import numpy as np
import pytest

from bench.coalescing import Coalescer


def doubled(crops: np.ndarray) -> np.ndarray:
    return crops.reshape(len(crops), -1)[:, :1] * 2.0


def test_a_lone_call_runs_at_once_on_its_own():
    runs = []
    coalescer = Coalescer(lambda crops: runs.append(len(crops)) or doubled(crops), slots=1, max_faces=8)
    np.testing.assert_array_equal(coalescer(np.full((3, 2), 5.0)), np.full((3, 1), 10.0))
    assert runs == [3]


def test_calls_queued_behind_a_busy_slot_share_one_run_and_get_their_own_rows():
    started, release, runs = threading.Event(), threading.Event(), []

    def slow(crops: np.ndarray) -> np.ndarray:
        runs.append(len(crops))
        started.set()
        release.wait(5)
        return doubled(crops)

    coalescer = Coalescer(slow, slots=1, max_faces=8)
    results: dict[int, np.ndarray] = {}

    def call(i: int) -> None:
        results[i] = coalescer(np.full((i, 1), float(i)))

    first = threading.Thread(target=call, args=(1,))
    first.start()
    assert started.wait(5)
    queued = []
    for i in (2, 3, 4):  # queued in this order behind the busy slot
        queued.append(threading.Thread(target=call, args=(i,)))
        queued[-1].start()
        while len(coalescer._queue) < len(queued):
            threading.Event().wait(0.001)
    release.set()
    for thread in [first, *queued]:
        thread.join(5)
    assert runs == [1, 5, 4]  # 2 + 3 faces share a run; 4 more would pass max_faces, so they run next
    for i in (1, 2, 3, 4):
        np.testing.assert_array_equal(results[i], np.full((i, 1), 2.0 * i))


def test_a_failed_run_fails_its_callers_and_frees_the_slot():
    def broken(crops: np.ndarray) -> np.ndarray:
        raise RuntimeError("runtime failed")

    coalescer = Coalescer(broken, slots=1, max_faces=8)
    with pytest.raises(RuntimeError, match="runtime failed"):
        coalescer(np.zeros((1, 1)))
    coalescer._run = doubled
    np.testing.assert_array_equal(coalescer(np.ones((2, 1))), np.full((2, 1), 2.0))
