"""sluice's output in the tools its users load it with.

Runs the quickstart's data pipeline (recipes/quickstart.yaml without its
`train:` section, on a deterministic sample of its inputs: QUICKSTART_MAX_FILES,
default 150 files per reader) and loads what its writers wrote:

- the Parquet shards with HF `datasets` (`load_dataset("parquet")` and
  `Dataset(table)`), pyarrow, polars and DuckDB;
- the JSONL shards with HF `datasets` (`load_dataset("json")`);

and checks every loader's row count against `sluice stats --json` (the
writers' document counts) and `sluice stats --signals --json` (documents and
per-attribute count/min/max/mean, as sluice's own reader of its output reads
them), and every row's id, text, source, metadata and attributes against the
JSONL shards read line by line.

It runs the pipeline twice, with one task (as the quickstart does) and with
three (each task writes its own shards, which must have the one schema), and
checks the Parquet of both.

Env: SLUICE_BIN (the sluice binary, required), QUICKSTART_MAX_FILES,
CARGO_HOME (the crate sources the quickstart reads).
"""

import glob
import io
import json
import math
import os
import re
import subprocess
from pathlib import Path

import datasets
import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

REPO = Path(__file__).resolve().parent.parent
QUICKSTART = REPO / "recipes" / "quickstart.yaml"


def sluice(*args, **kw):
    binary = os.environ.get("SLUICE_BIN")
    assert binary, "set SLUICE_BIN to the sluice binary"
    return subprocess.run([binary, *map(str, args)], check=True, capture_output=True, text=True, **kw)


def without_train(recipe: str) -> str:
    """The recipe text without its top-level `train:` section (and so
    without training): everything from `train:` to the next top-level key."""
    out, skipping = [], False
    for line in recipe.splitlines(keepends=True):
        top = re.match(r"[A-Za-z_][\w-]*:", line)
        if top:
            skipping = line.startswith("train:")
        if not skipping:
            out.append(line)
    text = "".join(out)
    assert "\ntrain:" not in text and "\nwriters:" in text
    return text


TASKS = [1, 3]


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """The quickstart's data pipeline as the quickstart runs it (one task),
    and as three tasks: every shard of every task must have the one schema."""
    tmp = tmp_path_factory.mktemp("consumers")
    recipe = tmp / "quickstart-data.yaml"
    recipe.write_text(without_train(QUICKSTART.read_text()))
    env = dict(os.environ)
    env.setdefault("QUICKSTART_MAX_FILES", "150")
    out = {}
    for tasks in TASKS:
        dir_ = tmp / f"out-{tasks}"
        sluice("run", recipe, "--output", dir_, "--tasks", tasks, "--progress", "off", env=env)
        stats = json.loads(sluice("stats", dir_, "--json").stdout)
        out[tasks] = {"out": dir_, "stats": stats, "tmp": tmp / f"hf-{tasks}", "tasks": tasks}
    return out


@pytest.fixture(scope="session", params=TASKS, ids=[f"tasks{t}" for t in TASKS])
def run(request, runs):
    return runs[request.param]


def writer_docs(stats, name):
    node = next(n for n in stats["nodes"] if n["name"] == name)
    assert node["kind"] == name and node["role"] == "writer", node
    return node["docs_in"]


def shards(out, writer, pattern):
    files = sorted(glob.glob(str(out / writer / pattern)))
    assert files, f"no {pattern} in {out / writer}"
    return files


def finite(attrs):
    """Attributes as a dict, non-finite values left out (JSONL writes them as
    null; Parquet keeps them)."""
    return {k: v for k, v in attrs.items() if v is not None and math.isfinite(v)}


@pytest.fixture(scope="session")
def jsonl_rows(run):
    """The JSONL writer's rows, read line by line: the reference."""
    rows = []
    for f in shards(run["out"], "jsonl", "*.jsonl.zst"):
        with open(f, "rb") as fh:
            text = io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(fh), encoding="utf-8")
            rows.extend(json.loads(line) for line in text if line.strip())
    assert len(rows) > 50, f"only {len(rows)} documents: the sample is too small to test anything"
    return rows


def reference(rows):
    """id -> (text, source, metadata, attributes) from JSONL rows."""
    ref = {}
    for r in rows:
        assert r["id"] not in ref, f"duplicate id {r['id']}"
        ref[r["id"]] = (r["text"], r["source"], r.get("metadata") or {}, finite(r.get("attributes") or {}))
    return ref


def as_row(id_, text, source, metadata, attributes):
    """One Parquet row in the reference's shape: metadata parsed from its
    JSON string, attributes from their list of {name, value}."""
    names = [a["name"] for a in attributes]
    assert names == sorted(names), f"{id_}: attributes not sorted by name: {names}"
    return id_, (text, source, json.loads(metadata) if metadata is not None else {}, finite({a["name"]: a["value"] for a in attributes}))


def check_rows(loader, got, jsonl_rows):
    """`got`: (id, row) pairs in file order. Same count, same order, same rows
    as the JSONL writer's."""
    ref = reference(jsonl_rows)
    assert len(got) == len(jsonl_rows), f"{loader}: {len(got)} rows, JSONL {len(jsonl_rows)}"
    assert [i for i, _ in got] == [r["id"] for r in jsonl_rows], f"{loader}: ids differ from the JSONL's (or their order)"
    for id_, row in got:
        assert row == ref[id_], f"{loader}: row {id_} differs from the JSONL's"


def test_counts_match_sluice_stats(run, jsonl_rows):
    stats = run["stats"]
    assert writer_docs(stats, "parquet") == writer_docs(stats, "jsonl") == len(jsonl_rows)
    table = pq.read_table(shards(run["out"], "parquet", "*.parquet"))
    assert table.num_rows == len(jsonl_rows)


def test_every_shard_has_the_one_schema(run):
    files = shards(run["out"], "parquet", "*.parquet")
    schemas = [pq.read_schema(f) for f in files]
    assert all(s.equals(schemas[0]) for s in schemas), "the writer's shards differ in schema"
    s = schemas[0]
    entry = pa.struct([pa.field("name", pa.string(), nullable=False), pa.field("value", pa.float64(), nullable=False)])
    assert s.field("attributes").type == pa.list_(pa.field("element", entry, nullable=False))
    assert [f.name for f in s] == ["id", "text", "source", "metadata", "attributes"]
    assert all(s.field(c).type == pa.string() for c in ["id", "text", "source", "metadata"])
    assert not any(pa.types.is_map(f.type) for f in s)


def test_pyarrow(run, jsonl_rows):
    table = pq.read_table(shards(run["out"], "parquet", "*.parquet"))
    got = [as_row(r["id"], r["text"], r["source"], r["metadata"], r["attributes"]) for r in table.to_pylist()]
    check_rows("pyarrow", got, jsonl_rows)


def test_datasets_load_dataset_parquet(run, jsonl_rows):
    files = shards(run["out"], "parquet", "*.parquet")
    ds = datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=str(run["tmp"]))
    feats = ds.features
    assert feats["text"] == datasets.Value("string") and feats["metadata"] == datasets.Value("string")
    assert feats["attributes"] == datasets.List({"name": datasets.Value("string"), "value": datasets.Value("float64")})
    got = [as_row(r["id"], r["text"], r["source"], r["metadata"], r["attributes"]) for r in ds]
    check_rows("datasets.load_dataset(parquet)", got, jsonl_rows)
    # what a user does next: filter on an attribute
    kept = ds.filter(lambda r: {a["name"]: a["value"] for a in r["attributes"]}.get("language_score", 0) > 0.5)
    want = sum(1 for r in jsonl_rows if (r.get("attributes") or {}).get("language_score", 0) > 0.5)
    assert len(kept) == want and 0 < want


def test_datasets_from_arrow_table(run, jsonl_rows):
    ds = datasets.Dataset(pq.read_table(shards(run["out"], "parquet", "*.parquet")))
    got = [as_row(r["id"], r["text"], r["source"], r["metadata"], r["attributes"]) for r in ds]
    check_rows("datasets.Dataset(table)", got, jsonl_rows)


def test_polars(run, jsonl_rows):
    df = pl.read_parquet(shards(run["out"], "parquet", "*.parquet"))
    assert df.schema["attributes"] == pl.List(pl.Struct({"name": pl.String, "value": pl.Float64}))
    got = [as_row(r["id"], r["text"], r["source"], r["metadata"], r["attributes"]) for r in df.iter_rows(named=True)]
    check_rows("polars", got, jsonl_rows)
    # an attribute as a column, and a metadata key, the polars way
    col = (
        df.select(
            pl.col("id"),
            pl.col("attributes")
            .list.eval(pl.element().filter(pl.element().struct.field("name") == "pii_email"))
            .list.first()
            .struct.field("value")
            .alias("pii_email"),
            pl.col("metadata").str.json_path_match("$.language").alias("language"),
        )
    )
    ref = reference(jsonl_rows)
    found = 0
    for r in col.iter_rows(named=True):
        _, _, meta, attrs = ref[r["id"]]
        assert r["pii_email"] == attrs.get("pii_email") and r["language"] == meta.get("language"), r
        found += r["pii_email"] is not None
    # some documents have the attribute, some do not
    assert 0 < found < len(jsonl_rows), found


def test_duckdb(run, jsonl_rows):
    con = duckdb.connect()
    src = f"read_parquet({shards(run['out'], 'parquet', '*.parquet')!r})"
    (n,) = con.execute(f"SELECT count(*) FROM {src}").fetchone()
    assert n == len(jsonl_rows)
    rows = con.execute(f"SELECT id, text, source, metadata, attributes FROM {src}").fetchall()
    got = [as_row(i, t, s, m, a) for i, t, s, m, a in rows]
    check_rows("duckdb", got, jsonl_rows)
    # SQL on an attribute and on a metadata key
    q = f"SELECT id, map_from_entries(attributes)['pii_email'], map_from_entries(attributes)['gopher_word_count'], metadata->>'language' FROM {src}"
    ref = reference(jsonl_rows)
    found = 0
    for id_, emails, words, lang in con.execute(q).fetchall():
        _, _, meta, attrs = ref[id_]
        assert (emails, words, lang) == (attrs.get("pii_email"), attrs["gopher_word_count"], meta.get("language")), id_
        found += emails is not None
    assert 0 < found < len(jsonl_rows), found


def test_sluice_signals_read_the_same_attributes(run, jsonl_rows):
    """`sluice stats --signals` reads the Parquet with sluice's own reader:
    its counts, minima, maxima and means equal DuckDB's on the same files,
    and the JSONL writer's."""
    con = duckdb.connect()
    src = f"read_parquet({shards(run['out'], 'parquet', '*.parquet')!r})"
    duck = {
        name: (count, lo, hi, mean)
        for name, count, lo, hi, mean in con.execute(
            f"SELECT a.name, count(*), min(a.value), max(a.value), avg(a.value) FROM (SELECT unnest(attributes) AS a FROM {src}) GROUP BY a.name"
        ).fetchall()
    }
    assert {"language_score", "gopher_word_count", "pii_email"} <= duck.keys(), sorted(duck)
    for writer in ["parquet", "jsonl"]:
        report = json.loads(sluice("stats", run["out"], "--signals", "--json", "--writer", writer).stdout)["signals"]
        assert report["documents"] == len(jsonl_rows), writer
        signals = next(g for g in report["groups"] if g["group"] == "all")["signals"]
        assert signals.keys() == duck.keys(), writer
        for name, (count, lo, hi, mean) in duck.items():
            s = signals[name]
            assert (s["count"], s["min"], s["max"]) == (count, lo, hi), (writer, name, s)
            assert math.isclose(s["mean"], mean, rel_tol=1e-9, abs_tol=1e-12), (writer, name, s)


def test_datasets_load_dataset_json(runs):
    """The JSONL of the one-task run (the quickstart's): `datasets` infers
    its features from the first file, so the JSONL shards of a multi-task run
    whose metadata keys differ do not load as one dataset without
    `features=` (a `datasets` limitation the Parquet layout avoids)."""
    run = runs[1]
    files = shards(run["out"], "jsonl", "*.jsonl.zst")
    rows = []
    for f in files:
        with open(f, "rb") as fh:
            text = io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(fh), encoding="utf-8")
            rows.extend(json.loads(line) for line in text if line.strip())
    ds = datasets.load_dataset("json", data_files=files, split="train", cache_dir=str(run["tmp"]))
    assert len(ds) == len(rows) == writer_docs(run["stats"], "jsonl")
    ref = reference(rows)
    assert list(ds["id"]) == [r["id"] for r in rows]
    for r in ds:
        text, source, meta, attrs = ref[r["id"]]
        assert (r["text"], r["source"]) == (text, source)
        # JSON objects whose keys vary between rows become `Json` features
        # (datasets 5) or structs where a missing key reads as None (4)
        assert {k: v for k, v in (r["metadata"] or {}).items() if v is not None} == meta
        got = finite({k: v for k, v in (r["attributes"] or {}).items() if v is not None})
        assert got.keys() == attrs.keys()
        # datasets 5 re-encodes `Json` fields with pandas' ujson, which keeps
        # 10 decimals of a float (the Parquet keeps every bit: test_datasets_*)
        for k, v in attrs.items():
            assert math.isclose(got[k], v, rel_tol=1e-9, abs_tol=5.1e-11), (r["id"], k, got[k], v)


def test_task_counts_give_the_same_documents(runs):
    """One task or three: the same documents, and Parquet shards of the
    same schema."""
    tables = {t: pq.read_table(shards(runs[t]["out"], "parquet", "*.parquet")) for t in TASKS}
    assert len(shards(runs[3]["out"], "parquet", "*.parquet")) >= 2
    assert tables[1].schema.equals(tables[3].schema)
    by_id = {t: {r["id"]: r for r in tables[t].to_pylist()} for t in TASKS}
    assert len(by_id[1]) == tables[1].num_rows > 50
    assert by_id[1] == by_id[3]
