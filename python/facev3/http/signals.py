"""SIGTERM and SIGINT while a Granian worker starts: a pod may be stopped at any moment, and a
worker that missed the signal served on until Granian's kill timeout (30 s). Two windows:
- from the fork until Granian sets the worker's handlers, the worker runs the main process's,
  which only set a flag on the main process's server object;
- from then until the worker's event loop runs, while it loads its models, uvloop drops them.
tests/test_http_lifecycle.py stops a worker in each."""

import asyncio
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def exit_workers_signalled_before_their_loop() -> None:
    """A Granian startup hook, run in the main process just before it forks the workers: a worker
    signalled before it sets its own handlers exits there (it serves nothing yet); the main
    process keeps Granian's handlers."""
    main = os.getpid()
    for signum in STOP_SIGNALS:
        granian_handler = signal.getsignal(signum)

        def handler(signum, frame, granian_handler=granian_handler) -> None:
            if os.getpid() != main:
                raise SystemExit(0)
            granian_handler(signum, frame)

        signal.signal(signum, handler)


@contextmanager
def signals_held_for(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """Holds the stop signals from here until the worker's loop runs, then replays them to the
    loop's own handlers (set by Granian before the app loads)."""
    held: list[int] = []

    def hold(signum: int, frame) -> None:
        held.append(signum)

    kept = {signum: signal.signal(signum, hold) for signum in STOP_SIGNALS}

    def replay() -> None:
        for signum, handler in kept.items():
            signal.signal(signum, handler)
        for signum in held:
            signal.raise_signal(signum)

    try:
        yield
    finally:
        loop.call_soon(replay)  # the loop's first step, once Granian serves
