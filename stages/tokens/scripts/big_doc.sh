#!/usr/bin/env bash
# Peak memory of one huge document through `tokenizer_train` (tokenize: true)
# and `pack` (issue 21, acceptance 3): the run must stay under 1 GiB RSS.
#
#   stages/tokens/scripts/big_doc.sh [CHARS] [WORKDIR]
#
# CHARS (default 200000000) is the document's length: one JSONL line of
# English-like words. Builds the release `sluice` (unless SLUICE_BIN is set),
# runs the recipe below with --threads 2 --tasks 1 under `/usr/bin/time -v`,
# prints the peak RSS and exits 1 when it is 1 GiB or more (LIMIT_KB
# overrides the limit).
set -euo pipefail
CHARS=${1:-200000000}
WORK=${2:-$(mktemp -d)}
LIMIT_KB=${LIMIT_KB:-1048576}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
if [ -z "${SLUICE_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release --bin sluice >&2)
  SLUICE_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/sluice"
fi
mkdir -p "$WORK/in"
python3 - "$CHARS" "$WORK/in/big.jsonl" <<'PY'
import json, random, sys
n, path = int(sys.argv[1]), sys.argv[2]
random.seed(1)
words = ("the river flows under a bridge of stone and light where old boats rest in rain "
         "while people walk along banks talking about weather markets music books history").split()
parts, size = [], 0
while size < n:
    w = random.choice(words) + ("\n" if random.random() < 0.02 else " ")
    parts.append(w)
    size += len(w)
text = "".join(parts)[:n]
with open(path, "w") as f:
    f.write(json.dumps({"id": "big", "text": text}))
    f.write("\n")
    for i in range(100):
        f.write(json.dumps({"id": f"small-{i}", "text": " ".join(random.choice(words) for _ in range(200))}) + "\n")
PY
cat > "$WORK/recipe.yaml" <<YAML
description: one huge document through tokenizer_train and pack
seed: 1
output: $WORK/out
readers:
  big:
    kind: jsonl
    paths: ["$WORK/in"]
    max_line_bytes: 512MiB
stages:
  tokenizer:
    kind: tokenizer_train
    inputs: [big]
    vocab_size: 4096
    sample_bytes_per_source: 1MB
    tokenize: true
  shards:
    kind: pack
    inputs: [tokenizer]
    tokenizer_from: tokenizer
    seq_len: 1024
    val_fraction: 0.01
writers:
  kept:
    kind: jsonl
    inputs: [shards]
YAML
rm -rf "$WORK/out"
/usr/bin/time -v "$SLUICE_BIN" run "$WORK/recipe.yaml" --threads 2 --tasks 1 >"$WORK/run.log" 2>"$WORK/time.log" || {
  cat "$WORK/run.log" "$WORK/time.log" >&2
  exit 2
}
KB=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.log")
SECS=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/time.log")
CUT=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['documents_cut'])" "$WORK/out/reports/tokenizer/tokenizer.json")
TOKENS=$(python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(sum(s['tokens'] for s in m['shards']))" "$WORK/out/shards/manifest.json")
echo "document: $CHARS characters; shards: $TOKENS tokens; documents cut for the tokenizer sample: $CUT"
echo "peak RSS: $KB kB ($((KB / 1024)) MiB), wall $SECS, limit $LIMIT_KB kB"
[ "$KB" -lt "$LIMIT_KB" ]
