#!/usr/bin/env bash
# The whole test suite on a fresh machine: creates .venv, installs the pinned tools and facev3
# (which builds the native core) and the local Triton environment, runs ruff (lint and format),
# the C ABI tests plain and under AddressSanitizer + UndefinedBehaviorSanitizer, then pytest
# (which starts a real tritonserver on loopback). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-venv.sh
scripts/setup-triton-env.sh

PATH="$PWD/.venv/bin:$PATH"
ruff check .
ruff format --check .

for variant in release sanitize; do
  flags=(-DCMAKE_BUILD_TYPE=Release)
  [ "$variant" = sanitize ] && flags=(-DCMAKE_BUILD_TYPE=Debug -DFACEV3_SANITIZE=ON)
  cmake -S . -B "build/ctest-$variant" -G Ninja -DFACEV3_PYTHON=OFF -DFACEV3_BUILD_TESTS=ON "${flags[@]}" >/dev/null
  cmake --build "build/ctest-$variant"
  ctest --test-dir "build/ctest-$variant" --output-on-failure
done

.venv/bin/python -m pytest "$@"
