"""Python interop for sluice token shards and tokenizers (pytest).

1. A numpy reader written from the llm.c spec (256 x int32 header: magic
   20240520/version 1 uint16, 20240801/version 7 uint32, [2] = token count)
   reads every shard sluice wrote, checks the manifest's counts and sha256,
   the `.bounds` files, and that the shards hold exactly the documents'
   tokens plus one EOS each.
2. Python `tokenizers` and `transformers` load sluice's tokenizer.json and
   encode held-out English and Chinese text to exactly the ids sluice's
   `tokenize` stage produced.

Environment: SLUICE_BIN (the sluice binary, default target/debug/sluice
under the repo, or $CARGO_TARGET_DIR/debug/sluice), SLUICE_TEST_DATA
(default ../shared/data from the repo root).
"""

import base64
import hashlib
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]
DATA = Path(os.environ.get("SLUICE_TEST_DATA", REPO / ".." / "shared" / "data")).resolve()


def sluice_bin():
    if os.environ.get("SLUICE_BIN"):
        return os.environ["SLUICE_BIN"]
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    for p in (target / "debug" / "sluice", target / "release" / "sluice"):
        if p.exists():
            return str(p)
    raise RuntimeError("no sluice binary: build it (cargo build --bin sluice) or set SLUICE_BIN")


def read_llmc(path):
    """Read an llm.c token shard from its spec."""
    with open(path, "rb") as f:
        header = np.frombuffer(f.read(256 * 4), dtype="<i4")
        magic, version, n = int(header[0]), int(header[1]), int(header[2])
        if (magic, version) == (20240520, 1):
            dtype = np.dtype("<u2")
        elif (magic, version) == (20240801, 7):
            dtype = np.dtype("<u4")
        else:
            raise ValueError(f"{path}: bad magic/version {magic}/{version}")
        body = f.read()
    assert len(body) == n * dtype.itemsize, f"{path}: header says {n} tokens, body has {len(body)} bytes"
    return np.frombuffer(body, dtype=dtype).astype(np.uint32)


RECIPE = """
seed: 3
output: {out}
readers:
  en:
    kind: text
    paths: ["{data}/reference/en/wiki.test.raw"]
  zh:
    kind: text
    paths: ["{data}/reference/zh/HongLouMeng_Last40Chapters.txt"]
  web:
    kind: jsonl
    paths: ["{data}/web"]
stages:
  tok:
    kind: tokenize
    inputs: [en, zh, web]
    tokenizer: {tokenizer}
  shards:
    kind: pack
    inputs: [tok]
    tokenizer: {tokenizer}
    seq_len: 256
    val_fraction: 0.05
    shard_tokens: 200000
writers:
  ids:
    kind: jsonl
    inputs: [tok]
    compression: gzip
    tokens: true
  docs:
    kind: jsonl
    inputs: [shards]
    compression: gzip
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    assert (DATA / "README.md").exists(), f"shared test data not found at {DATA} (set SLUICE_TEST_DATA)"
    tmp = tmp_path_factory.mktemp("interop")
    tok = tmp / "tokenizer.json"
    # train on web + books + Chinese news, never on the held-out texts below
    subprocess.run(
        [sluice_bin(), "tokenizer", "train", "--vocab-size", "4096", "--max-bytes-per-input", "1MB", "--out", str(tok), "--input",
         str(DATA / "web"), str(DATA / "reference/en/Moby_Dick.txt"), str(DATA / "zh/clue-corpus-small.sample.txt")],
        check=True,
    )
    recipe = tmp / "recipe.yaml"
    recipe.write_text(RECIPE.format(out=tmp / "out", data=DATA, tokenizer=tok))
    subprocess.run([sluice_bin(), "run", str(recipe), "--tasks", "2", "--progress", "off"], check=True)
    return tmp / "out", tok



def decode_ids(text):
    """sluice's token-id codec: `u16:` + base64 of u16 LE when every id fits,
    else base64 of u32 LE."""
    if text.startswith("u16:"):
        return np.frombuffer(base64.b64decode(text[4:]), dtype="<u2").astype("<u4")
    return np.frombuffer(base64.b64decode(text), dtype="<u4")

def documents(out):
    import gzip
    docs = []
    for p in sorted((out / "ids").glob("*.jsonl.gz")):
        with gzip.open(p, "rt", encoding="utf-8") as f:
            for line in f:
                d = json.loads(line)
                ids = decode_ids(d["metadata"]["tokens"])
                docs.append((d, ids))
    return docs


def test_numpy_reader_reads_every_shard(run):
    out, _ = run
    shards = out / "shards"
    m = json.loads((shards / "manifest.json").read_text())
    assert m["format"] == "sluice-shards/1"
    total = 0
    for e in m["shards"]:
        p = shards / e["file"]
        toks = read_llmc(p)
        assert len(toks) == e["tokens"]
        assert hashlib.sha256(p.read_bytes()).hexdigest() == e["sha256"]
        assert toks.max() < m["vocab_size"]
        bounds = np.fromfile(str(p) + ".bounds", dtype="<u8")
        assert bounds[0] == 0 and np.all(np.diff(bounds.astype(np.int64)) > 0) and bounds[-1] < len(toks)
        total += len(toks)
    docs = documents(out)
    doc_tokens = sum(len(ids) for _, ids in docs)
    # every document's tokens plus one EOS each, nothing else
    assert total == doc_tokens + len(docs)
    assert sum(m["tokens_per_source"].values()) == doc_tokens
    # the multiset of tokens matches
    allshards = np.concatenate([read_llmc(shards / e["file"]) for e in m["shards"]])
    want = np.concatenate([ids for _, ids in docs] + [np.full(len(docs), m["eos_id"], dtype=np.uint32)])
    assert np.array_equal(np.bincount(allshards, minlength=m["vocab_size"]), np.bincount(want, minlength=m["vocab_size"]))


def test_python_tokenizers_encode_like_sluice(run):
    from tokenizers import Tokenizer

    out, tok = run
    t = Tokenizer.from_file(str(tok))
    t.encode_special_tokens = True  # sluice encodes special-token text as text
    docs = documents(out)
    assert {d["source"] for d, _ in docs} == {"en", "zh", "web"}
    for d, ids in docs:
        assert t.encode(d["text"], add_special_tokens=False).ids == ids.tolist(), d["id"]
        assert t.decode(ids.tolist(), skip_special_tokens=False) == d["text"] or d["source"] == "web"


def test_transformers_encode_like_sluice(run):
    from transformers import PreTrainedTokenizerFast

    out, tok = run
    hf = PreTrainedTokenizerFast(tokenizer_file=str(tok), eos_token="<|endoftext|>")
    hf._tokenizer.encode_special_tokens = True
    for d, ids in documents(out):
        if d["source"] in ("en", "zh"):
            assert hf.encode(d["text"], add_special_tokens=False) == ids.tolist(), d["id"]
