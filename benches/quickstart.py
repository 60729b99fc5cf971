#!/usr/bin/env python3
"""The README's quickstart row: `sluice run recipes/quickstart.yaml` as one
process into a fresh output directory, and what it did.

    cargo build --release
    python3 benches/quickstart.py [--sluice target/release/sluice] [--train-steps 200]

Prints the input (files, MB of text read), the documents kept by each writer,
the token count of the shards, wall time, user+sys CPU time and the child's
peak RSS, once with training (`QUICKSTART_TRAIN_STEPS`, default the recipe's
200) and the data side alone (`QUICKSTART_TRAIN_STEPS=0` skips training where
the binary supports it; otherwise the row says so).
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def run(binary, out, steps):
    env = dict(os.environ, SLUICE_OUT=out)
    if steps is not None:
        env["QUICKSTART_TRAIN_STEPS"] = str(steps)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    p = subprocess.run([binary, "run", "--progress", "off", os.path.join(ROOT, "recipes", "quickstart.yaml")],
                       env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return p, wall, cpu, after.ru_maxrss / 1024


def describe(out):
    stats = json.load(open(os.path.join(out, "stats.json")))
    role = lambda n: (n.get("role") or "").lower()
    readers = [n for n in stats["nodes"] if role(n) == "reader"]
    docs_in = sum(n["docs_out"] for n in readers)
    bytes_in = sum(n["bytes_out"] for n in readers)
    writers = {n["name"]: n["docs_in"] for n in stats["nodes"] if role(n) == "writer"}
    return docs_in, bytes_in, writers, stats


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "sluice"))
    ap.add_argument("--train-steps", type=int, default=None, help="QUICKSTART_TRAIN_STEPS for the full run (default: the recipe's)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sluice-quickstart-fig-")
    try:
        for label, steps in (("data side only (QUICKSTART_TRAIN_STEPS=0)", 0), ("whole quickstart", args.train_steps)):
            out = os.path.join(tmp, "out")
            shutil.rmtree(out, ignore_errors=True)
            p, wall, cpu, rss = run(args.sluice, out, steps)
            if p.returncode != 0:
                print(f"{label}: failed ({p.returncode}): {p.stderr.strip().splitlines()[-1] if p.stderr.strip() else ''}")
                continue
            docs_in, bytes_in, writers, _ = describe(out)
            kept = ", ".join(f"{k} {v:,}" for k, v in sorted(writers.items()))
            print(f"{label}: {docs_in:,} documents ({bytes_in / 1e6:.1f} MB) read, kept: {kept}; "
                  f"{wall:.1f} s wall, {cpu:.1f} CPU-s, peak RSS {rss:.0f} MiB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
