#!/usr/bin/env bash
# Prints one digest of everything an environment is built from (the pins, the build files and
# facev3's sources), so that setup scripts can skip an install that would change nothing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
find requirements python cpp CMakeLists.txt pyproject.toml -type f -not -path '*/__pycache__/*' -print0 \
  | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
