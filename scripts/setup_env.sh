#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment with exactly the locked dependency set.
#
#   scripts/setup_env.sh            create/reuse $SNNJOB_VENV (default: <repo>/.venv)
#   scripts/setup_env.sh --force    rebuild it from scratch
#   scripts/setup_env.sh --relock   resolve pyproject.toml's ranges anew and rewrite requirements.lock
#
# The venv is reused as long as requirements.lock is unchanged (its SHA-256 is stamped into
# the venv); snnjob itself is installed in editable mode, refreshed when pyproject.toml changes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SNNJOB_VENV:-$ROOT/.venv}"
LOCK="$ROOT/requirements.lock"
PY="${SNNJOB_PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY="$cand"; break
    fi
  done
fi
if [ -z "$PY" ]; then
  echo "snnjob setup: Python 3.11 is required (TensorFlow 2.12 + NengoDL 3.6 have no wheels for other versions)." >&2
  echo "  Install python3.11, or point SNNJOB_PYTHON at one." >&2
  exit 1
fi

mode="${1:-}"
if [ "$mode" = "--relock" ]; then
  tmp="$(mktemp -d)"
  "$PY" -m venv "$tmp/venv"
  "$tmp/venv/bin/pip" install -q --upgrade pip
  "$tmp/venv/bin/pip" install -q "$ROOT[dev]"
  {
    echo "# Locked dependency set for snnjob (Python 3.11). Regenerate with: scripts/setup_env.sh --relock"
    "$tmp/venv/bin/pip" freeze --exclude snnjob
  } > "$LOCK.tmp"
  mv "$LOCK.tmp" "$LOCK"
  rm -rf "$tmp"
  echo "wrote $LOCK"
  exit 0
fi

stamp="$(cat "$LOCK" | sha256sum | cut -d' ' -f1)"
proj="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [ "$mode" != "--force" ] && [ -f "$VENV/.snnjob-lock" ] && [ "$(cat "$VENV/.snnjob-lock")" = "$stamp" ] \
   && "$VENV/bin/python" -c 'import tensorflow, nengo_dl, ray' >/dev/null 2>&1; then
  # Dependencies are current; refresh the editable install only when pyproject.toml changed.
  if [ "$(cat "$VENV/.snnjob-project" 2>/dev/null)" != "$proj" ]; then
    PYTHONWARNINGS=ignore "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$ROOT"
    echo "$proj" > "$VENV/.snnjob-project"
  fi
  exit 0
fi

echo "snnjob setup: creating $VENV from requirements.lock (a few minutes the first time)..." >&2
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip setuptools wheel
"$VENV/bin/python" -m pip install -q -r "$LOCK"
PYTHONWARNINGS=ignore "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$ROOT"
echo "$stamp" > "$VENV/.snnjob-lock"
echo "$proj" > "$VENV/.snnjob-project"
echo "snnjob setup: ready ($("$VENV/bin/python" -c 'import tensorflow as tf, nengo_dl, ray; print("tensorflow", tf.__version__, "nengo-dl", nengo_dl.__version__, "ray", ray.__version__)' 2>/dev/null))" >&2
