#!/usr/bin/env bash
# Every speed and quality figure the READMEs quote, measured and printed by the
# bench that produces it, with the machine it ran on.
#
#   cargo build --release && cargo build --release -p sluice-readers --example extract_eval
#   cargo build --release -p sluice-safety --example pii_throughput --example pii_eval
#   cargo build --release -p sluice-dedup --bin dedup-bench
#   cargo test --release --no-run -p sluice-safety --test decontam && cargo test --release --no-run -p sluice-dedup --test dedup
#   cargo bench --no-run -p sluice-quality --bench langid --features lingua
#   cargo bench --no-run --bench engine --bench engine_memory
#   cargo test --release --no-run -p sluice-train --test tests && cargo build --release -p sluice-train --example train_cli
#   cargo build --release -p sluice-fasttext --examples
#   python3 -m venv .venv && .venv/bin/pip install "datatrove[processing]" spacy trafilatura lxml_html_clean zstandard pyarrow orjson
#   python3 -m venv target/py && target/py/bin/pip install fasttext-wheel 'numpy<2'   # classify only
#   python3 -m venv target/venv-traf && target/venv-traf/bin/pip install trafilatura lxml_html_clean   # extract: trafilatura's latest
#   python3 -m venv target/py-torch && target/py-torch/bin/pip install torch transformers tokenizers numpy pytest safetensors   # trainer, trainer_interop
#   scripts/figures.sh                 # every default job (about 20 minutes on 2 cores)
#   scripts/figures.sh quickstart minhash
#
# Jobs: quickstart engine quality quality_distinct minhash extract fineweb classify langid dclm
# pii decontam dedup_truth dedup_scale safety_dedup_quickstart engine_synthetic
# engine_memory report same_output trainer_checks trainer trainer_interop fasttext;
# opt-in, named only: ppl fuzz (OPT_IN below).
# Speed ratios are whole processes on real text, CPU-seconds (user + sys) on
# both sides, the two tools run one after the other in the same run; a job
# that also prints a warm in-process loop or a synthetic corpus says so.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${FIGURES_PY:-.venv/bin/python}"
SLUICE="${SLUICE_BIN:-${CARGO_TARGET_DIR:-target}/release/sluice}"
export SLUICE_TEST_DATA="${SLUICE_TEST_DATA:-$(cd .. && pwd)/shared/data}"
ALL=(quickstart engine quality quality_distinct minhash extract fineweb classify langid dclm pii decontam dedup_truth dedup_scale safety_dedup_quickstart engine_synthetic engine_memory report same_output trainer_checks trainer trainer_interop fasttext)
OPT_IN=(ppl fuzz)
JOBS=("$@")
[ ${#JOBS[@]} -eq 0 ] && JOBS=("${ALL[@]}")

[ -x "$SLUICE" ] || { echo "error: $SLUICE not found: run cargo build --release (or set SLUICE_BIN)" >&2; exit 1; }
echo "# sluice figures, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!README.md' || echo '+changes')"
echo "# machine: $(nproc) cores, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), $(free -g | awk '/Mem:/{print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg)"

# Each job's stderr (datatrove's logs, progress) goes to a file; a failed
# job is reported and the others still run.
LOGS="${FIGURES_LOGS:-${TMPDIR:-/tmp}/sluice-figures}"
mkdir -p "$LOGS"
FAILED=()
job() {
    local name="$1"; shift
    echo
    echo "## $name: $*"
    local t0=$SECONDS
    if ! "$@" 2>"$LOGS/$name.stderr"; then
        echo "FAILED: $name (stderr: $LOGS/$name.stderr)"
        tail -5 "$LOGS/$name.stderr" | sed 's/^/    /'
        FAILED+=("$name")
    fi
    echo "(job $name: $((SECONDS - t0)) s wall)"
}

for j in "${JOBS[@]}"; do
    case "$j" in
    quickstart) job "$j" python3 benches/quickstart.py --sluice "$SLUICE" ;;
    engine) job "$j" "$PY" benches/engine_datatrove.py --mb 100 --sluice "$SLUICE" ;;
    quality) job "$j" "$PY" benches/quality/compare_datatrove.py --sluice "$SLUICE" ;;
    quality_distinct) job "$j" python3 benches/quality/chain_distinct.py "$SLUICE" ;;
    minhash) job "$j" "$PY" benches/dedup/compare_datatrove.py --corpus real --tasks 2 --workers 1 ;;
    # trafilatura's own latest release (datatrove pins an older one): target/venv-traf if present.
    extract) job "$j" "${FIGURES_TRAF_PY:-$( [ -x target/venv-traf/bin/python ] && echo target/venv-traf/bin/python || echo "$PY")}" benches/extract/compare_trafilatura.py ;;
    fineweb) job "$j" python3 benches/quality/fineweb_e2e.py --sluice "$SLUICE" ;;
    classify) job "$j" env SLUICE_BIN="$SLUICE" target/py/bin/python benches/classify/compare.py --make-dataset --repeat 3 ;;
    langid) job "$j" env SLUICE_BIN="$SLUICE" bash benches/langid/run.sh --lingua ;;
    dclm) job "$j" "$PY" benches/dclm.py --sluice "$SLUICE" ;;
    pii) job "$j" "$PY" benches/safety/pii_figures.py --sluice "$SLUICE" ;;
    decontam) job "$j" python3 benches/safety/decontam_figures.py ;;
    dedup_truth) job "$j" "$PY" benches/dedup/truth_figures.py ;;
    dedup_scale) job "$j" "${CARGO_TARGET_DIR:-target}/release/dedup-bench" --docs 1000000 --tasks 4 --threads 2 ;;
    safety_dedup_quickstart) job "$j" python3 benches/dedup/quickstart_figures.py --sluice "$SLUICE" ;;
    engine_synthetic) job "$j" benches/engine_synthetic.sh ;;
    engine_memory) job "$j" benches/engine_memory.sh ;;
    report) job "$j" python3 report/scripts/figures.py --sluice "$SLUICE" ;;
    same_output) job "$j" scripts/same_output.sh --before "$SLUICE" --after "$SLUICE" ;;
    trainer_checks) job "$j" bash trainer/scripts/figures_checks.sh ;;
    trainer) job "$j" env SLUICE_BIN="$SLUICE" FIGURES_TORCH_PY="${FIGURES_TORCH_PY:-target/py-torch/bin/python}" bash trainer/scripts/figures_train.sh ;;
    trainer_interop) job "$j" env FIGURES_TORCH_PY="${FIGURES_TORCH_PY:-target/py-torch/bin/python}" bash trainer/scripts/figures_interop.sh ;;
    fasttext) job "$j" bash fasttext/scripts/figures_interop.sh ;;
    # opt-in (not in the default set): about 90 minutes on 2 cores (trains the reference model, scores 769 documents)
    ppl) job "$j" "$PY" stages/perplexity/scripts/figures.py --sluice "$SLUICE" ;;
    # opt-in (not in the default set): needs nightly and `cargo install cargo-fuzz`, then a nightly build of the targets
    fuzz) job "$j" scripts/fuzz.sh 60 ;;
    *) echo "unknown job $j (jobs: ${ALL[*]} ${OPT_IN[*]})" >&2; exit 2 ;;
    esac
done
echo
echo "# all jobs: $SECONDS s wall; load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
if [ ${#FAILED[@]} -gt 0 ]; then
    echo
    echo "failed jobs: ${FAILED[*]}"
    exit 1
fi
