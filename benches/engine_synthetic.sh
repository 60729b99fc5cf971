#!/usr/bin/env bash
# scripts/figures.sh engine_synthetic: the criterion bench `engine` (a
# synthetic corpus, 64 MB of web-like text, `SLUICE_BENCH_MB`), `sluice run`
# JSONL.zst -> passthrough -> Parquet at --threads 1 and 2; about 2 minutes.
#
#   CARGO_INCREMENTAL=0 cargo bench --no-run --bench engine   # prebuild
#   benches/engine_synthetic.sh
#
# Criterion's results (time per run, MiB/s) go to stdout; cargo's output to
# stderr. Criterion's saved baselines go to a scratch directory, removed at
# the end, so no "change:" against an earlier run is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch="$(mktemp -d "${TMPDIR:-/tmp}/sluice-engine-bench.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
echo "# criterion bench engine, synthetic corpus (benches/common.rs make_corpus), $(date -u +%F)"
CRITERION_HOME="$scratch/criterion" TMPDIR="$scratch" CARGO_INCREMENTAL=0 \
    cargo bench --bench engine -- --noplot --discard-baseline
