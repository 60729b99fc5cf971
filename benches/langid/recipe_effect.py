#!/usr/bin/env python3
"""What the `language` stage's backend changes in two recipes: builtin (the
default) against `backend: whatlang` (the old default), same binary.

    python3 benches/langid/recipe_effect.py [--sluice target/release/sluice]

1. recipes/fineweb.yaml on the shared WARC files ($SLUICE_TEST_DATA/warc), whole
   recipe, once per backend (the backend is set in a copy of the recipe):
   documents the `language` stage keeps, its drop reasons, the documents the
   recipe writes; then the readers + url filter + `language` with
   `annotate_only: true`, to list every document the two backends label
   differently or decide differently (URL, label and score under each).
2. recipes/quickstart.yaml's inputs: its two readers, its `length` stage and its
   `language` stage (annotate-only, as in the recipe), once per backend: label
   counts, `en` with score >= 0.65, and the top 8 labels. These inputs are the
   crate sources cargo downloaded and /usr/share/doc, so the counts are this
   machine's, not portable.

Every figure is read from the runs' output (stats.json and the written
documents). Scratch under ${TMPDIR:-/tmp}, removed at the end. Needs PyYAML
and the `zstd` command.
"""
import argparse
import collections
import copy
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BACKENDS = ["builtin", "whatlang"]


def run(sluice, recipe, out, env):
    recipe = dict(recipe, output=out)
    with open(out + ".yaml", "w") as f:
        yaml.safe_dump(recipe, f, sort_keys=False)
    p = subprocess.run([sluice, "run", out + ".yaml", "--output", out, "--threads", "1", "--progress", "off"],
                       cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        raise SystemExit(f"sluice run {out}.yaml failed ({p.returncode})")
    with open(os.path.join(out, "stats.json")) as f:
        return {n["name"]: n for n in json.load(f)["nodes"]}


def docs(out, writer):
    rows = []
    for path in sorted(glob.glob(os.path.join(out, writer, "*.jsonl.zst"))):
        text = subprocess.run(["zstd", "-dc", path], check=True, stdout=subprocess.PIPE, text=True).stdout
        rows += [json.loads(line) for line in text.splitlines() if line]
    return rows


def label(d):
    return d["metadata"].get("language"), d.get("attributes", {}).get("language_score")


def fmt(lab):
    lang, score = lab
    return f"{lang} {score:.2f}" if score is not None else f"{lang}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sluice", default=os.environ.get("SLUICE_BIN", os.path.join(ROOT, "target/release/sluice")))
    args = ap.parse_args()
    sluice = os.path.abspath(args.sluice)
    data = os.path.abspath(os.environ.get("SLUICE_TEST_DATA", os.path.join(ROOT, "..", "shared", "data")))
    if not os.path.isdir(os.path.join(data, "warc")):
        raise SystemExit(f"no {data}/warc: set SLUICE_TEST_DATA")
    env = dict(os.environ, SLUICE_DATA=data)
    scratch = tempfile.mkdtemp(prefix="sluice-langid-effect-", dir=os.environ.get("TMPDIR", "/tmp"))
    try:
        with open(os.path.join(ROOT, "recipes/fineweb.yaml")) as f:
            fineweb = yaml.safe_load(f)
        with open(os.path.join(ROOT, "recipes/quickstart.yaml")) as f:
            quickstart = yaml.safe_load(f)

        # 1. fineweb, whole recipe.
        print("## recipes/fineweb.yaml on $SLUICE_TEST_DATA/warc, whole recipe (language: en, min_score 0.65)")
        print("| backend | documents read | kept by `language` | `language` drops | documents written |")
        print("|---|---:|---:|---|---:|")
        for b in BACKENDS:
            r = copy.deepcopy(fineweb)
            r["stages"]["language"]["backend"] = b
            out = os.path.join(scratch, f"fineweb-{b}")
            env_b = dict(env, OUT=out, SLUICE_DECONTAM_INDEX=os.path.join(out, "decontam-13.bin"))
            s = run(sluice, r, out, env_b)
            lang = s["language"]
            drops = ", ".join(f"{k} {v}" for k, v in sorted(lang.get("dropped", {}).items()))
            print(f"| {b} | {s['crawl']['docs_out']} | {lang['docs_out']} | {drops} | {s['kept']['docs_out']} |")
            print(f"fineweb {b}: {lang['docs_out']} of {lang['docs_in']} kept by language, {s['kept']['docs_out']} written",
                  file=sys.stderr)

        # ... and every document's label under each backend.
        labels = {}
        for b in BACKENDS:
            r = {"seed": 42, "readers": fineweb["readers"],
                 "stages": {"urls": fineweb["stages"]["urls"],
                            "language": dict(fineweb["stages"]["language"], backend=b, annotate_only=True,
                                             exclusions=False)},
                 "writers": {"all": {"kind": "jsonl", "inputs": ["language"]}}}
            out = os.path.join(scratch, f"fineweb-labels-{b}")
            run(sluice, r, out, env)
            labels[b] = {d["metadata"].get("url") or d["id"]: label(d) for d in docs(out, "all")}
        keep = fineweb["stages"]["language"]
        ok = lambda lab: lab[0] in keep["languages"] and (lab[1] or 0) >= keep["min_score"]
        print()
        print("Documents whose label or keep decision differs (builtin | whatlang):")
        n = 0
        for url in sorted(labels["builtin"]):
            a, w = labels["builtin"][url], labels["whatlang"].get(url)
            if w is None or a[0] != w[0] or ok(a) != ok(w):
                n += 1
                print(f"- {url}: {fmt(a)} ({'kept' if ok(a) else 'dropped'}) | "
                      f"{fmt(w) if w else 'absent'} ({'kept' if w and ok(w) else 'dropped'})")
        print(f"({n} of {len(labels['builtin'])} documents)")

        # 2. quickstart's inputs, its length and language stages.
        print()
        print("## recipes/quickstart.yaml's inputs: its readers, `length` and `language` (annotate-only) alone;")
        print("##   the crate sources and /usr/share/doc of this machine")
        counts = {}
        for b in BACKENDS:
            r = {"seed": 42, "readers": quickstart["readers"],
                 "stages": {"length": dict(quickstart["stages"]["length"], exclusions=False),
                            "language": dict(quickstart["stages"]["language"], backend=b)},
                 "writers": {"all": {"kind": "jsonl", "inputs": ["language"]}}}
            out = os.path.join(scratch, f"quickstart-{b}")
            run(sluice, r, out, env)
            rows = [label(d) for d in docs(out, "all")]
            counts[b] = (len(rows), collections.Counter(lang for lang, _ in rows),
                         sum(1 for lang, s in rows if lang == "en" and (s or 0) >= 0.65))
        print("| | " + " | ".join(BACKENDS) + " |")
        print("|---|" + "---:|" * len(BACKENDS))
        print("| documents | " + " | ".join(f"{counts[b][0]:,}" for b in BACKENDS) + " |")
        print("| `en` | " + " | ".join(f"{counts[b][1]['en']:,}" for b in BACKENDS) + " |")
        print("| `en`, score >= 0.65 | " + " | ".join(f"{counts[b][2]:,}" for b in BACKENDS) + " |")
        for lang in ["zh", "ja"]:
            print(f"| `{lang}` | " + " | ".join(f"{counts[b][1][lang]:,}" for b in BACKENDS) + " |")
        for b in BACKENDS:
            top = ", ".join(f"{lang} {c:,}" for lang, c in counts[b][1].most_common(8))
            print(f"top 8 labels, {b}: {top}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
