#!/usr/bin/env python3
"""Build the labelled set for the classifier benches (issue 16, acceptance 2 and 3).

Positives (`__label__hq`), all real text from ../shared/data:
  - reference English: WikiText-2 articles (split at ` = Title = ` headings) and
    the Project Gutenberg novels (split into chunks of paragraphs);
  - Chinese: CMRC 2018 Wikipedia paragraphs, 红楼梦 chapters' paragraphs in
    chunks, CLUECorpusSmall documents.
Negatives (`__label__cc`): the Common Crawl documents that the Gopher and C4
rules drop, got by running sluice itself on benches/classify/negatives.yaml
and reading OUT/excluded/<stage>/.

The split is held out by document: a document is in the test set when the
SHA-1 of its id falls in the test fraction (deterministic, independent of
the order and of the other documents). Newlines (and any whitespace run)
inside a document become one space, so each line of train.txt / test.txt is
one document: `__label__hq text ...`. A TSV beside each file gives the ids.

    python3 benches/classify/make_dataset.py [--out target/classify/data]
Env: SLUICE_BIN (default target/release/sluice, else target/debug/sluice),
     SLUICE_TEST_DATA (default ../shared/data).
"""

import argparse
import glob
import hashlib
import io
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))


def data_dir():
    d = os.environ.get("SLUICE_TEST_DATA", os.path.join(REPO, "..", "shared", "data"))
    if not os.path.isfile(os.path.join(d, "README.md")):
        sys.exit(f"error: the shared test data is missing at {d} (set SLUICE_TEST_DATA)")
    return d


def sluice_bin():
    if os.environ.get("SLUICE_BIN"):
        return os.environ["SLUICE_BIN"]
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    for mode in ("release", "debug"):
        p = os.path.join(target, mode, "sluice")
        if os.path.isfile(p):
            return p
    sys.exit("error: no sluice binary; build it (cargo build --release --bin sluice) or set SLUICE_BIN")


def read_text(path):
    raw = open(path, "rb").read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("iso-8859-1")  # Huckleberry_Finn.txt, Tom_Sawyer.txt


WS = re.compile(r"\s+")


def one_line(text):
    return WS.sub(" ", text).strip()


def wikitext(d):
    for name in ("wiki.validation.raw", "wiki.test.raw"):
        title, body = None, []
        for line in read_text(os.path.join(d, "reference", "en", name)).split("\n"):
            m = re.fullmatch(r" = ([^=].*[^=]) = ", line)
            if m:
                if title is not None:
                    yield f"wiki:{name}:{title}", "\n".join(body)
                title, body = m.group(1), []
            elif title is not None:
                body.append(line)
        if title is not None:
            yield f"wiki:{name}:{title}", "\n".join(body)


def gutenberg(d, paras_per_chunk):
    for path in sorted(glob.glob(os.path.join(d, "reference", "en", "*.txt"))):
        text = read_text(path).replace("\r\n", "\n")
        start = re.search(r"^\*\*\* ?START OF .*$", text, re.M)
        end = re.search(r"^\*\*\* ?END OF .*$", text, re.M)
        text = text[start.end() if start else 0 : end.start() if end else len(text)]
        paras = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
        name = os.path.basename(path)
        for i in range(0, len(paras), paras_per_chunk):
            yield f"gutenberg:{name}:{i // paras_per_chunk}", "\n\n".join(paras[i : i + paras_per_chunk])


def cmrc(d):
    data = json.load(open(os.path.join(d, "zh", "cmrc2018-dev.zh-wikipedia.json"), encoding="utf-8"))
    for art in data["data"]:
        for j, p in enumerate(art["paragraphs"]):
            yield f"cmrc:{art['id']}:{j}", p["context"]


def honglou(d, lines_per_chunk):
    for path in sorted(glob.glob(os.path.join(d, "reference", "zh", "*.txt"))):
        lines = [l for l in read_text(path).split("\n") if l.strip()]
        name = os.path.basename(path)
        for i in range(0, len(lines), lines_per_chunk):
            yield f"honglou:{name}:{i // lines_per_chunk}", "\n".join(lines[i : i + lines_per_chunk])


def clue(d):
    for i, line in enumerate(read_text(os.path.join(d, "zh", "clue-corpus-small.sample.txt")).split("\n")):
        if line.strip():
            yield f"clue:{i}", line


def negatives(d, workdir):
    out = os.path.join(workdir, "negatives")
    env = dict(os.environ, OUT=out, SLUICE_DATA=d)
    # --restart: the folder is this script's scratch; an earlier run with
    # another data path (other settings) would otherwise be refused.
    cmd = [sluice_bin(), "run", "--restart", os.path.join(HERE, "negatives.yaml")]
    print("+ OUT=%s SLUICE_DATA=%s %s" % (out, d, " ".join(cmd)), file=sys.stderr)
    subprocess.run(cmd, env=env, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    by_stage = {}
    for stage in ("gopher_repetition", "gopher_quality", "c4"):
        files = sorted(glob.glob(os.path.join(out, "excluded", stage, "*.jsonl.zst")))
        if not files:
            sys.exit(f"error: no excluded documents under {out}/excluded/{stage}")
        for f in files:
            raw = subprocess.run(["zstd", "-dcq", f], check=True, stdout=subprocess.PIPE).stdout
            for line in io.StringIO(raw.decode("utf-8")):
                rec = json.loads(line)
                by_stage[stage] = by_stage.get(stage, 0) + 1
                yield f"cc:{rec['id']}", rec["text"], stage


def is_test(doc_id, test_percent):
    h = int.from_bytes(hashlib.sha1(doc_id.encode("utf-8")).digest()[:8], "big")
    return h % 100 < test_percent


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target")), "classify", "data"))
    ap.add_argument("--test-percent", type=int, default=20)
    ap.add_argument("--paras-per-chunk", type=int, default=12, help="Gutenberg paragraphs per document")
    ap.add_argument("--zh-lines-per-chunk", type=int, default=4, help="红楼梦 paragraphs per document")
    ap.add_argument("--min-chars", type=int, default=50, help="drop documents shorter than this (after whitespace folding)")
    args = ap.parse_args()
    d = data_dir()
    os.makedirs(args.out, exist_ok=True)

    groups = [
        ("hq", "wikitext-2 (en)", wikitext(d)),
        ("hq", "gutenberg (en books)", gutenberg(d, args.paras_per_chunk)),
        ("hq", "cmrc2018 (zh wikipedia)", cmrc(d)),
        ("hq", "honglou (zh book)", honglou(d, args.zh_lines_per_chunk)),
        ("hq", "clue (zh web/news)", clue(d)),
    ]
    neg_by_stage = {}

    def neg_docs():
        for doc_id, text, stage in negatives(d, args.out):
            neg_by_stage[stage] = neg_by_stage.get(stage, 0) + 1
            yield doc_id, text

    groups.append(("cc", "cc-main-2019-30 dropped by gopher/c4", neg_docs()))

    files = {s: open(os.path.join(args.out, f"{s}.txt.tmp"), "w", encoding="utf-8") for s in ("train", "test")}
    ids = {s: open(os.path.join(args.out, f"{s}.ids.tsv.tmp"), "w", encoding="utf-8") for s in ("train", "test")}
    rows = []
    seen = set()
    for label, name, docs in groups:
        n = {"train": [0, 0, 0], "test": [0, 0, 0]}  # docs, words, bytes
        short = 0
        for doc_id, text in docs:
            line = one_line(text)
            if len(line) < args.min_chars:
                short += 1
                continue
            if doc_id in seen:
                sys.exit(f"error: duplicate document id {doc_id}")
            seen.add(doc_id)
            split = "test" if is_test(doc_id, args.test_percent) else "train"
            files[split].write(f"__label__{label} {line}\n")
            ids[split].write(f"{doc_id}\t{label}\n")
            c = n[split]
            c[0] += 1
            c[1] += len(line.split(" "))
            c[2] += len(line.encode("utf-8"))
        rows.append((label, name, n, short))
    for s in ("train", "test"):
        files[s].close()
        ids[s].close()
        os.replace(os.path.join(args.out, f"{s}.txt.tmp"), os.path.join(args.out, f"{s}.txt"))
        os.replace(os.path.join(args.out, f"{s}.ids.tsv.tmp"), os.path.join(args.out, f"{s}.ids.tsv"))

    print(f"{'label':5} {'source':40} {'train docs':>10} {'train words':>11} {'train MB':>8} {'test docs':>9} {'test MB':>7} {'<min':>5}")
    tot = {"hq": [0, 0, 0, 0, 0], "cc": [0, 0, 0, 0, 0]}
    for label, name, n, short in rows:
        print(f"{label:5} {name:40} {n['train'][0]:10} {n['train'][1]:11} {n['train'][2] / 1e6:8.2f} {n['test'][0]:9} {n['test'][2] / 1e6:7.2f} {short:5}")
        t = tot[label]
        t[0] += n["train"][0]
        t[1] += n["train"][1]
        t[2] += n["train"][2]
        t[3] += n["test"][0]
        t[4] += n["test"][2]
    for label, t in tot.items():
        print(f"{label:5} {'total':40} {t[0]:10} {t[1]:11} {t[2] / 1e6:8.2f} {t[3]:9} {t[4] / 1e6:7.2f}")
    print("negatives by dropping stage:", ", ".join(f"{k} {v}" for k, v in sorted(neg_by_stage.items())))
    print(f"wrote {args.out}/train.txt, {args.out}/test.txt (+ .ids.tsv)")


if __name__ == "__main__":
    main()
