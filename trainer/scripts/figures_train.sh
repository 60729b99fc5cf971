#!/usr/bin/env bash
# scripts/figures.sh trainer: `small` trained on real shards (the validation
# loss curve) and training speed against PyTorch as whole processes.
# Prebuild: cargo build --release (sluice) and
#           cargo build --release -p sluice-train --example train_cli (make-shards)
# PyTorch: python3 -m venv target/py-torch && target/py-torch/bin/pip install torch transformers numpy
#
#   SLUICE_BIN=target/release/sluice FIGURES_TORCH_PY=target/py-torch/bin/python trainer/scripts/figures_train.sh
#
# TRAINER_STEPS (default 75) sets the length of the training run.
set -euo pipefail
cd "$(dirname "$0")/../.."
SLUICE="${SLUICE_BIN:-${CARGO_TARGET_DIR:-target}/release/sluice}"
TRAIN_CLI="${TRAIN_CLI_BIN:-${CARGO_TARGET_DIR:-target}/release/examples/train_cli}"
TORCH_PY="${FIGURES_TORCH_PY:-target/py-torch/bin/python}"
DATA="${SLUICE_TEST_DATA:-../shared/data}"
STEPS="${TRAINER_STEPS:-75}"
for f in "$SLUICE" "$TRAIN_CLI" "$TORCH_PY"; do
    [ -x "$f" ] || { echo "error: $f not found (see the header of $0)" >&2; exit 1; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sluice-trainer-figures.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Shards: an 8k byte-level BPE trained on reference/en (WikiText-2 + Gutenberg),
# every 20th document held out for validation.
"$TRAIN_CLI" make-shards --out "$tmp/ref8k" --vocab-size 8192 --data "$DATA" >&2
t0=$(date +%s)
RAYON_NUM_THREADS=2 "$SLUICE" train --shards "$tmp/ref8k" --preset small --out "$tmp/small-ref" --steps "$STEPS" \
    --seq-len 128 --batch-tokens 1024 --lr 2e-3 --warmup 15 --eval-every 25 --eval-batches 8 --ckpt-every 25 --seed 0 \
    2>"$tmp/train.log" || { cat "$tmp/train.log" >&2; exit 1; }
t1=$(date +%s)
cat "$tmp/train.log" >&2
params=$(grep -o '([0-9]* params)' "$tmp/train.log" | tr -dc 0-9)
python3 - "$tmp" "$STEPS" "$params" "$((t1 - t0))" <<'PY'
import json, sys
tmp, steps, params, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
m = json.load(open(f"{tmp}/ref8k/manifest.json"))
tr = sum(s["tokens"] for s in m["shards"] if s["split"] == "train")
va = sum(s["tokens"] for s in m["shards"] if s["split"] == "val")
ms = [json.loads(l) for l in open(f"{tmp}/small-ref/metrics.jsonl")]
val = [(x["step"], x["loss"]) for x in ms if x["kind"] == "val"]
train = [x for x in ms if x["kind"] == "train"]
print(f"## small on real shards: {params / 1e6:.1f}M parameters, vocab {m['vocab_size']} BPE on reference/en "
      f"({tr / 1e6:.2f}M train, {va / 1e6:.2f}M val tokens), {steps} steps x 1024 tokens (seq 128), lr 2e-3, warmup 15, 2 threads")
print("validation loss (8 batches): " + ", ".join(f"{l:.3f} at step {s}" for s, l in val))
print(f"train loss: {train[0]['loss']:.3f} at step 1, {train[-1]['loss']:.3f} at step {train[-1]['step']}; "
      f"training run {secs} s wall, median {sorted(x['tokens_per_s'] for x in train)[len(train) // 2]:.0f} tokens/s")
PY
echo
echo "## speed vs PyTorch (CPU)"
"$TORCH_PY" trainer/python/speed_vs_torch.py --sluice "$SLUICE" --shards "$tmp/ref8k" --threads 2 --seq-len 256 --batch 4 --steps 8 --pairs 2
