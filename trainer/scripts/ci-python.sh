#!/usr/bin/env bash
# Interop tests for sluice-train against Hugging Face transformers (CPU torch).
# Creates or reuses a virtualenv ($SLUICE_VENV, default .venv in the repo root),
# builds the trainer CLI example in the dev profile, and runs pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
VENV="${SLUICE_VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import torch, transformers, tokenizers, numpy, pytest" 2>/dev/null; then
  "$VENV/bin/pip" install --quiet torch transformers tokenizers numpy pytest
fi
cargo build --quiet -p sluice-train --example train_cli
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
export SLUICE_TRAIN_BIN="$TARGET/debug/examples/train_cli"
export SLUICE_DATA="${SLUICE_DATA:-$ROOT/../shared/data}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$ROOT/trainer/python" "$@"
