#!/usr/bin/env python3
"""The README's `recipes/dclm.yaml` row: the recipe run end to end twice, as
`--tasks 1 --threads 1` and as `--tasks 3 --threads 2`, into fresh output
directories, and what it measured.

    cargo build --release
    python3 benches/dclm.py [--sluice target/release/sluice]

Prints the classifier's held-out metrics for the positive label (from
`reports/quality_model/classifier_train.json`), the `top_fraction` threshold
and the documents kept (`reports/quality/classifier.json`), and whether the
model, the documents kept, excluded and kept by the heuristics alone (as
sorted JSONL lines: 3 tasks write 3 shards) and the two reports are
byte-identical between the two runs (the reports once their timing keys are
dropped). Exits 1 when they are not.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
TIMING_KEYS = {"train_seconds", "sgd_seconds", "wall_secs", "cpu_secs", "task_wall_secs"}


def run(binary, out, tasks, threads):
    env = dict(os.environ, OUT=out, SLUICE_DATA=os.environ.get("SLUICE_TEST_DATA", os.path.join(ROOT, "..", "shared", "data")))
    start = time.perf_counter()
    cmd = [binary, "run", "--progress", "off", "--tasks", str(tasks), "--threads", str(threads), os.path.join(ROOT, "recipes", "dclm.yaml")]
    p = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed:\n{p.stderr}")
    return time.perf_counter() - start


def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k not in TIMING_KEYS}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v


def documents(path):
    """Every JSONL line of every shard under `path`, sorted: the documents
    whatever how many task shards hold them."""
    import zstandard
    lines = []
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            with open(os.path.join(dirpath, name), "rb") as f:
                data = f.read()
            if name.endswith(".zst"):
                data = zstandard.ZstdDecompressor().stream_reader(data).read()
            lines.extend(data.splitlines())
    return sorted(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "sluice"))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sluice-dclm-fig-")
    try:
        outs = {}
        for tasks, threads in ((1, 1), (3, 2)):
            out = os.path.join(tmp, f"t{tasks}x{threads}")
            wall = run(args.sluice, out, tasks, threads)
            outs[(tasks, threads)] = out
            print(f"sluice run recipes/dclm.yaml --tasks {tasks} --threads {threads}: {wall:.1f} s wall")
        a = outs[(1, 1)]
        train = json.load(open(os.path.join(a, "reports", "quality_model", "classifier_train.json")))
        score = json.load(open(os.path.join(a, "reports", "quality", "classifier.json")))
        pos = train["heldout"]["positive"]
        docs = train["documents"]
        print(f"training documents: " + ", ".join(f"{k} {v['train']} train / {v['heldout']} held out" for k, v in sorted(docs.items())))
        print(f"held out ({train['heldout']['documents']} documents), label {pos['label']}: ROC AUC {pos['roc_auc']:.3f}, "
              f"F1 {pos['f1']:.3f}, precision {pos['precision']:.3f}, recall {pos['recall']:.3f}; accuracy {train['heldout']['accuracy']:.3f}")
        print(f"top_fraction {score['top_fraction']}: threshold P({score['score']['label']}) {score['threshold']:.4f}; "
              f"{score['kept']} of the {score['documents']} documents that passed Gopher and C4 kept")
        b = outs[(3, 2)]
        same = True
        x, y = (open(os.path.join(o, "quality_model", "model.bin"), "rb").read() for o in (a, b))
        same &= x == y
        print(f"quality_model/model.bin ({len(x):,} bytes): {'byte-identical' if x == y else 'DIFFERENT'} (--tasks 1 --threads 1 vs --tasks 3 --threads 2)")
        for what in ("kept", "excluded/quality", "heuristics_only"):
            x, y = documents(os.path.join(a, what)), documents(os.path.join(b, what))
            same &= x == y
            print(f"{what}: {len(x)} documents, {'byte-identical lines' if x == y else 'DIFFERENT'} (1 shard vs 3 task shards)")
        for rep in ("reports/quality_model/classifier_train.json", "reports/quality/classifier.json"):
            ok = strip(json.load(open(os.path.join(a, rep)))) == strip(json.load(open(os.path.join(b, rep))))
            same &= ok
            print(f"{rep}: {'identical' if ok else 'DIFFERENT'} but for timing keys")
        if not same:
            sys.exit(1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
