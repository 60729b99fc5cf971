#!/usr/bin/env python3
"""The figures of report/README.md, measured now (`scripts/figures.sh report`).

    cargo build --release
    python3 report/scripts/figures.py --sluice target/release/sluice [--quickstart-files 2000]

1. A run over 10^6 generated documents (the corpus and recipe of
   tests/report_browser.rs `report_of_a_million_documents_is_under_5_mb`,
   `--tasks 4`): the size of its report.html (page-size.py) and whether it is
   under 5 MB.
2. The quickstart (`recipes/quickstart.yaml`, QUICKSTART_MAX_FILES files per
   reader, QUICKSTART_TRAIN_STEPS=0): its report's size and histograms
   (page-size.py), then the layout check of screenshot.py in headless
   Chromium at 1400 and 800 px (labels outside their chart, overlapping
   pairs, sideways scrolling). Without Chromium (`chromium` on PATH or
   SLUICE_CHROMIUM) the check is skipped and says so.

Everything runs in a scratch directory under $TMPDIR, removed at the end;
screenshots go there too (report/docs/*.png are not rewritten). Figures on
stdout, progress on stderr; exits non-zero if a run fails, the 10^6 page is
5 MB or more, or a label is outside its chart or overlaps another.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SCRIPTS = os.path.join(ROOT, "report", "scripts")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run_sluice(args, env=None):
    t = time.perf_counter()
    p = subprocess.run(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        sys.exit(f"failed: {' '.join(args)}")
    return time.perf_counter() - t


def page_size(path):
    out = subprocess.run([sys.executable, os.path.join(SCRIPTS, "page-size.py"), path], check=True,
                         stdout=subprocess.PIPE, text=True).stdout.strip()
    m = re.search(r": ([\d,]+) bytes, signals section ([\d,]+) bytes, (\d+) histograms", out)
    return int(m.group(1).replace(",", "")), int(m.group(2).replace(",", "")), int(m.group(3))


def million(sluice, work):
    """The corpus and recipe of the 10^6-document test in tests/report_browser.rs."""
    n = 1_000_000
    inp = os.path.join(work, "in")
    os.makedirs(inp)
    words = ["alpha", "beta", "gamma", "delta", "<script>x</script>", "epsilon", "zeta", '"eta"', "theta", "iota"]
    log(f"generating {n:,} documents")
    for part in range(4):
        with open(os.path.join(inp, f"part-{part}.jsonl"), "w") as f:
            for i in range(part * n // 4, (part + 1) * n // 4):
                length = 3 + (i * 7919 % 97)
                text = " ".join(words[(i + k * 31) % len(words)] for k in range(length))
                f.write(json.dumps({"id": f"d{i}", "text": text, "metadata": {"url": f"https://site{i % 1000}.example/{i}"}},
                                   separators=(",", ":")) + "\n")
    out = os.path.join(work, "out")
    recipe = os.path.join(work, "recipe.yaml")
    with open(recipe, "w") as f:
        f.write(f"""seed: 1
output: {out}
readers:
  gen:
    kind: jsonl
    paths: ["{inp}"]
stages:
  length:
    kind: length
    inputs: [gen]
    min_chars: 60
    exclusions: true
  signals:
    kind: length
    inputs: [length]
    annotate_only: true
writers:
  kept:
    kind: jsonl
    inputs: [signals]
""")
    log("sluice run (10^6 documents, --tasks 4)")
    run_s = run_sluice([sluice, "run", "--progress", "off", "--tasks", "4", recipe])
    stats = json.load(open(os.path.join(out, "stats.json")))
    read = stats["nodes"][0]["docs_out"]
    page = os.path.join(out, "report.html")
    total, signals, hists = page_size(page)
    print(f"10^6-document run ({read:,} documents read, 4 JSONL files, length filter): "
          f"report.html {total:,} bytes ({total / 1000:.0f} kB), signals section {signals:,} bytes, {hists} histograms; "
          f"{'under' if total < 5_000_000 else 'NOT under'} 5 MB")
    log(f"run {run_s:.1f} s")
    return total < 5_000_000


def quickstart(sluice, work, files, chrome):
    out = os.path.join(work, "qs")
    env = dict(os.environ, SLUICE_OUT=out, QUICKSTART_MAX_FILES=str(files), QUICKSTART_TRAIN_STEPS="0")
    log(f"sluice run recipes/quickstart.yaml (QUICKSTART_MAX_FILES={files}, QUICKSTART_TRAIN_STEPS=0)")
    run_s = run_sluice([sluice, "run", "--progress", "off", os.path.join(ROOT, "recipes", "quickstart.yaml")], env)
    log(f"run {run_s:.1f} s")
    page = os.path.join(out, "report.html")
    total, signals, hists = page_size(page)
    print(f"quickstart ({files} + {files} input files, no training): report.html {total:,} bytes, "
          f"signals section {signals:,} bytes, {hists} histograms")
    if not chrome:
        print("layout check: skipped, Chromium not found (set SLUICE_CHROMIUM or install chromium)")
        return True
    ok = True
    for width, sel, h in [(1400, "#signals", "1700"), (800, "#dropped h3:nth-of-type(3)", "1100")]:
        png = os.path.join(work, f"report-{width}.png")
        p = subprocess.run([sys.executable, os.path.join(SCRIPTS, "screenshot.py"), page, png, str(width), sel, h],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, SLUICE_CHROMIUM=chrome))
        if p.returncode != 0:
            sys.stderr.write(p.stdout + p.stderr)
            sys.exit(f"screenshot.py failed at {width} px")
        lines = p.stdout.splitlines()
        check = lines[0] if lines else "?"
        wide = next((l for l in lines if l.startswith("note: the page is")), None)
        print(f"layout in Chromium at {width} px: {check}; "
              f"{'page wider than the window' if wide else 'no sideways scrolling'}")
        m = re.match(r"(\d+) histograms: (\d+) labels outside .*, (\d+) overlapping pairs", check)
        if not m or m.group(2) != "0" or m.group(3) != "0" or wide:
            ok = False
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sluice", default=os.path.join(ROOT, "target", "release", "sluice"))
    ap.add_argument("--quickstart-files", type=int, default=2000)
    args = ap.parse_args()
    sluice = os.path.abspath(args.sluice)
    chrome = os.environ.get("SLUICE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if chrome:
        v = subprocess.run([chrome, "--version"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout.strip()
        print(f"chromium: {v or chrome}")
    work = tempfile.mkdtemp(prefix="sluice-report-figures.", dir=os.environ.get("TMPDIR"))
    try:
        ok = million(sluice, os.path.join(work, "million"))
        ok = quickstart(sluice, work, args.quickstart_files, chrome) and ok
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
