#!/usr/bin/env bash
# Creates .venv-triton: the tritonserver binary (nvidia-pytriton wheel) and the numpy<2
# environment its python-backend models run in (see requirements/triton-server.txt). Run by
# test.sh; needed for `facev3 triton serve` and the Triton tests. Safe to run again, and quick
# when nothing changed (.venv-triton/facev3.digest).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
digest=$(scripts/sources-digest.sh)
[ -f .venv-triton/facev3.digest ] && [ "$(cat .venv-triton/facev3.digest)" = "$digest" ] && exit 0
python3 -m venv .venv-triton
.venv-triton/bin/pip install --quiet --disable-pip-version-check -r requirements/triton-server.txt
.venv-triton/bin/pip install --quiet --disable-pip-version-check --no-deps .
echo "$digest" > .venv-triton/facev3.digest
