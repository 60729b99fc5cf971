#!/usr/bin/env python3
"""sluice's fastText classifier against Python fastText, side by side (issue 16,
acceptance 2 and 3), on the set that make_dataset.py writes.

For each configuration, in the same run, as whole processes, on the same files
and hyper-parameters:
  - train with Python fastText (`fasttext-wheel`, thread=1) and with
    `sluice classifier train`: training words/s per CPU-second (CPU-seconds of
    the child process, user+sys, from getrusage(RUSAGE_CHILDREN));
  - score the held-out test set with both (Python `model.predict(list_of_lines,
    k=-1, threshold=0)` and `sluice classifier predict --probs`), then ROC AUC
    and F1 from each tool's probabilities with the same code below;
  - score a larger file (every train and test document, text only) with both
    for MB/s per CPU-second. Python's process start + import + model load is
    measured inside the process (time.process_time) and reported apart from
    its scoring loop; sluice's is measured by scoring an empty file. Python's
    baseline is one predict call with the list of lines; a loop of one call per
    line is reported beside it.
Words = whitespace-separated tokens of train.txt that are not labels, times
epochs (the same count on both sides).

    python3 benches/classify/make_dataset.py
    target/py/bin/python benches/classify/compare.py [--data target/classify/data]
    target/py/bin/python benches/classify/compare.py --make-dataset   # both, one command

Run it with a Python that has `fasttext` (fasttext-wheel) and numpy<2:
    python3 -m venv target/py && target/py/bin/pip install fasttext-wheel 'numpy<2'
Env: SLUICE_BIN (default target/release/sluice).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))

# The first is fastText's supervised defaults (bucket 0 as the fastText CLI sets
# it when there are neither word n-grams nor char n-grams; Python's
# train_supervised would otherwise allocate 2M unused bucket rows). The second
# adds word bigrams and char 2-5-grams, with lr 0.5 (at lr 0.1 five epochs
# underfit this set: AUC 0.69 for fastText itself).
CONFIGS = {
    "words": dict(dim=100, lr=0.1, epoch=5, wordNgrams=1, minn=0, maxn=0, bucket=0, minCount=1, loss="softmax"),
    "ngrams": dict(dim=50, lr=0.5, epoch=5, wordNgrams=2, minn=2, maxn=5, bucket=200000, minCount=1, loss="softmax"),
}

PY_TRAIN = r"""
import json, sys, time
import fasttext
cfg = json.loads(sys.argv[3])
m = fasttext.train_supervised(sys.argv[1], thread=1, verbose=0, seed=0, **cfg)
m.save_model(sys.argv[2])
"""

PY_PREDICT = r"""
import json, sys, time
t0 = time.process_time()
import fasttext
fasttext.FastText.eprint = lambda *a, **k: None
m = fasttext.load_model(sys.argv[1])
t1 = time.process_time()
lines = open(sys.argv[2], encoding="utf-8", newline="").read().split("\n")
if lines and lines[-1] == "":
    lines.pop()
t2 = time.process_time()
if sys.argv[4] == "list":
    labels, probs = m.predict(lines, k=-1, threshold=0.0)
else:  # one call per document, as a Python loop over documents calls it
    labels, probs = [], []
    for line in lines:
        ls, ps = m.predict(line, k=-1, threshold=0.0)
        labels.append(ls)
        probs.append(ps)
t3 = time.process_time()
if sys.argv[3] != "-":
    with open(sys.argv[3], "w") as f:
        for ls, ps in zip(labels, probs):
            f.write(json.dumps({l: float(p) for l, p in zip(ls, ps)}) + "\n")
print(json.dumps({"start_load_cpu": t1, "read_cpu": t2 - t1, "loop_cpu": t3 - t2, "docs": len(lines)}))
"""


def sluice_bin():
    p = os.environ.get("SLUICE_BIN", os.path.join(TARGET, "release", "sluice"))
    if not os.path.isfile(p):
        sys.exit(f"error: no sluice binary at {p}; cargo build --release --bin sluice, or set SLUICE_BIN")
    return p


def run_child(cmd, stdout=None):
    """Runs cmd as a whole process; returns (CPU-seconds user+sys, wall seconds, stdout bytes)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(cmd, stdout=stdout if stdout is not None else subprocess.PIPE, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} exited {r.returncode}:\n{r.stderr.decode(errors='replace')}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, r.stdout


# --- sluice's CLI (the flags of `sluice classifier train|predict`) -----------------------------


def sluice_train_cmd(train, model, cfg):
    return [
        sluice_bin(),
        "classifier",
        "train",
        "--input",
        train,
        "--output",
        model,
        "--dim",
        str(cfg["dim"]),
        "--lr",
        str(cfg["lr"]),
        "--epoch",
        str(cfg["epoch"]),
        "--word-ngrams",
        str(cfg["wordNgrams"]),
        "--minn",
        str(cfg["minn"]),
        "--maxn",
        str(cfg["maxn"]),
        "--bucket",
        str(cfg["bucket"]),
        "--min-count",
        str(cfg["minCount"]),
        "--loss",
        cfg["loss"],
    ]


def sluice_predict_cmd(model, text_file):
    return [sluice_bin(), "classifier", "predict", "--model", model, "--probs", "--input", text_file]


def parse_sluice_probs(out_bytes):
    """One line per document: `__label__a p __label__b p ...` (fastText's predict-prob format), or a JSON object."""
    res = []
    for line in out_bytes.decode("utf-8").split("\n"):
        if not line:
            continue
        if line.startswith("{"):
            obj = json.loads(line)
            res.append({k: float(v) for k, v in obj.get("probs", obj).items()})
            continue
        f = line.split()
        res.append({f[i]: float(f[i + 1]) for i in range(0, len(f) - 1, 2)})
    return res


# --- metrics (the same code for both tools) ----------------------------------------------------


def roc_auc(scores, labels):
    """Mann-Whitney AUC with average ranks for ties."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    npos = sum(labels)
    nneg = len(labels) - npos
    rsum = sum(r for r, y in zip(ranks, labels) if y)
    return (rsum - npos * (npos + 1) / 2) / (npos * nneg)


def f1(pred, gold):
    tp = sum(1 for p, g in zip(pred, gold) if p and g)
    fp = sum(1 for p, g in zip(pred, gold) if p and not g)
    fn = sum(1 for p, g in zip(pred, gold) if not p and g)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def quality(probs, gold, pos="__label__hq"):
    s = [p.get(pos, 0.0) for p in probs]
    hq = [x >= 0.5 for x in s]
    return dict(auc=roc_auc(s, gold), f1_hq=f1(hq, gold), f1_cc=f1([not x for x in hq], [not g for g in gold]))


# ------------------------------------------------------------------------------------------------


def read_labelled(path):
    gold, texts = [], []
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        label, _, text = line.partition(" ")
        gold.append(label == "__label__hq")
        texts.append(text)
    return gold, texts


def count_words(path):
    n = 0
    for line in open(path, encoding="utf-8"):
        n += sum(1 for t in line.split() if not t.startswith("__label__"))
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(TARGET, "classify", "data"))
    ap.add_argument("--work", default=os.path.join(TARGET, "classify", "compare"))
    ap.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated: " + ", ".join(CONFIGS))
    ap.add_argument("--repeat", type=int, default=3, help="runs of each timed command; the figures are the least CPU-seconds")
    ap.add_argument("--make-dataset", action="store_true",
                    help="first (re)build --data with make_dataset.py and print its per-source table")
    args = ap.parse_args()
    if args.make_dataset:
        # make_dataset.py needs only the standard library and SLUICE_BIN; its
        # table (documents, words, MB per source and split) goes to stdout.
        r = subprocess.run([sys.executable, os.path.join(HERE, "make_dataset.py"), "--out", args.data],
                           stdout=subprocess.PIPE, text=True)
        sys.stdout.write(r.stdout)
        if r.returncode != 0:
            sys.exit(f"error: make_dataset.py exited {r.returncode}")
        print(flush=True)
    try:
        import fasttext  # noqa: F401
        import numpy
    except ImportError as e:
        sys.exit(f"error: {e}; run this with a Python that has fasttext-wheel and numpy<2 (see --help)")
    if int(numpy.__version__.split(".")[0]) >= 2:
        sys.exit(f"error: numpy {numpy.__version__}: fastText 0.9.2's list predict needs numpy<2 (under numpy 2 it fails or returns wrong probabilities)")
    os.makedirs(args.work, exist_ok=True)
    train = os.path.join(args.data, "train.txt")
    test = os.path.join(args.data, "test.txt")
    for p in (train, test):
        if not os.path.isfile(p):
            sys.exit(f"error: {p} is missing; run benches/classify/make_dataset.py first")

    gold, test_texts = read_labelled(test)
    test_txt = os.path.join(args.work, "test.text")
    with open(test_txt, "w", encoding="utf-8") as f:
        f.writelines(t + "\n" for t in test_texts)
    speed_txt = os.path.join(args.work, "speed.text")
    with open(speed_txt, "w", encoding="utf-8") as f:
        for p in (train, test):
            f.writelines(t + "\n" for t in read_labelled(p)[1])
    empty_txt = os.path.join(args.work, "empty.text")
    open(empty_txt, "w").close()
    speed_mb = os.path.getsize(speed_txt) / 1e6
    train_words = count_words(train)
    print(f"data: {args.data}  train {train_words} words  test {len(gold)} docs ({sum(gold)} hq, {len(gold) - sum(gold)} cc)  "
          f"speed set {speed_mb:.2f} MB", flush=True)
    py = sys.executable
    results = {}
    for name in args.configs.split(","):
        cfg = CONFIGS[name]
        words = train_words * cfg["epoch"]
        r = results[name] = {"config": cfg}
        ft_model = os.path.join(args.work, f"{name}.fasttext.bin")
        sl_model = os.path.join(args.work, f"{name}.sluice.bin")
        print(f"\n== {name}: {json.dumps(cfg)}", flush=True)

        # alternate the tools, so that a load on the machine hits both alike
        runs = {"fasttext": [], "sluice": []}
        for _ in range(args.repeat):
            runs["fasttext"].append(run_child([py, "-c", PY_TRAIN, train, ft_model, json.dumps(cfg)])[:2])
            runs["sluice"].append(run_child(sluice_train_cmd(train, sl_model, cfg))[:2])
        for tool, rs in runs.items():
            cpu, wall = min(rs)
            r[f"{tool}_train"] = dict(cpu=cpu, wall=wall, words_per_cpu_s=words / cpu, all_cpu=[c for c, _ in rs])

        for tool, model in (("fasttext", ft_model), ("sluice", sl_model)):
            # quality: each tool scores the test set with its own model
            out = os.path.join(args.work, f"{name}.{tool}.test.probs.jsonl")
            if tool == "fasttext":
                run_child([py, "-c", PY_PREDICT, model, test_txt, out, "list"])
                probs = [json.loads(l) for l in open(out)]
            else:
                _, _, o = run_child(sluice_predict_cmd(model, test_txt))
                probs = parse_sluice_probs(o)
            if len(probs) != len(gold):
                sys.exit(f"error: {tool} gave {len(probs)} predictions for {len(gold)} test documents")
            r[f"{tool}_probs"] = probs
            r[f"{tool}_quality"] = quality(probs, gold)
            # speed: the larger set, whole process, probabilities discarded
            if tool == "fasttext":
                cpu, wall, o = min(run_child([py, "-c", PY_PREDICT, model, speed_txt, "-", "list"]) for _ in range(args.repeat))
                inner = json.loads(o)
                per_line = min(json.loads(run_child([py, "-c", PY_PREDICT, model, speed_txt, "-", "lines"])[2])["loop_cpu"] for _ in range(args.repeat))
                r["fasttext_score"] = dict(
                    cpu=cpu,
                    wall=wall,
                    start_load_cpu=inner["start_load_cpu"],
                    loop_cpu=inner["loop_cpu"],
                    mb_per_cpu_s_loop=speed_mb / inner["loop_cpu"],
                    mb_per_cpu_s_process=speed_mb / cpu,
                    per_line_loop_cpu=per_line,
                    mb_per_cpu_s_per_line_loop=speed_mb / per_line,
                )
            else:
                load_cpu = min(run_child(sluice_predict_cmd(model, empty_txt))[0] for _ in range(args.repeat))
                with open(os.devnull, "wb") as devnull:
                    cpu, wall, _ = min(run_child(sluice_predict_cmd(model, speed_txt), stdout=devnull) for _ in range(args.repeat))
                r["sluice_score"] = dict(
                    cpu=cpu,
                    wall=wall,
                    start_load_cpu=load_cpu,
                    loop_cpu=cpu - load_cpu,
                    mb_per_cpu_s_loop=speed_mb / max(cpu - load_cpu, 1e-9),
                    mb_per_cpu_s_process=speed_mb / cpu,
                )
        # sluice's own metrics (sluice classifier test) on its model, against the Python code above
        _, _, o = run_child([sluice_bin(), "classifier", "test", "--model", sl_model, "--input", test, "--positive", "__label__hq"])
        own = json.loads(o)["labels"]["__label__hq"]
        r["sluice_test_cli"] = dict(auc=own["roc_auc"], f1_hq=own["f1"])
        # agreement between the two tools' models (different trainings: not expected to be equal)
        fp, sp = r["fasttext_probs"], r["sluice_probs"]
        top = lambda p: max(p, key=p.get)
        r["top_label_agreement"] = sum(top(a) == top(b) for a, b in zip(fp, sp)) / len(gold)
        r["max_abs_diff_p_hq"] = max(abs(a.get("__label__hq", 0) - b.get("__label__hq", 0)) for a, b in zip(fp, sp))
        del r["fasttext_probs"], r["sluice_probs"]

        fq, sq = r["fasttext_quality"], r["sluice_quality"]
        ft, st = r["fasttext_train"], r["sluice_train"]
        fs, ss = r["fasttext_score"], r["sluice_score"]
        print(f"{'':28} {'fastText (Python)':>18} {'sluice':>12} {'sluice/fastText':>16}")
        print(f"{'ROC AUC (test)':28} {fq['auc']:18.4f} {sq['auc']:12.4f} {sq['auc'] - fq['auc']:+16.4f}  (target: within 0.01)")
        print(f"{'F1 hq @0.5':28} {fq['f1_hq']:18.4f} {sq['f1_hq']:12.4f} {sq['f1_hq'] - fq['f1_hq']:+16.4f}")
        print(f"{'F1 cc @0.5':28} {fq['f1_cc']:18.4f} {sq['f1_cc']:12.4f} {sq['f1_cc'] - fq['f1_cc']:+16.4f}")
        print(f"{'train CPU-s (least of runs)':28} {ft['cpu']:18.2f} {st['cpu']:12.2f}   "
              f"runs: fastText {' '.join(f'{c:.2f}' for c in ft['all_cpu'])}; sluice {' '.join(f'{c:.2f}' for c in st['all_cpu'])}")
        print(f"{'train words/CPU-s':28} {ft['words_per_cpu_s']:18,.0f} {st['words_per_cpu_s']:12,.0f} "
              f"{st['words_per_cpu_s'] / ft['words_per_cpu_s']:15.2f}x  (target: >= 1x)")
        print(f"{'score: start+load CPU-s':28} {fs['start_load_cpu']:18.3f} {ss['start_load_cpu']:12.3f}")
        print(f"{'score: loop CPU-s':28} {fs['loop_cpu']:18.3f} {ss['loop_cpu']:12.3f}")
        print(f"{'score MB/CPU-s (loop)':28} {fs['mb_per_cpu_s_loop']:18.2f} {ss['mb_per_cpu_s_loop']:12.2f} "
              f"{ss['mb_per_cpu_s_loop'] / fs['mb_per_cpu_s_loop']:15.2f}x  (target: >= 3x)")
        print(f"{'  vs a per-line predict loop':28} {fs['mb_per_cpu_s_per_line_loop']:18.2f} {ss['mb_per_cpu_s_loop']:12.2f} "
              f"{ss['mb_per_cpu_s_loop'] / fs['mb_per_cpu_s_per_line_loop']:15.2f}x")
        print(f"{'score MB/CPU-s (process)':28} {fs['mb_per_cpu_s_process']:18.2f} {ss['mb_per_cpu_s_process']:12.2f} "
              f"{ss['mb_per_cpu_s_process'] / fs['mb_per_cpu_s_process']:15.2f}x")
        print(f"top label agreement {r['top_label_agreement']:.4f}, max |P(hq) difference| {r['max_abs_diff_p_hq']:.4g}")
        print(f"sluice classifier test on the sluice model: ROC AUC {r['sluice_test_cli']['auc']:.6f} (this script: {sq['auc']:.6f}), "
              f"F1 hq {r['sluice_test_cli']['f1_hq']:.6f} (this script: {sq['f1_hq']:.6f})", flush=True)
    with open(os.path.join(args.work, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(f"\nwrote {os.path.join(args.work, 'results.json')}")


if __name__ == "__main__":
    main()
