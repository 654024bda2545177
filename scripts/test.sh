#!/usr/bin/env bash
# Set up the environment if needed, then run the test suite:
#   scripts/test.sh                 everything (what CI runs)
#   scripts/test.sh -m "not slow"   the unit suite: nothing trains or starts Ray (about a minute)
#   scripts/test.sh tests/test_data.py -k fetch    any pytest arguments
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup_env.sh"
cd "$ROOT"
# Tests read the real MNIST copy beside the checkout unless told otherwise.
if [ -z "${SNNJOB_DATA_DIR:-}" ] && [ -d "$ROOT/../shared/data/mnist" ]; then
  export SNNJOB_DATA_DIR="$ROOT/../shared/data/mnist"
fi
exec "${SNNJOB_VENV:-$ROOT/.venv}/bin/python" -m pytest "$@"
