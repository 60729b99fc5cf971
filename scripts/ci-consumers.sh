#!/usr/bin/env bash
# sluice's output in the tools users load it with: runs the quickstart's data
# pipeline (without training; one task, then three) and loads its Parquet with
# HF `datasets`, pyarrow, polars and DuckDB, and its JSONL with `datasets`;
# checks row counts and every row against `sluice stats` and the JSONL
# (scripts/test_consumers.py).
#   scripts/ci-consumers.sh            (builds the sluice binary if needed)
# Env: SLUICE_BIN, CARGO_TARGET_DIR, SLUICE_VENV or VENV (default
# target/py-consumers), QUICKSTART_MAX_FILES (default 150).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
venv="${SLUICE_VENV:-${VENV:-$target/py-consumers}}"
if [ -z "${SLUICE_BIN:-}" ]; then
  (cd "$repo" && cargo build --bin sluice)
  export SLUICE_BIN="$target/debug/sluice"
fi
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# The versions this was checked with: datasets 5.2.0, pyarrow 26.0.1,
# polars 2.1.0, duckdb 2.0.1 (the ranges are those whose APIs the test uses:
# datasets.List is 4.0+).
"$venv/bin/pip" install -q "datasets>=4,<6" "pyarrow>=21,<27" "polars>=1.20,<3" "duckdb>=1.1,<3" "zstandard>=0.22" "pytest>=8"
"$venv/bin/python" -m pytest -q "$here/test_consumers.py"
