#!/usr/bin/env bash
# Bounded fuzz run of every fuzz target (fuzz/fuzz_targets/*.rs).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]        (default 60)
#
# Builds the targets (cargo fuzz, nightly, no sanitizer: see fuzz/README.md),
# builds the seed corpora from the shared test data (../shared/data, or
# $SLUICE_TEST_DATA) into fuzz/seeds/, runs each target for the given time
# with its corpus in fuzz/corpus/<target>/ (kept between runs, git-ignored),
# and prints on stdout a markdown table, one row per target in the form of
# fuzz/README.md's "Measured" table (time, runs, exec/s, coverage in edges,
# corpus, slowest input, crashes); progress goes to stderr. Exits
# non-zero when any target crashed (panic, abort, timeout, out of memory);
# the crashing input is in fuzz/artifacts/<target>/.
#
# Environment:
#   FUZZ_TARGETS   space-separated targets to run (default: all of this build)
#   FUZZ_FEATURES  `full` adds the binary's registry to `recipe` and the
#                  `train_shards` target (sluice-train, candle: a longer build)
#   FUZZ_SANITIZER cargo fuzz sanitizer (default none; `address` for ASan)
#   FUZZ_TIMEOUT   seconds one input may take before it counts as a hang (20)
#   FUZZ_RSS_MB    memory limit in MiB before an input counts as an OOM (2048)
#   FUZZ_ARGS      extra libFuzzer flags, e.g. "-jobs=4 -workers=4"
#   FUZZ_BIN_DIR   run the target binaries in this directory, already built
#                  (skips the build)
set -uo pipefail

secs="${1:-60}"
case "$secs" in '' | *[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET]" >&2; exit 2 ;; esac

root="$(cd "$(dirname "$0")/.." && pwd)"
fuzz="$root/fuzz"
data="${SLUICE_TEST_DATA:-$root/../shared/data}"
if [ ! -d "$data" ]; then
    echo "fuzz.sh: the shared test data is missing at $data (set SLUICE_TEST_DATA)" >&2
    exit 2
fi
data="$(cd "$data" && pwd)"
sanitizer="${FUZZ_SANITIZER:-none}"
features="${FUZZ_FEATURES:-}"
timeout="${FUZZ_TIMEOUT:-20}"
rss="${FUZZ_RSS_MB:-2048}"

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: needs cargo-fuzz on a nightly toolchain: rustup toolchain install nightly && cargo install cargo-fuzz" >&2
    exit 2
fi

targets="${FUZZ_TARGETS:-reader_jsonl reader_parquet reader_warc reader_wet reader_text recipe shard_llmc shard_megatron manifest}"
if [ -z "${FUZZ_TARGETS:-}" ] && [[ ",$features," == *,full,* ]]; then
    targets="$targets train_shards"
fi

# The fuzz crate is its own workspace with its own target directory.
unset CARGO_TARGET_DIR
feat_args=()
[ -n "$features" ] && feat_args=(--features "$features")
if [ -n "${FUZZ_BIN_DIR:-}" ]; then
    bin="$FUZZ_BIN_DIR"
else
    echo "== building fuzz targets (sanitizer: $sanitizer${features:+, features: $features})" >&2
    (cd "$root" && cargo +nightly fuzz build -s "$sanitizer" "${feat_args[@]}" >&2) || exit 2
    bin="$fuzz/target/x86_64-unknown-linux-gnu/release"
fi

scratch="$(mktemp -d "${TMPDIR:-/tmp}/sluice-fuzz.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
export SLUICE_FUZZ_TMPDIR="$scratch"

echo "== seed corpora from $data" >&2
rm -rf "$fuzz/seeds"
python3 "$fuzz/make_seeds.py" "$data" "$fuzz/seeds" "$root/recipes" "$scratch/data" >&2 || exit 2
if [[ " $targets " == *" reader_parquet "* ]]; then
    SLUICE_FUZZ_PARQUET_SEEDS="$fuzz/seeds/reader_parquet" SLUICE_FUZZ_JSONL="$data/web/cc-main-2019-30.sample.jsonl.gz" \
        "$bin/reader_parquet" >/dev/null || exit 2
fi

# Targets run in an empty scratch directory: a fuzzed recipe may name
# relative paths to write (an index to save), and must not reach the
# checkout. The seed recipes find the data through SLUICE_DATA: the shared
# data with the eval sets cut short (see make_seeds.py).
mkdir -p "$scratch/cwd"
export SLUICE_DATA="$scratch/data"
[ -f "$root/stages/quality/data/url_blocklist.example.txt" ] &&
    export SLUICE_URL_BLOCKLIST="$root/stages/quality/data/url_blocklist.example.txt"
logs="$fuzz/logs"
mkdir -p "$logs"

declare -A max_len=([recipe]=16384)
# 1234567 -> 1,234,567 (printf's %'d depends on the locale).
commas() { echo "$1" | sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/' -e 'ta'; }
failed=0
results=()
for t in $targets; do
    if [ ! -x "$bin/$t" ]; then
        echo "fuzz.sh: no binary for target $t (does it need FUZZ_FEATURES=full?)" >&2
        exit 2
    fi
    mkdir -p "$fuzz/corpus/$t" "$fuzz/artifacts/$t" "$fuzz/seeds/$t"
    before=$(find "$fuzz/artifacts/$t" -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' | wc -l)
    echo "== $t: ${secs}s" >&2
    (cd "$scratch/cwd" && "$bin/$t" "$fuzz/corpus/$t" "$fuzz/seeds/$t" \
        -max_total_time="$secs" -timeout="$timeout" -rss_limit_mb="$rss" -malloc_limit_mb="$rss" \
        -max_len="${max_len[$t]:-65536}" -dict="$fuzz/sluice.dict" -close_fd_mask=1 \
        -artifact_prefix="$fuzz/artifacts/$t/" -print_final_stats=1 ${FUZZ_ARGS:-}) >"$logs/$t.log" 2>&1
    rc=$?
    runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$logs/$t.log" | awk '{s += $2} END {print s + 0}')
    corpus=$(ls "$fuzz/corpus/$t" | wc -l)
    after=$(find "$fuzz/artifacts/$t" -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' | wc -l)
    slowest=$(grep -o 'stat::slowest_unit_time_sec: *[0-9]*' "$logs/$t.log" | awk '{print $2}' | sort -n | tail -1)
    # exec/s: libFuzzer's own average (summed over -jobs workers); coverage:
    # the largest `cov:` (edges) any status line reported.
    execs=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$logs/$t.log" | awk '{s += $2} END {print s + 0}')
    cov=$(grep -o ' cov: [0-9]*' "$logs/$t.log" | awk '$2 > m {m = $2} END {print m + 0}')
    crashes=$((after - before))
    if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi
    artifact=""
    if [ "$crashes" -ne 0 ]; then
        failed=1
        artifact=$(ls -t "$fuzz/artifacts/$t" | grep -E '^(crash|timeout|oom|leak)-' | head -1)
        grep -m2 -E "panicked at|memory allocation of|ERROR: libFuzzer|SUMMARY" "$logs/$t.log" | sed 's/^/    /' >&2
    fi
    if [ -z "$slowest" ]; then slow="?"; elif [ "$slowest" -lt 1 ]; then slow="< 1 s"; else slow="$slowest s"; fi
    if [ "$crashes" -eq 0 ]; then crash_cell=0; else crash_cell="**$crashes** (\`artifacts/$t/$artifact\`)"; fi
    name="\`$t\`"
    [[ ",$features," == *,full,* ]] && name="$name (*full*)"
    results+=("$(printf '| %s | %s s | %s | %s | %s | %s | %s | %s |' "$name" "$secs" \
        "$(commas "$runs")" "$(commas "$execs")" "$(commas "$cov")" "$(commas "$corpus")" "$slow" "$crash_cell")")
done

echo "# scripts/fuzz.sh $secs, $(date -u +%F), commit $(git -C "$root" rev-parse --short HEAD), sanitizer $sanitizer${features:+, features $features}${FUZZ_ARGS:+, FUZZ_ARGS=$FUZZ_ARGS}"
echo
echo "| target | time | runs | exec/s | coverage (edges) | corpus | slowest input | crashes |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${results[@]}"
echo "(logs: fuzz/logs/<target>.log)" >&2
exit "$failed"
