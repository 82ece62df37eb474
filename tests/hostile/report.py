"""Runs the hostile suite and prints the HOSTILE_REPORT: per adapter, the cases tried and how many
crashed the worker, got a 5xx, hung or were answered wrongly (the known ones are the xfail cases of
issue 12), then the exhaustion measurements.

    python -m tests.hostile.report            # HOSTILE_PROFILE=ci (the CI run's size)
    HOSTILE_PROFILE=full python -m tests.hostile.report -x   # the long version; extra pytest args pass through
"""

import json
import sys

import pytest

from tests.hostile.conftest import PROFILE, REPORT_PATH, summarize, table


def main(argv: list[str]) -> int:
    for stale in (REPORT_PATH, REPORT_PATH.parent / "exhaustion.json"):
        stale.unlink(missing_ok=True)
    code = pytest.main(["-q", "-p", "no:cacheprovider", "tests/hostile", *argv])
    if not REPORT_PATH.exists():
        print("HOSTILE_REPORT: no raw-socket case ran")
        return int(code)
    outcomes = json.loads(REPORT_PATH.read_text())["outcomes"]
    print()
    print(table(summarize(outcomes)))
    known = sorted({(o["adapter"], o["outcome"], o["case"]) for o in outcomes if o["outcome"] != "ok"})
    if known:
        print(
            "\nnot ok ("
            + ("all known: xfail" if all(o["known"] for o in outcomes if o["outcome"] != "ok") else "SOME NEW")
            + "):"
        )
        for adapter, outcome, case in known:
            print(f"  {adapter:8s} {outcome:6s} {case}")
    measured = REPORT_PATH.parent / "exhaustion.json"
    if measured.exists():
        print(f"\nexhaustion measurements (profile {PROFILE}):")
        for name, values in json.loads(measured.read_text()).items():
            print(f"  {name}: {values}")
    return int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
