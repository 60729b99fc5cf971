#!/usr/bin/env bash
# Bytes the `pack` stage's replay (the documents the engine keeps between
# its observe and decide phases) takes for the quickstart, before and after
# issue 15 (acceptance 4: at least 3x fewer).
#
#   stages/tokens/scripts/replay_bytes.sh BEFORE_BIN AFTER_BIN [WORKDIR]
#
# Runs recipes/quickstart.yaml phase by phase with each binary up to the
# end of pack's observe phase (the replay is deleted once decided), prints
# the size of OUT/_sluice/replay/shards/*-docs.bin.zst, then finishes the
# run (QUICKSTART_TRAIN_STEPS=1 keeps the training step short).
set -euo pipefail
BEFORE=$1
AFTER=$2
WORK=${3:-$(mktemp -d)}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$ROOT"
export QUICKSTART_TRAIN_STEPS=${QUICKSTART_TRAIN_STEPS:-1}
measure() {
  local bin=$1 out=$2
  rm -rf "$out"
  # the phase whose stream ends in pack's observe: "sN ... shards"
  local observe
  observe=$("$bin" phases recipes/quickstart.yaml | awk '$1 ~ /^[0-9]+$/ && $2 ~ /^s[0-9]+$/ && $NF == "shards" {print $1}')
  for p in $(seq 0 "$observe"); do
    "$bin" run recipes/quickstart.yaml --output "$out" --phase "$p" --progress off >/dev/null
  done
  local bytes
  bytes=$(cat "$out"/_sluice/replay/shards/*-docs.bin.zst | wc -c)
  "$bin" run recipes/quickstart.yaml --output "$out" --progress off >/dev/null
  echo "$bytes"
}
B=$(measure "$BEFORE" "$WORK/before")
A=$(measure "$AFTER" "$WORK/after")
echo "pack replay bytes: before $B, after $A, ratio $(python3 -c "print(f'{$B / $A:.1f}')")x"
# The two runs' outputs must be the same: every file but report.html, the
# engine's internals (_sluice/) and the model (train/); stats.json without
# its timings.
python3 - "$WORK/before" "$WORK/after" <<'PY'
import json, os, sys
a, b = sys.argv[1], sys.argv[2]
def files(root):
    out = set()
    for d, _, fs in os.walk(root):
        for f in fs:
            r = os.path.relpath(os.path.join(d, f), root)
            if r.startswith(("_sluice/", "train/")) or r == "report.html":
                continue
            out.add(r)
    return out
def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if not (k.endswith("secs") or k.endswith("seconds") or k in ("timings", "started", "finished"))}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v
fa, fb = files(a), files(b)
bad = sorted(fa ^ fb)
for r in sorted(fa & fb):
    x, y = open(os.path.join(a, r), "rb").read(), open(os.path.join(b, r), "rb").read()
    if x != y and not (r.endswith(".json") and strip(json.loads(x)) == strip(json.loads(y))):
        bad.append(r)
print(f"compared {len(fa & fb)} files: {'identical' if not bad else 'DIFFER: ' + ', '.join(bad)}")
sys.exit(1 if bad else 0)
PY
