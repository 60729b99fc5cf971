#!/usr/bin/env bash
# Acceptance 3 (throughput): tokens/s of scoring on the CPU, one document per
# call (in parallel over documents) as the reference, and batched by length
# as the stage does, on the CC sample's first 200 documents.
#
#   stages/perplexity/scripts/bench.sh RUN_DIR [extra `sluice ppl bench` args]
#
# On a GPU machine (built with --features cuda):
#   DEVICE=cuda bench.sh RUN_DIR --compare-cpu --batch-tokens 4096,16384,65536
set -euo pipefail
run=${1:?usage: bench.sh RUN_DIR [args]}
shift
bin=${SLUICE_BIN:-target/release/sluice}
data=${SLUICE_DATA:-../shared/data}
"$bin" ppl bench --model "$run" --device "${DEVICE:-cpu}" --input "$data/web/cc-main-2019-30.sample.jsonl.gz" "$@"
