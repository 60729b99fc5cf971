#!/usr/bin/env bash
# scripts/figures.sh trainer_interop: the transformers interop checks
# (trainer/python, what trainer/scripts/ci-python.sh runs) against the release
# train_cli: a tiny model trained on reference shards, exported to HF Llama;
# HF's logits and HellaSwag log-likelihoods against sluice's.
# Prebuild: cargo build --release -p sluice-train --example train_cli
# Python: FIGURES_TORCH_PY (default target/py-torch/bin/python) with torch,
# transformers, tokenizers, numpy, pytest.
set -euo pipefail
cd "$(dirname "$0")/../.."
TORCH_PY="${FIGURES_TORCH_PY:-target/py-torch/bin/python}"
export SLUICE_TRAIN_BIN="${TRAIN_CLI_BIN:-${CARGO_TARGET_DIR:-target}/release/examples/train_cli}"
export SLUICE_DATA="${SLUICE_TEST_DATA:-../shared/data}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" RAYON_NUM_THREADS="${RAYON_NUM_THREADS:-2}"
[ -x "$SLUICE_TRAIN_BIN" ] || { echo "error: $SLUICE_TRAIN_BIN not found: cargo build --release -p sluice-train --example train_cli" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sluice-trainer-interop.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if ! SLUICE_INTEROP_DIR="$tmp/work" "$TORCH_PY" -m pytest -s -q -p no:cacheprovider trainer/python >"$tmp/log" 2>&1; then
    cat "$tmp/log" >&2
    echo "interop tests failed" >&2
    exit 1
fi
cat "$tmp/log" >&2
echo "tiny model (80 steps on 1024-BPE reference shards) exported to HF LlamaForCausalLM; transformers $("$TORCH_PY" -c 'import transformers; print(transformers.__version__)'), torch $("$TORCH_PY" -c 'import torch; print(torch.__version__)')"
grep -o 'max |logit diff| = .*' "$tmp/log"
grep -o 'HellaSwag (.*' "$tmp/log"
grep -E '^[0-9]+ passed' "$tmp/log" || tail -1 "$tmp/log"
