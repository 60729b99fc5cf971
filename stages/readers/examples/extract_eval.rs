//! Scores main-text extraction on the trafilatura evaluation set.
//!
//! ```text
//! cargo run --release -p sluice-readers --example extract_eval -- [--data DIR] [--verbose] [--json] [--dump] [--repeat N] [--show FILE-SUBSTRING]
//! ```
//!
//! `--json` prints the scores as JSON; `--dump` prints `{"seconds", "texts": {url: text}}`
//! for `benches/extract/compare_trafilatura.py`, which scores both systems itself.
//!
//! `DIR` defaults to `$SLUICE_TEST_DATA/html/trafilatura-eval` (or
//! `../shared/data/...` next to the repository). Every page is decoded with the
//! crate's charset logic and extracted on one thread.
//!
//! Scoring (the same as `benches/extract/compare_trafilatura.py`): snippets and
//! extracted text are whitespace-normalised (runs of whitespace collapsed to one
//! space); a `with` snippet found is a true positive (TP), a `with` snippet missing
//! a false negative (FN), a `without` snippet present a false positive (FP) and a
//! `without` snippet absent a true negative (TN).
//! precision = TP/(TP+FP), recall = TP/(TP+FN), F1 their harmonic mean,
//! accuracy = (TP+TN)/all.

use std::path::PathBuf;
use std::time::Instant;

use sluice_readers::web::charset::decode_html;
use sluice_readers::web::extract::{extract, ExtractOptions};

fn normalise(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// CPU time of this thread in seconds, from `/proc/thread-self/schedstat` (Linux),
/// so that timings on a busy shared machine count only our own work.
fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(s.split_whitespace().next()?.parse::<f64>().ok()? / 1e9)
}

fn default_dir() -> PathBuf {
    let base = std::env::var_os("SLUICE_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")));
    base.join("html/trafilatura-eval")
}

fn main() {
    let mut dir = default_dir();
    let mut verbose = false;
    let mut json = false;
    let mut dump = false;
    let mut show: Option<String> = None;
    let mut repeat = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data" => dir = PathBuf::from(args.next().expect("--data needs a directory")),
            "--verbose" | "-v" => verbose = true,
            "--json" => json = true,
            "--dump" => dump = true,
            "--show" => show = Some(args.next().expect("--show needs a file name substring")),
            "--repeat" => repeat = args.next().and_then(|n| n.parse().ok()).expect("--repeat needs a number"),
            other => {
                eprintln!("unknown argument {other:?}; usage: extract_eval [--data DIR] [--verbose] [--json] [--dump] [--repeat N] [--show FILE-SUBSTRING]");
                std::process::exit(2);
            }
        }
    }
    let gold_path = dir.join("gold.json");
    let gold: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&gold_path).unwrap_or_else(|e| panic!("cannot read {}: {e}", gold_path.display())))
            .expect("gold.json is not a JSON object");

    // Load everything first so that timing measures extraction only.
    let mut pages = Vec::new();
    for (url, g) in &gold {
        let file = g["file"].as_str().expect("gold entry without file");
        let bytes = std::fs::read(dir.join("pages").join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let list = |k: &str| -> Vec<String> {
            g[k].as_array().map(|a| a.iter().filter_map(|s| s.as_str()).map(normalise).collect()).unwrap_or_default()
        };
        pages.push((url.clone(), file.to_string(), bytes, list("with"), list("without")));
    }
    if let Some(pat) = show {
        // Debugging aid: print the extraction of the matching pages.
        for (url, file, bytes, _, _) in pages.iter().filter(|p| p.1.contains(&pat)) {
            let decoded = decode_html(bytes, None, Some(url));
            let ex = extract(&decoded.text, &ExtractOptions::default());
            println!("=== {file} [{}] title={:?} lang={:?}\n{}", decoded.encoding.name(), ex.title, ex.lang, ex.text);
        }
        return;
    }
    let total_bytes: usize = pages.iter().map(|p| p.2.len()).sum();

    let opts = ExtractOptions::default();
    let mut texts = Vec::with_capacity(pages.len());
    // Best of `repeat` passes: the machine is shared, the minimum is the least noisy.
    let mut secs = f64::MAX;
    let mut cpu_secs = f64::MAX;
    for r in 0..repeat.max(1) {
        let start = Instant::now();
        let cpu_start = cpu_seconds();
        for (url, _, bytes, _, _) in &pages {
            let decoded = decode_html(bytes, None, Some(url));
            let ex = extract(&decoded.text, &opts);
            if r == 0 {
                texts.push(ex.text);
            }
        }
        secs = secs.min(start.elapsed().as_secs_f64());
        if let (Some(a), Some(b)) = (cpu_start, cpu_seconds()) {
            cpu_secs = cpu_secs.min(b - a);
        }
    }
    if cpu_secs == f64::MAX {
        cpu_secs = secs;
    }
    if dump {
        let map: serde_json::Map<String, serde_json::Value> =
            pages.iter().zip(&texts).map(|(p, t)| (p.0.clone(), serde_json::Value::from(t.as_str()))).collect();
        println!("{}", serde_json::json!({ "seconds": secs, "cpu_seconds": cpu_secs, "html_bytes": total_bytes, "texts": map }));
        return;
    }

    let (mut tp, mut fn_, mut fp, mut tn) = (0usize, 0usize, 0usize, 0usize);
    for ((url, file, _, with, without), text) in pages.iter().zip(&texts) {
        let text = normalise(text);
        let missing: Vec<&String> = with.iter().filter(|s| !text.contains(s.as_str())).collect();
        let present: Vec<&String> = without.iter().filter(|s| text.contains(s.as_str())).collect();
        tp += with.len() - missing.len();
        fn_ += missing.len();
        fp += present.len();
        tn += without.len() - present.len();
        if verbose && (!missing.is_empty() || !present.is_empty()) {
            println!("--- {file} ({url}), {} chars extracted", text.chars().count());
            for s in missing {
                println!("  MISSING  {s:?}");
            }
            for s in present {
                println!("  PRESENT  {s:?}");
            }
        }
    }
    let precision = tp as f64 / (tp + fp).max(1) as f64;
    let recall = tp as f64 / (tp + fn_).max(1) as f64;
    let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
    let accuracy = (tp + tn) as f64 / (tp + tn + fp + fn_).max(1) as f64;
    let pages_per_s = pages.len() as f64 / secs;
    let mb_per_s = total_bytes as f64 / 1e6 / secs;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "pages": pages.len(), "html_bytes": total_bytes, "seconds": secs, "cpu_seconds": cpu_secs,
                "tp": tp, "fn": fn_, "fp": fp, "tn": tn,
                "with_found": recall, "without_absent": tn as f64 / (tn + fp).max(1) as f64,
                "precision": precision, "recall": recall, "f1": f1, "accuracy": accuracy,
                "pages_per_s": pages_per_s, "mb_per_s": mb_per_s,
            })
        );
        return;
    }
    println!("pages: {}  HTML: {:.1} MB", pages.len(), total_bytes as f64 / 1e6);
    println!("with snippets found (recall):     {tp}/{} = {:.3}", tp + fn_, recall);
    println!("without snippets absent:          {tn}/{} = {:.3}", tn + fp, tn as f64 / (tn + fp).max(1) as f64);
    println!("snippet precision TP/(TP+FP):     {precision:.3}   (TP = with found, FP = without present)");
    println!("snippet recall    TP/(TP+FN):     {recall:.3}   (FN = with missing)");
    println!("snippet F1:                       {f1:.3}");
    println!("accuracy (TP+TN)/all:             {accuracy:.3}");
    println!(
        "speed (1 thread, decode+extract): {pages_per_s:.1} pages/s, {mb_per_s:.1} MB HTML/s ({secs:.3} s wall per pass, best of {repeat})"
    );
    println!(
        "  by CPU time of the thread:       {:.1} pages/s, {:.1} MB HTML/s ({cpu_secs:.3} s)",
        pages.len() as f64 / cpu_secs,
        total_bytes as f64 / 1e6 / cpu_secs
    );
}
