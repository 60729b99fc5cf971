#!/usr/bin/env bash
# scripts/figures.sh fasttext: the interop table of fasttext/README.md.
# fasttext/scripts/measure.py --skip-speed in a scratch directory: five model
# configurations trained by fasttext-wheel and by sluice on a labelled set from
# the shared data, each scored by the other implementation (largest probability
# difference, held-out P@1), and three Python-quantized .ftz scored by sluice.
# Prebuild: cargo build --release -p sluice-fasttext --examples
# Python: FIGURES_FT_PY (default target/py/bin/python) with fasttext-wheel, numpy<2.
set -euo pipefail
cd "$(dirname "$0")/../.."
FT_PY="${FIGURES_FT_PY:-target/py/bin/python}"
BIN="${CARGO_TARGET_DIR:-target}/release/examples"
for f in "$FT_PY" "$BIN/probs" "$BIN/train"; do
    [ -x "$f" ] || { echo "error: $f not found (see the header of $0)" >&2; exit 1; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sluice-fasttext-figures.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "fasttext-wheel $("$FT_PY" -c 'import importlib.metadata as m; print(m.version("fasttext-wheel"))'), one thread, seed 0"
"$FT_PY" fasttext/scripts/measure.py --work "$tmp" --bin "$BIN" --data "${SLUICE_TEST_DATA:-../shared/data}" --skip-speed
