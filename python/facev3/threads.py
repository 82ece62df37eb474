"""Thread pools for long computations (inference, large reranks), whose threads run below the
priority of the threads that carry requests in and out (the HTTP server's and the event loop).

Why: while every core computes, the kernel lets a running thread go on for a while (up to its
time slice) before a thread it has just woken gets the core, and a request crosses several
threads on its way in and out. With the computing threads some nice levels lower, a woken
server thread takes a core at once, and its few microseconds of work cost the computation
nothing. On the one-face load at 2 connections, pools at nice 10 served 1.10x the requests/s
of pools at the server's level (docs/performance.md, issue 18). The price: other processes on
the machine get the CPU before inference does (FACEV3_INFERENCE_NICE=0 turns it off).
"""

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor


def compute_pool(workers: int, name: str, nice: int) -> ThreadPoolExecutor:
    """A pool whose threads run `nice` levels below the thread that creates the pool (0: at its
    level)."""
    return ThreadPoolExecutor(workers, thread_name_prefix=name, initializer=lower_priority, initargs=(nice,))


def lower_priority(increment: int) -> None:
    """Lowers the calling thread's priority by `increment` nice levels (to 19 at most). Linux
    keeps a nice value per thread; elsewhere it would apply to the whole process, so it is left."""
    if increment <= 0 or not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + increment))
