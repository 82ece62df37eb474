"""Shared pieces of the hostile suite: the profile (HOSTILE_PROFILE=ci|full), the one server of
each adapter at a time, worker-process checks, and the HOSTILE_REPORT tally printed at the end."""

import collections
import contextlib
import json
import os
import pathlib
import threading
import time
import uuid
from collections import Counter

import pytest

from tests.hostile.rawhttp import exchange, request
from tests.support.servers import ROOT, Server

PROFILE = os.environ.get("HOSTILE_PROFILE", "ci")
assert PROFILE in ("ci", "full"), f"HOSTILE_PROFILE must be ci or full, got {PROFILE!r}"
FULL = PROFILE == "full"

API_KEY = "hostile-" + uuid.uuid4().hex[:12]
HEADER_TIMEOUT_S = 2.0
BODY_TIMEOUT_S = 2.0
MAX_BODY_BYTES = 3_000_000
# The settings every hostile server runs with: keys on (so every case also crosses auth), short
# timeouts (so a stall is told from an answer in seconds), small limits.
ENV = {
    "FACEV3_API_KEYS": API_KEY,
    "FACEV3_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
    "FACEV3_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
    "FACEV3_REQUEST_TIMEOUT_S": "20",
    "FACEV3_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
    "FACEV3_MAX_IMAGES": "4",
    "FACEV3_MAX_CANDIDATES": "50",
}
# An answer, or a close, must come within the server's own timeouts plus this margin.
DEADLINE_S = max(HEADER_TIMEOUT_S, BODY_TIMEOUT_S) + 3.0
ADAPTERS = ("granian", "robyn")
REPORT_PATH = ROOT / "build" / "test-artifacts" / "hostile" / "report.json"


def pytest_configure(config) -> None:
    from hypothesis import HealthCheck, settings

    common = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
    settings.register_profile("hostile-ci", max_examples=60, derandomize=True, **common)
    settings.register_profile("hostile-full", max_examples=1500, **common)
    config._hostile_outcomes = []


def pytest_collection_modifyitems(config, items) -> None:
    """Slow checks run only with HOSTILE_PROFILE=full (or when -m names them)."""
    if FULL or "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="slow: HOSTILE_PROFILE=full runs it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


# ---- servers --------------------------------------------------------------------------------


def worker_pids(pid: int) -> set[int]:
    """The processes under the server's own (Granian's workers, the supervised Robyn process)."""
    found = set()
    try:
        for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
            found |= {int(child) for child in (task / "children").read_text().split()}
    except FileNotFoundError:
        pass
    return found


def status_kb(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM, ... of a process in kB."""
    values = {}
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if rest.strip().endswith("kB"):
            values[name] = int(rest.split()[0])
    return values


def reset_peak(pid: int) -> None:
    """Resets VmHWM to the current VmRSS (Linux clear_refs 5), so a peak measures what follows."""
    with contextlib.suppress(OSError):
        pathlib.Path(f"/proc/{pid}/clear_refs").write_text("5")


class Running:
    """One started server with what the checks need: its port, its workers and a health probe
    that waits out a restart."""

    def __init__(self, kind: str, env: dict[str, str], workers: int = 1) -> None:
        self.kind, self.env = kind, env
        self.server = Server(kind, env, workers=workers, api_key=env.get("FACEV3_API_KEYS"))
        self.port = self.server.port
        self.workers = self.wait_workers()
        # Keep reading the server's stderr (Server pipes it): a full pipe would block the server
        # on its next log line (Robyn logs every route at each restart), and its tail says why.
        self.log = collections.deque(maxlen=400)
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()

    def _read_log(self) -> None:
        for line in self.server.process.stderr:
            self.log.append(line.decode(errors="replace").rstrip())

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(line for line in list(self.log)[-lines:] if "Added route" not in line)

    def wait_workers(self, seconds: float = 10.0) -> set[int]:
        deadline = time.monotonic() + seconds
        while not (pids := worker_pids(self.server.process.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        return pids

    def alive(self) -> bool:
        return self.server.process.poll() is None

    def healthy(self, within_s: float = 20.0) -> tuple[bool, float]:
        """Whether a good request gets 200 within `within_s` (connection refusals are retried:
        a supervised worker may be restarting) and how long it took."""
        started = time.monotonic()
        while time.monotonic() - started < within_s:
            try:
                reply = exchange(self.port, request("GET", "/v1/info", headers={"X-API-Key": API_KEY}), 5.0)
                if reply.status == 200:
                    return True, time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.1)
        return False, time.monotonic() - started

    def stop(self) -> int:
        return self.server.stop()


class ServerPool:
    """At most one server at a time (the machine has two shared cores): asking for another kind
    stops the one running."""

    def __init__(self) -> None:
        self.current: Running | None = None

    def get(self, kind: str, env: dict[str, str] | None = None, fresh: bool = False) -> Running:
        """The running server of this kind and settings, or a new one (always, when fresh)."""
        env = ENV if env is None else env
        current = self.current
        if not fresh and current is not None and (current.kind, current.env) == (kind, env) and current.alive():
            return current
        self.close()
        self.current = Running(kind, env)
        return self.current

    def close(self) -> None:
        if self.current is not None:
            self.current.stop()
            self.current = None


@pytest.fixture(scope="session")
def servers():
    pool = ServerPool()
    yield pool
    pool.close()


# ---- the HOSTILE_REPORT tally ------------------------------------------------------------------


@pytest.fixture
def record(request):
    """Adds one observed outcome to the report: record(adapter, case, outcome, seconds), outcome
    one of ok, crash, 5xx, hang, wrong."""
    outcomes = request.config._hostile_outcomes

    def add(adapter: str, case: str, outcome: str, seconds: float, detail: str = "") -> None:
        known = any(mark.name == "xfail" for mark in request.node.iter_markers())
        outcomes.append(
            {
                "adapter": adapter,
                "case": case,
                "outcome": outcome,
                "seconds": round(seconds, 3),
                "known": known,
                "detail": detail[:300],
            }
        )

    return add


def summarize(outcomes: list[dict]) -> list[dict]:
    rows = []
    for adapter in sorted({o["adapter"] for o in outcomes}):
        mine = [o for o in outcomes if o["adapter"] == adapter]
        counts = Counter(o["outcome"] for o in mine)
        rows.append(
            {
                "adapter": adapter,
                "cases": len(mine),
                "ok": counts["ok"],
                "crashes": counts["crash"],
                "5xx": counts["5xx"],
                "hangs": counts["hang"],
                "wrong": counts["wrong"],
                "known (xfail)": sum(o["known"] and o["outcome"] != "ok" for o in mine),
                "slowest s": max((o["seconds"] for o in mine), default=0.0),
            }
        )
    return rows


def table(rows: list[dict]) -> str:
    if not rows:
        return "HOSTILE_REPORT: no raw-socket cases ran"
    names = list(rows[0])
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(str(row[name]) for name in names) + " |" for row in rows]
    return "HOSTILE_REPORT (profile " + PROFILE + ")\n" + "\n".join(lines)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    outcomes = getattr(config, "_hostile_outcomes", [])
    if not outcomes:
        return
    rows = summarize(outcomes)
    REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
    REPORT_PATH.write_text(json.dumps({"profile": PROFILE, "summary": rows, "outcomes": outcomes}, indent=1))
    terminalreporter.write_line("")
    for line in table(rows).splitlines():
        terminalreporter.write_line(line)
    bad = [o for o in outcomes if o["outcome"] != "ok"]
    for o in bad:
        terminalreporter.write_line(f"  {o['adapter']:8s} {o['outcome']:5s} {o['case']}: {o['detail'][:160]}")
