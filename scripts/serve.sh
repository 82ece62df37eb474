#!/usr/bin/env bash
# Runs the facev3 HTTP service on the embedded default (onnxruntime in-process, no Triton) on a
# fresh machine: http://127.0.0.1:8000 (docs at /docs). Arguments go to `facev3 serve`
# (--server granian|robyn, --workers, --host, --port); settings come from the environment and .env.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-venv.sh
exec .venv/bin/facev3 serve "$@"
