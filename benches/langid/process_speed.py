#!/usr/bin/env python3
"""Language ID speed as whole `sluice run` processes, in CPU-seconds.

Usage (from the repository root; Python 3 standard library only):

    python3 benches/langid/process_speed.py [--sluice target/release/sluice] [--data DIR]
        [--min-mb 100] [--backends builtin,whatlang] [--model lid.bin]

Input: the Common Crawl sample web/cc-main-2019-30.sample.jsonl.gz, its lines
repeated until the text reaches --min-mb MB, as one uncompressed JSONL file.
For each backend it runs `sluice run --threads 1` on a recipe of that reader, one
`language` stage (annotate_only, the backend) and a JSONL writer, and the same
recipe with `passthrough` in place of `language`. It prints text MB per
CPU-second of the whole process (user + sys of the child, getrusage), the
language stage's own CPU-seconds from stats.json (`cpu_secs`), text MB per
stage CPU-second, and the difference of the two whole processes' CPU.
"""
import argparse, gzip, json, math, os, resource, shutil, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))

RECIPE = """seed: 1
output: {out}
readers:
  crawl:
    kind: jsonl
    paths: [{inp}]
stages:
  lid:
    kind: {kind}
    inputs: [crawl]
{opts}writers:
  out:
    kind: jsonl
    inputs: [lid]
"""


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(sluice, work, name, kind, opts, inp):
    out = os.path.join(work, "out-" + name)
    shutil.rmtree(out, ignore_errors=True)
    recipe = os.path.join(work, name + ".yaml")
    with open(recipe, "w") as f:
        f.write(RECIPE.format(out=json.dumps(out), inp=json.dumps(inp), kind=kind, opts=opts))
    c0, t0 = children_cpu(), time.perf_counter()
    res = subprocess.run([sluice, "run", "--progress", "off", "--threads", "1", "--output", out, recipe], cwd=ROOT, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, children_cpu() - c0
    if res.returncode != 0:
        sys.exit(f"sluice run {recipe} failed ({res.returncode}):\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    stats = json.load(open(os.path.join(out, "stats.json")))
    node = next(n for n in stats["nodes"] if n["name"] == "lid")
    return wall, cpu, node.get("cpu_secs", 0.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "sluice"))
    ap.add_argument("--data", default=os.environ.get("SLUICE_TEST_DATA", os.path.join(ROOT, "..", "shared", "data")))
    ap.add_argument("--min-mb", type=float, default=100)
    ap.add_argument("--backends", default="builtin,whatlang")
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    sample = os.path.join(args.data, "web", "cc-main-2019-30.sample.jsonl.gz")
    if not os.path.exists(sample):
        sys.exit(f"input not found: {sample} (set --data or SLUICE_TEST_DATA)")
    if not os.path.exists(args.sluice):
        sys.exit(f"binary not found: {args.sluice}; run: cargo build --release (or pass --sluice)")
    with gzip.open(sample, "rb") as f:
        lines = [l if l.endswith(b"\n") else l + b"\n" for l in f if l.strip()]
    text_once = sum(len(json.loads(l)["text"].encode("utf-8")) for l in lines)
    copies = max(1, math.ceil(args.min_mb * 1e6 / text_once))
    mb = copies * text_once / 1e6
    work = tempfile.mkdtemp(prefix="sluice-langid-speed-")
    try:
        inp = os.path.join(work, "cc.jsonl")
        with open(inp, "wb") as f:
            for _ in range(copies):
                f.writelines(lines)
        print(f"input: {copies} copies of {sample}: {copies * len(lines)} documents, {mb:.1f} MB of text; sluice run --threads 1")
        print()
        print("| stage | whole process CPU-s | text MB per process CPU-s | stage CPU-s (stats.json) | text MB per stage CPU-s | process CPU-s minus passthrough's |")
        print("|---|---:|---:|---:|---:|---:|")
        _, base_cpu, base_node = run(args.sluice, work, "passthrough", "passthrough", "", inp)
        print(f"| passthrough | {base_cpu:.2f} | {mb / base_cpu:.1f} | {base_node:.2f} | | |")
        for b in args.backends.split(","):
            opts = f"    backend: {b}\n    annotate_only: true\n"
            if b == "fasttext":
                opts += f"    model: {json.dumps(os.path.abspath(args.model))}\n"
            _, cpu, node = run(args.sluice, work, b, "language", opts, inp)
            diff = cpu - base_cpu
            print(f"| language backend={b} | {cpu:.2f} | {mb / cpu:.1f} | {node:.2f} | {mb / node:.1f} | {diff:.2f} ({mb / diff:.1f} MB/s) |" if diff > 0 else
                  f"| language backend={b} | {cpu:.2f} | {mb / cpu:.1f} | {node:.2f} | {mb / node:.1f} | {diff:.2f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
