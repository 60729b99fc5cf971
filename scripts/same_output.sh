#!/usr/bin/env bash
# Same output, byte for byte: run every recipe in recipes/ and tests/recipes/
# with two sluice binaries ("before" and "after") and compare what they wrote.
#
#   scripts/same_output.sh --before BIN --after BIN [options]
#   scripts/same_output.sh --before-ref GITREF --after target/release/sluice
#
# Options:
#   --before BIN / --after BIN   the two sluice binaries
#   --before-ref REF / --after-ref REF
#                        build that git ref instead (a temporary `git worktree`,
#                        `cargo build --release --locked` into a cache outside
#                        the repository: $SAME_OUTPUT_CACHE, default
#                        ~/.cache/sluice-same-output; one binary per commit,
#                        reused on the next run)
#   --threads T          `sluice run --threads T` for both (default 2)
#   --tasks N            `sluice run --tasks N` for both (default 1)
#   --before-root DIR    run the before side's recipes from this checkout (a
#                        `git worktree` of the before commit), for a change that
#                        also changes a recipe's options
#   --only NAME[,NAME]   run only these recipes (names as in the table, e.g.
#                        fineweb,tests-slurm)
#   --work DIR           keep the outputs and logs in DIR (default: a temporary
#                        directory, removed at the end unless --keep)
#   --keep               keep the temporary directory
#   --reuse-before       with --work: do not rerun a recipe with the before
#                        binary when DIR holds its output from the same binary
#                        (sha256), recipe file, --threads, --tasks and crate
#                        and doc directories (the quickstart's input)
#   --compare-only       with --work: compare the outputs already in DIR
#                        (DIR/before, DIR/after) without running anything
#   --ignore-key KEY     also drop this JSON key before comparing (repeatable)
#
# Both binaries run the recipes of THIS checkout, from its root, with the same
# environment (env -i: PATH, HOME, CARGO_HOME and the variables below only),
# one after the other, into the same output path (moved aside after each
# run), so absolute paths written into outputs are the same on both sides.
# Environment given to every run (shrinks the slow parts, same on both sides):
#   SLUICE_DATA=$SLUICE_TEST_DATA (default ../shared/data)
#   QUICKSTART_MAX_FILES=500      (recipes/quickstart.yaml reads 500 files per
#                                  reader instead of 2000)
#   QUICKSTART_TRAIN_STEPS=4      (its `train:` section trains 4 steps, not 200)
#   REFERENCE_LM_STEPS=1          (recipes/reference-lm.yaml trains 1 step of
#                                  `small`, not 250; no recipe switch turns
#                                  training off, so it runs and is compared)
#   OUT, SLUICE_OUT = the output directory; every other SLUICE_*/QUICKSTART_*
#   switch is unset, so the optional perplexity stages stay disabled.
#
# Compared, per recipe, every file both runs wrote (union of both sides):
#   - byte for byte: documents (JSONL/Parquet writers), excluded/, shards/
#     (.bin, .bounds, manifest.json, tokenizer.json), tokenizer/, reports/,
#     decontam index, train/ (checkpoints, configs), _sluice/ bookkeeping
#     (recipe.json, run.json, phases.json, tasks/*.done, errors/*.jsonl);
#   - a .json/.jsonl file whose bytes differ is parsed and compared again
#     without the timing keys: wall_secs, cpu_secs, task_wall_secs (stats.json
#     and _sluice/stats/**), train_seconds (reports/tokenizer/tokenizer.json,
#     classifier_train.json), sgd_seconds (classifier_train.json),
#     tokens_per_s (train/metrics.jsonl). Nothing else is dropped.
# Not compared:
#   - report.html (it prints timings; it is rendered from the files above);
#   - _sluice/global/** (spill and replay files of the global stages between
#     their phases: internal, their format may change; their total size on
#     each side is printed, for the replay-size acceptance point).
# A file present on one side only is a difference. Exits 1 on any difference
# or failed run, 2 on a usage error.
set -euo pipefail

die() {
    echo "same_output.sh: $*" >&2
    exit 2
}

root="$(cd "$(dirname "$0")/.." && pwd)"
before="" after="" before_ref="" after_ref="" before_root="" threads=2 tasks=1 only="" work="" keep=0 reuse=0 compare_only=0
ignore_keys=()
while [ $# -gt 0 ]; do
    case "$1" in
    --before) before="${2:?--before needs a path}"; shift 2 ;;
    --after) after="${2:?--after needs a path}"; shift 2 ;;
    --before-ref) before_ref="${2:?--before-ref needs a git ref}"; shift 2 ;;
    --after-ref) after_ref="${2:?--after-ref needs a git ref}"; shift 2 ;;
    --threads) threads="${2:?}"; shift 2 ;;
    --tasks) tasks="${2:?}"; shift 2 ;;
    --only) only="${2:?}"; shift 2 ;;
    --before-root) before_root="$(cd "${2:?}" && pwd)"; shift 2 ;;
    --work) work="${2:?}"; shift 2 ;;
    --keep) keep=1; shift ;;
    --reuse-before) reuse=1; shift ;;
    --compare-only) compare_only=1; shift ;;
    --ignore-key) ignore_keys+=("${2:?}"); shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
    esac
done
case "$threads" in '' | *[!0-9]* | 0) die "--threads takes a positive integer, got '$threads'" ;; esac
case "$tasks" in '' | *[!0-9]* | 0) die "--tasks takes a positive integer, got '$tasks'" ;; esac
if [ "$reuse" = 1 ] || [ "$compare_only" = 1 ]; then
    [ -n "$work" ] || die "--reuse-before and --compare-only need --work DIR"
fi
if [ "$compare_only" = 0 ]; then
    [ -n "$before" ] || [ -n "$before_ref" ] || die "give --before BIN or --before-ref GITREF"
    [ -n "$after" ] || [ -n "$after_ref" ] || die "give --after BIN or --after-ref GITREF"
fi
[ -z "$before" ] || [ -z "$before_ref" ] || die "give only one of --before and --before-ref"
[ -z "$after" ] || [ -z "$after_ref" ] || die "give only one of --after and --after-ref"
command -v python3 >/dev/null || die "python3 is needed for the comparison"

data="${SLUICE_TEST_DATA:-${SLUICE_DATA:-$root/../shared/data}}"
[ -f "$data/README.md" ] || die "the shared test data is missing at $data (set SLUICE_TEST_DATA)"
data="$(cd "$data" && pwd)"

# Build a git ref once into the cache; prints the binary's path.
build_ref() {
    local ref="$1" sha cache bin tree
    sha="$(git -C "$root" rev-parse --verify "$ref^{commit}" 2>/dev/null)" || die "not a commit: $ref"
    cache="${SAME_OUTPUT_CACHE:-$HOME/.cache/sluice-same-output}"
    bin="$cache/bin/sluice-$sha"
    if [ ! -x "$bin" ]; then
        mkdir -p "$cache/bin"
        tree="$(mktemp -d "$cache/tree-XXXXXX")"
        echo "building $ref ($sha) in a temporary worktree $tree" >&2
        git -C "$root" worktree add --detach --quiet "$tree" "$sha" >&2
        if ! (cd "$tree" && CARGO_TARGET_DIR="$cache/target" cargo build --release --locked --quiet >&2); then
            git -C "$root" worktree remove --force "$tree" >&2 || true
            die "cargo build --release of $ref failed"
        fi
        cp "$cache/target/release/sluice" "$bin.tmp" && mv "$bin.tmp" "$bin"
        git -C "$root" worktree remove --force "$tree" >&2
    fi
    echo "$bin"
}
if [ "$compare_only" = 1 ]; then
    [ -f "$work/timings.tsv" ] && [ -d "$work/before" ] && [ -d "$work/after" ] ||
        die "--compare-only: no earlier outputs in $work (before/, after/, timings.tsv)"
    work="$(cd "$work" && pwd)"
    start=$(date +%s.%N)
    timings="$work/timings.tsv"
    if [ -n "$only" ]; then
        awk -F'\t' -v only=",$only," 'index(only, "," $1 ",")' "$timings" >"$work/timings-only.tsv"
        timings="$work/timings-only.tsv"
    fi
else
[ -z "$before_ref" ] || before="$(build_ref "$before_ref")"
[ -z "$after_ref" ] || after="$(build_ref "$after_ref")"
for b in "$before" "$after"; do
    [ -x "$b" ] || die "not an executable: $b"
done
before="$(cd "$(dirname "$before")" && pwd)/$(basename "$before")"
after="$(cd "$(dirname "$after")" && pwd)/$(basename "$after")"

if [ -z "$work" ]; then
    work="$(mktemp -d "${TMPDIR:-/tmp}/sluice-same-output-XXXXXX")"
    [ "$keep" = 1 ] || trap 'rm -rf "$work"' EXIT
else
    mkdir -p "$work"
    work="$(cd "$work" && pwd)"
fi
mkdir -p "$work/logs" "$work/stamps"
[ "$reuse" = 1 ] || rm -rf "$work/before" "$work/stamps"/*
rm -rf "$work/after" "$work/run"
mkdir -p "$work/before" "$work/after" "$work/stamps"
before_sha="$(sha256sum "$before" | cut -d' ' -f1)"
# recipes/quickstart.yaml samples files from these trees: a crate that a build
# downloaded in between would change its input, so --reuse-before checks them
inputs_sha="$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/src/* /usr/share/doc 2>/dev/null | sha256sum | cut -c1-16)"

# The recipes: name -> file.
recipes=()
for f in "$root"/recipes/*.yaml "$root"/tests/recipes/*.yaml; do
    [ -f "$f" ] || continue
    rel="${f#"$root"/}"
    name="$(basename "$f" .yaml)"
    case "$rel" in tests/recipes/*) name="tests-$name" ;; esac
    if [ -n "$only" ] && [[ ",$only," != *",$name,"* ]]; then continue; fi
    recipes+=("$name=$rel")
done
[ ${#recipes[@]} -gt 0 ] || die "no recipe selected (recipes/*.yaml, tests/recipes/*.yaml, --only '$only')"

echo "before: $before"
echo "after:  $after"
echo "recipes: ${#recipes[@]}; --threads $threads --tasks $tasks; data $data; work $work"
start=$(date +%s.%N)
timings="$work/timings.tsv"
: >"$timings"
for entry in "${recipes[@]}"; do
    name="${entry%%=*}" rel="${entry#*=}"
    for side in before after; do
        bin="$before"
        [ "$side" = before ] || bin="$after"
        stamp="$before_sha $(sha256sum "$root/$rel" | cut -d' ' -f1) threads=$threads tasks=$tasks data=$data inputs=$inputs_sha"
        if [ "$side" = before ] && [ "$reuse" = 1 ] && [ -d "$work/before/$name" ] &&
            [ "$(cat "$work/stamps/$name" 2>/dev/null)" = "$stamp" ]; then
            printf '%s\t%s\t%s\t%s\n' "$name" "$side" 0 reused >>"$timings"
            echo "  $name: before reused from $work/before/$name"
            continue
        fi
        rm -rf "${work:?}/$side/$name"
        [ "$side" = after ] || rm -f "$work/stamps/$name"
        out="$work/run/$name"
        rm -rf "$work/run"
        mkdir -p "$work/run"
        t0=$(date +%s.%N)
        rc=0
        side_root="$root"
        [ "$side" = before ] && [ -n "$before_root" ] && side_root="$before_root"
        (cd "$side_root" && env -i PATH="$PATH" HOME="$HOME" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" LANG=C.UTF-8 \
            SLUICE_DATA="$data" OUT="$out" SLUICE_OUT="$out" \
            QUICKSTART_MAX_FILES=500 QUICKSTART_TRAIN_STEPS=4 REFERENCE_LM_STEPS=1 \
            "$bin" run --progress off --threads "$threads" --tasks "$tasks" --output "$out" "$rel") \
            >"$work/logs/$side-$name.log" 2>&1 || rc=$?
        t1=$(date +%s.%N)
        secs=$(python3 -c "print(f'{$t1 - $t0:.1f}')")
        printf '%s\t%s\t%s\t%s\n' "$name" "$side" "$rc" "$secs" >>"$timings"
        if [ "$rc" != 0 ]; then
            echo "  $name: $side FAILED (exit $rc), log: $work/logs/$side-$name.log" >&2
            tail -5 "$work/logs/$side-$name.log" | sed 's/^/    /' >&2
        else
            echo "  $name: $side ok (${secs} s)"
        fi
        if [ -d "$out" ]; then mv "$out" "$work/$side/$name"; else mkdir -p "$work/$side/$name"; fi
        if [ "$side" = before ] && [ "$rc" = 0 ]; then echo "$stamp" >"$work/stamps/$name"; fi
    done
done
rm -rf "$work/run"
fi

status=0
python3 - "$work" "$timings" "${ignore_keys[@]+"${ignore_keys[@]}"}" <<'PY' || status=$?
import fnmatch, json, os, sys

work, timings, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
TIMING_KEYS = {"wall_secs", "cpu_secs", "task_wall_secs", "train_seconds", "sgd_seconds", "tokens_per_s"} | set(extra)
IGNORED = ["report.html"]
INTERNAL = ["_sluice/global/*"]

def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k not in TIMING_KEYS}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v

def parse(path, data):
    text = data.decode("utf-8")
    if path.endswith(".jsonl"):
        return [json.loads(line) for line in text.split("\n") if line.strip()]
    return json.loads(text)

def json_diff(a, b, where="", out=None):
    out = [] if out is None else out
    if len(out) >= 3:
        return out
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{where}.{k} only in {'after' if k in b else 'before'}")
            else:
                json_diff(a[k], b[k], f"{where}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            json_diff(x, y, f"{where}[{i}]", out)
    elif a != b:
        sa, sb = json.dumps(a)[:60], json.dumps(b)[:60]
        out.append(f"{where or '.'}: {sa} != {sb}")
    return out

def files(d):
    out = {}
    for r, _, fs in os.walk(d):
        for f in fs:
            p = os.path.join(r, f)
            out[os.path.relpath(p, d)] = p
    return out

runs = {}
for line in open(timings):
    name, side, rc, secs = line.rstrip("\n").split("\t")
    runs.setdefault(name, {})[side] = (int(rc), secs)

rows, details, any_diff = [], [], False
for name in runs:
    b, a = files(os.path.join(work, "before", name)), files(os.path.join(work, "after", name))
    compared = identical = normalized = ignored = 0
    differ = []
    gb = ga = 0
    for rel in sorted(set(b) | set(a)):
        if any(fnmatch.fnmatch(rel, g) for g in INTERNAL):
            gb += os.path.getsize(b[rel]) if rel in b else 0
            ga += os.path.getsize(a[rel]) if rel in a else 0
            ignored += 1
            continue
        if rel in IGNORED:
            ignored += 1
            continue
        compared += 1
        if rel not in b or rel not in a:
            differ.append((rel, f"only in {'after' if rel in a else 'before'}"))
            continue
        db, da = open(b[rel], "rb").read(), open(a[rel], "rb").read()
        if db == da:
            identical += 1
            continue
        if rel.endswith((".json", ".jsonl")):
            try:
                jb, ja = strip(parse(rel, db)), strip(parse(rel, da))
            except (ValueError, UnicodeDecodeError) as e:
                differ.append((rel, f"not JSON: {e}"))
                continue
            if jb == ja:
                normalized += 1
                continue
            differ.append((rel, "; ".join(json_diff(jb, ja))))
            continue
        off = next((i for i, (x, y) in enumerate(zip(db, da)) if x != y), min(len(db), len(da)))
        differ.append((rel, f"{len(db)} vs {len(da)} bytes, first difference at byte {off}"))
    rb, ra = runs[name].get("before", (-1, "?")), runs[name].get("after", (-1, "?"))
    failed = rb[0] != 0 or ra[0] != 0
    if failed or differ or compared == 0:
        any_diff = True
    state = "FAILED RUN" if failed else ("DIFFER" if differ else ("NO FILES" if compared == 0 else "same"))
    n_int = sum(d[0].startswith("_sluice/") for d in differ)
    rows.append((name, f"{rb[1]}/{ra[1]}", compared, identical, normalized, f"{len(differ)} ({n_int})", ignored, f"{gb}/{ga}", state))
    # outputs first; _sluice/ bookkeeping (resume markers, per-task stats) capped
    outputs = [d for d in differ if not d[0].startswith("_sluice/")]
    internal = [d for d in differ if d[0].startswith("_sluice/")]
    for rel, why in outputs + internal[:5]:
        details.append(f"  {name}: {rel}: {why}")
    if len(internal) > 5:
        details.append(f"  {name}: ... and {len(internal) - 5} more files under _sluice/")
    if failed:
        details.append(f"  {name}: exit status before {rb[0]}, after {ra[0]} (logs in {work}/logs)")

head = ("recipe", "run s before/after", "files compared", "identical", "identical w/o timings", "differing (under _sluice/)", "not compared", "_sluice/global bytes before/after", "")
print()
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for r in rows:
    print("| " + " | ".join(str(x) for x in r) + " |")
print()
print("ignored JSON keys: " + ", ".join(sorted(TIMING_KEYS)) + "; not compared: report.html, _sluice/global/**")
if details:
    print("differences:")
    print("\n".join(details))
sys.exit(1 if any_diff else 0)
PY
end=$(date +%s.%N)
echo "total: $(python3 -c "print(f'{$end - $start:.0f}')") s wall"
if [ "$status" = 0 ]; then echo "SAME OUTPUT"; else echo "DIFFERENT OUTPUT (or a failed run)"; fi
exit "$status"
