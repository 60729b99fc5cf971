#!/usr/bin/env python3
"""Compare sluice's main-text extraction (sluice-readers' `web` module) with trafilatura on the same pages.

Usage (from the repository root):

    python3 -m venv .venv && .venv/bin/pip install trafilatura lxml_html_clean
    cargo build --release -p sluice-readers --example extract_eval
    .venv/bin/python benches/extract/compare_trafilatura.py [--data DIR] [--bin PATH] [--verbose]

Both systems are scored here, by the same code, on the same 149 pages of the
trafilatura evaluation set (html/trafilatura-eval in the shared data directory).
Our binary is run with --dump: it writes its extracted texts as JSON, which this
script scores; its self-reported timing (extraction only, one thread, best of
--repeat passes) is used for speed. trafilatura is timed the same way: the loop
around extract() only, one thread, pages already in memory, best of --traf-repeat
passes. Both wall-clock and thread CPU time are reported; the speed ratio uses
CPU time, which other jobs on a shared machine disturb least.

Scoring: text and snippets are whitespace-normalised (runs of whitespace
collapsed to one space, as trafilatura's own evaluation does). For each page, a
`with` snippet found in the text is a true positive (TP), a `with` snippet missing
is a false negative (FN), a `without` snippet present is a false positive (FP) and
absent a true negative (TN). precision = TP/(TP+FP), recall = TP/(TP+FN),
F1 = 2PR/(P+R), accuracy = (TP+TN)/all.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))


def normalise(s):
    return " ".join(s.split())


def score(pages, texts):
    tp = fn = fp = tn = 0
    failures = {}
    for url, page in pages.items():
        text = normalise(texts.get(url) or "")
        missing = [s for s in page["with"] if normalise(s) not in text]
        present = [s for s in page["without"] if normalise(s) in text]
        tp += len(page["with"]) - len(missing)
        fn += len(missing)
        fp += len(present)
        tn += len(page["without"]) - len(present)
        if missing or present:
            failures[url] = (missing, present)
    p = tp / max(tp + fp, 1)
    r = tp / max(tp + fn, 1)
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {
        "tp": tp, "fn": fn, "fp": fp, "tn": tn,
        "with_found": r, "without_absent": tn / max(tn + fp, 1),
        "precision": p, "recall": r, "f1": f1,
        "accuracy": (tp + tn) / max(tp + tn + fp + fn, 1),
    }, failures


# The whole-process comparison: each side is one child process that starts,
# loads its code, reads the 149 pages from disk and extracts them once.
TRAF_CHILD = """
import json, os, sys
import trafilatura
data = sys.argv[1]
gold = json.load(open(os.path.join(data, "gold.json"), encoding="utf-8"))
n = 0
for url, g in gold.items():
    html = open(os.path.join(data, "pages", g["file"]), "rb").read()
    n += len(trafilatura.extract(html, url=url, include_comments=False) or "")
print(n)
"""


def child_cpu(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def whole_processes(args, n_pages, runs):
    """Both sides as whole processes, alternately, `runs` times; medians."""
    traf, ours = [], []
    for _ in range(runs):
        traf.append(child_cpu([sys.executable, "-c", TRAF_CHILD, args.data]))
        ours.append(child_cpu([args.bin, "--data", args.data, "--dump", "--repeat", "1"]))
    med = lambda xs, i: sorted(x[i] for x in xs)[len(xs) // 2]
    tc, oc = med(traf, 1), med(ours, 1)
    print(f"whole processes (start, load, read the pages, extract once; median of {runs}, run alternately):")
    print(f"  trafilatura {tc:.2f} CPU-s ({n_pages / tc:.1f} pages per CPU-second), "
          f"sluice {oc:.2f} CPU-s ({n_pages / oc:.1f} pages per CPU-second): {tc / oc:.1f}x per CPU-second")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_data = os.path.join(
        os.environ.get("SLUICE_TEST_DATA", os.path.join(ROOT, "..", "shared", "data")), "html", "trafilatura-eval")
    ap.add_argument("--data", default=default_data)
    ap.add_argument("--bin", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "examples", "extract_eval"))
    ap.add_argument("--process-runs", type=int, default=3, help="whole-process runs of each side (0: skip)")
    ap.add_argument("--verbose", action="store_true", help="print per-page failures of both systems")
    ap.add_argument("--repeat", type=int, default=5, help="timing passes for our binary (best is kept)")
    ap.add_argument("--traf-repeat", type=int, default=1, help="timing passes for trafilatura (best is kept)")
    args = ap.parse_args()

    import trafilatura  # imported here so --help works without it

    with open(os.path.join(args.data, "gold.json"), encoding="utf-8") as f:
        gold = json.load(f)
    pages = {}
    for url, g in gold.items():
        with open(os.path.join(args.data, "pages", g["file"]), "rb") as f:
            pages[url] = {"html": f.read(), "with": g.get("with", []), "without": g.get("without", [])}
    total_bytes = sum(len(p["html"]) for p in pages.values())

    # trafilatura: default settings except comments, which the gold treats as
    # boilerplate. It decodes the bytes itself (its own charset detection).
    texts = {}
    traf_secs = traf_cpu = float("inf")
    for _ in range(max(args.traf_repeat, 1)):
        start, cpu_start = time.perf_counter(), time.thread_time()
        for url, page in pages.items():
            texts[url] = trafilatura.extract(page["html"], url=url, include_comments=False) or ""
        traf_secs = min(traf_secs, time.perf_counter() - start)
        traf_cpu = min(traf_cpu, time.thread_time() - cpu_start)
    traf, traf_fail = score(pages, texts)

    # sluice: the Rust example dumps its texts and times itself.
    if not os.path.exists(args.bin):
        sys.exit(f"{args.bin} not found: build it with `cargo build --release -p sluice-readers --example extract_eval`")
    out = subprocess.run([args.bin, "--data", args.data, "--dump", "--repeat", str(args.repeat)],
                         check=True, capture_output=True, text=True).stdout
    dump = json.loads(out)
    ours, ours_fail = score(pages, dump["texts"])
    ours_secs = dump["seconds"]
    ours_cpu = dump.get("cpu_seconds", ours_secs)

    def row(name, key, fmt="{:.3f}"):
        print(f"{name:<34}{fmt.format(traf[key]):>14}{fmt.format(ours[key]):>14}")

    for d, wall, cpu in ((traf, traf_secs, traf_cpu), (ours, ours_secs, ours_cpu)):
        d["pages_s"] = len(pages) / wall
        d["mb_s"] = total_bytes / 1e6 / wall
        d["pages_s_cpu"] = len(pages) / cpu
        d["mb_s_cpu"] = total_bytes / 1e6 / cpu
    print(f"{len(pages)} pages, {total_bytes / 1e6:.1f} MB of HTML; trafilatura {trafilatura.__version__}")
    print(f"{'':<34}{'trafilatura':>14}{'sluice':>14}")
    row("with found (recall)", "with_found")
    row("without absent", "without_absent")
    row("precision TP/(TP+FP)", "precision")
    row("recall TP/(TP+FN)", "recall")
    row("F1", "f1")
    row("accuracy (TP+TN)/all", "accuracy")
    counts = lambda d: f"{d['tp']}/{d['fn']}/{d['fp']}/{d['tn']}"
    print(f"{'TP/FN/FP/TN':<34}{counts(traf):>14}{counts(ours):>14}")
    row("pages/s (1 thread, wall)", "pages_s", "{:.1f}")
    row("MB HTML/s (1 thread, wall)", "mb_s", "{:.2f}")
    row("pages/s (1 thread, CPU time)", "pages_s_cpu", "{:.1f}")
    row("MB HTML/s (1 thread, CPU time)", "mb_s_cpu", "{:.2f}")
    print(f"speed ratio sluice / trafilatura (warm in-process loops): {ours['mb_s_cpu'] / traf['mb_s_cpu']:.1f}x by CPU time, "
          f"{ours['mb_s'] / traf['mb_s']:.1f}x by wall clock")
    if args.process_runs > 0:
        whole_processes(args, len(pages), args.process_runs)
    print("TP = `with` snippet found, FN = `with` missing, FP = `without` present, TN = `without` absent;"
          " matching on whitespace-normalised text.")
    if args.verbose:
        for name, fails in (("trafilatura", traf_fail), ("sluice", ours_fail)):
            print(f"\n=== {name}: {len(fails)} pages with failures")
            for url, (missing, present) in sorted(fails.items()):
                print(f"--- {url}")
                for s in missing:
                    print(f"  MISSING  {s!r}")
                for s in present:
                    print(f"  PRESENT  {s!r}")


if __name__ == "__main__":
    main()
