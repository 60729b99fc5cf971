#!/usr/bin/env bash
# Acceptance 1 (separation): ROC AUC of bits-per-byte between held-out
# reference text (the Wikipedia/book documents the `pack` stage of
# recipes/reference-lm.yaml kept out of training: metadata split = "val")
# and the CC sample documents that the Gopher/C4 filters drop.
#
#   stages/perplexity/scripts/separation.sh [REFERENCE_LM_OUT] [OUT]
#
# REFERENCE_LM_OUT: the output of `sluice run recipes/reference-lm.yaml`
# (default out/reference-lm): its `train` run is the model, its `jsonl`
# documents the good side. Needs a built `sluice` (SLUICE_BIN).
set -euo pipefail
ref=${1:-out/reference-lm}
out=${2:-out/ppl-separation}
bin=${SLUICE_BIN:-target/release/sluice}
here=$(cd "$(dirname "$0")" && pwd)
OUT=$out/cc "$bin" run "$here/cc-dropped.yaml" --progress off >/dev/null
echo "== held-out reference text vs CC documents dropped by Gopher/C4"
"$bin" ppl auc --model "$ref/train" --device cpu --good "$ref/jsonl" --good-split val \
    --bad "$out/cc/excluded/gopher_repetition" "$out/cc/excluded/gopher_quality" "$out/cc/excluded/c4"
# The kept CC documents, for comparison (not part of the acceptance figure).
echo "== held-out reference text vs CC documents the filters keep"
"$bin" ppl auc --model "$ref/train" --device cpu --good "$ref/jsonl" --good-split val --bad "$out/cc/kept"
