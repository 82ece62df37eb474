#!/usr/bin/env bash
# Creates .venv with the pinned dependencies and installs facev3 into it (building the native
# core). Sourced by serve.sh and test.sh; safe to run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements/test.txt
.venv/bin/pip install --quiet --disable-pip-version-check .
