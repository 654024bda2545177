#!/usr/bin/env bash
# Set up one cluster node for snnjob. The cluster launcher runs it on every node
# (ray_config.yaml / cluster/aws.yaml `setup_commands`) from the project copy that
# file_mounts synced to ~/snnjob-src. Safe to run again: every step is idempotent.
# (The copy is deliberately not called ~/snnjob: `ray submit` runs scripts from ~, where a
# folder named snnjob would shadow the installed package as a namespace package.)
#
#   1. Ray auth token: ~/.ray/auth_token (or $RAY_AUTH_TOKEN_PATH) must exist; it is made
#      readable by the owner only (0600, directory 0700). Its content is never printed.
#   2. Python environment: needs python3.11 (SNNJOB_INSTALL_PYTHON=1: apt-get installs
#      python3.11 + python3.11-venv when missing, via sudo unless root; Debian 12 and
#      Ubuntu 22.04 have them). scripts/setup_env.sh creates or reuses $SNNJOB_VENV
#      (default ~/snnjob-venv) with the locked dependency set (requirements.lock) and
#      snnjob installed in editable mode from this copy. Reuse takes seconds.
#   3. GPU nodes (nvidia-smi lists a GPU, or SNNJOB_GPU=1): cluster/gpu_setup.sh adds the
#      CUDA 11.8 / cuDNN 8.6 libraries TensorFlow 2.12 needs. SNNJOB_GPU=0 skips it.
#   4. ~/.bashrc gets one marked block (replaced, never duplicated): the venv first on
#      PATH (`ray submit` runs `python` in a login shell), RAY_AUTH_MODE=token (drivers
#      must authenticate too) and, on GPU nodes, LD_LIBRARY_PATH for the CUDA wheels.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SNNJOB_VENV="${SNNJOB_VENV:-$HOME/snnjob-venv}"
log() { echo "snnjob node_setup: $*" >&2; }

# 1. token -------------------------------------------------------------------------------
token="${RAY_AUTH_TOKEN_PATH:-$HOME/.ray/auth_token}"
if [ ! -s "$token" ]; then
  log "no Ray auth token at $token."
  log "  On your laptop run: (umask 077; ray get-auth-token --generate >/dev/null)"
  log "  then 'ray up' again: ray_config.yaml's file_mounts ship ~/.ray/auth_token to every node."
  exit 1
fi
chmod 700 "$(dirname "$token")"
chmod 600 "$token"

# 2. venv with the locked dependency set ---------------------------------------------------
if [ -z "${SNNJOB_PYTHON:-}" ] && ! command -v python3.11 >/dev/null 2>&1 \
   && [ "${SNNJOB_INSTALL_PYTHON:-0}" = "1" ]; then
  log "installing python3.11 with apt-get"
  sudo_=""
  if [ "$(id -u)" -ne 0 ]; then sudo_="sudo"; fi
  $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3.11 python3.11-venv >/dev/null
fi
"$ROOT/scripts/setup_env.sh"

# 3. GPU libraries ----------------------------------------------------------------------------
gpu="${SNNJOB_GPU:-auto}"
if [ "$gpu" = "auto" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
    gpu=1
  else
    gpu=0
  fi
fi
gpu_env=""
if [ "$gpu" = "1" ]; then
  "$ROOT/cluster/gpu_setup.sh"
  gpu_env="$("$ROOT/cluster/gpu_setup.sh" --print-env)"
fi

# 4. login-shell environment --------------------------------------------------------------------
rc="$HOME/.bashrc"
begin="# >>> snnjob cluster node (cluster/node_setup.sh) >>>"
end="# <<< snnjob cluster node <<<"
touch "$rc"
kept="$(awk -v b="$begin" -v e="$end" '$0 == b {skip = 1} !skip {print} $0 == e {skip = 0}' "$rc")"
{
  printf '%s\n' "$kept"
  printf '%s\n' "$begin"
  printf 'export PATH="%s/bin:$PATH"\n' "$SNNJOB_VENV"
  printf 'export RAY_AUTH_MODE=token\n'
  if [ -n "$gpu_env" ]; then printf '%s\n' "$gpu_env"; fi
  printf '%s\n' "$end"
} > "$rc"   # rewrites in place: owner and mode of ~/.bashrc are kept
log "ready: venv $SNNJOB_VENV, token auth on, GPU setup: $gpu"
