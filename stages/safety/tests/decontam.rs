//! Decontamination on real data: the index of the eval sets in
//! `../shared/data/eval`, benchmark items planted verbatim and lightly
//! edited in real Common Crawl documents, and the false positives on the
//! clean CC sample.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use sluice_pipeline::{DocStage, Document, Verdict};
use sluice_safety::decontam::{read_benchmark, token_hashes, BENCHMARKS};
use sluice_safety::testset::{data_dir, Rng};
use sluice_safety::DecontamConfig;

fn cc_docs(data: &std::path::Path) -> Vec<(String, String)> {
    let p = data.join("web/cc-main-2019-30.sample.jsonl.gz");
    let f = std::fs::File::open(&p).unwrap_or_else(|e| panic!("{} (set SLUICE_TEST_DATA): {e}", p.display()));
    BufReader::new(flate2::read::MultiGzDecoder::new(f))
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l.unwrap()).unwrap();
            (v["id"].as_str().unwrap().to_string(), v["text"].as_str().unwrap().to_string())
        })
        .collect()
}

/// Light edits, about one word in `every`: drop a word, repeat it, or
/// swap in another common word; punctuation and case are changed too
/// (those the normalisation forgives).
fn edit(text: &str, r: &mut Rng, every: u64) -> String {
    const SWAP: &[&str] = &["the", "a", "very", "then", "it", "also", "which"];
    let cjk = text.chars().filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c)).count() * 2 > text.chars().count();
    if cjk {
        // Chinese: edit characters
        let mut out = String::new();
        for c in text.chars() {
            if r.below(every) == 0 {
                match r.below(3) {
                    0 => {}
                    1 => {
                        out.push(c);
                        out.push(c);
                    }
                    _ => out.push(*r.pick(&['的', '了', '是', '在'])),
                }
            } else {
                out.push(c);
            }
        }
        return out;
    }
    let mut out: Vec<String> = Vec::new();
    for w in text.split_whitespace() {
        if r.below(every) == 0 {
            match r.below(3) {
                0 => {}
                1 => {
                    out.push(w.to_string());
                    out.push(w.to_string());
                }
                _ => out.push(r.pick(SWAP).to_string()),
            }
        } else {
            out.push(if r.chance(0.1) { w.to_uppercase() } else { w.to_string() });
        }
    }
    out.join(" ").replace(", ", " ; ")
}

#[test]
fn planted_items_are_caught_and_clean_documents_are_not() {
    let data = data_dir();
    let eval = data.join("eval");
    assert!(eval.is_dir(), "shared data missing at {} (set SLUICE_TEST_DATA)", eval.display());
    let out = std::env::temp_dir().join(format!("sluice-decontam-test-{}", std::process::id()));
    let index = out.join("decontam-13.bin");
    let cfg = DecontamConfig {
        eval_dir: Some(eval.clone()),
        index: Some(index.clone()),
        save_index: Some("decontam-13.bin".into()),
        ..Default::default()
    };
    assert!(cfg.validate().is_empty());
    let t = std::time::Instant::now();
    let stage = cfg.build().unwrap();
    let built = t.elapsed();
    stage.filter().save_into(&out).unwrap();
    println!("index: {} n-grams, built in {built:.2?}", stage.filter().index().len());
    for (b, i) in &stage.filter().index().info {
        println!("  {b:<11} items {:>6} segments {:>6} short {:>6} ngrams {:>8}", i.items, i.segments, i.short_segments, i.ngrams);
    }
    // reload from the file
    let t = std::time::Instant::now();
    let loaded = DecontamConfig { eval_dir: None, ..cfg.clone() }.build().unwrap();
    println!("reloaded in {:.2?}", t.elapsed());
    assert_eq!(loaded.filter().index().len(), stage.filter().index().len());
    std::fs::remove_dir_all(&out).unwrap();

    let docs = cc_docs(&data);
    assert_eq!(docs.len(), 697);
    // false positives: the clean CC sample
    let mut flagged = Vec::new();
    for (id, text) in &docs {
        let mut d = Document::new(id.clone(), text.clone(), "cc".into());
        if let Verdict::Drop(r) = loaded.process(&mut d) {
            flagged.push((id.clone(), r.as_str().to_string(), d.attributes.clone()));
        }
    }
    println!("CC sample: {} of {} clean documents flagged: {flagged:?}", flagged.len(), docs.len());
    assert!(flagged.len() <= 3, "{flagged:?}");

    // plants: 40 items per benchmark whose main text has at least n tokens
    let mut r = Rng::new(7);
    let mut total = (0, 0, 0); // verbatim caught, edited caught, plants
    for (bi, b) in BENCHMARKS.iter().enumerate() {
        let items = read_benchmark(&eval, b).unwrap();
        let long: Vec<&String> = items.iter().map(|it| &it[0]).filter(|s| token_hashes(s).len() >= 13).collect();
        println!("{b:<11} items whose main text has >= 13 tokens (indexable): {}/{}", long.len(), items.len());
        let (mut verbatim, mut edited) = (0, 0);
        let n = 40;
        for k in 0..n {
            let item = long[(k * 7919 + 13) % long.len()];
            let (id, host) = &docs[r.below(docs.len() as u64) as usize];
            // at a paragraph break of the host document
            let breaks: Vec<usize> = host.match_indices('\n').map(|(i, _)| i + 1).chain([0, host.len()]).collect();
            let at = *r.pick(&breaks);
            let plant = |p: &str| format!("{}{p}\n{}", &host[..at], &host[at..]);
            let mut d = Document::new(id.clone(), plant(item), "cc".into());
            let v = loaded.process(&mut d);
            let reason = match &v {
                Verdict::Drop(r) => r.as_str().to_string(),
                Verdict::Keep => String::new(),
            };
            assert_eq!(reason, format!("contaminated_{b}"), "verbatim {b} item not caught: {item:?} -> {:?}", d.attributes);
            assert!(d.attributes[&format!("contam_{b}")] >= 1.0);
            verbatim += 1;
            let e = edit(item, &mut r, 8);
            let mut d = Document::new(id.clone(), plant(&e), "cc".into());
            if matches!(loaded.process(&mut d), Verdict::Drop(_)) && d.attributes.contains_key(&format!("contam_{b}")) {
                edited += 1;
            }
        }
        println!("{b:<11} verbatim {verbatim}/{n} caught, lightly edited {edited}/{n} ({:.0}%)", 100.0 * edited as f64 / n as f64);
        total.0 += verbatim;
        total.1 += edited;
        total.2 += n;
        let _ = bi;
    }
    println!(
        "all: verbatim {}/{}, lightly edited {}/{} ({:.1}%)",
        total.0,
        total.2,
        total.1,
        total.2,
        100.0 * total.1 as f64 / total.2 as f64
    );
    assert_eq!(total.0, total.2);
    assert!(total.1 * 2 > total.2, "lightly edited plants caught: {}/{}", total.1, total.2);
    let _ = PathBuf::new();
}
