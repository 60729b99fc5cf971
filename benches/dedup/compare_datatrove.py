#!/usr/bin/env python3
"""sluice `minhash_dedup` against datatrove's MinHash pipeline on the same input.

    cargo build --release
    .venv/bin/python benches/dedup/compare_datatrove.py                  # real text (default)
    cargo build --release -p sluice-dedup --bins
    .venv/bin/python benches/dedup/compare_datatrove.py --corpus synthetic --docs 100000

`--corpus real` (the default) is distinct real text from ../shared/data
(`benches/realtext.py`: the CC sample, WikiText-2 and the Gutenberg novels in
~4 KB documents) and, after every ninth document, a copy of an earlier one
with words replaced by words of the corpus to a planted word-5-gram Jaccard
similarity (0.3 to 1.0; the pair's measured Jaccard over whitespace words is
what is binned). `--corpus synthetic` is the scale bench's corpus
(`dedup-bench --write-jsonl`): random 80-160 word documents planted the same
way. The synthetic corpus flatters sluice: datatrove's spaCy tokenizer builds
an entry for every unseen word, and random words are all unseen. Both
tools run with the same parameters (word 5-grams, 14 buckets x 8 hashes,
64-bit hashes), the same task count and the same worker count, one after the
other in this script. It prints wall and CPU time of each, their ratio, the
agreement on which documents are removed, and each tool's recall of the
planted pairs per Jaccard bin.

datatrove is installed from PyPI into the running interpreter when missing
(`pip install datatrove[processing]`).
"""

import argparse
import gzip
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benches"))
import realtext  # noqa: E402


def shingles(words, n=5):
    return {tuple(words[i:i + n]) for i in range(max(1, len(words) - n + 1))}


def jaccard(a, b):
    return len(a & b) / max(1, len(a | b))


def write_real_corpus(data: Path, inp: Path, files: int, seed: int = 7):
    """Real documents plus planted near-duplicates; writes `planted.tsv` as
    the synthetic generator does (source id, copy id, measured Jaccard)."""
    import random

    rng = random.Random(seed)
    docs = list(realtext.documents(str(data)))
    vocab = sorted({w for _, t in docs[::7] for w in t.split()})
    out, planted = [], []
    for i, (doc_id, text) in enumerate(docs):
        out.append((doc_id, text))
        if i % 9 == 8:
            src_id, src = docs[rng.randrange(i)]
            words = src.split()
            if len(words) < 30:
                continue
            target = rng.uniform(0.3, 1.0)
            # With a fraction p of words replaced, about (1-p)^5 of the
            # 5-grams survive: J = s / (2 - s) with s = (1-p)^5.
            s = 2 * target / (1 + target)
            p = 1 - s ** 0.2
            edited = [rng.choice(vocab) if rng.random() < p else w for w in words]
            copy_id = f"dup-{i}"
            out.append((copy_id, " ".join(edited)))
            planted.append((src_id, copy_id, jaccard(shingles(words), shingles(edited))))
    inp.mkdir(parents=True, exist_ok=True)
    per = (len(out) + files - 1) // files
    for f in range(files):
        with open(inp / f"part-{f:04d}.jsonl", "w", encoding="utf-8") as fh:
            for doc_id, text in out[f * per:(f + 1) * per]:
                fh.write(json.dumps({"id": doc_id, "text": text}) + "\n")
    (inp / "planted.tsv").write_text("".join(f"{a}\t{b}\t{j:.4f}\n" for a, b, j in planted))
    return len(out)


def ensure_datatrove():
    try:
        import datatrove  # noqa: F401
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "datatrove[processing]==0.10.1"])


# datatrove's pools default to "forkserver": the workers are then children
# of the fork server, and their CPU time never reaches this process's
# RUSAGE_CHILDREN. With "fork" they are our children, joined when each
# pool closes, so cpu_now() counts them.
START = "fork"


def cpu_now():
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def target_dir():
    return Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"


def run_datatrove(inp: Path, work: Path, tasks: int, workers: int):
    from datatrove.executor.local import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig

    cfg = MinhashConfig(hash_config=HashConfig(precision=64), n_grams=5, num_buckets=14, hashes_per_bucket=8)
    d = work / "datatrove"
    logs = d / "logs"
    s1 = LocalPipelineExecutor(
        pipeline=[JsonlReader(str(inp), glob_pattern="*.jsonl"), MinhashDedupSignature(output_folder=str(d / "sigs"), config=cfg)],
        tasks=tasks, workers=workers, logging_dir=str(logs / "s1"), start_method=START,
    )
    s2 = LocalPipelineExecutor(
        pipeline=[MinhashDedupBuckets(input_folder=str(d / "sigs"), output_folder=str(d / "buckets"), config=cfg)],
        tasks=cfg.num_buckets, workers=workers, logging_dir=str(logs / "s2"), depends=s1, start_method=START,
    )
    s3 = LocalPipelineExecutor(
        pipeline=[MinhashDedupCluster(input_folder=str(d / "buckets"), output_folder=str(d / "remove"), config=cfg)],
        tasks=1, logging_dir=str(logs / "s3"), depends=s2,
    )
    s4 = LocalPipelineExecutor(
        pipeline=[
            JsonlReader(str(inp), glob_pattern="*.jsonl"),
            MinhashDedupFilter(input_folder=str(d / "remove"), exclusion_writer=JsonlWriter(str(d / "removed"))),
            JsonlWriter(str(d / "kept")),
        ],
        tasks=tasks, workers=workers, logging_dir=str(logs / "s4"), depends=s3, start_method=START,
    )
    s4.run()
    removed = set()
    for f in sorted((d / "removed").glob("*.jsonl.gz")):
        with gzip.open(f, "rt") as fh:
            for line in fh:
                removed.add(json.loads(line)["id"])
    return removed


def run_sluice(inp: Path, work: Path, tasks: int, workers: int):
    import zstandard

    out = work / "sluice_out"
    recipe = work / "minhash.yaml"
    recipe.write_text(
        f"""seed: 42
output: {out}
readers:
  input: {{kind: jsonl, paths: ["{inp}"], include: ["*.jsonl"]}}
stages:
  minhash: {{kind: minhash_dedup, inputs: [input], exclusions: true}}
writers:
  kept: {{kind: jsonl, inputs: [minhash]}}
"""
    )
    subprocess.check_call(
        [str(target_dir() / "sluice"), "run", str(recipe), "--tasks", str(tasks), "--threads", str(workers), "--progress", "off"],
        stdout=subprocess.DEVNULL,
    )
    removed = set()
    for f in sorted((out / "excluded" / "minhash").glob("*.jsonl.zst")):
        with open(f, "rb") as fh:
            text = zstandard.ZstdDecompressor().stream_reader(fh).read().decode()
        for line in text.splitlines():
            removed.add(json.loads(line)["id"])
    return removed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", choices=["real", "synthetic"], default="real")
    ap.add_argument("--data", default=os.environ.get("SLUICE_TEST_DATA", str(ROOT.parent / "shared" / "data")))
    ap.add_argument("--docs", type=int, default=100_000, help="--corpus synthetic: documents")
    ap.add_argument("--tasks", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work", default="/tmp/sluice-dedup-compare")
    a = ap.parse_args()
    ensure_datatrove()
    work = Path(a.work)
    shutil.rmtree(work, ignore_errors=True)
    inp = work / "input"
    if a.corpus == "real":
        a.docs = write_real_corpus(Path(a.data), inp, a.tasks)
    else:
        subprocess.check_call([str(target_dir() / "dedup-bench"), "--docs", str(a.docs), "--write-jsonl", str(inp)])
    mb = sum(f.stat().st_size for f in inp.glob("*.jsonl")) / 1e6
    planted = [line.split("\t") for line in (inp / "planted.tsv").read_text().splitlines()]

    results = {}
    for name, fn in [("sluice", run_sluice), ("datatrove", run_datatrove)]:
        w, c = time.time(), cpu_now()
        removed = fn(inp, work, a.tasks, a.workers)
        results[name] = (time.time() - w, cpu_now() - c, removed)

    print(f"MinHash dedup, {a.corpus} corpus, {a.docs} documents ({mb:.0f} MB JSONL), 5-grams, 14x8, {a.tasks} tasks, {a.workers} workers")
    for name, (wall, cpu, removed) in results.items():
        print(f"  {name:9}: {wall:7.1f} s wall, {cpu:7.1f} CPU s, {mb / cpu:6.2f} MB per CPU-second, removed {len(removed)}")
    (sw, sc, sr), (dw, dc, dr) = results["sluice"], results["datatrove"]
    print(f"  speed: sluice {dw / sw:.1f}x datatrove's wall time, {dc / sc:.1f}x per CPU-second")
    both = sr & dr
    print(f"  removed by both {len(both)}, only sluice {len(sr - dr)}, only datatrove {len(dr - sr)}; "
          f"agreement (Jaccard of the removed sets) {len(both) / max(1, len(sr | dr)):.4f}")
    bins = defaultdict(lambda: [0, 0, 0])
    for src, dup, j in planted:
        b = min(int(float(j) * 20), 19)
        bins[b][0] += 1
        bins[b][1] += dup in sr
        bins[b][2] += dup in dr
    print("  planted pairs: Jaccard bin | pairs | sluice recall | datatrove recall")
    for b in sorted(bins):
        n, s, d = bins[b]
        print(f"    [{b / 20:.2f}, {(b + 1) / 20:.2f}) | {n:6} | {s / n:.3f} | {d / n:.3f}")


if __name__ == "__main__":
    main()
