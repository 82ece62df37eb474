"""Hostile requests as raw bytes against both real adapters (tests/hostile/cases.py): each is
answered within the server's timeouts with a 4xx in the error contract (or, for broken HTTP that
the app never sees, refused or closed), never a 5xx, never a hang; afterwards a good request is
served and the worker process is the same one (a supervised restart counts as a crash)."""

import pytest

from tests.hostile.cases import CASES, CUT, JSON4XX, OK, REFUSED, SAFE, Case
from tests.hostile.conftest import ADAPTERS
from tests.hostile.rawhttp import Reply, exchange


def params():
    for kind in ADAPTERS:  # adapter-major: one server start per adapter
        for case in CASES:
            marks = [pytest.mark.xfail(strict=True, reason=case.xfail[kind])] if kind in case.xfail else []
            yield pytest.param(kind, case, id=f"{kind}-{case.name}", marks=marks)


def judge(case: Case, reply: Reply) -> tuple[str, str]:
    """(outcome, why): ok, hang, 5xx or wrong."""
    if reply.hung:
        return "hang", f"no answer and no close within {case.deadline_s:.0f} s"
    if any(status >= 500 for status in reply.statuses) or (reply.status or 0) >= 500:
        return "5xx", "a 5xx answer"
    status = reply.status
    if case.expect == OK:
        allowed = case.statuses()
        good = status is not None and (status in allowed if allowed else 200 <= status < 300)
        if good and reply.answers < case.answers:
            return "wrong", f"{reply.answers} of {case.answers} pipelined answers"
        return ("ok", "") if good else ("wrong", "expected a 2xx")
    if case.expect == JSON4XX:
        if status is None or not 400 <= status < 500:
            return "wrong", "expected a 4xx"
        if case.head_only:  # no body, by definition: the head says JSON
            if not reply.headers.get("content-type", "").startswith("application/json"):
                return "wrong", "the 4xx is not JSON"
        elif not reply.is_error_json:
            return "wrong", "the 4xx is not {error: {code, message}} JSON"
        if case.statuses() and status not in case.statuses():
            return "wrong", f"expected status {case.statuses()}"
        if case.codes() and reply.error_code not in case.codes():
            return "wrong", f"expected code {case.codes()}"
        if case.allow_header and status == 405 and "allow" not in reply.headers:
            return "wrong", "405 without Allow"
        return "ok", ""
    if case.expect == REFUSED:
        if status is None:
            return ("ok", "") if reply.closed else ("wrong", "neither answered nor closed")
        return ("ok", "") if 400 <= status < 500 else ("wrong", "broken HTTP accepted")
    if case.expect == CUT:
        if status is None:
            return ("ok", "") if reply.closed else ("wrong", "not closed")
        if status == 408 and reply.is_error_json:
            return "ok", ""
        return ("ok", "") if 400 <= status < 500 else ("wrong", "a stalled request was served")
    if case.expect == SAFE:
        if (
            status is not None
            and status >= 400
            and reply.headers.get("content-type", "").startswith("application/json")
        ) and not reply.is_error_json:
            return "wrong", "a JSON error outside the contract"
        return "ok", ""
    raise AssertionError(case.expect)


@pytest.mark.parametrize("kind, case", list(params()))
def test_hostile_request(kind: str, case: Case, servers, record):
    server = servers.get(kind)
    workers = server.workers
    try:
        reply = exchange(server.port, list(case.parts), case.deadline_s, expect=case.answers, head_only=case.head_only)
    except ConnectionRefusedError:  # the previous case's damage is that case's, but say so
        pytest.fail("the server refused the connection before the case started")
    outcome, why = judge(case, reply)
    healthy, waited = server.healthy()
    now = server.wait_workers(0.5)
    if not healthy or not server.alive() or now != workers:
        outcome, why = "crash", f"worker(s) {sorted(workers)} -> {sorted(now)}; a good request waited {waited:.1f} s"
        server.workers = server.wait_workers()
    record(kind, case.name, outcome, reply.elapsed, f"{why}; {reply.describe()}")
    assert outcome == "ok", f"{outcome}: {why}\n{reply.describe()}"
