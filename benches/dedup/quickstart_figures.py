#!/usr/bin/env python3
"""What the dedup and safety stages do in the quickstart, and what they cost
(`scripts/figures.sh safety_dedup_quickstart`).

    cargo build --release
    python3 benches/dedup/quickstart_figures.py [--sluice target/release/sluice]

Runs `sluice run recipes/quickstart.yaml` once, data side only
(QUICKSTART_TRAIN_STEPS=0), into a scratch output directory, and prints from
its stats.json and reports: the documents each dedup stage saw and removed,
its clusters and largest cluster; the PII values scrubbed and the documents
marked toxic; each of these stages' CPU seconds as sluice records them per
node (thread CPU time inside the stage) and its MB of input text per
CPU-second; and the whole process's wall time, CPU time (user + sys of the
child) and peak RSS.
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "sluice"))
    args = ap.parse_args()
    if not os.path.exists(args.sluice):
        sys.exit(f"not found: {args.sluice} (cargo build --release)")
    tmp = tempfile.mkdtemp(prefix="sluice-qs-dedup-fig-", dir=os.environ.get("TMPDIR", "/tmp"))
    try:
        out = os.path.join(tmp, "out")
        env = dict(os.environ, SLUICE_OUT=out, QUICKSTART_TRAIN_STEPS="0")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        p = subprocess.run([args.sluice, "run", "--progress", "off", os.path.join(ROOT, "recipes", "quickstart.yaml")],
                           cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if p.returncode != 0:
            sys.stderr.write(p.stderr)
            sys.exit(f"sluice run recipes/quickstart.yaml failed ({p.returncode})")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        rss = after.ru_maxrss / 1024
        stats = json.load(open(os.path.join(out, "stats.json")))
        nodes = {n["name"]: n for n in stats["nodes"]}
        readers = [n for n in stats["nodes"] if (n.get("role") or "").lower() == "reader"]

        def report(name):
            return json.load(open(os.path.join(out, "reports", name, "clusters.json")))

        def first_line(d):
            return next((line.strip() for line in d["text"].splitlines() if line.strip()), "")[:60]

        print("quickstart, data side only (QUICKSTART_TRAIN_STEPS=0), sluice run as one process:")
        print(f"  read {sum(n['docs_out'] for n in readers):,} documents ({sum(n['bytes_out'] for n in readers) / 1e6:.1f} MB); "
              f"past the length filter {nodes['length']['docs_out']:,}; past gopher_repetition {nodes['gopher_repetition']['docs_out']:,}")
        print(f"  whole run: {wall:.1f} s wall, {cpu:.1f} CPU-s (user + sys), peak RSS {rss:.0f} MiB")
        for name in ("exact", "minhash"):
            r, n = report(name), nodes[name]
            big = r["largest"][0] if r.get("largest") else None
            big_s = f"; largest cluster {big['size']} documents, kept: {big['kept']['id'].split('/')[-2:]} ({first_line(big['kept'])!r})" if big else ""
            print(f"  {name} ({n['kind']}): {r['documents']:,} documents in, {r['removed']:,} removed, {r['clusters']:,} clusters{big_s}")
        print("  per-stage CPU (stats.json cpu_secs; MB = the stage's input text):")
        for name in ("exact", "minhash", "toxicity", "pii"):
            n = nodes[name]
            mb = n["bytes_in"] / 1e6
            print(f"    {name:8} {n['docs_in']:>6,} documents, {mb:6.1f} MB, {n['cpu_secs']:.2f} CPU-s, {mb / max(n['cpu_secs'], 1e-9):6.1f} MB per CPU-second")
        sums = nodes["pii"].get("sums", {})
        print(f"  pii: {int(sum(sums.values())):,} values scrubbed: " + ", ".join(f"{k[4:]} {int(v):,}" for k, v in sorted(sums.items(), key=lambda kv: -kv[1])))
        print(f"  toxicity (annotate_only): {int(nodes['toxicity'].get('sums', {}).get('toxicity_flagged', 0)):,} of {nodes['toxicity']['docs_in']:,} documents flagged")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
