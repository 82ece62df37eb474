"""A supervising parent for a server process that can die from a single request (Robyn 0.88
panics on some malformed bodies and the process exits): the child is restarted within a second,
with the reason logged, and a stop always ends, whatever the child does with its signals.
"""

import logging
import signal
import subprocess
import threading
import time

log = logging.getLogger("facev3.supervisor")

RESTART_DELAY_S = 0.2
FAST_FAILURES = 5  # a child that dies this many times in a row within a second of starting is not restarted


def describe(code: int) -> str:
    return f"signal {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"


def supervise(command: list[str], stop_timeout_s: float) -> int:
    """Runs `command` until SIGTERM or SIGINT; then stops it (SIGTERM, then SIGKILL after
    stop_timeout_s) and returns 0. A child that exits on its own is restarted."""
    stopping = threading.Event()
    child: subprocess.Popen | None = None

    def stop(signum, frame) -> None:
        stopping.set()
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    # Installed even where the shell left SIGINT ignored (a script's `&`): a stop must end.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
    fast_failures = 0
    while not stopping.is_set():
        started = time.monotonic()
        child = subprocess.Popen(command)
        while child.poll() is None and not stopping.is_set():
            stopping.wait(0.1)
        if stopping.is_set():
            try:
                child.wait(stop_timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("the server did not stop within %.0f s: killed", stop_timeout_s)
                child.kill()
                child.wait()
            return 0
        fast_failures = fast_failures + 1 if time.monotonic() - started < 1.0 else 0
        if fast_failures >= FAST_FAILURES:
            log.error(
                "the server died %d times within a second of starting (%s): giving up",
                fast_failures,
                describe(child.returncode),
            )
            return 1
        log.error("the server died (%s); restarting it", describe(child.returncode))
        time.sleep(RESTART_DELAY_S)
    return 0
