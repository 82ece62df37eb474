"""Shared checks of the native core's tests: numpy's cosines in float64, and whether a call
leaves the GIL to other threads."""

import threading
import time
from collections.abc import Callable

import numpy as np


def numpy_cosine(queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    q = queries.astype(np.float64)
    c = candidates.astype(np.float64)
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    c /= np.linalg.norm(c, axis=-1, keepdims=True)
    return q @ c.T


def ticks_during(call: Callable[[], object]) -> int:
    """How many 1 ms ticks this thread counted while `call` ran on another one: a call that holds
    the GIL throughout leaves it at most a tick or two."""
    ticks = 0
    during_call = []

    def worker():
        start = ticks
        call()
        during_call.append(ticks - start)

    thread = threading.Thread(target=worker)
    thread.start()
    while thread.is_alive():
        ticks += 1
        time.sleep(0.001)  # lets the worker take the GIL back when it returns
    thread.join()
    return during_call[0]
