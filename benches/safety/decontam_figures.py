#!/usr/bin/env python3
"""The safety README's decontamination table (`scripts/figures.sh decontam`).

    cargo test --release --no-run -p sluice-safety --test decontam
    python3 benches/safety/decontam_figures.py

Runs the test `planted_items_are_caught_and_clean_documents_are_not`
(stages/safety/tests/decontam.rs) in the release profile, one test thread,
with the shared data of $SLUICE_TEST_DATA, and prints what it measured as a
table: index size, build and reload time, per benchmark the indexable items,
planted items caught verbatim and lightly edited, and the clean CC documents
flagged. The test fails (and so does this script) if a verbatim plant is
missed, more than 3 clean documents are flagged or half the edited plants
are missed.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def main():
    cmd = ["cargo", "test", "--release", "-p", "sluice-safety", "--test", "decontam", "--",
           "--nocapture", "--test-threads", "1", "--exact", "planted_items_are_caught_and_clean_documents_are_not"]
    env = dict(os.environ, CARGO_INCREMENTAL="0")
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    sys.stderr.write(p.stderr)
    if p.returncode != 0 or "test result: ok. 1 passed" not in p.stdout:
        sys.stderr.write(p.stdout)
        sys.exit(f"failed: {' '.join(cmd)}")
    out = p.stdout
    m = re.search(r"index: (\d+) n-grams, built in (\S+)", out)
    reload_ = re.search(r"reloaded in (\S+)", out)
    fp = re.search(r"CC sample: (\d+) of (\d+) clean documents flagged", out)
    segs = {b: (int(i), int(s), int(sh), int(g)) for b, i, s, sh, g in
            re.findall(r"^\s+(\w+)\s+items\s+(\d+) segments\s+(\d+) short\s+(\d+) ngrams\s+(\d+)", out, re.M)}
    idx = {b: (a, n) for b, a, n in re.findall(r"^(\w+)\s+items whose main text has >= 13 tokens \(indexable\): (\d+)/(\d+)", out, re.M)}
    caught = {b: (v, n, e) for b, v, n, e in re.findall(r"^(\w+)\s+verbatim (\d+)/(\d+) caught, lightly edited (\d+)/\d+", out, re.M)}
    tot = re.search(r"all: verbatim (\d+)/(\d+), lightly edited (\d+)/(\d+) \(([\d.]+)%\)", out)
    if not (m and reload_ and fp and idx and caught and tot):
        sys.stderr.write(out)
        sys.exit("could not parse the test's output")
    print("decontaminate, 13-grams, default benchmarks; test planted_items_are_caught_and_clean_documents_are_not, "
          "cargo test --release (release profile), 1 test thread")
    print(f"index: {int(m.group(1)):,} n-grams, built in {m.group(2)}, reloaded from its file in {reload_.group(1)}")
    print("index per benchmark: items, segments, segments shorter than 13 tokens, n-grams:")
    for b, (i, s, sh, g) in segs.items():
        print(f"  {b:<11} {i:>6} {s:>7} {sh:>6} {g:>9}")
    print(f"false positives: {fp.group(1)} of {fp.group(2)} clean CC documents flagged")
    print()
    print("| benchmark | indexable items (>= 13 tokens) | verbatim caught | lightly edited caught |")
    print("|---|---|---|---|")
    for b, (a, n) in idx.items():
        v, k, e = caught[b]
        print(f"| {b} | {int(a):,} / {int(n):,} | {v}/{k} | {e}/{k} |")
    print(f"| all | | {tot.group(1)}/{tot.group(2)} | {tot.group(3)}/{tot.group(4)} ({tot.group(5)}%) |")


if __name__ == "__main__":
    main()
