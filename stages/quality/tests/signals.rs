//! `sluice stats --signals / --what-if` over outputs written by the real
//! writers: documents filtered by real stages with `record_signals`, kept
//! ones in Parquet and JSONL, dropped ones in an exclusion shard.

use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};
use sluice_pipeline::{DocStage, Document, SinkContext, SinkFactory, Verdict};
use sluice_quality::signals::{run_cli, RunOutput, SignalStats};

/// The quality kinds, as the binary's registry lists them.
fn kinds() -> sluice_pipeline::Kinds {
    use sluice_pipeline::Kind;
    sluice_pipeline::Kinds::new(vec![
        Kind::of::<sluice_quality::LanguageIdConfig>(),
        Kind::of::<sluice_quality::GopherQualityConfig>(),
        Kind::of::<sluice_quality::GopherRepetitionConfig>(),
        Kind::of::<sluice_quality::C4QualityConfig>(),
        Kind::of::<sluice_quality::FineWebQualityConfig>(),
    ])
}
use sluice_quality::GopherQualityConfig;
use sluice_writers::{JsonlWriterConfig, ParquetWriterConfig};

fn write(factory: &dyn SinkFactory, dir: &Path, docs: &[Document]) {
    let mut sink = factory.open(&SinkContext { dir: dir.to_path_buf(), task: 0, node: "w".into() }).unwrap();
    sink.write(docs).unwrap();
    sink.finish().unwrap();
}

/// `n` words of prose with stop words; long enough for every other rule.
fn prose(n: usize) -> String {
    let vocab = ["the", "garden", "with", "river", "and", "morning", "of", "stone", "bridge", "window"];
    (0..n).map(|i| format!("{}{}", vocab[i % vocab.len()], if i % 7 == 6 { "." } else { "" })).collect::<Vec<_>>().join(" ")
}

/// A run directory: gopher_quality (record_signals) over documents of
/// 20..=120 words from two sources, kept ones written by both writers.
fn make_run(dir: &Path) -> (usize, usize) {
    let stage = GopherQualityConfig {
        record_signals: true,
        languages: serde_json::from_value(json!({"fr": {"min_doc_words": 30}})).unwrap(),
        ..Default::default()
    }
    .build();
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    for (i, n) in (20..=120).step_by(5).enumerate() {
        let source = if i % 2 == 0 { "web" } else { "books" };
        let mut d = Document::new(format!("d{i}"), prose(n), Arc::from(source));
        d.metadata.insert("language".into(), if i % 3 == 0 { "fr" } else { "en" }.into());
        match stage.process(&mut d) {
            Verdict::Keep => kept.push(d),
            Verdict::Drop(r) => {
                d.metadata.insert("drop_reason".into(), r.as_str().into());
                d.metadata.insert("dropped_by".into(), "gq".into());
                dropped.push(d);
            }
        }
    }
    std::fs::create_dir_all(dir.join("_sluice")).unwrap();
    let recipe = json!({
        "stages": {"gq": {"kind": "gopher_quality", "inputs": ["r"], "record_signals": true, "exclusions": true,
                           "languages": {"fr": {"min_doc_words": 30}}}},
        "writers": {"j": {"kind": "jsonl", "inputs": ["gq"]}, "p": {"kind": "parquet", "inputs": ["gq"]}}
    });
    std::fs::write(dir.join("_sluice/recipe.json"), serde_json::to_vec(&recipe).unwrap()).unwrap();
    write(&JsonlWriterConfig::default().build(), &dir.join("j"), &kept);
    write(&ParquetWriterConfig::default().build(), &dir.join("p"), &kept);
    write(&JsonlWriterConfig::default().build(), &dir.join("excluded/gq"), &dropped);
    (kept.len(), dropped.len())
}

#[test]
fn signals_read_the_same_from_parquet_and_jsonl() {
    let tmp = tempfile::tempdir().unwrap();
    let (kept, _) = make_run(tmp.path());
    let run = RunOutput::open(tmp.path()).unwrap();
    assert_eq!(run.writer(None).unwrap(), "p", "parquet is preferred");
    let mut stats = Vec::new();
    for w in ["p", "j"] {
        let mut st = SignalStats::default();
        run.scan(w, false, |r| st.add(&r)).unwrap();
        assert_eq!(st.documents as usize, kept);
        stats.push(st.to_json(w)["groups"].clone());
    }
    assert_eq!(stats[0], stats[1]);
    // word counts of the kept documents: 50..=120 in steps of 5, plus the
    // 30..45-word French ones kept by the override
    let groups = stats[0].as_array().unwrap();
    let all = groups.iter().find(|g| g["group"] == "all").unwrap();
    let wc = &all["signals"]["gopher_word_count"];
    assert_eq!(wc["exact"], true);
    assert_eq!(wc["max"], 120.0);
    assert!(groups.iter().any(|g| g["group"] == "source=web"));
    assert!(groups.iter().any(|g| g["group"] == "language=fr"));
    let web = groups.iter().find(|g| g["group"] == "source=web").unwrap();
    let books = groups.iter().find(|g| g["group"] == "source=books").unwrap();
    assert_eq!(
        web["signals"]["gopher_word_count"]["count"].as_u64().unwrap() + books["signals"]["gopher_word_count"]["count"].as_u64().unwrap(),
        kept as u64
    );
}

fn what_if(dir: &Path, args: &[&str]) -> Value {
    let mut out = Vec::new();
    let a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    run_cli(&kinds(), dir, false, &a, None, true, &mut out).unwrap();
    serde_json::from_slice::<Value>(&out).unwrap()["what_if"].clone()
}

fn total(v: &Value, scenario: usize) -> &Value {
    v["scenarios"][scenario]["sources"].as_array().unwrap().iter().find(|s| s["source"] == "(all)").unwrap()
}

#[test]
fn what_if_counts_match_a_rerun_with_the_changed_threshold() {
    let tmp = tempfile::tempdir().unwrap();
    make_run(tmp.path());
    // The truth: run the filter again with min_doc_words 80 over the same documents.
    let rerun = |min: usize| {
        let s = GopherQualityConfig {
            min_doc_words: Some(min),
            languages: serde_json::from_value(json!({"fr": {"min_doc_words": 30}})).unwrap(),
            ..Default::default()
        }
        .build();
        let (mut docs, mut bytes) = (0u64, 0u64);
        for (i, n) in (20..=120).step_by(5).enumerate() {
            let mut d = Document::new("x", prose(n), Arc::from("s"));
            d.metadata.insert("language".into(), if i % 3 == 0 { "fr" } else { "en" }.into());
            if s.process(&mut d) == Verdict::Keep {
                docs += 1;
                bytes += d.text.len() as u64;
            }
        }
        (docs, bytes)
    };
    let v = what_if(tmp.path(), &["gq.min_doc_words=80"]);
    let t = total(&v, 0);
    let (now, _) = rerun(50);
    let (then, then_bytes) = rerun(80);
    assert_eq!(t["before"]["docs"].as_u64().unwrap(), now);
    assert_eq!(t["after"]["docs"].as_u64().unwrap(), then);
    assert_eq!(t["after"]["bytes"].as_u64().unwrap(), then_bytes);
    assert_eq!(t["newly_dropped"]["docs"].as_u64().unwrap(), now - then);
    assert_eq!(t["rescued"]["docs"], 0);
    // lowering the threshold rescues excluded documents (English ones of 40..=45 words)
    let v = what_if(tmp.path(), &["gopher_quality.min_doc_words=40"]);
    let (low, _) = rerun(40);
    assert_eq!(total(&v, 0)["after"]["docs"].as_u64().unwrap(), low);
    assert!(total(&v, 0)["rescued"]["docs"].as_u64().unwrap() > 0);
    // null disables the rule: every document passes it
    let v = what_if(tmp.path(), &["gq.min_doc_words=null", "gq.max_doc_words=100"]);
    assert_eq!(v["scenarios"].as_array().unwrap().len(), 3, "each alone, then together");
    // null disables the rule, except for French, whose own value (30) stays:
    // only the 20-word French document is still dropped
    assert_eq!(total(&v, 0)["after"]["docs"].as_u64().unwrap(), total(&v, 0)["seen"]["docs"].as_u64().unwrap() - 1);
}

#[test]
fn what_if_errors_name_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    make_run(tmp.path());
    let run = |a: &str| {
        let mut out = Vec::new();
        run_cli(&kinds(), tmp.path(), false, &[a.to_string()], None, false, &mut out).unwrap_err().to_string()
    };
    assert!(run("gq.min_words=80").contains("not a re-evaluable option of `gopher_quality`"), "{}", run("gq.min_words=80"));
    assert!(run("nope.min_doc_words=80").contains("no stage or kind `nope`"));
    assert!(run("gq.min_doc_words=eighty").contains("not JSON"));
    assert!(run("gq.min_avg_word_length=20").contains("max_avg_word_length"), "{}", run("gq.min_avg_word_length=20"));
    assert!(run("gq.min_doc_words").contains("NODE.OPTION=VALUE"));
}
