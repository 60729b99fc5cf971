#!/usr/bin/env python3
"""The dedup README's ground-truth figures (`scripts/figures.sh dedup_truth`).

    cargo test --release --no-run -p sluice-dedup --test dedup
    .venv/bin/python benches/dedup/truth_figures.py

Runs, in the release profile with one test thread and the shared data of
$SLUICE_TEST_DATA, the tests of stages/dedup/tests/dedup.rs that the README
quotes: `clough_stevenson_ground_truth` (its per-label recall and precision
become the table), the cs336 fixtures, the task/thread independence and the
spilling tests (pass/fail). Then it measures, for each Clough-Stevenson answer,
the Jaccard similarity of its word 5-gram set with its source's, the texts
normalised by datatrove's `simplify_text` (the normalisation `minhash_dedup`
reproduces), when datatrove is importable (the figures script's .venv).
"""
import csv
import os
import re
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TESTS = ["clough_stevenson_ground_truth", "clough_stevenson_cut_answer_sharing_no_text", "cs336_fuzzy_fixture",
         "cs336_line_fixture", "decisions_do_not_depend_on_tasks_or_threads", "bucket_step_spills_over_budget_with_the_same_result"]


def main():
    data = os.environ.get("SLUICE_TEST_DATA", os.path.join(ROOT, "..", "shared", "data"))
    cmd = ["cargo", "test", "--release", "-p", "sluice-dedup", "--test", "dedup", "--", "--nocapture", "--test-threads", "1", "--exact"] + TESTS
    env = dict(os.environ, CARGO_INCREMENTAL="0", SLUICE_TEST_DATA=data)
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    sys.stderr.write(p.stderr)
    if p.returncode != 0 or f"test result: ok. {len(TESTS)} passed" not in p.stdout:
        sys.stderr.write(p.stdout)
        sys.exit(f"failed: {' '.join(cmd)}")
    out = p.stdout
    print("sluice-dedup tests, cargo test --release (release profile), 1 test thread:")
    for t in TESTS:
        if not re.search(rf"^test {t} \.\.\. ", out, re.M):
            sys.exit(f"{t}: not run")
        print(f"  {t}: ok")
    print()
    print('### Clough-Stevenson: "in the same cluster as its source", 5 sources + 95 answers (stage run with 1 and 4 simulated tasks: same removals)')
    print("| setting | cut | light | heavy | non (must be 0) | precision | cut missed |")
    print("|---|---|---|---|---|---|---|")
    blocks = re.findall(r'minhash (.+?), word 5-grams, "same cluster as its source":\n((?:  .*\n)+)', out, re.M)
    if len(blocks) != 2:
        sys.stderr.write(out)
        sys.exit("could not parse the clough_stevenson_ground_truth output")
    for name, body in blocks:
        rec = {lab: f"{h}/{n}" for lab, h, n in re.findall(r"^\s+(\w+)\s+recall\s+(\d+)/\s*(\d+)", body, re.M)}
        prec = re.search(r"precision ([\d.]+) \((\d+) merged\); cut missed: (.*)", body)
        missed = re.findall(r'"(\w+)"', prec.group(3))
        missed_s = ", ".join(missed) if len(missed) <= 3 else f"{len(missed)} answers"
        print(f"| {name}, word 5-grams | {rec['cut']} | {rec['light']} | {rec['heavy']} | {rec['non']} | {prec.group(1)} | {missed_s} |")

    try:
        from datatrove.utils.text import simplify_text
    except ImportError:
        print("(datatrove not importable: Jaccard of answers with their sources not measured)")
        return
    d = os.path.join(data, "neardup", "clough_stevenson_plagiarism")

    def grams(name):
        with open(os.path.join(d, name), "rb") as fh:
            w = simplify_text(fh.read().decode("utf-8", "replace")).split()
        return {tuple(w[i:i + 5]) for i in range(max(len(w) - 4, 1))}

    by_label = {}
    with open(os.path.join(d, "file_information.csv"), newline="") as fh:
        for row in csv.DictReader(fh):
            if row["File"].startswith("orig"):
                continue
            a, s = grams(row["File"]), grams(f"orig_task{row['Task']}.txt")
            by_label.setdefault(row["Category"], []).append(len(a & s) / len(a | s))
    print()
    print("Jaccard of each answer's word 5-grams with its source's (datatrove simplify_text, whitespace words):")
    for lab in ("cut", "light", "heavy", "non"):
        v = sorted(by_label[lab])
        print(f"  {lab:6} {len(v):3} answers: min {v[0]:.2f}, median {v[len(v) // 2]:.2f}, max {v[-1]:.2f}")


if __name__ == "__main__":
    main()
