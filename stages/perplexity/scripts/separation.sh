#!/usr/bin/env bash
# Acceptance 1 (separation): ROC AUC of bits-per-byte between held-out
# reference text (the Wikipedia/book documents `make-shards` kept out of
# training) and the CC sample documents that the Gopher/C4 filters drop.
#
#   stages/perplexity/scripts/separation.sh RUN_DIR [OUT]
#
# RUN_DIR: a `sluice train` run on shards from `train_cli make-shards`
# (default --max-bytes and --val-every). Needs a built `sluice` (SLUICE_BIN).
set -euo pipefail
run=${1:?usage: separation.sh RUN_DIR [OUT]}
out=${2:-out/ppl-separation}
bin=${SLUICE_BIN:-target/release/sluice}
here=$(cd "$(dirname "$0")" && pwd)
OUT=$out/cc "$bin" run "$here/cc-dropped.yaml" --progress off >/dev/null
"$bin" ppl auc --model "$run" --device cpu --good-reference-val \
    --bad "$out/cc/excluded/gopher_repetition" "$out/cc/excluded/gopher_quality" "$out/cc/excluded/c4"
# The kept CC documents, for comparison (not part of the acceptance figure).
"$bin" ppl auc --model "$run" --device cpu --good-reference-val --bad "$out/cc/kept"
