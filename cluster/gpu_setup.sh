#!/usr/bin/env bash
# CUDA runtime for TensorFlow 2.12 on a GPU node: CUDA 11.8 + cuDNN 8.6 from NVIDIA's pip
# wheels, installed into the snnjob venv (TF 2.12 has no `tensorflow[and-cuda]` extra;
# that arrived in 2.14). The node needs only an NVIDIA driver >= 520 (CUDA 11.8); no
# system CUDA toolkit is required.
#
#   cluster/gpu_setup.sh              install the wheels into $SNNJOB_VENV (idempotent)
#   cluster/gpu_setup.sh --print-env  print the `export LD_LIBRARY_PATH=...` line that
#                                     makes TF find them (node_setup.sh puts it in ~/.bashrc,
#                                     so `ray start` and every Ray worker inherit it)
#
# Check on the node:  ~/snnjob-venv/bin/python -c \
#   "import tensorflow as tf; print(tf.config.list_physical_devices('GPU'))"
# An empty list means TF runs on the CPU (snnjob then trains on the CPU: slower, same results).
set -euo pipefail
VENV="${SNNJOB_VENV:-$HOME/snnjob-venv}"
PY="$VENV/bin/python"

# Versions that match TF 2.12.1's build (CUDA 11.8, cuDNN 8.6).
WHEELS=(
  "nvidia-cuda-runtime-cu11==11.8.89"
  "nvidia-cuda-cupti-cu11==11.8.87"
  "nvidia-cuda-nvrtc-cu11==11.8.89"
  "nvidia-cublas-cu11==11.11.3.6"
  "nvidia-cufft-cu11==10.9.0.58"
  "nvidia-curand-cu11==10.3.0.86"
  "nvidia-cusolver-cu11==11.4.1.48"
  "nvidia-cusparse-cu11==11.7.5.86"
  "nvidia-cudnn-cu11==8.6.0.163"
)

lib_dirs() {
  # Every nvidia/*/lib folder of the wheels, joined with ':'.
  "$PY" - <<'EOF'
import glob, os, site
dirs = []
for sp in site.getsitepackages():
    dirs += sorted(glob.glob(os.path.join(sp, "nvidia", "*", "lib")))
print(":".join(dirs))
EOF
}

if [ "${1:-}" = "--print-env" ]; then
  dirs="$(lib_dirs)"
  if [ -n "$dirs" ]; then
    printf 'export LD_LIBRARY_PATH="%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"\n' "$dirs"
  fi
  exit 0
fi

if [ ! -x "$PY" ]; then
  echo "gpu_setup: no venv at $VENV (run scripts/setup_env.sh first)" >&2
  exit 1
fi
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader >&2 || true
else
  echo "gpu_setup: warning: nvidia-smi not found; install the NVIDIA driver (>= 520)" >&2
fi
"$PY" -m pip install -q "${WHEELS[@]}"
echo "gpu_setup: CUDA 11.8 / cuDNN 8.6 wheels installed in $VENV" >&2
