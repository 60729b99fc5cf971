#!/usr/bin/env bash
# Peak memory of one reader fanned out to N writers (issue 21, hole 8).
#
#   stages/writers/scripts/fanout_memory.sh [SLUICE_BINARY] [N] [KIND]
#
# KIND is `jsonl` (default), `parquet`, or `passthrough` (N passthrough
# stages feeding one jsonl writer: the engine's cost per node, without a
# writer's). The input is 20 small JSONL documents, so every writer
# receives a little and holds whatever an idle writer holds. Prints the
# peak RSS (GNU time's "Maximum resident set size") and the per-node share
# over a 1-node run.
set -euo pipefail
BIN=${1:-target/release/sluice}
N=${2:-10000}
KIND=${3:-jsonl}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

for i in $(seq 1 20); do
  printf '{"id": "d%d", "text": "document number %d, a few words of text to write %d times"}\n' "$i" "$i" "$N"
done >"$WORK/in.jsonl"

recipe() { # recipe FILE NODES
  local n=$2
  {
    echo "output: $WORK/out-$n"
    echo "readers:"
    echo "  src: {kind: jsonl, paths: [\"$WORK/in.jsonl\"]}"
    if [ "$KIND" = passthrough ]; then
      echo "stages:"
      for i in $(seq 1 "$n"); do echo "  p$i: {kind: passthrough, inputs: [src]}"; done
      echo "writers:"
      printf '  w: {kind: jsonl, inputs: [%s]}\n' "$(seq -s, -f 'p%g' 1 "$n")"
    else
      echo "writers:"
      for i in $(seq 1 "$n"); do echo "  w$i: {kind: $KIND, inputs: [src]}"; done
    fi
  } >"$1"
}

peak_kb() { # peak_kb RECIPE
  /usr/bin/time -v "$BIN" run "$1" >"$WORK/log" 2>&1 || { tail -20 "$WORK/log"; exit 1; }
  awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$WORK/log"
}

recipe "$WORK/one.yaml" 1
recipe "$WORK/many.yaml" "$N"
one=$(peak_kb "$WORK/one.yaml")
many=$(peak_kb "$WORK/many.yaml")
echo "kind=$KIND nodes=$N peak_rss_1=${one}KiB peak_rss_N=${many}KiB per_node=$(( (many - one) / N ))KiB"
