#!/usr/bin/env bash
# Creates .venv-triton: the tritonserver binary (nvidia-pytriton wheel) and the numpy<2
# environment its python-backend models run in (see requirements/triton-server.txt). Run by
# test.sh; needed for `facev3 triton serve` and the Triton tests. Safe to run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python3 -m venv .venv-triton
.venv-triton/bin/pip install --quiet --disable-pip-version-check -r requirements/triton-server.txt
.venv-triton/bin/pip install --quiet --disable-pip-version-check --no-deps .
