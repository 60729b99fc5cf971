"""Tokenize throughput, MB/s per core, on the same text and vocabulary:
sluice (`sluice tokenizer eval --threads 1`, HF `tokenizers` in Rust behind
the `tokenize` stage), HF `tokenizers` from Python, and tiktoken with an
Encoding built from our vocabulary's merge ranks (tiktoken's bundled
encodings download at run time, so they are not used).

    python benches/tokens/bench_tokenize.py --tokenizer tokenizer.json \
        [--sluice target/debug/sluice] [--data ../shared/data]

Every encoder runs on one thread over the same documents (held-out English
WikiText-2 test, 64 KB chunks at line ends, and Chinese Wikipedia paragraphs
from CMRC 2018). Also prints how many documents tiktoken encodes to the same
ids as HF (it does no NFC normalisation, so text that NFC changes differs).
"""

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def chunks(text, size=64 << 10):
    out, cur = [], []
    n = 0
    for line in text.splitlines(keepends=True):
        cur.append(line)
        n += len(line.encode())
        if n >= size:
            out.append("".join(cur))
            cur, n = [], 0
    if cur:
        out.append("".join(cur))
    return out


def contexts(v, out):
    if isinstance(v, dict):
        for k, x in v.items():
            if k == "context" and isinstance(x, str):
                out.append(x)
            else:
                contexts(x, out)
    elif isinstance(v, list):
        for x in v:
            contexts(x, out)
    return out


def byte_decoder():
    """GPT-2 byte-level alphabet: printable bytes map to themselves, the
    others to U+0100 onwards, in byte order."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return {c: b for b, c in chars.items()}


def tiktoken_from(tok_json):
    import tiktoken

    j = json.loads(Path(tok_json).read_text())
    dec = byte_decoder()
    specials = {t["content"]: t["id"] for t in j["added_tokens"]}
    ranks = {}
    for token, rank in j["model"]["vocab"].items():
        if token in specials:
            continue
        ranks[bytes(dec[c] for c in token)] = rank
    pat = None
    for p in j["pre_tokenizer"]["pretokenizers"]:
        if p["type"] == "Split":
            pat = p["pattern"]["Regex"]
    return tiktoken.Encoding(name="sluice", pat_str=pat, mergeable_ranks=ranks, special_tokens=specials)


def timed(f, docs, reps):
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        for d in docs:
            f(d)
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--sluice", default=os.environ.get("SLUICE_BIN", "target/debug/sluice"))
    ap.add_argument("--data", default=os.environ.get("SLUICE_TEST_DATA", "../shared/data"))
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    from tokenizers import Tokenizer

    data = Path(a.data)
    en_path = data / "reference/en/wiki.test.raw"
    zh_path = data / "zh/cmrc2018-dev.zh-wikipedia.json"
    sets = {
        "en": chunks(en_path.read_text(encoding="utf-8")),
        "zh": contexts(json.loads(zh_path.read_text(encoding="utf-8")), []),
    }
    hf = Tokenizer.from_file(a.tokenizer)
    hf.encode_special_tokens = True
    tk = tiktoken_from(a.tokenizer)
    res = subprocess.run(
        [a.sluice, "tokenizer", "eval", "--json", "--threads", "1", "--tokenizer", a.tokenizer, "--text", f"en={en_path}", f"zh={zh_path}"],
        check=True, capture_output=True, text=True,
    )
    sl = {r["text"]: r for r in json.loads(res.stdout)}
    print(f"{'text':<4} {'MB':>6} {'sluice':>9} {'HF py':>9} {'tiktoken':>9} {'sluice/HF':>10} {'sluice/tt':>10} {'tt==HF docs':>12}")
    for name, docs in sets.items():
        mb = sum(len(d.encode()) for d in docs) / 1e6
        hf_s = timed(lambda d: hf.encode(d, add_special_tokens=False), docs, a.reps)
        tk_s = timed(tk.encode_ordinary, docs, a.reps)
        same = sum(tk.encode_ordinary(d) == hf.encode(d, add_special_tokens=False).ids for d in docs)
        s = sl[name]["mb_per_s_per_core"]
        print(f"{name:<4} {mb:>6.2f} {s:>9.2f} {mb / hf_s:>9.2f} {mb / tk_s:>9.2f} {s / (mb / hf_s):>10.2f} {s / (mb / tk_s):>10.2f} {same:>5}/{len(docs):<6}")
    print("MB/s per core (one thread each); sluice figure from `sluice tokenizer eval --threads 1` (includes no I/O).")


if __name__ == "__main__":
    main()
