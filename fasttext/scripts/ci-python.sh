#!/usr/bin/env bash
# Python interop tests for sluice-fasttext: a venv with fasttext-wheel (Python
# fastText 0.9.2), numpy and pytest, then pytest on test_interop.py.
#   fasttext/scripts/ci-python.sh            (builds the sluice binary if needed)
# Env: SLUICE_BIN, SLUICE_TEST_DATA, CARGO_TARGET_DIR, VENV (default target/py-fasttext).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
venv="${VENV:-$target/py-fasttext}"
if [ -z "${SLUICE_BIN:-}" ]; then
  (cd "$repo" && cargo build --bin sluice)
  export SLUICE_BIN="$target/debug/sluice"
fi
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# numpy is not pinned (the venv may be shared with the other interop scripts):
# the tests call fastText's per-line `f.predict`, which returns plain floats;
# the wheel's list predict is broken under numpy 2.
"$venv/bin/pip" install -q fasttext-wheel numpy pytest
"$venv/bin/python" -m pytest -q "$here/test_interop.py"
