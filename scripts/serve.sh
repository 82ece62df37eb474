#!/usr/bin/env bash
# Runs facev3 on the embedded default (onnxruntime, no Triton) on a fresh machine. Until the HTTP
# service lands this runs the CLI: with no arguments it embeds the sample photos in tests/data
# into embeddings.jsonl; otherwise the arguments go to `facev3` (embed, compare, models export).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-venv.sh
if [ $# -eq 0 ]; then
  set -- embed tests/data --out embeddings.jsonl
fi
exec .venv/bin/facev3 "$@"
