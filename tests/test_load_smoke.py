"""A seconds-long version of the load scenarios (bench/load_scenarios.py), so that the harness
itself stays working: every scenario runs against facev3 on Granian and the baseline stack with
no errors, in alternating rounds, and the table reads the results."""

from bench import load_scenarios, soak
from bench.load import run_load


def test_every_scenario_runs_without_errors_on_facev3_and_the_baseline():
    results = load_scenarios.run(["granian", "baseline"], None, duration_s=0.3, rounds=2)
    ran = {(r["stack"], r["scenario"]) for r in results}
    assert sorted(
        r["round"] for r in results if r["stack"] == "baseline" and r["scenario"] == "rerank 200x1024 b64"
    ) == [0, 1]
    assert {("granian", s.name) for s in load_scenarios.scenarios()} <= ran
    assert ("baseline", "rerank 200x1024 b64") in ran and ("baseline", "embeddings 1 image json") in ran
    assert all(r["requests"] > 0 and r["errors"] == 0 for r in results), [
        r for r in results if r["errors"] or not r["requests"]
    ]
    table = load_scenarios.table(results)
    assert "| rerank 200x1024 b64 | baseline |" in table
    (row,) = [line for line in table.splitlines() if line.startswith("| rerank 200x1024 b64 | granian |")]
    vs_baseline = row.split(" | ")[4]  # the median of the two rounds' ratios and their range
    assert vs_baseline.endswith(")x") and float(vs_baseline.split()[0]) > 0


def test_the_load_generator_refuses_non_loopback_targets():
    import pytest

    with pytest.raises(AssertionError, match=r"127\.0\.0\.0/8"):
        run_load("10.0.0.1", 80, "GET", "/", b"", {}, 1, 0.1)


def test_the_soak_harness_runs_briefly_with_triton_and_leaves_nothing(tmp_path):
    report = soak.soak(minutes=0.15, workdir=tmp_path)
    assert report["server_errors_5xx"] == 0 and report["shm_regions_left"] == []
    assert all(r["requests"] > 0 and r["errors"] == 0 for r in report["load"].values())
    assert report["samples"] and all(s["api_rss_mb"] > 0 and s["triton_rss_mb"] > 0 for s in report["samples"])
