#!/usr/bin/env bash
# Python interop tests for sluice-tokens: a venv with tokenizers,
# transformers and numpy, then pytest on test_interop.py.
#   stages/tokens/scripts/ci-python.sh            (builds the sluice binary if needed)
# Env: SLUICE_BIN, SLUICE_TEST_DATA, CARGO_TARGET_DIR, VENV (default target/py-tokens).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
venv="${VENV:-$target/py-tokens}"
if [ -z "${SLUICE_BIN:-}" ]; then
  (cd "$repo" && cargo build --bin sluice)
  export SLUICE_BIN="$target/debug/sluice"
fi
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q tokenizers transformers numpy pytest
"$venv/bin/python" -m pytest -q "$here/test_interop.py"
