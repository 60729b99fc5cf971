"""Distinct real text from ../shared/data for the side-by-side benches.

`documents(data)` yields `(id, text)` in a fixed order: the 697 documents of
the Common Crawl sample, then WikiText-2 (validation and test) and the
Gutenberg novels cut into documents of about `chunk` bytes at paragraph
boundaries. No text repeats, so a tool with a cache keyed on the text gains
nothing, and datatrove's word tokenizer meets real, unseen words (the
synthetic corpora of random words flatter tools differently).

About 14 MB of text; `repeated(data, min_bytes)` cycles it (with the copy
number in the id) where a bench needs more bytes than that.
"""
import gzip
import json
import os


def documents(data, chunk=4096):
    with gzip.open(os.path.join(data, "web", "cc-main-2019-30.sample.jsonl.gz"), "rt", encoding="utf-8") as f:
        for n, line in enumerate(f):
            if line.strip():
                yield f"cc-{n}", json.loads(line)["text"]
    ref = os.path.join(data, "reference", "en")
    for name in sorted(os.listdir(ref)):
        # Two of the novels are ISO-8859-1; the rest UTF-8 (some with a BOM).
        raw = open(os.path.join(ref, name), "rb").read()
        try:
            text = raw.decode("utf-8").lstrip("\ufeff")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        doc, size, n = [], 0, 0
        for p in text.split("\n\n"):
            doc.append(p)
            size += len(p)
            if size >= chunk:
                t = "\n\n".join(doc).strip()
                if t:
                    yield f"{name}-{n}", t
                    n += 1
                doc, size = [], 0
        t = "\n\n".join(doc).strip()
        if t:
            yield f"{name}-{n}", t


def repeated(data, min_bytes, chunk=4096):
    """Cycle `documents` until at least `min_bytes` of text (UTF-8) came out."""
    total, copy = 0, 0
    while total < min_bytes:
        for i, t in documents(data, chunk):
            yield f"{copy}-{i}", t
            total += len(t.encode())
            if total >= min_bytes:
                return
        copy += 1
