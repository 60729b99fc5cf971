#!/usr/bin/env bash
# scripts/figures.sh engine_memory: the bench `engine_memory` on a 3 GB
# synthetic corpus (SLUICE_BENCH_GB, default here 3): wall, CPU, MB/s, MB per
# CPU-second and the child's peak RSS of one `sluice run` (JSONL.zst ->
# passthrough -> Parquet, --threads 2); fails above 1 GiB of RSS.
#
#   CARGO_INCREMENTAL=0 cargo bench --no-run --bench engine_memory   # prebuild
#   benches/engine_memory.sh
#
# The corpus (about 0.8 GB compressed for 3 GB of text) and the output are
# written under ${TMPDIR:-/tmp} (SLUICE_BENCH_DIR) and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export SLUICE_BENCH_GB="${SLUICE_BENCH_GB:-3}"
echo "# bench engine_memory, synthetic corpus (benches/common.rs make_corpus), SLUICE_BENCH_GB=$SLUICE_BENCH_GB, $(date -u +%F)"
SLUICE_BENCH_DIR="${SLUICE_BENCH_DIR:-${TMPDIR:-/tmp}}" CARGO_INCREMENTAL=0 cargo bench --bench engine_memory
