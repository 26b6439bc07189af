#!/usr/bin/env bash
# The README's main command: set up (idempotent), then the end-to-end demo:
# zoo model -> convert at 50 % -> classify a real photo with stock MNN and with the
# plugin -> quick side-by-side benchmark.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
PY="${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/python}"; PY="${PY:-$ROOT/.venv/bin/python}"
exec "$PY" -m sparsebytenn demo "$@"
