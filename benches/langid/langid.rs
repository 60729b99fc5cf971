//! Language ID: accuracy by length bucket and warm in-process speed of each
//! `language` backend. Run by `benches/langid/run.sh`, which builds the
//! labelled samples first (`make_samples.py`, how each label is set is
//! written there) and measures whole-process speed with `sluice run`.
//!
//! ```text
//! cargo bench -p sluice-quality --bench langid [--features lingua] -- \
//!     SAMPLES.jsonl [--backends builtin,whatlang,lingua,fasttext] [--model lid.bin] \
//!     [--errors tune] [--speed CC.jsonl.gz]
//! ```
//!
//! Accuracy: share of samples whose `language` equals the label (the
//! detector's own choice, whatever its score). `@min_score` columns: share
//! whose label is right and whose score is at least the default min_score
//! 0.65 (what a recipe keeping that language keeps). Tune and held-out
//! splits (by document) are reported apart; the built-in detector's
//! constants were set by looking at the tune split only.

use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::time::Instant;

use sluice_quality::langid::Backend;
use sluice_quality::LanguageIdConfig;

/// (language or `lang (source)` or ALL, length bucket index, split).
type Key = (String, usize, String);

struct Sample {
    lang: String,
    bucket: String,
    split: String,
    source: String,
    text: String,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let mut samples_path = None;
    let mut backends = vec!["builtin".to_string(), "whatlang".to_string()];
    let mut model = None;
    let mut errors: Option<String> = None;
    let mut speed: Option<String> = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--backends" => {
                backends = args[i + 1].split(',').map(str::to_string).collect();
                i += 1;
            }
            "--model" => {
                model = Some(args[i + 1].clone());
                i += 1;
            }
            "--errors" => {
                errors = Some(args[i + 1].clone());
                i += 1;
            }
            "--speed" => {
                speed = Some(args[i + 1].clone());
                i += 1;
            }
            a => samples_path = Some(a.to_string()),
        }
        i += 1;
    }
    let samples = samples_path.map(|p| read_samples(&p)).unwrap_or_default();
    let order = ["short", "mid", "long"];
    let mut table: BTreeMap<Key, Vec<(String, usize, usize, usize)>> = BTreeMap::new();
    let mut stages = Vec::new();
    for b in &backends {
        let backend: Backend = serde_json::from_value(serde_json::json!(b)).expect("backend name");
        let cfg = LanguageIdConfig {
            backend,
            model: model.clone().filter(|_| backend == Backend::Fasttext),
            annotate_only: true,
            ..Default::default()
        };
        let stage = match cfg.try_build() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("backend {b}: {e:?}; skipped");
                continue;
            }
        };
        stages.push((b.clone(), stage));
    }
    for (name, stage) in &stages {
        let lid = stage.filter();
        let mut acc: BTreeMap<(String, usize, String), (usize, usize, usize)> = BTreeMap::new();
        for s in &samples {
            let got = lid.detect(&s.text);
            let (ok, kept) = match got {
                Some((lab, _, score)) => (lab == s.lang, lab == s.lang && score >= 0.65),
                None => (false, false),
            };
            if !ok && errors.as_deref() == Some(s.split.as_str()) {
                let g = got.map(|(l, _, sc)| format!("{l} {sc:.2}")).unwrap_or_else(|| "none".into());
                println!("ERR {name} {} {} {} -> {g}: {}", s.lang, s.bucket, s.source, s.text.chars().take(120).collect::<String>());
            }
            let bi = order.iter().position(|b| *b == s.bucket).unwrap_or(9);
            let by_source = format!("{} ({})", s.lang, s.source);
            for key in [(s.lang.clone(), bi, s.split.clone()), ("ALL".to_string(), bi, s.split.clone()), (by_source, bi, s.split.clone())] {
                let e = acc.entry(key).or_default();
                e.0 += 1;
                e.1 += ok as usize;
                e.2 += kept as usize;
            }
        }
        for (k, (n, ok, kept)) in acc {
            table.entry(k).or_default().push((name.clone(), n, ok, kept));
        }
    }
    if !samples.is_empty() {
        print!("| language | length | split | n |");
        for (b, _) in &stages {
            print!(" {b} | {b} @min_score |");
        }
        println!();
        print!("|---|---|---|---:|");
        for _ in &stages {
            print!("---:|---:|");
        }
        println!();
        let mut rows: Vec<_> = table.iter().filter(|((l, _, _), _)| !l.contains('(')).collect();
        rows.extend(table.iter().filter(|((l, _, _), _)| l.contains('(')));
        for ((lang, bi, split), cols) in rows {
            let bucket = match bi {
                0 => "20-49",
                1 => "50-200",
                2 => "201-2000",
                _ => "?",
            };
            print!("| {lang} | {bucket} | {split} | {} |", cols[0].1);
            for (_, n, ok, kept) in cols {
                print!(" {:.3} | {:.3} |", *ok as f64 / *n as f64, *kept as f64 / *n as f64);
            }
            println!();
        }
    }
    if let Some(path) = speed {
        let docs = read_texts(&path);
        let bytes: usize = docs.iter().map(|d| d.len()).sum();
        println!();
        println!(
            "warm in-process speed (labelled as such: not a whole process), one thread, {} documents, {:.2} MB of text per pass ({path}):",
            docs.len(),
            bytes as f64 / 1e6
        );
        println!("| backend | passes | wall s | thread CPU s | MB per CPU-s |");
        println!("|---|---:|---:|---:|---:|");
        for (name, stage) in &stages {
            let lid = stage.filter();
            // one warm-up pass (lazy tables, page faults), then whole passes
            // until at least 2 seconds of wall time
            let mut sink = 0usize;
            for d in &docs {
                sink += lid.detect(d).map(|r| r.0.len()).unwrap_or(0);
            }
            let t = Instant::now();
            let c0 = thread_cpu();
            let mut passes = 0;
            while passes == 0 || t.elapsed().as_secs_f64() < 2.0 {
                for d in &docs {
                    sink += lid.detect(d).map(|r| r.0.len()).unwrap_or(0);
                }
                passes += 1;
            }
            let secs = t.elapsed().as_secs_f64();
            let cpu = thread_cpu() - c0;
            println!("| {name} | {passes} | {secs:.2} | {cpu:.2} | {:.1} |", (bytes * passes) as f64 / 1e6 / cpu);
            std::hint::black_box(sink);
        }
    }
}

/// CPU seconds of this thread (Linux: /proc/thread-self/schedstat, time on
/// CPU in ns).
fn thread_cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").expect("/proc/thread-self/schedstat (Linux)");
    s.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()).expect("schedstat's first field") / 1e9
}

fn read_samples(path: &str) -> Vec<Sample> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e} (make it with benches/langid/make_samples.py)"));
    let mut out = Vec::new();
    for line in std::io::BufReader::new(f).lines() {
        let v: serde_json::Value = serde_json::from_str(&line.expect("read")).expect("JSON line");
        let g = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        out.push(Sample { lang: g("lang"), bucket: g("bucket"), split: g("split"), source: g("source"), text: g("text") });
    }
    out
}

/// The `text` of every line of a JSONL(.gz) file.
fn read_texts(path: &str) -> Vec<String> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut raw = String::new();
    if path.ends_with(".gz") {
        flate2::read::MultiGzDecoder::new(f).read_to_string(&mut raw).expect("gzip");
    } else {
        std::io::BufReader::new(f).read_to_string(&mut raw).expect("read");
    }
    raw.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_string))
        .collect()
}
