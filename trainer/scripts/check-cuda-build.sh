#!/usr/bin/env bash
# Keep the CUDA build from rotting: compile sluice-train with `--features cuda`
# using nvcc from PyPI's CUDA 13 wheels. No GPU is needed to compile.
#   trainer/scripts/check-cuda-build.sh            (venv: $SLUICE_CUDA_VENV or target/venv-cuda, git-ignored)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
VENV="${SLUICE_CUDA_VENV:-$ROOT/target/venv-cuda}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet "nvidia-cuda-nvcc==13.*" "nvidia-cuda-crt==13.*" \
  "nvidia-cuda-runtime==13.*" "nvidia-cuda-cccl==13.*" "nvidia-cublas==13.*" "nvidia-curand==10.*"
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
NVCC="$(find "$SITE/nvidia" -type f -name nvcc -path '*bin*' | head -n1)"
[ -n "$NVCC" ] || { echo "nvcc not found in the nvidia wheels under $SITE" >&2; exit 1; }
# The wheels put CUDA 13 under nvidia/cu13/{bin,include,lib}: treat that as CUDA_ROOT.
CUDA_ROOT="$(dirname "$(dirname "$NVCC")")"
export CUDA_ROOT CUDA_PATH="$CUDA_ROOT" CUDA_HOME="$CUDA_ROOT"
export PATH="$CUDA_ROOT/bin:$PATH"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
# cudarc refuses toolkit versions newer than it knows (PyPI already ships 13.5);
# bind against the newest 13.x API it supports unless told otherwise.
export CUDARC_CUDA_VERSION="${CUDARC_CUDA_VERSION:-13040}"
export NVCC_CCBIN="${NVCC_CCBIN:-$(command -v g++ || command -v c++)}"
"$NVCC" --version | tail -n2
cargo build -p sluice-train --features cuda --target-dir "${CARGO_TARGET_DIR:-$ROOT/target}/cuda-check" "$@"
echo "CUDA build of sluice-train OK (compute cap $CUDA_COMPUTE_CAP)"
