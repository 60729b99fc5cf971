#!/usr/bin/env python3
"""The bare engine against datatrove on the same input, in the same run.

Both read the same JSONL.zst files, pass documents through unchanged and write
zstd-compressed Parquet (datatrove's default is snappy; sluice writes zstd), on one core (sluice --threads 1; datatrove one task, one worker).
Prints text MB/s per CPU-second for each and the ratio, and checks that both
wrote the same number of rows. The input is real text by default
(`benches/realtext.py`: the CC sample, WikiText-2 and Gutenberg in ~4 KB
documents, cycled to `--mb`); `--corpus synthetic` generates random words.

    python3 -m venv .venv && .venv/bin/pip install "datatrove[processing]" zstandard pyarrow orjson
    cargo build --release
    .venv/bin/python benches/engine_datatrove.py [--mb 200]
"""
import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import pyarrow.parquet as pq
import zstandard

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__))))
import realtext  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def make_real_corpus(dirname, files, total_bytes, data):
    docs = list(realtext.repeated(data, total_bytes))
    os.makedirs(dirname, exist_ok=True)
    per = (len(docs) + files - 1) // files
    written = 0
    for f in range(files):
        cctx = zstandard.ZstdCompressor(level=1)
        with open(os.path.join(dirname, f"part-{f:04d}.jsonl.zst"), "wb") as fh, cctx.stream_writer(fh) as w:
            for i, (doc_id, text) in enumerate(docs[f * per:(f + 1) * per]):
                w.write((json.dumps({"id": doc_id, "text": text, "url": f"https://example.com/{f}/{i}"}) + "\n").encode())
                written += len(text.encode())
    return written


def make_corpus(dirname, files, total_bytes, seed=1):
    rng = random.Random(seed)
    vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10))) for _ in range(20000)]
    weights = [1.0 / (i + 1) for i in range(len(vocab))]
    os.makedirs(dirname, exist_ok=True)
    written = 0
    per_file = total_bytes // files
    for f in range(files):
        cctx = zstandard.ZstdCompressor(level=1)
        with open(os.path.join(dirname, f"part-{f:04d}.jsonl.zst"), "wb") as fh, cctx.stream_writer(fh) as w:
            n, i = 0, 0
            while n < per_file:
                words = rng.choices(vocab, weights, k=rng.randint(50, 1500))
                text = " ".join(words)
                w.write((json.dumps({"id": f"{f}-{i}", "text": text, "url": f"https://example.com/{f}/{i}"}) + "\n").encode())
                n += len(text.encode())
                i += 1
            written += n
    return written


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_sluice(binary, inp, out, workdir):
    recipe = os.path.join(workdir, "engine.yaml")
    with open(recipe, "w") as fh:
        fh.write(f"seed: 1\noutput: {out}\nreaders:\n  corpus: {{kind: jsonl, paths: [{inp}]}}\n"
                 f"stages:\n  noop: {{kind: passthrough, inputs: [corpus]}}\n"
                 f"writers:\n  parquet: {{kind: parquet, inputs: [noop]}}\n")
    c0, t0 = children_cpu(), time.perf_counter()
    subprocess.run([binary, "run", "--progress", "off", "--threads", "1", recipe], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0, children_cpu() - c0


DATATROVE = r"""
import sys
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import ParquetWriter
inp, out, logs = sys.argv[1:4]
LocalPipelineExecutor(
    pipeline=[JsonlReader(inp, glob_pattern="*.jsonl.zst", compression="zstd"), ParquetWriter(out, compression="zstd")],
    tasks=1, workers=1, logging_dir=logs,
).run()
"""


def run_datatrove(inp, out, workdir):
    script = os.path.join(workdir, "dt.py")
    with open(script, "w") as fh:
        fh.write(DATATROVE)
    c0, t0 = children_cpu(), time.perf_counter()
    subprocess.run([sys.executable, script, inp, out, os.path.join(workdir, "dt-logs")], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0, children_cpu() - c0


def rows(d):
    n = 0
    for root, _, files in os.walk(d):
        for f in files:
            if f.endswith(".parquet"):
                n += pq.ParquetFile(os.path.join(root, f)).metadata.num_rows
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=200, help="MB of text to generate")
    ap.add_argument("--corpus", choices=["real", "synthetic"], default="real")
    ap.add_argument("--data", default=os.environ.get("SLUICE_TEST_DATA", os.path.join(ROOT, "..", "shared", "data")))
    ap.add_argument("--sluice", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "sluice"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="sluice-engine-bench-")
    try:
        inp = os.path.join(work, "in")
        if args.corpus == "real":
            mb = make_real_corpus(inp, 8, args.mb * 1_000_000, args.data) / 1e6
        else:
            mb = make_corpus(inp, 8, args.mb * 1_000_000) / 1e6
        sw, sc = run_sluice(args.sluice, inp, os.path.join(work, "sluice-out"), work)
        dw, dc = run_datatrove(inp, os.path.join(work, "dt-out"), work)
        rs, rd = rows(os.path.join(work, "sluice-out")), rows(os.path.join(work, "dt-out"))
        print(f"input: {mb:.0f} MB of {args.corpus} text in 8 JSONL.zst files; both on one core")
        print(f"{'':10} {'wall s':>8} {'cpu s':>8} {'MB/s/core':>10} {'rows':>9}")
        print(f"{'sluice':10} {sw:8.1f} {sc:8.1f} {mb / sc:10.1f} {rs:9d}")
        print(f"{'datatrove':10} {dw:8.1f} {dc:8.1f} {mb / dc:10.1f} {rd:9d}")
        print(f"ratio (MB per CPU-second): {dc / sc:.1f}x")
        assert rs == rd, "row counts differ"
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
