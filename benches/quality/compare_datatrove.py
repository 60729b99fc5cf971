#!/usr/bin/env python3
"""Compare sluice's FineWeb filter chain with datatrove's, on the same input.

Usage (from the repository root):

    python3 -m venv ../venv15 && ../venv15/bin/pip install "datatrove[processing]==0.10.1" spacy orjson
    cargo build --release
    ../venv15/bin/python benches/quality/compare_datatrove.py [--mode process] [--sluice PATH]
        [--data DIR] [--input FILE] [--min-mb 100] [--dt-repeat 2] [--threads 1] [--verbose]

    # the older in-process loop of an example binary:
    cargo build --release -p sluice-quality --example quality_eval
    ../venv15/bin/python benches/quality/compare_datatrove.py --mode loop [--bin PATH] [--min-mb 300]

Both sides run GopherRepetitionFilter -> GopherQualityFilter -> C4QualityFilter ->
FineWebQualityFilter with datatrove's default arguments, over the same documents
(default: web/cc-main-2019-30.sample.jsonl.gz in the shared data).

Agreement: each filter is run *alone* on every document's original text on both
sides, and the keep/drop decisions (and, for drops, the reason) are compared per
document; then the chain's outcome (which filter dropped the document, or kept) is
compared. datatrove's verdicts come from its filters called here; sluice's from a
`sluice run` of a recipe with the four filters alone and the chain, reading the
exclusion files (--mode process), or from the example binary's dump (--mode loop).

Speed, --mode process (default): whole processes, reader and writer included.
The input is the sample's lines repeated until the text reaches --min-mb MB
(written to a temporary JSONL file; ids repeat, which no stage here minds).
sluice: `sluice run --threads 1 benches/quality/chain.yaml` (JSONL reader -> the
four filters -> JSONL writer, zstd); datatrove: a Python process running
JsonlReader -> the four filters -> JsonlWriter (gzip, its default) with
LocalPipelineExecutor(tasks=1, workers=1), over the first --dt-repeat copies of the
sample (it runs at ~0.2 MB per CPU-second). Each is timed as CPU seconds (user +
sys) of the child process, from getrusage(RUSAGE_CHILDREN); text MB are the UTF-8
bytes of the input documents' `text`. The ratio is ours / datatrove's, per
CPU-second.

Speed, --mode loop: text bytes entering the chain per second of one core's CPU time
(thread CPU time on both sides). Our example binary times its chain over the input
repeated to --min-mb MB; datatrove's loop is timed here over --dt-repeat passes.
"""
import argparse
import gzip
import json
import math
import os
import resource
import shutil
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


FILTERS = ["gopher_repetition", "gopher_quality", "c4", "fineweb"]

# sluice's verdicts for --mode process: each filter alone on the input, and the chain
AGREE_RECIPE = """seed: 1
output: {out}
readers:
  input: {{kind: jsonl, paths: [{inp}]}}
stages:
  alone_gopher_repetition: {{kind: gopher_repetition, inputs: [input], exclusions: true}}
  alone_gopher_quality: {{kind: gopher_quality, inputs: [input], exclusions: true}}
  alone_c4: {{kind: c4, inputs: [input], exclusions: true}}
  alone_fineweb: {{kind: fineweb, inputs: [input], exclusions: true}}
  gopher_repetition: {{kind: gopher_repetition, inputs: [input], exclusions: true}}
  gopher_quality: {{kind: gopher_quality, inputs: [gopher_repetition], exclusions: true}}
  c4: {{kind: c4, inputs: [gopher_quality], exclusions: true}}
  fineweb: {{kind: fineweb, inputs: [c4], exclusions: true}}
writers:
  kept: {{kind: jsonl, inputs: [fineweb]}}
  alone: {{kind: jsonl, inputs: [alone_gopher_repetition, alone_gopher_quality, alone_c4, alone_fineweb]}}
"""

# datatrove's chain as a whole process
DATATROVE = r"""
import sys
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.filters import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
inp, out, logs = sys.argv[1:4]
LocalPipelineExecutor(
    pipeline=[
        JsonlReader(inp, glob_pattern="*.jsonl"),
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(),
        FineWebQualityFilter(),
        JsonlWriter(out),
    ],
    tasks=1, workers=1, logging_dir=logs,
).run()
"""


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd, log, env=None):
    """Run cmd to completion; (wall s, CPU s of the child: user + sys)."""
    c0, t0 = children_cpu(), time.perf_counter()
    with open(log, "w") as fh:
        res = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    wall, cpu = time.perf_counter() - t0, children_cpu() - c0
    if res.returncode != 0:
        sys.exit(f"failed (exit {res.returncode}): {' '.join(cmd)}; log: {log}\n" + open(log).read()[-3000:])
    return wall, cpu


def read_zst_jsonl(path):
    try:
        import zstandard

        with open(path, "rb") as fh:
            data = zstandard.ZstdDecompressor().stream_reader(fh).read()
    except ImportError:
        if not shutil.which("zstd"):
            sys.exit("reading sluice's .jsonl.zst output needs the zstd command or the zstandard module")
        data = subprocess.run(["zstd", "-dcq", path], check=True, capture_output=True).stdout
    return [json.loads(line) for line in data.decode("utf-8").split("\n") if line.strip()]


def read_dir_rows(d):
    rows = []
    if not os.path.isdir(d):
        return rows
    for f in sorted(os.listdir(d)):
        p = os.path.join(d, f)
        if f.endswith(".jsonl.zst"):
            rows += read_zst_jsonl(p)
        elif f.endswith(".jsonl.gz"):
            rows += load(p)
    return rows


def sluice_verdicts(sluice, path, rows, work):
    """sluice's verdicts per document, in the example's dump format, from a `sluice run`."""
    out = os.path.join(work, "agree-out")
    recipe = os.path.join(work, "agree.yaml")
    with open(recipe, "w") as fh:
        fh.write(AGREE_RECIPE.format(out=json.dumps(out), inp=json.dumps(path)))
    timed([sluice, "run", "--progress", "off", "--threads", "1", recipe], os.path.join(work, "agree.log"))
    ids = [r["id"] for r in rows]
    if len(set(ids)) != len(ids):
        sys.exit(f"{path}: document ids repeat; the agreement needs unique ids")
    verdicts = {i: {"id": i, "chain": None, **{n: None for n in FILTERS}} for i in ids}
    for name in FILTERS:
        for row in read_dir_rows(os.path.join(out, "excluded", "alone_" + name)):
            verdicts[row["id"]][name] = row["metadata"]["drop_reason"]
        for row in read_dir_rows(os.path.join(out, "excluded", name)):
            verdicts[row["id"]]["chain"] = f"{name}:{row['metadata']['drop_reason']}"
    kept = {r["id"] for r in read_dir_rows(os.path.join(out, "kept"))}
    for i, v in verdicts.items():
        if (i in kept) != (v["chain"] is None):
            sys.exit(f"sluice run: document {i} is both kept and excluded, or neither")
    return [verdicts[i] for i in ids]


def write_repeated(path, dest, copies):
    """The input file's lines, `copies` times, as plain JSONL."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        lines = [line if line.endswith(b"\n") else line + b"\n" for line in f if line.strip()]
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with open(dest, "wb") as out:
        for _ in range(copies):
            out.writelines(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["process", "loop"], default="process",
                    help="process: whole `sluice run` and datatrove processes (default); loop: the example binary's in-process loop")
    ap.add_argument("--data", default=os.environ.get("SLUICE_DATA", os.path.join(ROOT, "..", "shared", "data")))
    ap.add_argument("--input", default=None)
    ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "examples", "quality_eval"),
                    help="--mode loop: the quality_eval example")
    ap.add_argument("--sluice", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "sluice"),
                    help="--mode process: the sluice binary")
    ap.add_argument("--min-mb", type=float, default=None, help="MB of text for our timing (default: 100 in process mode, 300 in loop mode)")
    ap.add_argument("--dt-repeat", type=int, default=None, help="copies of the input datatrove is timed on (default: 2 in process mode, 1 in loop mode)")
    ap.add_argument("--threads", type=int, default=1, help="--mode process: sluice run --threads")
    ap.add_argument("--keep", default=None, help="--mode process: keep the inputs and outputs in this directory")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    if args.min_mb is None:
        args.min_mb = 100 if args.mode == "process" else 300
    if args.dt_repeat is None:
        args.dt_repeat = 2 if args.mode == "process" else 1
    if args.dt_repeat < 1 or args.min_mb <= 0 or args.threads < 1:
        sys.exit("--dt-repeat and --threads must be >= 1, --min-mb > 0")
    path = args.input or os.path.join(args.data, "web", "cc-main-2019-30.sample.jsonl.gz")
    if not os.path.exists(path):
        sys.exit(f"input not found: {path} (set --data or SLUICE_DATA)")
    path = os.path.abspath(path)
    if args.mode == "loop" and not os.path.exists(args.bin):
        sys.exit(f"binary not found: {args.bin}; run: cargo build --release -p sluice-quality --example quality_eval")
    if args.mode == "process" and not os.path.exists(args.sluice):
        sys.exit(f"binary not found: {args.sluice}; run: cargo build --release (or pass --sluice)")

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

    bytes_once = sum(len(r["text"].encode("utf-8")) for r in rows)
    work = args.keep or tempfile.mkdtemp(prefix="sluice-quality-bench-")
    os.makedirs(work, exist_ok=True)
    try:
        if args.mode == "loop":
            speed_lines, ours = loop_mode(args, path, rows, filters, Document, work)
        else:
            speed_lines, ours = process_mode(args, path, rows, dt, bytes_once, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    assert [o["id"] for o in ours] == [d["id"] for d in dt], "documents differ"

    def norm(name, r):
        if r is None:
            return None
        p = PREFIX[name]
        return r[len(p):] if p and r.startswith(p) else r

    n = len(rows)
    print(f"input: {path} ({n} documents, {bytes_once / 1e6:.2f} MB)")
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
    for line in speed_lines:
        print(line)


def process_mode(args, path, rows, dt, bytes_once, work):
    """Whole processes: `sluice run` of benches/quality/chain.yaml and a datatrove pipeline."""
    ours = sluice_verdicts(args.sluice, path, rows, work)
    kept_once = sum(o["chain"] is None for o in ours)
    dt_kept_once = sum(d["chain"] is None for d in dt)

    copies = max(1, math.ceil(args.min_mb * 1e6 / bytes_once))
    inp = os.path.join(work, "in", "input.jsonl")
    write_repeated(path, inp, copies)
    out = os.path.join(work, "chain-out")
    env = dict(os.environ, CHAIN_INPUT=inp, OUT=out)
    recipe = os.path.join(HERE, "chain.yaml")
    s_wall, s_cpu = timed([args.sluice, "run", "--progress", "off", "--threads", str(args.threads), "--output", out, recipe],
                          os.path.join(work, "chain.log"), env=env)
    stats = json.load(open(os.path.join(out, "stats.json")))
    nodes = {n["name"]: n for n in stats["nodes"]}
    s_kept = nodes["kept"]["docs_in"]
    if nodes["input"]["docs_out"] != copies * len(rows) or s_kept != copies * kept_once:
        sys.exit(f"sluice chain run read {nodes['input']['docs_out']} and kept {s_kept} documents; "
                 f"expected {copies * len(rows)} and {copies * kept_once}")
    s_mb = copies * bytes_once / 1e6

    dt_in = os.path.join(work, "dt-in", "input.jsonl")
    write_repeated(path, dt_in, args.dt_repeat)
    dt_out = os.path.join(work, "dt-out")
    script = os.path.join(work, "datatrove_chain.py")
    with open(script, "w") as fh:
        fh.write(DATATROVE)
    d_wall, d_cpu = timed([sys.executable, script, os.path.dirname(dt_in), dt_out, os.path.join(work, "dt-logs")],
                          os.path.join(work, "datatrove.log"))
    d_kept = len(read_dir_rows(dt_out))
    if d_kept != args.dt_repeat * dt_kept_once:
        sys.exit(f"datatrove's pipeline kept {d_kept} documents; expected {args.dt_repeat * dt_kept_once}")
    d_mb = args.dt_repeat * bytes_once / 1e6

    node_cpu = sum(n.get("cpu_secs", 0.0) for n in stats["nodes"])
    shares = ", ".join(f"{n['name']} {n.get('cpu_secs', 0.0):.2f} s ({n.get('cpu_secs', 0.0) / s_cpu:.0%})" for n in stats["nodes"])
    lines = [
        "whole processes, reader and writer included (CPU = user + sys of the child process):",
        f"{'':10} {'text MB':>8} {'docs kept':>9} {'wall s':>8} {'CPU s':>8} {'MB/CPU-s':>9} {'MB/wall-s':>9}",
        f"{'sluice':10} {s_mb:8.1f} {s_kept:9d} {s_wall:8.2f} {s_cpu:8.2f} {s_mb / s_cpu:9.2f} {s_mb / s_wall:9.2f}",
        f"{'datatrove':10} {d_mb:8.1f} {d_kept:9d} {d_wall:8.2f} {d_cpu:8.2f} {d_mb / d_cpu:9.3f} {d_mb / d_wall:9.3f}",
        f"ratio (MB per CPU-second): {(s_mb / s_cpu) / (d_mb / d_cpu):.0f}x",
        f"sluice: {copies} copies of the input, `sluice run --threads {args.threads}`; datatrove: {args.dt_repeat} "
        f"cop{'y' if args.dt_repeat == 1 else 'ies'}, LocalPipelineExecutor(tasks=1, workers=1)",
        f"sluice CPU by node (stats.json cpu_secs; sum {node_cpu:.2f} s of {s_cpu:.2f} s process CPU): {shares}",
    ]
    return lines, ours


def loop_mode(args, path, rows, filters, Document, work):
    """The example binary's in-process loop against datatrove's filters called in a loop."""
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

    dump = os.path.join(work, "ours.jsonl")
    res = subprocess.run([args.bin, path, "--dump", dump, "--min-mb", str(args.min_mb)], check=True, capture_output=True, text=True)
    timing = json.loads(res.stdout.strip().splitlines()[-1])
    ours = [json.loads(line) for line in open(dump)]

    # both sides in thread CPU time (wall time where /proc is missing)
    ours_mbps = timing.get("mb_per_cpu_s") or timing["mb_per_s"]
    dt_wall_mbps = total_bytes / 1e6 / dt_wall
    lines = [
        f"datatrove: {total_bytes / 1e6:.2f} MB in {dt_cpu:.2f} s CPU ({dt_wall:.2f} s wall): {dt_mbps:.3f} MB/s per core ({dt_wall_mbps:.3f} wall)",
        f"sluice:    {timing['bytes'] / 1e6:.1f} MB in {timing.get('cpu_seconds')} s CPU ({timing['seconds']:.2f} s wall): {ours_mbps:.2f} MB/s per core ({timing['mb_per_s']:.2f} wall)",
        f"ratio (CPU time): {ours_mbps / dt_mbps:.0f}x; wall: {timing['mb_per_s'] / dt_wall_mbps:.0f}x",
    ]
    return lines, ours


if __name__ == "__main__":
    main()
