#!/usr/bin/env bash
# Set up the environment if needed, then run the snnjob command line:
#   scripts/snnjob.sh run --config quick --out runs/quick
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup_env.sh"
exec "${SNNJOB_VENV:-$ROOT/.venv}/bin/snnjob" "$@"
