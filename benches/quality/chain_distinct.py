#!/usr/bin/env python3
"""Time the quality chain (benches/quality/chain.yaml) as whole `sluice run`
processes on input where no text repeats, for one or more sluice binaries.

    python3 benches/quality/chain_distinct.py BIN [BIN ...] [--data DIR] [--runs 3]

Why: `compare_datatrove.py` repeats the 2.9 MB CC sample to 100 MB. A build
whose filters share the word split through a process-wide cache keyed on the
text (sluice before issue 15) finds every repeated copy already split, so it
is timed on a cheaper problem than a real crawl, where texts do not repeat.
This script builds a corpus of distinct real documents instead: the CC
sample once, plus WikiText-2 and the Gutenberg novels of the shared data cut
into ~4 KB documents at paragraph boundaries (about 14 MB of text), and
prints user+sys CPU seconds per run and text MB per CPU-second for each
binary, runs interleaved.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "benches"))
import realtext  # noqa: E402


def corpus(data, dest):
    n, text_bytes = 0, 0
    with open(dest, "w", encoding="utf-8") as out:
        for doc_id, text in realtext.documents(data):
            out.write(json.dumps({"id": doc_id, "text": text}) + "\n")
            n += 1
            text_bytes += len(text.encode())
    return n, text_bytes


def run(binary, inp, out):
    env = dict(os.environ, CHAIN_INPUT=inp, OUT=out)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([binary, "run", "--threads", "1", "--progress", "off", "--output", out, os.path.join(ROOT, "benches/quality/chain.yaml")],
                   check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with open(os.path.join(out, "stats.json")) as f:
        stats = json.load(f)
    kept = next(n["docs_out"] for n in stats["nodes"] if n["name"] == "fineweb")
    return cpu, kept


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binaries", nargs="+")
    ap.add_argument("--data", default=os.environ.get("SLUICE_DATA", os.path.join(ROOT, "..", "shared", "data")))
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        inp = os.path.join(tmp, "distinct.jsonl")
        n, text_bytes = corpus(args.data, inp)
        print(f"input: {n} distinct documents, {text_bytes / 1e6:.1f} MB of text")
        cpus = {b: [] for b in args.binaries}
        kept = {}
        for _ in range(args.runs):
            for b in args.binaries:
                out = os.path.join(tmp, "out")
                subprocess.run(["rm", "-rf", out], check=True)
                c, k = run(b, inp, out)
                cpus[b].append(c)
                kept[b] = k
        for b in args.binaries:
            best = min(cpus[b])
            runs = ", ".join(f"{c:.2f}" for c in cpus[b])
            print(f"{b}: CPU s per run {runs}; best {best:.2f} s = {text_bytes / 1e6 / best:.1f} MB per CPU-second; kept {kept[b]}")
        if len(set(kept.values())) > 1:
            sys.exit("the binaries kept different numbers of documents")


if __name__ == "__main__":
    main()
