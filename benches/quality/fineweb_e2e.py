#!/usr/bin/env python3
"""recipes/fineweb.yaml end to end, as one whole `sluice run` process, on JSONL input.

Usage (from the repository root; Python 3 standard library only):

    cargo build --release
    python3 benches/quality/fineweb_e2e.py [--sluice target/release/sluice] [--data DIR]
        [--min-mb 100] [--threads 1] [--keep DIR]

The input is the Common Crawl sample web/cc-main-2019-30.sample.jsonl.gz of the shared
data, its lines repeated until the text reaches --min-mb MB (35 copies for the default:
100.7 MB of text, a 116 MB JSONL file), written uncompressed to a temporary directory.
Document ids repeat; MinHash dedup then removes the copies, as it would any duplicates.

The recipe is recipes/fineweb.yaml with one change: its reader `crawl` is `kind: jsonl`
on that file instead of `kind: warc` on the shared WARC files (fineweb.yaml reads WARC).
Every stage is kept as the recipe has it: URL blocklist, language, Gopher repetition,
Gopher quality, C4, FineWeb, MinHash, toxicity, decontaminate (its 13-gram index is
built from the shared eval sets on this run, as on any first run), PII, tokenizer
training + tokenization, packing, Parquet writer. `perplexity` stays disabled, as it is
by default (it needs the reference LM of recipes/reference-lm.yaml); nothing else needs
the network.

Prints text MB per CPU-second of the whole process (user + sys of the child, from
getrusage(RUSAGE_CHILDREN)), and each node's CPU seconds (stats.json `cpu_secs`) and
share of the process's CPU.
"""
import argparse
import gzip
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
READER = re.compile(r"(\n  crawl:\n    kind: )warc\n    paths: \[[^\n]*\]\n")


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sluice", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "sluice"))
    ap.add_argument("--data", default=os.environ.get("SLUICE_DATA", os.path.join(ROOT, "..", "shared", "data")))
    ap.add_argument("--recipe", default=os.path.join(ROOT, "recipes", "fineweb.yaml"))
    ap.add_argument("--min-mb", type=float, default=100, help="MB of text in the input (default 100: 35 copies of the sample)")
    ap.add_argument("--threads", type=int, default=1, help="sluice run --threads (default 1)")
    ap.add_argument("--keep", default=None, help="keep the input, recipe and output in this directory")
    args = ap.parse_args()
    if args.min_mb <= 0 or args.threads < 1:
        sys.exit("--min-mb must be > 0 and --threads >= 1")
    data = os.path.abspath(args.data)
    sample = os.path.join(data, "web", "cc-main-2019-30.sample.jsonl.gz")
    if not os.path.exists(sample):
        sys.exit(f"input not found: {sample} (set --data or SLUICE_DATA)")
    if not os.path.exists(args.sluice):
        sys.exit(f"binary not found: {args.sluice}; run: cargo build --release (or pass --sluice)")
    recipe_text = open(args.recipe, encoding="utf-8").read()
    if len(READER.findall(recipe_text)) != 1:
        sys.exit(f"{args.recipe}: expected one reader `crawl:` of `kind: warc` with a one-line `paths:`; update this script")

    with gzip.open(sample, "rb") as f:
        lines = [line if line.endswith(b"\n") else line + b"\n" for line in f if line.strip()]
    text_once = sum(len(json.loads(line)["text"].encode("utf-8")) for line in lines)
    copies = max(1, math.ceil(args.min_mb * 1e6 / text_once))

    work = args.keep or tempfile.mkdtemp(prefix="sluice-fineweb-e2e-")
    os.makedirs(work, exist_ok=True)
    try:
        inp = os.path.join(work, "in", "cc.jsonl")
        os.makedirs(os.path.dirname(inp), exist_ok=True)
        with open(inp, "wb") as out:
            for _ in range(copies):
                out.writelines(lines)
        recipe = os.path.join(work, "fineweb-jsonl.yaml")
        with open(recipe, "w", encoding="utf-8") as fh:
            fh.write(READER.sub(lambda m: f"{m.group(1)}jsonl\n    paths: [{json.dumps(inp)}]\n", recipe_text))
        out = os.path.join(work, "out")
        shutil.rmtree(out, ignore_errors=True)
        # the recipe's relative paths (the URL blocklist) are relative to the repository root
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLUICE_", "QUICKSTART_", "REFERENCE_LM"))}
        env.update(SLUICE_DATA=data, OUT=out)
        log = os.path.join(work, "run.log")
        c0, t0 = children_cpu(), time.perf_counter()
        with open(log, "w") as fh:
            res = subprocess.run([args.sluice, "run", "--progress", "off", "--threads", str(args.threads), "--output", out, recipe],
                                 cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
        wall, cpu = time.perf_counter() - t0, children_cpu() - c0
        if res.returncode != 0:
            sys.exit(f"sluice run failed (exit {res.returncode}); log {log}:\n" + open(log).read()[-3000:])
        stats = json.load(open(os.path.join(out, "stats.json")))
        mb = copies * text_once / 1e6
        file_mb = copies * sum(len(line) for line in lines) / 1e6
        docs = stats["nodes"][0]["docs_in"]
        if docs != copies * len(lines):
            sys.exit(f"the reader read {docs} documents; expected {copies * len(lines)}")
        print(f"input: {copies} copies of {sample}: {copies * len(lines)} documents, {mb:.1f} MB of text, {file_mb:.1f} MB of JSONL")
        print(f"recipe: {args.recipe} with reader `crawl` as jsonl; sluice run --threads {args.threads}")
        print(f"whole process: {wall:.2f} s wall, {cpu:.2f} CPU-s (user + sys): "
              f"{mb / cpu:.2f} MB of text per CPU-second ({file_mb / cpu:.2f} MB of JSONL), {mb / wall:.2f} MB/s wall")
        node_cpu = sum(n.get("cpu_secs", 0.0) for n in stats["nodes"])
        print()
        print(f"| node | kind | docs in | docs out | CPU s | share of process CPU |")
        print("|---|---|---|---|---|---|")
        for n in stats["nodes"]:
            c = n.get("cpu_secs", 0.0)
            print(f"| {n['name']} | {n['kind']} | {n['docs_in']} | {n['docs_out']} | {c:.2f} | {c / cpu:.1%} |")
        print(f"| (all nodes) | | | | {node_cpu:.2f} | {node_cpu / cpu:.1%} |")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
