#!/usr/bin/env python3
"""Compare sluice-quality's FineWeb filter chain with datatrove's, on the same input.

Usage (from the repository root):

    python3 -m venv .venv && .venv/bin/pip install "datatrove[processing]==0.10.1" spacy
    cargo build --release -p sluice-quality --example quality_eval
    .venv/bin/python benches/quality/compare_datatrove.py [--data DIR] [--input FILE]
        [--bin PATH] [--min-mb 300] [--dt-repeat 1] [--verbose]

Both sides run GopherRepetitionFilter -> GopherQualityFilter -> C4QualityFilter ->
FineWebQualityFilter with datatrove's default arguments, single-threaded, over the
same documents (default: web/cc-main-2019-30.sample.jsonl.gz in the shared data).

Agreement: each filter is run *alone* on every document's original text on both
sides, and the keep/drop decisions (and, for drops, the reason) are compared per
document; then the chain's outcome (which filter dropped the document, or kept) is
compared. Speed: text bytes entering the chain per second of one core's CPU time
(thread CPU time on both sides, so other load on the machine counts least). Our binary
times its chain over the input repeated to --min-mb MB; datatrove's loop is timed
here over --dt-repeat passes (it runs at ~0.2 MB/s, so one pass of the 2.5 MB sample
is enough). The ratio is ours / datatrove's.
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))

# our reason -> datatrove's reason, per filter
PREFIX = {"gopher_repetition": "gopher_", "gopher_quality": "", "c4": "c4_", "fineweb": "fineweb_"}


def load(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get("SLUICE_DATA", os.path.join(ROOT, "..", "shared", "data")))
    ap.add_argument("--input", default=None)
    ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "examples", "quality_eval"))
    ap.add_argument("--min-mb", type=float, default=300)
    ap.add_argument("--dt-repeat", type=int, default=1)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    path = args.input or os.path.join(args.data, "web", "cc-main-2019-30.sample.jsonl.gz")
    if not os.path.exists(path):
        sys.exit(f"input not found: {path} (set --data or SLUICE_DATA)")
    if not os.path.exists(args.bin):
        sys.exit(f"binary not found: {args.bin}; run: cargo build --release -p sluice-quality --example quality_eval")

    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    rows = load(path)
    filters = [
        ("gopher_repetition", GopherRepetitionFilter()),
        ("gopher_quality", GopherQualityFilter()),
        ("c4", C4QualityFilter()),
        ("fineweb", FineWebQualityFilter()),
    ]

    def verdict(f, doc):
        r = f.filter(doc)
        if r is True:
            return None
        if isinstance(r, tuple):
            return r[1]
        return "dropped"

    # datatrove, each filter alone
    dt = []
    for row in rows:
        out = {"id": row["id"]}
        for name, f in filters:
            out[name] = verdict(f, Document(text=row["text"], id=row["id"], metadata={}))
        doc = Document(text=row["text"], id=row["id"], metadata={})
        out["chain"] = None
        for name, f in filters:
            v = verdict(f, doc)
            if v is not None:
                out["chain"] = f"{name}:{v}"
                break
        dt.append(out)

    # datatrove, timing of the chain
    total_bytes = 0
    t0 = time.perf_counter()
    c0 = time.thread_time()
    for _ in range(args.dt_repeat):
        for row in rows:
            doc = Document(text=row["text"], id=row["id"], metadata={})
            total_bytes += len(row["text"].encode("utf-8"))
            for _, f in filters:
                if f.filter(doc) is not True:
                    break
    dt_wall = time.perf_counter() - t0
    dt_cpu = time.thread_time() - c0
    dt_mbps = total_bytes / 1e6 / dt_cpu

    # ours
    with tempfile.TemporaryDirectory() as tmp:
        dump = os.path.join(tmp, "ours.jsonl")
        res = subprocess.run([args.bin, path, "--dump", dump, "--min-mb", str(args.min_mb)], check=True, capture_output=True, text=True)
        timing = json.loads(res.stdout.strip().splitlines()[-1])
        ours = [json.loads(line) for line in open(dump)]
    assert [o["id"] for o in ours] == [d["id"] for d in dt], "documents differ"

    def norm(name, r):
        if r is None:
            return None
        p = PREFIX[name]
        return r[len(p):] if p and r.startswith(p) else r

    n = len(rows)
    print(f"input: {path} ({n} documents, {sum(len(r['text'].encode()) for r in rows) / 1e6:.2f} MB)")
    print()
    print("| filter (alone) | datatrove kept | sluice kept | keep/drop agreement | same reason |")
    print("|---|---|---|---|---|")
    for name, _ in filters:
        dk = sum(d[name] is None for d in dt)
        ok = sum(o[name] is None for o in ours)
        agree = sum((d[name] is None) == (o[name] is None) for d, o in zip(dt, ours))
        same = sum(d[name] == norm(name, o[name]) for d, o in zip(dt, ours))
        print(f"| {name} | {dk} | {ok} | {agree}/{n} ({agree / n:.1%}) | {same}/{n} |")
    dk = sum(d["chain"] is None for d in dt)
    ok = sum(o["chain"] is None for o in ours)
    agree = sum((d["chain"] is None) == (o["chain"] is None) for d, o in zip(dt, ours))

    def chain_norm(c):
        if c is None:
            return None
        name, r = c.split(":", 1)
        return f"{name}:{norm(name, r)}"

    same = sum(d["chain"] == chain_norm(o["chain"]) for d, o in zip(dt, ours))
    print(f"| **chain** | {dk} | {ok} | {agree}/{n} ({agree / n:.1%}) | {same}/{n} |")
    print()
    if args.verbose:
        for d, o in zip(dt, ours):
            for name, _ in filters:
                if (d[name] is None) != (o[name] is None):
                    print(f"DISAGREE {name} {d['id']}: datatrove={d[name]} sluice={o[name]}")
        print()
    # both sides in thread CPU time (wall time where /proc is missing)
    ours_mbps = timing.get("mb_per_cpu_s") or timing["mb_per_s"]
    dt_wall_mbps = total_bytes / 1e6 / dt_wall
    print(f"datatrove: {total_bytes / 1e6:.2f} MB in {dt_cpu:.2f} s CPU ({dt_wall:.2f} s wall): {dt_mbps:.3f} MB/s per core ({dt_wall_mbps:.3f} wall)")
    print(f"sluice:    {timing['bytes'] / 1e6:.1f} MB in {timing.get('cpu_seconds')} s CPU ({timing['seconds']:.2f} s wall): {ours_mbps:.2f} MB/s per core ({timing['mb_per_s']:.2f} wall)")
    print(f"ratio (CPU time): {ours_mbps / dt_mbps:.0f}x; wall: {timing['mb_per_s'] / dt_wall_mbps:.0f}x")


if __name__ == "__main__":
    main()
