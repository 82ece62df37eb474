"""Benchmarks run with pytest-benchmark; each group holds facev3 and its baseline, so results read
as ratios measured in the same run (see report.py). Shared helpers come from tests/support
(the repository root is on the path)."""
