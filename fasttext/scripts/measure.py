#!/usr/bin/env python3
"""Interop and speed of sluice-fasttext against Python fastText (fasttext-wheel 0.9.2).

Builds a labelled set from ../shared/data (SLUICE_TEST_DATA): 60-word chunks of
Gutenberg novels (book), WikiText (wiki), Hong Lou Meng (zh, characters as
tokens; 150 characters) and the Common Crawl sample (web), at most 6000 per
class, shuffled with seed 1, 80% train / 20% held out. Then, for each model
configuration:
  - train with Python fastText (thread=1, seed=0), score every held-out line
    with both implementations (all label probabilities), report the largest
    difference;
  - train the same configuration with sluice, load it in Python, report the
    largest difference and the held-out P@1 of both;
  - quantize Python models to .ftz and compare likewise;
  - speed: scoring MB per CPU-second (Python `model.predict(line, k=1)` loop vs
    examples/bench_predict), training CPU seconds (train_supervised(thread=1)
    vs examples/train as a whole process) on the training set repeated 4 times.

Usage (from the repository root):
  cargo build --release -p sluice-fasttext --examples
  python -m venv /tmp/ftpy && /tmp/ftpy/bin/pip install fasttext-wheel 'numpy<2'
  /tmp/ftpy/bin/python fasttext/scripts/measure.py --work /tmp/ftwork [--bin target/release/examples]
"""
import argparse, glob, gzip, json, os, random, resource, subprocess, sys, time

import fasttext

ap = argparse.ArgumentParser()
ap.add_argument("--work", required=True)
ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "examples"))
ap.add_argument("--data", default=os.environ.get("SLUICE_TEST_DATA", "../shared/data"))
ap.add_argument("--skip-speed", action="store_true")
a = ap.parse_args()
os.makedirs(a.work, exist_ok=True)
W = lambda f: os.path.join(a.work, f)
B = lambda f: os.path.join(a.bin, f)
if not os.path.isfile(os.path.join(a.data, "README.md")):
    sys.exit(f"shared test data not found at {a.data}: set SLUICE_TEST_DATA")


def chunks(text, n):
    w = text.split()
    for i in range(0, len(w) - n, n):
        yield " ".join(w[i : i + n])


def build():
    random.seed(1)
    docs = []
    for f in sorted(glob.glob(a.data + "/reference/en/*.txt")):
        t = open(f, encoding="utf-8", errors="replace").read()
        docs += [("book", c.lower()) for c in chunks(t, 60)]
    for f in sorted(glob.glob(a.data + "/reference/en/*.raw")):
        t = open(f, encoding="utf-8", errors="replace").read()
        docs += [("wiki", c.lower()) for c in chunks(t, 60)]
    for f in sorted(glob.glob(a.data + "/reference/zh/*.txt")):
        t = open(f, encoding="utf-8", errors="replace").read().replace("\n", " ")
        docs += [("zh", " ".join(t[i : i + 150])) for i in range(0, len(t) - 150, 150)]
    for l in gzip.open(a.data + "/web/cc-main-2019-30.sample.jsonl.gz", "rt"):
        docs += [("web", c.lower()) for c in chunks(json.loads(l)["text"], 60)]
    random.shuffle(docs)
    out, cnt = [], {}
    for lab, c in docs:
        cnt[lab] = cnt.get(lab, 0) + 1
        if cnt[lab] <= 6000:
            out.append((lab, c))
    k = int(len(out) * 0.8)
    for name, part in (("train.txt", out[:k]), ("test.txt", out[k:])):
        with open(W(name), "w") as f:
            for lab, c in part:
                f.write(f"__label__{lab} {c}\n")
    with open(W("train4.txt"), "w") as f:
        f.write(open(W("train.txt")).read() * 4)
    print(f"data: {k} training, {len(out) - k} held-out lines")


def py_probs(m, path):
    labels = m.labels
    rows = []
    for line in open(W("test.txt"), encoding="utf-8"):
        pr = {l: p for p, l in m.f.predict(line, -1, 0.0, "strict")}
        rows.append([pr.get(l, 0.0) for l in labels])
    return labels, rows


def rs_probs(model):
    out = subprocess.run([B("probs"), model, W("test.txt")], check=True, capture_output=True, text=True).stdout.splitlines()
    return out[0].split("\t"), [[float(x) for x in l.split("\t")] for l in out[1:]]


def maxdiff(x, y):
    (la, ra), (lb, rb) = x, y
    assert la == lb, (la, lb)
    assert len(ra) == len(rb)
    m = 0.0
    for u, v in zip(ra, rb):
        for p, q in zip(u, v):
            # fastText's hierarchical softmax leaves out labels below 1e-5.
            if min(p, q) == 0.0 and max(p, q) < 2e-5:
                continue
            m = max(m, abs(p - q))
    return m


CONFIGS = {
    "softmax": ({"loss": "softmax"}, ["loss=softmax"]),
    "ova": ({"loss": "ova"}, ["loss=ova"]),
    "hs": ({"loss": "hs"}, ["loss=hs"]),
    "bigrams": ({"loss": "softmax", "wordNgrams": 2, "bucket": 200000, "dim": 32}, ["loss=softmax", "ngrams=2", "bucket=200000", "dim=32"]),
    "chargrams": ({"loss": "softmax", "minn": 2, "maxn": 4, "bucket": 100000, "dim": 16, "epoch": 3}, ["loss=softmax", "minn=2", "maxn=4", "bucket=100000", "dim=16", "epoch=3"]),
}


def interop():
    print("\n## interop (max |difference| of every label probability on every held-out line)")
    for name, (pyk, rsk) in CONFIGS.items():
        m = fasttext.train_supervised(W("train.txt"), thread=1, verbose=0, seed=0, **pyk)
        m.save_model(W(f"py_{name}.bin"))
        d1 = maxdiff(py_probs(m, W("test.txt")), rs_probs(W(f"py_{name}.bin")))
        subprocess.run([B("train"), W("train.txt"), W(f"rs_{name}.bin")] + rsk, check=True, capture_output=True)
        mr = fasttext.load_model(W(f"rs_{name}.bin"))
        d2 = maxdiff(py_probs(mr, W("test.txt")), rs_probs(W(f"rs_{name}.bin")))
        p1_py, p1_rs = m.test(W("test.txt"))[1], mr.test(W("test.txt"))[1]
        print(f"{name:10} python-trained scored by sluice: {d1:.2g}; sluice-trained scored by python: {d2:.2g}; "
              f"held-out P@1 python-trained {p1_py:.4f}, sluice-trained {p1_rs:.4f}")
    # .ftz: one with cutoff + qnorm; one with qout (needs >= 256 labels) + qnorm; one without qnorm.
    with open(W("many.txt"), "w") as f:
        for i, line in enumerate(open(W("train.txt"))):
            if i >= 6000:
                break
            w = line.split()[1:]
            f.write(f"__label__c{(sum(len(x) for x in w[:3]) * 37 + len(w[3]) * 7) % 300} {' '.join(w)}\n")
    base = fasttext.train_supervised(W("many.txt"), thread=1, verbose=0, dim=20, wordNgrams=2, bucket=50000, minn=3, maxn=5, epoch=2)
    base.save_model(W("py_many.bin"))
    for name, src, kw in [
        ("ftz-cutoff", "py_bigrams.bin", dict(qnorm=True, cutoff=20000, retrain=False)),
        ("ftz-qout", "py_many.bin", dict(qnorm=True, qout=True, cutoff=0, retrain=False)),
        ("ftz-dsub3", "py_many.bin", dict(qnorm=False, cutoff=5000, retrain=False, dsub=3)),
    ]:
        m = fasttext.load_model(W(src))
        m.quantize(input=W("train.txt" if src == "py_bigrams.bin" else "many.txt"), **kw)
        m.save_model(W(f"{name}.ftz"))
        print(f"{name:10} python-quantized scored by sluice: {maxdiff(py_probs(m, W('test.txt')), rs_probs(W(name + '.ftz'))):.2g}")


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def speed():
    print("\n## scoring, MB of text per CPU-second (one core)")
    data = open(W("train4.txt"), encoding="utf-8").read()
    lines = data.split("\n")[:-1]
    nbytes = len(data.encode())
    with open(W("score.txt"), "w") as f:
        f.write(data)
    for name in ["softmax", "bigrams", "chargrams"]:
        m = fasttext.load_model(W(f"py_{name}.bin"))
        t = time.process_time()
        for l in lines:
            m.predict(l, k=1)
        py = nbytes / 1e6 / (time.process_time() - t)
        out = subprocess.run([B("bench_predict"), W(f"py_{name}.bin"), W("score.txt")], check=True, capture_output=True, text=True).stdout
        rs = float(out.split(" MB per CPU-second")[0].split()[-1])
        print(f"{name:10} python predict(k=1) {py:.1f}; sluice predict_into (all labels) {rs:.1f}; ratio {rs / py:.1f}x")
    print("\n## training, CPU seconds on 4 x the training set, one thread")
    for name in ["softmax", "bigrams", "chargrams"]:
        pyk, rsk = CONFIGS[name]
        if name == "bigrams":  # fastText's default bucket count
            pyk, rsk = dict(pyk, bucket=2000000, dim=100), [k for k in rsk if not k.startswith(("bucket", "dim"))]
        t = time.process_time()
        fasttext.train_supervised(W("train4.txt"), thread=1, verbose=0, seed=0, **pyk)
        py = time.process_time() - t
        c = children_cpu()
        out = subprocess.run([B("train"), W("train4.txt"), W("speed.bin")] + rsk, check=True, capture_output=True, text=True).stdout
        rs = children_cpu() - c
        print(f"{name:10} python train_supervised {py:.2f}; sluice (whole process) {rs:.2f}; ratio {py / rs:.1f}x; {out.splitlines()[-1]}")


build()
interop()
if not a.skip_speed:
    speed()
