#!/usr/bin/env python3
"""Build the fuzz targets' seed corpora from the shared test data.

    python3 fuzz/make_seeds.py DATA_DIR OUT_DIR [RECIPES_DIR [MINI_DATA_DIR]]

Writes OUT_DIR/<target>/<name> for every target except reader_parquet (its
seeds are written by the target itself, see fuzz/src/seeds.rs). Every seed
is a small piece cut from a real file under DATA_DIR (../shared/data):
nothing from it is copied into the repository. Inputs start with the mode
byte(s) each target documents; multi-file inputs are joined with
PART_SEPARATOR (fuzz/src/lib.rs). Standard library only.

MINI_DATA_DIR, if given, becomes a stand-in for DATA_DIR that the `recipe`
target's seed recipes read (SLUICE_DATA): links to DATA_DIR's folders,
except `eval/`, whose files are cut to their first lines, so that compiling
a recipe with a `decontaminate` stage (which builds its n-gram index from
the eval sets) takes milliseconds, not seconds.
"""

import gzip
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib

SEP = b"\n--SLUICE-FUZZ-PART--\n"
MAX_SEED = 32 * 1024


def out_writer(out):
    def put(target, name, data):
        if len(data) > MAX_SEED:
            data = data[:MAX_SEED]
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)

    return put


def need(path):
    if not os.path.exists(path):
        sys.exit(f"make_seeds: {path} is missing (set SLUICE_TEST_DATA to the shared data directory)")
    return path


def read(path, n=None):
    with open(need(path), "rb") as f:
        return f.read() if n is None else f.read(n)


def gz_members(path):
    """(compressed, decompressed) bytes of each gzip member of a file."""
    data = read(path)
    out = []
    while data:
        d = zlib.decompressobj(wbits=31)
        try:
            plain = d.decompress(data)
        except zlib.error:
            break  # a truncated last member
        used = len(data) - len(d.unused_data)
        out.append((data[:used], plain))
        data = d.unused_data
    return out


def zstd_compress(data):
    exe = shutil.which("zstd")
    if exe is None:
        return None
    return subprocess.run([exe, "-q", "-c", "-3"], input=data, stdout=subprocess.PIPE, check=True).stdout


def cut_utf8(b, n):
    """At most n bytes of b, ending on a character boundary."""
    b = b[:n]
    return b.decode("utf-8", "ignore").encode("utf-8")


def jsonl_seeds(data, put):
    lines = gzip.decompress(read(os.path.join(data, "web/cc-main-2019-30.sample.jsonl.gz"))).split(b"\n")
    lines = [l for l in lines if l.strip()]
    for i, at in enumerate([0, 3, 50, 200, 400, 690]):
        chunk = b"\n".join(l for l in lines[at : at + 3] if len(l) < 12000) + b"\n"
        put("reader_jsonl", f"cc-{i}", b"\x00" + chunk)
    two = b"\n".join(lines[10:12]) + b"\n"
    put("reader_jsonl", "cc-small-lines", b"\x04" + two)  # max_line_bytes 512
    put("reader_jsonl", "cc-bom", b"\x00" + b"\xef\xbb\xbf" + lines[20] + b"\n")
    put("reader_jsonl", "cc-crlf-blank", b"\x00" + lines[21] + b"\r\n\r\n\n" + lines[22])
    put("reader_jsonl", "cc-gz", b"\x01" + gzip.compress(two, mtime=0))
    z = zstd_compress(two)
    if z:
        put("reader_jsonl", "cc-zst", b"\x02" + z)
    lam = read(os.path.join(data, "eval/lambada_openai.jsonl"), 4096).split(b"\n")[:3]
    put("reader_jsonl", "lambada-no-text", b"\x00" + b"\n".join(lam) + b"\n")
    # records: a SQuAD-style file (Chinese Wikipedia), two articles, two paragraphs each
    squad = json.loads(read(os.path.join(data, "zh/cmrc2018-dev.zh-wikipedia.json")))
    small = {"version": squad.get("version", "v1"), "data": []}
    for art in squad["data"][:2]:
        paras = []
        for p in art["paragraphs"][:2]:
            paras.append({"id": p.get("id", ""), "context": p["context"][:400], "qas": p.get("qas", [])[:1]})
        small["data"].append({"id": art.get("id", ""), "title": art.get("title", ""), "paragraphs": paras})
    blob = json.dumps(small, ensure_ascii=False).encode("utf-8")
    put("reader_jsonl", "squad-records", bytes([3 | 1 << 3]) + blob)  # /data/*/paragraphs/*
    put("reader_jsonl", "squad-top", bytes([3]) + blob)  # "/": the whole file is one record
    arr = json.dumps([json.loads(l) for l in lines[30:32]]).encode()
    put("reader_jsonl", "array-records", bytes([3 | 2 << 3 | 0x20]) + arr)  # /*, text_key text


def warc_records(path):
    return gz_members(os.path.join(path))


def warc_seeds(data, put):
    n = 0
    for f in ["cc-main-2020-34.excerpt.warc.gz", "wget-crawl-0000.warc.gz", "cc-main-2024-22.one-page.warc.gz"]:
        for i, (comp, plain) in enumerate(warc_records(os.path.join(data, "warc", f))):
            if len(plain) <= MAX_SEED and n < 40:
                put("reader_warc", f"{f}-{i}", b"\x00" + plain)
                n += 1
            elif n < 40 and plain.startswith(b"WARC/") and b"response" in plain[:300]:
                # a large response, cut: a truncated record
                put("reader_warc", f"{f}-{i}-cut", b"\x00" + plain[:MAX_SEED - 1])
                n += 1
            if len(comp) <= 16 * 1024 and i % 3 == 0:
                put("reader_warc", f"{f}-{i}-gz", b"\x00" + comp)
    t = read(os.path.join(data, "warc/truncated.warc.gz"))
    put("reader_warc", "truncated-tail-gz", b"\x00" + t[-8000:])
    put("reader_warc", "truncated-head-gz", b"\x03" + t[:8000])


def wet_record(uri, text):
    body = text.encode("utf-8")
    head = (
        "WARC/1.0\r\nWARC-Type: conversion\r\n"
        f"WARC-Target-URI: {uri}\r\nWARC-Date: 2024-05-18T00:00:00Z\r\n"
        "WARC-Record-ID: <urn:uuid:0f8e2c4a-0000-4000-8000-000000000001>\r\n"
        f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body + b"\r\n\r\n"


def wet_seeds(data, put):
    members = gz_members(os.path.join(data, "warc/cc-main-2024-22.one-page.warc.wet.gz"))
    plain = b"".join(p for _, p in members)
    put("reader_wet", "one-page", b"\x00" + plain)
    for i, (comp, p) in enumerate(members):
        put("reader_wet", f"one-page-gz-{i}", b"\x00" + comp)
    clue = read(os.path.join(data, "zh/clue-corpus-small.sample.txt"), 64 * 1024).decode("utf-8", "ignore").split("\n")
    recs = b"".join(wet_record(f"http://example.cn/{i}", t) for i, t in enumerate(clue[:5]) if t)
    put("reader_wet", "clue-zh", b"\x00" + recs)
    wiki = read(os.path.join(data, "reference/en/wiki.test.raw"), 6000).decode("utf-8", "ignore")
    put("reader_wet", "wikitext", b"\x02" + wet_record("https://en.wikipedia.org/wiki/Robert_Boulter", wiki))
    put("reader_wet", "mixed-warc", b"\x00" + plain[:4000] + recs[:3000])


def text_seeds(data, put):
    ref = os.path.join(data, "reference/en")
    for name in ["Moby_Dick.txt", "Pride_and_Prejudice.txt", "frankenstein_Gutenberg.txt"]:
        put("reader_text", name, b"\x00\x00" + cut_utf8(read(os.path.join(ref, name), 8192), 8192))
    # ISO-8859-1: strict UTF-8 fails, auto detects
    huck = read(os.path.join(ref, "Huckleberry_Finn.txt"), 200 * 1024)
    at = max(0, huck.find(b"\xe9") - 3000)
    put("reader_text", "huck-latin1-auto", b"\x04\x00" + huck[at : at + 6000])
    put("reader_text", "huck-latin1-strict", b"\x00\x00" + huck[at : at + 6000])
    wiki = read(os.path.join(data, "reference/en/wiki.test.raw"), 16384)
    put("reader_text", "wiki-split", b"\x08\x20" + cut_utf8(wiki, 16384))  # target 513 bytes
    zh = read(os.path.join(data, "zh/clue-corpus-small.sample.txt"), 12000)
    put("reader_text", "zh-split-lines", b"\x08\x08" + cut_utf8(zh, 12000))
    hlm = sorted(os.listdir(os.path.join(data, "reference/zh")))[0]
    put("reader_text", "honglou-auto", b"\x04\x00" + cut_utf8(read(os.path.join(data, "reference/zh", hlm), 8192), 8192))
    pages = os.path.join(data, "html/trafilatura-eval/pages")
    for i, name in enumerate(sorted(os.listdir(pages))[:12]):
        html = read(os.path.join(pages, name), 24 * 1024)
        mode = [1, 1 | 4, 1 | 16, 1 | 8][i % 4]
        put("reader_text", f"html-{i}", bytes([mode, 0x40]) + html)
    put("reader_text", "gz", b"\x02\x00" + gzip.compress(wiki[:6000], mtime=0))
    z = zstd_compress(zh[:6000])
    if z:
        put("reader_text", "zst-split", b"\x0b\x04" + z)
    put("reader_text", "small-max", bytes([0x20, 0]) + wiki[:6000])


def recipe_seeds(recipes, put):
    if recipes and os.path.isdir(recipes):
        for name in sorted(os.listdir(recipes)):
            if name.endswith((".yaml", ".yml")):
                put("recipe", name, read(os.path.join(recipes, name)))


def llmc(tokens, wide=False):
    magic, version, fmt = (20240801, 7, "<I") if wide else (20240520, 1, "<H")
    head = struct.pack("<3i", magic, version, len(tokens)) + b"\x00" * (1024 - 12)
    return head + b"".join(struct.pack(fmt, t) for t in tokens)


def bounds(offsets):
    return b"".join(struct.pack("<Q", o) for o in offsets)


def megatron_idx(lengths, wide=False):
    out = b"MMIDIDX\x00\x00" + struct.pack("<Q", 1) + bytes([4 if wide else 8])
    out += struct.pack("<QQ", len(lengths), len(lengths) + 1)
    out += b"".join(struct.pack("<i", l) for l in lengths)
    ptr = 0
    for l in lengths:
        out += struct.pack("<q", ptr)
        ptr += l * (4 if wide else 2)
    out += b"".join(struct.pack("<q", i) for i in range(len(lengths) + 1))
    return out


def shard_seeds(data, put):
    # token ids: the bytes of real text (a byte-level vocabulary of 256)
    text = read(os.path.join(data, "reference/en/wiki.test.raw"), 600)
    toks = list(text[:300])
    put("shard_llmc", "u16", llmc(toks))
    put("shard_llmc", "u16-bounds", llmc(toks) + SEP + bounds([0, 57, 130, 299]))
    put("shard_llmc", "u32-bounds", llmc([t + 70000 for t in toks[:100]], wide=True) + SEP + bounds([0, 10, 99]))
    put("shard_llmc", "bad-bounds", llmc(toks[:50]) + SEP + bounds([0, 40, 20, 51]) + b"\x01")
    put("shard_llmc", "short-header", llmc(toks)[:700])
    lens = [17, 33, 50]
    put("shard_megatron", "u16", megatron_idx(lens) + SEP + b"".join(struct.pack("<H", t) for t in toks[:100]))
    put("shard_megatron", "i32", megatron_idx(lens, wide=True) + SEP + b"".join(struct.pack("<I", t) for t in toks[:100]))
    put("shard_megatron", "bad-magic", b"MMIDIDY\x00\x00" + megatron_idx(lens)[9:] + SEP + bytes(200))
    for name, toks_, wide, tokenizer, with_bounds in [
        ("manifest-u16", toks, False, None, True),
        ("manifest-u32-tok", [t + 1 for t in toks[:120]], True, "tokenizer.json", False),
    ]:
        shard = llmc(toks_, wide)
        m = {
            "format": "sluice-shards/1",
            "vocab_size": 70000 if wide else 256,
            "eos_id": 0,
            "bos_id": None,
            "dtype": "uint32" if wide else "uint16",
            "seq_len": 16,
            "shards": [
                {"file": "train_000000.bin", "split": "train", "tokens": len(toks_), "sha256": hashlib.sha256(shard).hexdigest()},
                {"file": "val_000000.bin", "split": "val", "tokens": 3},
            ],
            "tokens_per_source": {"web": len(toks_)},
            "documents": {"train": 4, "val": 1},
            "packing": {"mode": "concat", "seed": 0},
        }
        if tokenizer:
            m["tokenizer"] = tokenizer
        blob = json.dumps(m, indent=2).encode() + SEP + shard
        if with_bounds:
            blob += SEP + bounds([0, 10, 200])
        put("manifest", name, blob)
        put("train_shards", name, blob)


def mini_data(data, out):
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(data):
        if name != "eval":
            os.symlink(os.path.join(os.path.abspath(data), name), os.path.join(out, name))
    src = os.path.join(data, "eval")
    for d, _, files in os.walk(src):
        rel = os.path.relpath(d, src)
        os.makedirs(os.path.join(out, "eval", rel), exist_ok=True)
        for f in files:
            with open(os.path.join(d, f), "rb") as fin:
                head = b"".join(fin.readline() for _ in range(24))  # 4 HellaSwag items, a CSV header + rows
            with open(os.path.join(out, "eval", rel, f), "wb") as fout:
                fout.write(head)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    data, out = sys.argv[1], sys.argv[2]
    recipes = sys.argv[3] if len(sys.argv) > 3 else None
    if len(sys.argv) > 4:
        mini_data(data, sys.argv[4])
    need(data)
    put = out_writer(out)
    jsonl_seeds(data, put)
    warc_seeds(data, put)
    wet_seeds(data, put)
    text_seeds(data, put)
    recipe_seeds(recipes, put)
    shard_seeds(data, put)
    for t in sorted(os.listdir(out)):
        print(f"  {t}: {len(os.listdir(os.path.join(out, t)))} seeds")


if __name__ == "__main__":
    main()
