//! Integration tests: round trips on real text, shards (header, every token
//! once in seed order, byte-identical re-runs whatever the task split), the
//! mix's fractions, the tokenizer stage driven as the executor drives it.
//!
//! Real data comes from `../shared/data` (override: `SLUICE_TEST_DATA`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sluice_pipeline::{DocPos, DocStage, Document, GlobalContext, Verdict};
use sluice_tokens::bpe::{self, BpeSpec, Normalization};
use sluice_tokens::cli::read_texts;
use sluice_tokens::mix::drive;
use sluice_tokens::shard::{self, Manifest};
use sluice_tokens::util::{pos_hash, unit, Rng};
use sluice_tokens::{codec, MixConfig, PackConfig, Tokenize, TokenizerTrainConfig};

fn data() -> PathBuf {
    let p = std::env::var_os("SLUICE_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    assert!(p.join("README.md").exists(), "shared test data not found at {} (set SLUICE_TEST_DATA)", p.display());
    p
}

/// Documents of one source, `cap` bytes at most, with input positions.
fn docs(source: &str, reader: u32, path: &Path, cap: usize) -> Vec<Document> {
    let mut out = Vec::new();
    let mut bytes = 0;
    for (i, t) in read_texts(path).unwrap().into_iter().enumerate() {
        if bytes >= cap {
            break;
        }
        bytes += t.len();
        let mut d = Document::new(format!("{source}-{i}"), t, Arc::from(source));
        d.pos = DocPos { reader, file: 0, record: i as u64 };
        out.push(d);
    }
    out
}

fn corpus() -> Vec<Document> {
    let d = data();
    let mut v = docs("web", 0, &d.join("web/cc-main-2019-30.sample.jsonl.gz"), 400_000);
    v.extend(docs("books", 1, &d.join("reference/en/Moby_Dick.txt"), 400_000));
    v.extend(docs("zh", 2, &d.join("zh/clue-corpus-small.sample.txt"), 300_000));
    v
}

fn spec() -> BpeSpec {
    BpeSpec { vocab_size: 2000, ..BpeSpec::default() }
}

fn context(dir: &Path, node: &str, seed: u64) -> GlobalContext {
    GlobalContext {
        unit: 0,
        tasks: 1,
        seed,
        dir: dir.join("_sluice/global").join(node),
        reports: dir.join("reports").join(node),
        output: dir.to_path_buf(),
        node: node.into(),
        threads: 2,
    }
}

/// Split documents into `n` contiguous tasks, as the planner splits files.
fn split(docs: &[Document], n: usize) -> Vec<Vec<Document>> {
    let per = docs.len().div_ceil(n);
    let mut v: Vec<Vec<Document>> = docs.chunks(per).map(|c| c.to_vec()).collect();
    v.resize(n, Vec::new());
    v
}

fn tokenized(t: &tokenizers::Tokenizer, docs: &[Document]) -> Vec<Document> {
    let st = Tokenize::new(t.clone(), true);
    docs.iter().cloned().filter_map(|mut d| (st.process(&mut d) == Verdict::Keep).then_some(d)).collect()
}

#[test]
fn round_trip_on_real_and_hostile_text() {
    let c = corpus();
    let raw = BpeSpec { normalization: Normalization::None, ..spec() }.train(c.iter().map(|d| d.text.as_str())).unwrap();
    let nfc = spec().train(c.iter().map(|d| d.text.as_str())).unwrap();
    let d = data();
    let mut texts: Vec<String> = c.iter().map(|d| d.text.clone()).collect();
    texts.extend(read_texts(&d.join("zh/cmrc2018-dev.zh-wikipedia.json")).unwrap().into_iter().take(100));
    texts.extend(read_texts(&d.join("reference/en/Huckleberry_Finn.txt")).unwrap());
    texts.push(std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/pack.rs")).unwrap()); // code
    for s in [
        "😀👍🏽👨‍👩‍👧‍👦 🇯🇵 emoji",
        "e\u{301} vs é, Å vs A\u{30a}, \u{fb01}",
        "\u{feff}BOM \u{200b}zwsp \u{200d}zwj \u{202e}rtl\u{202c} \u{fffd} \u{ffff} \u{10ffff} \u{e000}",
        "tabs\t\tand\r\nCRLF\n\n\n   trailing   ",
        "<|endoftext|><|reserved_0|> literal specials",
        "fn main() {\n    let x: Vec<u8> = vec![0x1F; 1_000];\n}\n",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ℌ 𝟙𝟚𝟛 ١٢٣ ௧௨",
        "",
    ] {
        texts.push(s.to_string());
    }
    let fast_raw = sluice_tokens::fast::Encoder::from_tokenizer(raw.clone());
    let fast_nfc = sluice_tokens::fast::Encoder::from_tokenizer(nfc.clone());
    assert!(fast_raw.is_fast() && fast_nfc.is_fast());
    for x in &texts {
        let ids = bpe::encode(&raw, x).unwrap();
        // the direct encoder gives HF's ids exactly
        assert_eq!(fast_raw.encode(x).unwrap(), ids);
        assert_eq!(fast_nfc.encode(x).unwrap(), bpe::encode(&nfc, x).unwrap());
        assert_eq!(&bpe::decode(&raw, &ids).unwrap(), x, "round trip without normalisation");
        let nf = bpe::decode(&nfc, &bpe::encode(&nfc, x).unwrap()).unwrap();
        // with NFC the round trip is exact on NFC text and NFC-equal otherwise
        let ours = bpe::decode(&nfc, &bpe::encode(&nfc, &nf).unwrap()).unwrap();
        assert_eq!(ours, nf, "NFC round trip is idempotent");
        if x.is_ascii() {
            assert_eq!(&nf, x);
        }
    }
}

fn pack_run(docs: &[Document], tasks: usize, seed: u64, cfg: serde_json::Value, dir: &Path) -> Manifest {
    let val_fraction = cfg["val_fraction"].as_f64().unwrap_or(0.01);
    let cfg: PackConfig = serde_json::from_value(cfg).unwrap();
    assert!(cfg.validate().is_empty(), "{:?}", cfg.validate());
    let st = cfg.build("pack");
    let out = drive(&st, &context(dir, "pack", seed), &split(docs, tasks), 7).unwrap();
    // the decider passes every document on, without its ids
    assert_eq!(out.iter().map(Vec::len).sum::<usize>(), docs.len());
    assert!(out.iter().flatten().all(|d| d.tokens.is_none() && d.meta_str("tokens").is_none() && d.attributes.contains_key("tokens")));
    // with their text and metadata as they came, though the replay left out
    // every text the ids decode back to
    let mut want: Vec<(String, String, Vec<String>)> =
        docs.iter().map(|d| (d.id.clone(), d.text.clone(), d.metadata.keys().filter(|k| *k != "tokens").cloned().collect())).collect();
    let mut got: Vec<(String, String, Vec<String>)> = out
        .iter()
        .flatten()
        .map(|d| (d.id.clone(), d.text.clone(), d.metadata.keys().filter(|k| *k != "split").cloned().collect()))
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    // and tells which split each went to: the manifest's counts, by the
    // same seeded hash of its input position
    let m: Manifest = serde_json::from_slice(&std::fs::read(dir.join("pack/manifest.json")).unwrap()).unwrap();
    let mut val = 0;
    for d in out.iter().flatten() {
        let is_val = val_fraction > 0.0 && unit(pos_hash(seed, &d.pos, 0x5b1e_7e57)) < val_fraction;
        assert_eq!(d.meta_str("split"), Some(if is_val { "val" } else { "train" }), "{}", d.id);
        val += is_val as usize;
    }
    let manifest = serde_json::to_value(&m).unwrap();
    assert_eq!(manifest["documents"]["val"].as_u64().unwrap_or(0), val as u64, "{manifest}");
    m
}

fn shard_bytes(dir: &Path, m: &Manifest) -> Vec<Vec<u8>> {
    m.shards
        .iter()
        .flat_map(|s| {
            [
                std::fs::read(dir.join("pack").join(&s.file)).unwrap(),
                std::fs::read(dir.join("pack").join(format!("{}.bounds", s.file))).unwrap_or_default(),
            ]
        })
        .collect()
}

#[test]
fn shards_hold_every_token_once_in_seed_order_and_are_reproducible() {
    let tmp = tempfile::tempdir().unwrap();
    let t = spec().train(corpus().iter().map(|d| d.text.as_str())).unwrap();
    let tpath = tmp.path().join("tokenizer.json");
    std::fs::write(&tpath, bpe::to_json(&t).unwrap()).unwrap();
    let docs = tokenized(&t, &corpus());
    let seq_len = 128;
    let cfg = serde_json::json!({"tokenizer": tpath, "seq_len": seq_len, "val_fraction": 0.1, "shard_tokens": 20000});
    let seed = 99;

    let a = tmp.path().join("a");
    let m = pack_run(&docs, 1, seed, cfg.clone(), &a);
    assert_eq!(m.format, "sluice-shards/1");
    assert_eq!(m.eos_id, 0);
    assert_eq!(m.dtype, shard::TokenDtype::Uint16);
    assert!(m.shards.len() > 3, "several shards: {}", m.shards.len());
    assert!(m.tokenizer_sha256.as_deref() == Some(&sluice_tokens::util::sha256_hex(bpe::to_json(&t).unwrap().as_bytes())[..]));

    // Expected streams: documents in input order, split by the seeded hash,
    // each followed by EOS.
    let mut sorted = docs.clone();
    sorted.sort_by_key(|d| d.pos);
    for (split, is_val) in [("train", false), ("val", true)] {
        let mut want = Vec::new();
        for d in sorted.iter().filter(|d| (unit(pos_hash(seed, &d.pos, 0x5b1e_7e57)) < 0.1) == is_val) {
            want.extend(codec::get_tokens(d).unwrap());
            want.push(m.eos_id);
        }
        // Read the split's shards (header and manifest checks on each).
        let mut got = Vec::new();
        let mut total_bounds = 0;
        for e in m.shards.iter().filter(|e| e.split == split) {
            let bytes = std::fs::read(a.join("pack").join(&e.file)).unwrap();
            assert_eq!(e.sha256.as_deref(), Some(&sluice_tokens::util::sha256_hex(&bytes)[..]));
            let s = shard::parse_llmc(&e.file, &bytes).unwrap();
            assert_eq!(s.tokens.len() as u64, e.tokens);
            assert_eq!(&bytes[0..4], &20240520i32.to_le_bytes());
            let b =
                shard::parse_bounds(&e.file, &std::fs::read(a.join("pack").join(format!("{}.bounds", e.file))).unwrap(), e.tokens).unwrap();
            assert_eq!(b[0], 0);
            total_bounds += b.len();
            got.extend(s.tokens);
        }
        assert_eq!(got.len(), want.len(), "{split}: every token exactly once");
        // Undo the seeded shuffle of the full sequences.
        let n = want.len() / seq_len;
        let mut order: Vec<u32> = (0..(want.len().div_ceil(seq_len)) as u32).collect();
        Rng::new(seed ^ if is_val { 0x7a1 } else { 0x7e4 }).shuffle(&mut order[..n]);
        let mut unshuffled = vec![0u32; want.len()];
        for (k, &orig) in order.iter().enumerate() {
            let o = orig as usize * seq_len;
            let len = seq_len.min(want.len() - o);
            unshuffled[o..o + len].copy_from_slice(&got[k * seq_len..k * seq_len + len]);
        }
        assert_eq!(unshuffled, want, "{split}: the shards are the seeded permutation of the packed stream");
        assert_ne!(got, want, "{split}: shuffled");
        assert!(total_bounds >= m.documents[split] as usize);
    }

    // Same seed, other task splits: byte-identical shards and manifest.
    let b = tmp.path().join("b");
    let mb = pack_run(&docs, 3, seed, cfg.clone(), &b);
    assert_eq!(shard_bytes(&a, &m), shard_bytes(&b, &mb));
    assert_eq!(std::fs::read(a.join("pack/manifest.json")).unwrap(), std::fs::read(b.join("pack/manifest.json")).unwrap());
    // Another seed: other bytes.
    let c = tmp.path().join("c");
    let mc = pack_run(&docs, 2, seed + 1, cfg, &c);
    assert_ne!(shard_bytes(&a, &m), shard_bytes(&c, &mc));
}

#[test]
fn bos_mode_starts_every_sequence_with_bos_and_megatron_index_matches() {
    let tmp = tempfile::tempdir().unwrap();
    let t = spec().train(corpus().iter().map(|d| d.text.as_str())).unwrap();
    let tpath = tmp.path().join("tokenizer.json");
    std::fs::write(&tpath, bpe::to_json(&t).unwrap()).unwrap();
    let docs = tokenized(&t, &corpus()[..100]);
    let m = pack_run(
        &docs,
        2,
        5,
        serde_json::json!({"tokenizer": tpath, "seq_len": 64, "plus_one": true, "mode": "bos", "max_doc_tokens": 40, "val_fraction": 0.0}),
        &tmp.path().join("a"),
    );
    assert_eq!(m.bos_id, Some(0));
    for e in &m.shards {
        let s = shard::parse_llmc(&e.file, &std::fs::read(tmp.path().join("a/pack").join(&e.file)).unwrap()).unwrap();
        assert_eq!(s.tokens.len() % 65, 0);
        assert!(s.tokens.chunks(65).all(|q| q[0] == 0), "every sequence starts with BOS");
    }
    let m = pack_run(
        &docs,
        1,
        5,
        serde_json::json!({"tokenizer": tpath, "seq_len": 64, "plus_one": true, "format": "megatron", "val_fraction": 0.0}),
        &tmp.path().join("b"),
    );
    let e = &m.shards[0];
    let bin = std::fs::read(tmp.path().join("b/pack").join(&e.file)).unwrap();
    let idx = std::fs::read(tmp.path().join("b/pack").join(e.file.replace(".bin", ".idx"))).unwrap();
    let n = u64::from_le_bytes(idx[18..26].try_into().unwrap()) as usize;
    let lens: usize = (0..n).map(|i| i32::from_le_bytes(idx[34 + 4 * i..38 + 4 * i].try_into().unwrap()) as usize).sum();
    assert_eq!(lens * 2, bin.len());
    assert_eq!(lens as u64, e.tokens);
}

#[test]
fn mix_meets_token_weights_within_one_percent() {
    let tmp = tempfile::tempdir().unwrap();
    let d = data();
    let mut all = docs("web", 0, &d.join("web/cc-main-2019-30.sample.jsonl.gz"), usize::MAX);
    all.extend(docs("books", 1, &d.join("reference/en"), usize::MAX).into_iter().filter(|d| !d.text.starts_with(" = ")));
    all.extend(docs("zh", 2, &d.join("zh/clue-corpus-small.sample.txt"), usize::MAX));
    let t = spec().train(all.iter().step_by(7).map(|d| d.text.as_str())).unwrap();
    let all = tokenized(&t, &all);
    let target = 4_000_000u64;
    let cfg: MixConfig = serde_json::from_value(serde_json::json!({
        "target_tokens": target,
        "sources": {"web": {"weight": 0.6, "max_epochs": 4}, "books": {"weight": 0.2}, "zh": {"weight": 0.2, "max_epochs": 3}}
    }))
    .unwrap();
    assert!(cfg.validate().is_empty());
    let run = |tasks: usize, dir: &Path| {
        let out = drive(&cfg.build("mix"), &context(dir, "mix", 11), &split(&all, tasks), 16).unwrap();
        let docs: Vec<Document> = out.into_iter().flatten().collect();
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("reports/mix/mix.json")).unwrap()).unwrap();
        (docs, report)
    };
    let (out, report) = run(1, &tmp.path().join("a"));
    assert_eq!(report["kind"], "mix");
    let mut per = std::collections::BTreeMap::<String, u64>::new();
    for d in &out {
        *per.entry(d.source.to_string()).or_default() += codec::get_tokens(d).unwrap().len() as u64;
    }
    let total: u64 = per.values().sum();
    for (s, w) in [("web", 0.6), ("books", 0.2), ("zh", 0.2)] {
        let frac = per[s] as f64 / total as f64;
        assert!((frac - w).abs() < 0.01, "{s}: {frac} vs {w} ({per:?}, {report})");
    }
    assert!((total as f64 / target as f64 - 1.0).abs() < 0.01, "{total} vs {target}");
    // web is upsampled past one epoch: repeated copies carry mix_copy
    assert!(out.iter().any(|d| d.metadata.contains_key("mix_copy")), "{report}");
    // the same whatever the task split
    let (out3, report3) = run(4, &tmp.path().join("b"));
    assert_eq!(report, report3);
    let ids = |v: &[Document]| {
        let mut x: Vec<(String, usize)> = v.iter().map(|d| (d.id.clone(), codec::get_tokens(d).unwrap().len())).collect();
        x.sort();
        x
    };
    assert_eq!(ids(&out), ids(&out3));
}

#[test]
fn tokenizer_stage_samples_by_budget_and_tokenizes_independently_of_tasks() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = corpus();
    let cfg: TokenizerTrainConfig = serde_json::from_value(serde_json::json!({
        "vocab_size": 1000, "sample_bytes_per_source": "150KB", "sample_bytes": {"zh": "50KB"}, "tokenize": true
    }))
    .unwrap();
    assert!(cfg.validate().is_empty());
    let mut outs = Vec::new();
    for (i, tasks) in [1usize, 3].into_iter().enumerate() {
        let dir = tmp.path().join(format!("r{i}"));
        let st = cfg.build("tok");
        let cx = context(&dir, "tok", 3);
        let out: Vec<Document> = drive(&st, &cx, &split(&docs, tasks), 10).unwrap().into_iter().flatten().collect();
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("reports/tok/tokenizer.json")).unwrap()).unwrap();
        for s in report["sample"].as_array().unwrap() {
            let budget = s["budget"].as_u64().unwrap();
            let bytes = s["bytes"].as_u64().unwrap();
            assert!(bytes >= budget.min(1) && bytes < budget + 70_000, "{s}");
        }
        assert_eq!(out.len(), docs.iter().filter(|d| !d.text.is_empty()).count(), "only empty documents are dropped");
        let tjson = std::fs::read_to_string(st.tokenizer_path(&cx)).unwrap();
        let t = bpe::from_json(&tjson).unwrap();
        for d in out.iter().take(50) {
            assert_eq!(bpe::decode(&t, &codec::get_tokens(d).unwrap()).unwrap(), d.text.clone());
        }
        outs.push((tjson, out.iter().map(|d| d.tokens.as_ref().unwrap().to_text()).collect::<Vec<_>>()));
    }
    assert_eq!(outs[0], outs[1], "same tokenizer and ids whatever the task split");
}

/// Words from a small vocabulary, `n` bytes of them: text a tokenizer can learn.
fn words(n: usize, seed: u64) -> String {
    const W: [&str; 16] =
        ["the", "river", "flows", "under", "a", "bridge", "of", "stone", "and", "light", "where", "old", "boats", "rest", "in", "rain"];
    let mut rng = Rng::new(seed);
    let mut s = String::with_capacity(n + 8);
    while s.len() < n {
        s.push_str(W[rng.below(16) as usize]);
        s.push(if rng.below(12) == 0 { '\n' } else { ' ' });
    }
    s.truncate(n);
    s
}

/// Issue 21, hole 8: one huge document made the tokenizer sample (and the BPE
/// trainer's memory) as large as the document. It is now cut to
/// `max_document_bytes` and the report says how many were cut.
#[test]
fn tokenizer_sample_cuts_documents_past_max_document_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut docs: Vec<Document> = (0..20)
        .map(|i| {
            let mut d = Document::new(format!("d{i}"), words(2000, i), Arc::from("web"));
            d.pos = DocPos { reader: 0, file: 0, record: i };
            d
        })
        .collect();
    let mut big = Document::new("big", words(3 << 20, 99), Arc::from("web"));
    big.pos = DocPos { reader: 0, file: 0, record: 20 };
    docs.push(big);
    let cfg: TokenizerTrainConfig = serde_json::from_value(serde_json::json!({
        "vocab_size": 300, "sample_bytes_per_source": "100MB", "max_document_bytes": "64KiB"
    }))
    .unwrap();
    assert!(cfg.validate().is_empty());
    for tasks in [1, 3] {
        let dir = tmp.path().join(format!("t{tasks}"));
        drive(&cfg.build("tok"), &context(&dir, "tok", 1), &split(&docs, tasks), 4).unwrap();
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("reports/tok/tokenizer.json")).unwrap()).unwrap();
        assert_eq!(report["documents_cut"], 1, "{report}");
        assert_eq!(report["max_document_bytes"], 65536, "{report}");
        let s = &report["sample"][0];
        assert_eq!((s["documents"].as_u64(), s["documents_cut"].as_u64()), (Some(21), Some(1)), "{s}");
        assert_eq!(s["bytes"].as_u64().unwrap(), 20 * 2000 + 65536, "{s}");
        assert_eq!(s["bytes_cut"].as_u64().unwrap(), (3 << 20) - 65536, "{s}");
    }
    // out of range values are refused by validate
    for bad in [serde_json::json!({"max_document_bytes": 10}), serde_json::json!({"sample_bytes_per_source": "100TB"})] {
        let c: TokenizerTrainConfig = serde_json::from_value(bad.clone()).unwrap();
        assert!(!c.validate().is_empty(), "{bad}");
    }
    let c: TokenizerTrainConfig = serde_json::from_value(serde_json::json!({"reserved_tokens": usize::MAX})).unwrap();
    assert!(c.validate().iter().any(|(k, _)| k == "reserved_tokens"));
}

/// Issue 21, hole 8: `tokenize.tokenizer: /dev/zero` read forever, in
/// `validate` too. A tokenizer path must be a regular file of bounded size.
#[test]
fn tokenizer_options_naming_a_device_are_refused_without_reading() {
    let c: sluice_tokens::TokenizeConfig = serde_json::from_value(serde_json::json!({"tokenizer": "/dev/zero"})).unwrap();
    let e = c.validate();
    assert!(e.len() == 1 && e[0].1.contains("/dev/zero"), "{e:?}");
    let p: PackConfig = serde_json::from_value(serde_json::json!({"tokenizer": "/dev/zero"})).unwrap();
    let e = p.validate();
    assert!(e.iter().any(|(k, m)| k == "tokenizer" && m.contains("/dev/zero")), "{e:?}");
}

/// A document of more tokens than pack decodes at once goes through the
/// streaming path and lands in the shard exactly.
#[test]
fn pack_streams_a_document_of_millions_of_tokens_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let t = BpeSpec { vocab_size: 300, ..BpeSpec::default() }.train([words(5000, 1)].iter()).unwrap();
    let tpath = tmp.path().join("tokenizer.json");
    std::fs::write(&tpath, bpe::to_json(&t).unwrap()).unwrap();
    let ids: Vec<u32> = (0..1_500_001u32).map(|i| 1 + (i * 7) % 290).collect();
    let mut big = Document::new("big", "x", Arc::from("s"));
    codec::set_tokens(&mut big, &ids);
    let mut small = Document::new("small", "y", Arc::from("s"));
    small.pos = DocPos { reader: 0, file: 0, record: 1 };
    codec::set_tokens(&mut small, &[5, 6, 7]);
    let m = pack_run(
        &[big, small],
        1,
        3,
        serde_json::json!({"tokenizer": tpath, "seq_len": 1024, "val_fraction": 0.0, "shuffle": false, "shard_tokens": 100_000_000}),
        tmp.path(),
    );
    let s = shard::parse_llmc("x", &std::fs::read(tmp.path().join("pack").join(&m.shards[0].file)).unwrap()).unwrap();
    let mut want = ids;
    want.push(m.eos_id);
    want.extend([5, 6, 7, m.eos_id]);
    assert_eq!(s.tokens, want);
}

/// `sluice inspect` on a truncated Megatron `.idx` panicked (issue 15); a
/// manifest's tokenizer outside its directory was opened (issue 21, hole 3).
#[test]
fn inspect_errors_on_truncated_index_and_escaping_tokenizer() {
    use sluice_tokens::cli::{inspect, InspectArgs};
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("train-00000.bin");
    std::fs::write(&bin, [1u8, 0, 2, 0, 3, 0]).unwrap();
    let idx = shard::megatron_idx(&[3], shard::TokenDtype::Uint16);
    let args = |p: &Path| InspectArgs { shard: p.to_path_buf(), start: 0, count: 10, tokenizer: None };
    for cut in [0, 20, 33, 37, idx.len() - 1] {
        std::fs::write(tmp.path().join("train-00000.idx"), &idx[..cut]).unwrap();
        let e = format!("{:#}", inspect(&args(&bin), &mut std::io::sink()).unwrap_err());
        assert!(e.contains("train-00000.idx"), "{cut}: {e}");
    }
    std::fs::write(tmp.path().join("train-00000.idx"), &idx).unwrap();
    inspect(&args(&bin), &mut std::io::sink()).unwrap();
    // an llm.c shard whose manifest names a tokenizer outside the directory
    let dir = tmp.path().join("shards");
    std::fs::create_dir_all(&dir).unwrap();
    let mut b = shard::llmc_header(3, shard::TokenDtype::Uint16).unwrap().to_vec();
    shard::push_tokens(&mut b, &[1, 2, 3], shard::TokenDtype::Uint16);
    std::fs::write(dir.join("a.bin"), &b).unwrap();
    for bad in ["/etc/passwd", "../train-00000.bin"] {
        let m = serde_json::json!({"format": "sluice-shards/1", "vocab_size": 300, "eos_id": 0, "dtype": "uint16", "tokenizer": bad,
            "shards": [{"file": "a.bin", "split": "train", "tokens": 3}]});
        std::fs::write(dir.join("manifest.json"), m.to_string()).unwrap();
        let e = format!("{:#}", inspect(&args(&dir.join("a.bin")), &mut std::io::sink()).unwrap_err());
        assert!(e.contains("manifest.json") && e.contains(bad), "{e}");
    }
}

/// Issue 15: `pack` keeps neither the ids nor (where the ids decode back to
/// it) the text for its decide phase, gives the text back exactly, keeps
/// the text of a document whose ids do not round-trip (NFC changes it), and
/// leaves the metadata in the order it had when the ids were metadata text.
#[test]
fn pack_replay_leaves_out_ids_and_restorable_text() {
    use sluice_pipeline::GlobalStage;
    let tmp = tempfile::tempdir().unwrap();
    let t = spec().train(corpus().iter().map(|d| d.text.as_str())).unwrap();
    let tpath = tmp.path().join("tokenizer.json");
    std::fs::write(&tpath, bpe::to_json(&t).unwrap()).unwrap();
    let texts = ["the river flows under a bridge", "e\u{301} is not NFC", "中文 and 😀 emoji\r\n"];
    let mut docs = Vec::new();
    for (i, s) in texts.iter().enumerate() {
        let mut d = Document::new(format!("d{i}"), *s, Arc::from("s"));
        d.pos = DocPos { reader: 0, file: 0, record: i as u64 };
        d.metadata.insert("a".into(), 1.into());
        docs.push(d);
    }
    let mut docs = tokenized(&t, &docs);
    for d in &mut docs {
        d.metadata.insert("b".into(), 2.into());
        d.metadata.insert("c".into(), 3.into());
    }
    let cfg: PackConfig = serde_json::from_value(serde_json::json!({"tokenizer": tpath, "seq_len": 16, "val_fraction": 0.0})).unwrap();
    let st = cfg.build("pack");
    let cx = context(tmp.path(), "pack", 1);
    std::fs::create_dir_all(&cx.dir).unwrap();
    std::fs::create_dir_all(&cx.reports).unwrap();
    let mut o = st.observer(&cx).unwrap();
    o.observe(&docs).unwrap();
    let mut kept = docs.clone();
    o.trim_for_replay(&mut kept).unwrap();
    o.finish().unwrap();
    assert!(kept.iter().all(|d| d.tokens.is_none()));
    let texts_kept: Vec<&str> = kept.iter().map(|d| d.text.as_str()).collect();
    assert_eq!(texts_kept, ["", "e\u{301} is not NFC", ""]);
    // `Map::remove` swapped the last key into the ids' place
    assert!(kept.iter().all(|d| d.metadata.keys().collect::<Vec<_>>() == ["a", "c", "b"]));
    // a batch that is not the one observed is refused
    assert!(o_trim_mismatch(&st, &cx, &docs));
    st.run_step(0, &cx).unwrap();
    let mut dec = st.decider(&cx).unwrap();
    let mut out = sluice_pipeline::StageOutput::default();
    dec.process(sluice_pipeline::Batch::new(kept), &mut out).unwrap();
    let back: Vec<&str> = out.kept.iter().map(|d| d.text.as_str()).collect();
    assert_eq!(back, texts);
    assert!(out.kept.iter().all(|d| d.metadata.keys().collect::<Vec<_>>() == ["a", "c", "b", "split"]));
    // a replay that does not match the index is an error, not wrong text
    let mut dec = st.decider(&cx).unwrap();
    let err = dec.process(sluice_pipeline::Batch::new(vec![docs[1].clone()]), &mut sluice_pipeline::StageOutput::default()).unwrap_err();
    assert!(err.to_string().contains("disagree"), "{err}");
}

fn o_trim_mismatch(st: &dyn sluice_pipeline::GlobalStage, cx: &GlobalContext, docs: &[Document]) -> bool {
    let mut cx = cx.clone();
    cx.unit = 7;
    let mut o = st.observer(&cx).unwrap();
    o.observe(docs).unwrap();
    let mut fewer = docs[..1].to_vec();
    o.trim_for_replay(&mut fewer).is_err()
}

/// `sluice inspect` on a shard directory where one file (the llm.c shard,
/// its `.bounds`, the manifest, a Megatron `.bin` or `.idx`) is cut at every
/// offset: an error naming that file, never a panic (issue 15). A `.bounds`
/// cut at a multiple of 8 bytes is still a valid, shorter list.
#[test]
fn inspect_names_the_file_for_every_truncation() {
    use sluice_tokens::cli::{inspect, InspectArgs};
    use sluice_tokens::shard::{bounds_bytes, llmc_bytes, megatron_idx, push_tokens, sha256_hex, TokenDtype};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let llmc = llmc_bytes(&[1, 2, 3, 4], TokenDtype::Uint16).unwrap();
    let bounds = bounds_bytes(&[0, 2]);
    let mut mbin = Vec::new();
    push_tokens(&mut mbin, &[5, 6, 7], TokenDtype::Uint16);
    let midx = megatron_idx(&[1, 2], TokenDtype::Uint16);
    let manifest = serde_json::to_vec(&serde_json::json!({"format": "sluice-shards/1", "vocab_size": 300, "eos_id": 0, "dtype": "uint16",
        "shards": [{"file": "a.bin", "split": "train", "tokens": 4, "sha256": sha256_hex(&llmc)},
                   {"file": "m.bin", "split": "val", "tokens": 3, "sha256": sha256_hex(&mbin)}]}))
    .unwrap();
    let files: [(&str, &[u8], &str); 5] = [
        ("a.bin", &llmc, "a.bin"),
        ("a.bin.bounds", &bounds, "a.bin"),
        ("manifest.json", &manifest, "a.bin"),
        ("m.bin", &mbin, "m.bin"),
        ("m.idx", &midx, "m.bin"),
    ];
    let write_all = || {
        for (name, bytes, _) in &files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    };
    let args = |shard: &str| InspectArgs { shard: dir.join(shard), start: 0, count: 10, tokenizer: None };
    write_all();
    inspect(&args("a.bin"), &mut std::io::sink()).unwrap();
    inspect(&args("m.bin"), &mut std::io::sink()).unwrap();
    for (name, bytes, shard) in &files {
        for cut in 0..bytes.len() {
            write_all();
            std::fs::write(dir.join(name), &bytes[..cut]).unwrap();
            match inspect(&args(shard), &mut std::io::sink()) {
                Ok(()) => assert!(*name == "a.bin.bounds" && cut % 8 == 0, "{name} cut at {cut} was accepted"),
                Err(e) => {
                    let e = format!("{e:#}");
                    assert!(e.contains(name), "{name} cut at {cut}: {e}");
                }
            }
        }
    }
}
