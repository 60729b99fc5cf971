#!/usr/bin/env python3
"""scripts/figures.sh ppl (slow, opt-in: about 90 minutes on 2 cores with the
defaults): every figure of stages/perplexity/README.md's "Measured" section.

  1. the reference model: `sluice run recipes/reference-lm.yaml` (documents
     read and kept per source, tokens per source, held-out documents, the
     validation loss curve, training tokens/s, wall time);
  2. separation: stages/perplexity/scripts/cc-dropped.yaml, then `sluice ppl
     auc` of the held-out reference documents against the CC documents the
     Gopher/C4 filters drop (what scripts/separation.sh does);
  3. throughput: `sluice ppl bench` on the CC sample's first 30 documents.

    .venv/bin/python stages/perplexity/scripts/figures.py --sluice target/release/sluice
    # a quick check that the chain runs (minutes; the figures mean nothing):
    .venv/bin/python stages/perplexity/scripts/figures.py --steps 2 --limit 4 --bench-docs 3

Needs the zstandard module (the repository's .venv has it) to read the
recipe's jsonl output. Works in a scratch directory under $TMPDIR, removed at
the end (--keep DIR keeps the run there instead). Progress goes to stderr."""

import argparse
import collections
import glob
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import zstandard

REPO = Path(__file__).resolve().parents[3]


def run(cmd, env=None, label=""):
    print(f"+ {' '.join(map(str, cmd))}", file=sys.stderr)
    t0 = time.perf_counter()
    p = subprocess.run(list(map(str, cmd)), env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    sys.stderr.write(p.stderr)
    sys.stderr.write(p.stdout)
    if p.returncode != 0:
        sys.exit(f"{label or cmd[0]} failed (exit {p.returncode})")
    run.stderr = p.stderr
    return p.stdout, dt


def read_jsonl_zst(d):
    for f in sorted(glob.glob(f"{d}/*.jsonl.zst")):
        with open(f, "rb") as fh:
            for line in io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(fh), encoding="utf-8"):
                yield json.loads(line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", default=os.environ.get("SLUICE_BIN", str(REPO / "target/release/sluice")))
    ap.add_argument("--data", default=os.environ.get("SLUICE_TEST_DATA", str(REPO.parent / "shared/data")))
    ap.add_argument("--steps", type=int, default=int(os.environ.get("PPL_STEPS", "250")), help="REFERENCE_LM_STEPS")
    ap.add_argument("--limit", type=int, default=int(os.environ.get("PPL_LIMIT", "0")),
                    help="at most this many documents per side in the separation AUC (0: all)")
    ap.add_argument("--bench-docs", type=int, default=int(os.environ.get("PPL_BENCH_DOCS", "30")))
    ap.add_argument("--keep", help="work here and keep it (default: a scratch dir, removed)")
    a = ap.parse_args()
    sluice = str(Path(a.sluice).resolve())
    work = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="sluice-ppl-figures-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        figures(a, sluice, work)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


def figures(a, sluice, work):
    ref = work / "reference-lm"
    env = dict(os.environ, OUT=str(ref), REFERENCE_LM_STEPS=str(a.steps), SLUICE_DATA=a.data)
    out, wall = run([sluice, "run", "recipes/reference-lm.yaml", "--progress", "off"], env, "reference-lm recipe")

    # 1. The reference model.
    print(f"## reference model: sluice run recipes/reference-lm.yaml, REFERENCE_LM_STEPS={a.steps}")
    rows = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 4 and f[0] in ("reference_en", "reference_zh", "zh_wiki", "gopher_repetition", "tokenizer", "shards"):
            rows[f[0]] = f
    read = {k: int(rows[k][2].replace(",", "")) for k in ("reference_en", "reference_zh", "zh_wiki")}
    kept = collections.Counter()
    held = collections.Counter()
    for d in read_jsonl_zst(ref / "jsonl"):
        kept[d["source"]] += 1
        if d.get("metadata", {}).get("split") == "val":
            held[d["source"]] += 1
    m = json.load(open(ref / "shards/manifest.json"))
    tps = m.get("tokens_per_source", {})
    names = {"reference_en": "WikiText-2 + Gutenberg pieces (reference/en)", "reference_zh": "红楼梦 pieces (reference/zh)",
             "zh_wiki": "CMRC 2018 Wikipedia paragraphs (zh)"}
    print("| source | documents read | kept | tokens in the shards | held out (val) |")
    print("|---|---|---|---|---|")
    for k in ("reference_en", "reference_zh", "zh_wiki"):
        print(f"| {names[k]} | {read[k]:,} | {kept[k]:,} | {tps.get(k, 0) / 1e6:.2f}M | {held[k]} |")
    print(f"| all | {sum(read.values()):,} | {sum(kept.values()):,} | {sum(tps.values()) / 1e6:.2f}M | {sum(held.values())} |")
    print(f"shards: vocab {m['vocab_size']}, {sum(s['tokens'] for s in m['shards'] if s['split'] == 'train') / 1e6:.2f}M train "
          f"and {sum(s['tokens'] for s in m['shards'] if s['split'] == 'val') / 1e6:.2f}M val tokens in the shards; "
          f"documents per split {m.get('documents')}")
    cfg = json.load(open(ref / "train/train_config.json"))
    log = out + run.stderr
    params = next((int(l.split("(")[1].split(" params")[0]) for l in log.splitlines() if " params)" in l), 0)
    ms = [json.loads(l) for l in open(ref / "train/metrics.jsonl")]
    train = [x for x in ms if x["kind"] == "train"]
    val = [(x["step"], x["loss"]) for x in ms if x["kind"] == "val"]
    tok_s = sorted(x["tokens_per_s"] for x in train)[len(train) // 2]
    print(f"model: preset {cfg.get('preset', 'small')}, {params / 1e6:.1f}M parameters; {len(train)} steps x "
          f"{train[0]['tokens'] if train else 0} tokens = {train[-1]['tokens'] if train else 0:,} tokens; "
          f"median {tok_s:.0f} training tokens/s")
    print("validation loss: " + ", ".join(f"{l:.2f} (step {s})" for s, l in val) + f"; ln {m['vocab_size']} = "
          f"{__import__('math').log(m['vocab_size']):.2f}")
    tok_wall = float(rows["tokenizer"][7]) if "tokenizer" in rows else float("nan")
    print(f"recipe wall time: {wall / 60:.1f} minutes in all (tokenizer stage {tok_wall:.0f} s of it)")

    # 2. Separation (scripts/separation.sh without its second, informative comparison).
    sep = work / "ppl-separation"
    run([sluice, "run", "stages/perplexity/scripts/cc-dropped.yaml", "--progress", "off"],
        dict(os.environ, OUT=str(sep / "cc"), SLUICE_DATA=a.data), "cc-dropped recipe")
    cmd = [sluice, "ppl", "auc", "--model", ref / "train", "--device", "cpu", "--good", ref / "jsonl", "--good-split", "val",
           "--bad", sep / "cc/excluded/gopher_repetition", sep / "cc/excluded/gopher_quality", sep / "cc/excluded/c4"]
    if a.limit:
        cmd += ["--limit", str(a.limit)]
    out, dt = run(cmd, None, "ppl auc")
    print()
    print("## separation: held-out reference documents vs CC documents the Gopher repetition, Gopher quality and C4 filters drop"
          + (f" (--limit {a.limit})" if a.limit else ""))
    print(out.rstrip())
    print(f"scoring time: {dt / 60:.1f} minutes")

    # 3. Throughput.
    cmd = [sluice, "ppl", "bench", "--model", ref / "train", "--device", "cpu", "--input",
           f"{a.data}/web/cc-main-2019-30.sample.jsonl.gz", "--docs", str(a.bench_docs), "--batch-tokens", "4096"]
    out, dt = run(cmd, None, "ppl bench")
    print()
    print(f"## throughput: sluice ppl bench --device cpu --docs {a.bench_docs} --batch-tokens 4096 (CC sample)")
    print(out.rstrip())


if __name__ == "__main__":
    main()
