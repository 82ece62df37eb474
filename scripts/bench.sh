#!/usr/bin/env bash
# Runs the benchmarks (after scripts/test.sh has built .venv) and prints the ratio table.
# Usage: scripts/bench.sh [NAME]   -> bench/results/NAME.json (default: native)
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:-native}
.venv/bin/python -m pytest bench -q -p no:cacheprovider --benchmark-json="bench/results/$name.json"
.venv/bin/python bench/report.py "bench/results/$name.json"
