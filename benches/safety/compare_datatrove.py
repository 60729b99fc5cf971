#!/usr/bin/env python3
"""PII scrubbing throughput: sluice's `pii` stage against datatrove's PIIFormatter,
on the same documents, in the same run, per core.

Usage (from the repository root):

    cargo build --release -p sluice-safety --example pii_throughput
    /work/main/.venv/bin/python benches/safety/compare_datatrove.py [--input FILE] [--min-mb 50] [--dt-repeat 3]

Input: web/cc-main-2019-30.sample.jsonl.gz from the shared data (SLUICE_DATA or
--data). Our binary runs the stage single-threaded over the documents repeated to
--min-mb MB and reports its thread CPU time; datatrove's PIIFormatter.format() runs
here over --dt-repeat passes, timed with this thread's CPU time
(time.thread_time()). Two of our configurations are timed: every kind (emails,
phones, IPs, cards, IBANs, SSNs, Chinese IDs, secrets, URL credentials), and only
datatrove's two kinds (emails, public IPs) for a like-for-like ratio.
"""
import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get("SLUICE_DATA", os.path.join(ROOT, "..", "shared", "data")))
    ap.add_argument("--input", default=None)
    ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "examples", "pii_throughput"))
    ap.add_argument("--min-mb", type=float, default=50)
    ap.add_argument("--dt-repeat", type=int, default=3)
    args = ap.parse_args()
    path = args.input or os.path.join(args.data, "web", "cc-main-2019-30.sample.jsonl.gz")
    if not os.path.exists(path):
        sys.exit(f"input not found: {path} (set --data or SLUICE_DATA)")
    if not os.path.exists(args.bin):
        sys.exit(f"binary not found: {args.bin}; run: cargo build --release -p sluice-safety --example pii_throughput")

    from datatrove.pipeline.formatters import PIIFormatter

    with gzip.open(path, "rt", encoding="utf-8") as f:
        texts = [json.loads(l)["text"] for l in f if l.strip()]
    nbytes = sum(len(t.encode("utf-8")) for t in texts)

    ours = {}
    for name, extra in [("all kinds", []), ("email + ip", ["--datatrove-kinds"])]:
        out = subprocess.run([args.bin, path, "--min-mb", str(args.min_mb)] + extra, check=True, capture_output=True, text=True).stdout
        ours[name] = json.loads(out.strip().splitlines()[-1])

    fmt = PIIFormatter()
    changed = 0
    t0 = time.thread_time()
    for _ in range(args.dt_repeat):
        for t in texts:
            if fmt.format(t) != t:
                changed += 1
    dt_cpu = time.thread_time() - t0
    dt_rate = nbytes * args.dt_repeat / 1e6 / dt_cpu
    # what datatrove finds, counted with its own patterns and validator
    email_re = fmt.emails_replacer.regex
    ip_re = fmt.ip_replacer.regex
    ip_ok = fmt.ip_replacer.validator
    dt_found = sum(len(email_re.findall(t)) + sum(1 for m in ip_re.finditer(t) if ip_ok(m.group(0))) for t in texts)

    print(f"input: {path}: {len(texts)} documents, {nbytes / 1e6:.2f} MB")
    print(f"{'':<28} {'MB per CPU-s':>12} {'found/pass':>10}")
    for name, r in ours.items():
        print(f"sluice pii ({name}){'':<{15 - len(name)}} {r['mb_per_cpu_s']:>12.2f} {r['found_per_pass']:>10.0f}   ({r['bytes'] / 1e6:.0f} MB, {r['cpu_s']:.2f} CPU-s)")
    print(f"datatrove PIIFormatter{'':<6} {dt_rate:>12.2f} {dt_found:>10}   ({nbytes * args.dt_repeat / 1e6:.1f} MB, {dt_cpu:.2f} CPU-s)")
    print(f"ratio, same kinds (email + ip): {ours['email + ip']['mb_per_cpu_s'] / dt_rate:.1f}x")
    print(f"ratio, all nine kinds vs datatrove's two: {ours['all kinds']['mb_per_cpu_s'] / dt_rate:.1f}x")


if __name__ == "__main__":
    main()
