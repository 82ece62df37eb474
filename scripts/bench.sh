#!/usr/bin/env bash
# Runs the benchmarks (after scripts/test.sh has built .venv): raw pytest-benchmark JSON goes to
# bench/results/NAME.json (not committed) and the ratio table with the machine's description to
# docs/benchmarks/NAME.md (the summary that is committed).
# Usage: scripts/bench.sh [NAME [PYTEST ARGS...]]   (default NAME: native)
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:-native}
shift || true
mkdir -p bench/results docs/benchmarks
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements/bench.txt  # faiss, threadpoolctl
.venv/bin/python -m pytest bench -q -p no:cacheprovider --benchmark-json="bench/results/$name.json" "$@"
.venv/bin/python -m bench.report "bench/results/$name.json" | tee "docs/benchmarks/$name.md"
