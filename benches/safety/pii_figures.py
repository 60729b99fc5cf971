#!/usr/bin/env python3
"""The safety README's PII and throughput figures (`scripts/figures.sh pii`).

    cargo build --release
    cargo build --release -p sluice-safety --example pii_throughput --example pii_eval
    .venv/bin/python benches/safety/pii_figures.py [--sluice target/release/sluice] [--copies 30] [--rounds 2]

Prints, to stdout:

1. Labelled test set (`sluice_safety::testset`, real English and Chinese
   paragraphs with inserted PII values and hard negatives): precision and
   recall per kind, from the `pii_eval` example.
   Then every detection of the stage (all kinds) on the CC sample, counted
   by kind (`pii_eval --list`; each in context on stderr), and what datatrove's
   PIIFormatter finds there (emails; the IPs themselves).
2. Whole processes, real text: the CC sample (web/cc-main-2019-30.sample.jsonl.gz
   in $SLUICE_TEST_DATA) repeated --copies times into one plain JSONL file.
   sluice: `sluice run --threads 1` of a recipe JSONL reader -> `pii` -> JSONL
   writer (uncompressed), once with every kind and once with datatrove's two kinds
   (emails, IPs); datatrove: a Python process JsonlReader -> PIIFormatter ->
   JsonlWriter (uncompressed, compression=None), LocalPipelineExecutor(tasks=1, workers=1).
   Each is timed as CPU seconds (user + sys) of the child process
   (getrusage(RUSAGE_CHILDREN)); the three run one after the other, --rounds
   times alternately, and the figure is the total text MB over the total CPU
   seconds of each. Text MB: UTF-8 bytes of the documents' `text`.
3. Warm in-process loop (labelled so): the `pii_throughput` example runs a
   stage over the sample repeated in memory on one thread (its thread CPU
   time); datatrove's PIIFormatter.format() is timed here the same way.
   Also `toxicity` and `decontaminate` (index build excluded).
"""
import argparse
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))

RECIPE = """seed: 1
output: {out}
readers:
  input: {{kind: jsonl, paths: [{inp}]}}
stages:
  pii: {{kind: pii, inputs: [input]{extra}}}
writers:
  kept: {{kind: jsonl, inputs: [pii], compression: none}}
"""
DT_KINDS_OFF = "".join(f", {k}: \"off\"" for k in ("phone", "credit_card", "iban", "us_ssn", "cn_id", "secret", "url_credentials"))

DATATROVE = r"""
import sys
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.formatters import PIIFormatter
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
inp, out, logs = sys.argv[1:4]
LocalPipelineExecutor(
    pipeline=[JsonlReader(inp, glob_pattern="*.jsonl"), PIIFormatter(), JsonlWriter(out, compression=None)],
    tasks=1, workers=1, logging_dir=logs,
).run()
"""


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd, logf):
    c0, t0 = children_cpu(), time.perf_counter()
    with open(logf, "w") as fh:
        res = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT)
    wall, cpu = time.perf_counter() - t0, children_cpu() - c0
    if res.returncode != 0:
        sys.exit(f"failed (exit {res.returncode}): {' '.join(cmd)}\n" + open(logf).read()[-3000:])
    return wall, cpu


def count_rows(d):
    n = 0
    for root, _, files in os.walk(d):
        for f in files:
            if f.endswith(".jsonl"):
                with open(os.path.join(root, f), "rb") as fh:
                    n += sum(1 for line in fh if line.strip())
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", default=os.path.join(TARGET, "release", "sluice"))
    ap.add_argument("--examples", default=os.path.join(TARGET, "release", "examples"))
    ap.add_argument("--data", default=os.environ.get("SLUICE_TEST_DATA", os.path.join(ROOT, "..", "shared", "data")))
    ap.add_argument("--copies", type=int, default=30, help="copies of the CC sample in the whole-process input")
    ap.add_argument("--rounds", type=int, default=2, help="alternate rounds of the whole-process runs")
    ap.add_argument("--loop-mb", type=float, default=100, help="MB of text per in-process loop of pii_throughput")
    args = ap.parse_args()
    sample = os.path.join(args.data, "web", "cc-main-2019-30.sample.jsonl.gz")
    for p in [sample, args.sluice, os.path.join(args.examples, "pii_eval"), os.path.join(args.examples, "pii_throughput")]:
        if not os.path.exists(p):
            sys.exit(f"not found: {p} (cargo build --release && cargo build --release -p sluice-safety --example pii_throughput --example pii_eval; shared data: SLUICE_TEST_DATA)")
    os.environ["SLUICE_TEST_DATA"] = args.data

    # 1. labelled test set
    log("pii_eval ...")
    t0 = time.perf_counter()
    ev = subprocess.run([os.path.join(args.examples, "pii_eval"), "--errors", "0"], check=True, capture_output=True, text=True)
    print(f"### Labelled PII test set (pii_eval example, seed 1, {time.perf_counter() - t0:.1f} s)")
    print(ev.stdout.rstrip())
    # totals of the table above
    inserted, negs, scrubbed, in_neg = 0, 0, 0, False
    for line in ev.stdout.splitlines():
        f = line.split()
        if line.startswith("hard negatives"):
            in_neg = True
        elif line.startswith("background"):
            in_neg = False
        elif in_neg and len(f) >= 3:
            negs += int(f[-2])
            scrubbed += int(f[-1])
        elif len(f) == 7 and f[1].isdigit():
            inserted += int(f[1]) + int(f[3])  # tp + fn
    print(f"totals: {inserted} inserted values; hard negatives: {scrubbed} of {negs} scrubbed")

    with gzip.open(sample, "rb") as f:
        lines = [line if line.endswith(b"\n") else line + b"\n" for line in f if line.strip()]
    texts = [json.loads(line)["text"] for line in lines]
    one = sum(len(t.encode("utf-8")) for t in texts)

    # detections on real web text: ours (pii_eval --list) and datatrove's IPs
    ls = subprocess.run([os.path.join(args.examples, "pii_eval"), "--list", sample], check=True, capture_output=True, text=True)
    from datatrove.pipeline.formatters import PIIFormatter

    fmt = PIIFormatter()
    dt_emails = sum(len(fmt.emails_replacer.regex.findall(t)) for t in texts)
    dt_ips = [m.group(0) for t in texts for m in fmt.ip_replacer.regex.finditer(t) if fmt.ip_replacer.validator(m.group(0))]
    print()
    print(f"### Detections on real web text: the CC sample ({len(texts)} documents), every kind on")
    print(f"sluice (pii_eval --list; the job's stderr has each one in context): {ls.stdout.strip().splitlines()[-1]}")
    sys.stderr.write(ls.stdout)
    print(f"datatrove PIIFormatter on the same documents: {dt_emails} emails, {len(dt_ips)} IPs: {dt_ips}")

    tmp = tempfile.mkdtemp(prefix="sluice-pii-fig-", dir=os.environ.get("TMPDIR", "/tmp"))
    try:
        # 2. whole processes
        indir = os.path.join(tmp, "in")
        os.makedirs(indir)
        inp = os.path.join(indir, "cc.jsonl")
        with open(inp, "wb") as out:
            for _ in range(args.copies):
                out.writelines(lines)
        mb = one * args.copies / 1e6
        dt_script = os.path.join(tmp, "dt_pii.py")
        with open(dt_script, "w") as fh:
            fh.write(DATATROVE)
        recipes = {}
        for name, extra in [("all", ""), ("dt", DT_KINDS_OFF)]:
            recipes[name] = os.path.join(tmp, f"pii-{name}.yaml")
            with open(recipes[name], "w") as fh:
                fh.write(RECIPE.format(out=json.dumps(os.path.join(tmp, f"out-{name}")), inp=json.dumps(inp), extra=extra))
        runs = {
            "all": lambda: [args.sluice, "run", "--progress", "off", "--threads", "1", recipes["all"]],
            "dt": lambda: [args.sluice, "run", "--progress", "off", "--threads", "1", recipes["dt"]],
            "datatrove": lambda: [sys.executable, dt_script, indir, os.path.join(tmp, "out-datatrove"), os.path.join(tmp, "logs-datatrove")],
        }
        tot = {k: [0.0, 0.0] for k in runs}
        for rnd in range(args.rounds):
            for k, cmd in runs.items():
                for d in ("out-all", "out-dt", "out-datatrove", "logs-datatrove"):
                    shutil.rmtree(os.path.join(tmp, d), ignore_errors=True)
                log(f"round {rnd + 1}: {k} ...")
                w, c = timed(cmd(), os.path.join(tmp, f"{k}.log"))
                log(f"  {w:.2f} s wall, {c:.2f} CPU s")
                tot[k][0] += w
                tot[k][1] += c
                outdir = {"all": "out-all", "dt": "out-dt", "datatrove": "out-datatrove"}[k]
                got = count_rows(os.path.join(tmp, outdir))
                # datatrove's reader skips documents with empty text (27 in the sample)
                if got not in (len(lines) * args.copies, sum(1 for t in texts if t) * args.copies):
                    sys.exit(f"{k}: wrote {got} documents, expected {len(lines) * args.copies}")
        rate = {k: mb * args.rounds / v[1] for k, v in tot.items()}
        print()
        print(f"### Whole processes, real text: CC sample x {args.copies} = {len(lines) * args.copies} documents, {mb:.1f} MB of text, "
              f"JSONL in -> pii -> JSONL out (uncompressed), 1 thread, {args.rounds} alternate rounds (totals)")
        print("| | wall s | CPU s | MB per CPU-second | vs datatrove |")
        print("|---|---|---|---|---|")
        labels = {"all": "sluice `pii`, all nine kinds", "dt": "sluice `pii`, emails + IPs only (datatrove's kinds)",
                  "datatrove": "datatrove 0.10.1 `PIIFormatter` (emails + IPs)"}
        for k in ("all", "dt", "datatrove"):
            print(f"| {labels[k]} | {tot[k][0]:.2f} | {tot[k][1]:.2f} | {rate[k]:.2f} | {rate[k] / rate['datatrove']:.1f}x |")
        print(f"whole-process ratio, same kinds (emails + IPs): {rate['dt'] / rate['datatrove']:.1f}x datatrove per CPU-second")
        print(f"whole-process ratio, all nine kinds vs datatrove's two: {rate['all'] / rate['datatrove']:.1f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    # 3. warm in-process loops
    bin_ = os.path.join(args.examples, "pii_throughput")
    loop = {}
    for k, extra in [("pii all nine kinds", []), ("pii emails + IPs", ["--datatrove-kinds"]), ("toxicity", ["--stage", "toxicity"]),
                     ("decontaminate", ["--stage", "decontaminate", "--eval-dir", os.path.join(args.data, "eval")])]:
        log(f"loop: {k} ...")
        out = subprocess.run([bin_, sample, "--min-mb", str(args.loop_mb)] + extra, check=True, capture_output=True, text=True)
        loop[k] = json.loads(out.stdout.strip().splitlines()[-1])
    passes = 3
    t0 = time.thread_time()
    for _ in range(passes):
        for t in texts:
            fmt.format(t)
    dt_rate = one * passes / 1e6 / (time.thread_time() - t0)
    print()
    print(f"### Warm in-process loop (not whole processes): one thread's CPU time, CC sample repeated in memory "
          f"({args.loop_mb:.0f} MB for sluice, {passes} passes for datatrove)")
    print("| | MB per CPU-second | vs datatrove loop |")
    print("|---|---|---|")
    for k, r in loop.items():
        ratio = f"{r['mb_per_cpu_s'] / dt_rate:.1f}x" if k.startswith("pii") else ""
        print(f"| sluice `{k.split(' ')[0]}`{k[len(k.split(' ')[0]):]} | {r['mb_per_cpu_s']:.1f} | {ratio} |")
    print(f"| datatrove PIIFormatter.format() | {dt_rate:.2f} | 1 |")


if __name__ == "__main__":
    main()
