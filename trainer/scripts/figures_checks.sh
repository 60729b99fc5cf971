#!/usr/bin/env bash
# scripts/figures.sh trainer_checks: the trainer's acceptance checks (gradient
# check, overfit, bit-exact resume) in the release test profile, and the
# figures they print. Prebuild: cargo test --release -p sluice-train --test tests --no-run
set -euo pipefail
cd "$(dirname "$0")/../.."
log=$(mktemp "${TMPDIR:-/tmp}/trainer-checks.XXXXXX")
trap 'rm -f "$log"' EXIT
start=$(date +%s)
# The test binary (built beforehand: this is a no-op check) runs single-threaded
# so the three tests do not share the 2 cores.
if ! CARGO_INCREMENTAL=0 cargo test --release -p sluice-train --test tests -- \
    gradients_are_finite tiny_overfits_one_batch resume_is_bit_identical_on_cpu \
    --nocapture --test-threads 1 >"$log" 2>&1; then
    cat "$log" >&2
    echo "trainer checks failed" >&2
    exit 1
fi
cat "$log" >&2
grad=$(grep -m1 -o 'gradient check:.*' "$log")
over=$(grep -m1 -o 'overfit one batch:.*' "$log")
grep -q '^test resume_is_bit_identical_on_cpu \.\.\. ok' "$log" || { echo "resume test did not run" >&2; exit 1; }
grep -q 'test result: ok\. 3 passed' "$log" || { echo "expected 3 tests to pass" >&2; exit 1; }
echo "| check | result |"
echo "|---|---|"
echo "| gradients (tiny, f64, GQA + document mask; central finite differences, h = 1e-5) | ${grad#gradient check: }; every gradient finite and non-zero |"
echo "| overfit (tiny, one batch of 4 x 32 random tokens, 150 AdamW steps) | ${over#overfit one batch: } |"
echo "| resume (stop at step 3 of 8, resume) | passed: train and validation losses bit-identical (f64 bits) to the uninterrupted run, final model.safetensors byte-identical |"
echo "(cargo test --release -p sluice-train --test tests, 3 tests passed, $(( $(date +%s) - start )) s)"
