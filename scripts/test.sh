#!/usr/bin/env bash
# The README's test command: set up (idempotent), then run the whole suite.
# Extra arguments go to pytest (e.g. scripts/test.sh -k kernels -x).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
PY="${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/python}"; PY="${PY:-$ROOT/.venv/bin/python}"
cd "$ROOT"
# A test whose toolchain is missing fails instead of skipping (setup installs them
# all); CI=false turns that back into a skip for a partial machine.
export CI="${CI:-true}"
exec "$PY" -m pytest "$@"
