//! Decontamination on real data: the index of the eval sets in
//! `../shared/data/eval`, benchmark items planted verbatim and lightly
//! edited in real Common Crawl documents, and the false positives on the
//! clean CC sample.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use sluice_pipeline::{DocStage, Document, Verdict};
use sluice_safety::benchmark::builtin;
use sluice_safety::decontam::{token_hashes, BENCHMARKS};
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
        let items = builtin(b).unwrap().read_all(&eval).unwrap();
        let mains: Vec<String> = items.iter().map(|it| it.segments().swap_remove(0)).collect();
        let long: Vec<&String> = mains.iter().filter(|s| token_hashes(s).len() >= 13).collect();
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

/// Issue 17: a benchmark sluice has no data for, given in its own layout.
/// Every C-Eval val and dev question (real Chinese exam questions) is
/// rewritten in CMMLU's layout (`,Question,A,B,C,D,Answer`, one file per
/// subject in `test/` and `dev/`) and indexed by the `cmmlu` built-in spec;
/// planted into real CC documents, each is caught and reported as
/// `contaminated_cmmlu`, and the clean documents stay clean.
#[test]
fn cmmlu_layout_items_planted_in_real_documents_are_reported_as_cmmlu() {
    use sluice_safety::benchmark::csv_records;
    let data = data_dir();
    let ceval = data.join("eval/ceval");
    assert!(ceval.is_dir(), "shared data missing at {} (set SLUICE_TEST_DATA)", ceval.display());
    let eval = std::env::temp_dir().join(format!("sluice-decontam-cmmlu-{}", std::process::id()));
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut mains = Vec::new();
    for (from, to) in [("val", "test"), ("dev", "dev")] {
        std::fs::create_dir_all(eval.join("cmmlu").join(to)).unwrap();
        let mut files: Vec<PathBuf> = std::fs::read_dir(ceval.join(from)).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        assert!(files.len() >= 50, "{files:?}");
        for f in files {
            let rows = csv_records(&std::fs::read_to_string(&f).unwrap());
            assert_eq!(&rows[0].1[..7], ["id", "question", "A", "B", "C", "D", "answer"]);
            let mut out = String::from(",Question,A,B,C,D,Answer\n");
            for (_, r) in &rows[1..] {
                out.push_str(&format!("{},{}\n", r[0], r[1..7].iter().map(|x| q(x)).collect::<Vec<_>>().join(",")));
                if to == "test" {
                    mains.push(format!("{} {}", r[1].trim(), r[2 + (r[6].trim().as_bytes()[0] - b'A') as usize].trim()));
                }
            }
            let subject = f.file_name().unwrap().to_string_lossy().rsplit_once('_').unwrap().0.to_string();
            std::fs::write(eval.join("cmmlu").join(to).join(format!("{subject}.csv")), out).unwrap();
        }
    }
    let cfg = DecontamConfig { eval_dir: Some(eval.clone()), benchmarks: vec!["cmmlu".into()], ..Default::default() };
    assert!(cfg.validate().is_empty(), "{:?}", cfg.validate());
    let stage = cfg.build().unwrap();
    let info = &stage.filter().index().info["cmmlu"];
    println!("cmmlu (C-Eval questions in CMMLU's layout): {info:?}");
    assert_eq!(info.items, mains.len() + 260, "val items plus 5 dev items for each of 52 subjects");
    let docs = cc_docs(&data);
    for (id, text) in &docs {
        let mut d = Document::new(id.clone(), text.clone(), "cc".into());
        assert_eq!(stage.process(&mut d), Verdict::Keep, "{id} flagged: {:?}", d.attributes);
    }
    let long: Vec<&String> = mains.iter().filter(|s| token_hashes(s).len() >= 13).collect();
    let mut r = Rng::new(17);
    for k in 0..40 {
        let item = long[(k * 7919 + 5) % long.len()];
        let (id, host) = &docs[r.below(docs.len() as u64) as usize];
        let at = host.find('\n').map_or(host.len(), |i| i + 1);
        let mut d = Document::new(id.clone(), format!("{}{item}\n{}", &host[..at], &host[at..]), "cc".into());
        assert_eq!(stage.process(&mut d), Verdict::Drop("contaminated_cmmlu".to_string().into()), "{item}");
        assert!(d.attributes["contam_cmmlu"] >= 1.0 && d.attributes["contam_docs_cmmlu"] == 1.0);
    }
    std::fs::remove_dir_all(&eval).unwrap();
}
