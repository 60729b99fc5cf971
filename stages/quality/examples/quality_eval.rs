//! Run the FineWeb filter chain (Gopher repetition -> Gopher quality -> C4
//! -> FineWeb) over a JSONL(.gz) file, for the comparison with datatrove in
//! benches/quality/compare_datatrove.py.
//!
//! ```text
//! cargo run --release -p sluice-quality --example quality_eval -- \
//!     INPUT.jsonl.gz [--dump OUT.jsonl] [--min-mb 300] [--langid]
//! ```
//!
//! `--dump` writes one JSON object per document: its id, the reason each
//! filter gives when run alone on the original text (`null` = keep), and
//! the chain's outcome (the first filter that drops it). Timing: the chain
//! runs on one thread over the documents repeated until at least
//! `--min-mb` MB of text were processed, and reports MB/s (MB = 10^6 bytes
//! of UTF-8 text entering the chain).

use std::io::{BufRead, BufReader, Write};
use std::sync::Arc;
use std::time::Instant;

use sluice_pipeline::{DocStage, Document, Verdict};
use sluice_quality::{C4QualityConfig, FineWebQualityConfig, GopherQualityConfig, GopherRepetitionConfig, LanguageIdConfig};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let input = args.first().expect("usage: quality_eval INPUT.jsonl[.gz] [--dump OUT] [--min-mb N] [--langid]");
    let mut dump = None;
    let mut min_mb = 300.0;
    let mut langid = false;
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--dump" => {
                dump = Some(args[i + 1].clone());
                i += 1;
            }
            "--min-mb" => {
                min_mb = args[i + 1].parse().expect("--min-mb takes a number");
                i += 1;
            }
            "--langid" => langid = true,
            other => panic!("unknown argument {other}"),
        }
        i += 1;
    }
    let docs = read_docs(input);
    let filters: Vec<(&str, Box<dyn DocStage>)> = vec![
        ("gopher_repetition", Box::new(GopherRepetitionConfig::default().build())),
        ("gopher_quality", Box::new(GopherQualityConfig::default().build())),
        ("c4", Box::new(C4QualityConfig::default().build())),
        ("fineweb", Box::new(FineWebQualityConfig::default().build())),
    ];
    let lang = LanguageIdConfig { annotate_only: true, ..Default::default() }.build();

    if let Some(path) = dump {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("create dump file"));
        for d in &docs {
            let mut row = serde_json::Map::new();
            row.insert("id".into(), d.id.clone().into());
            for (name, f) in &filters {
                let mut c = d.clone();
                row.insert((*name).into(), reason(f.process(&mut c)));
            }
            let mut c = d.clone();
            let mut chain = serde_json::Value::Null;
            for (name, f) in &filters {
                if let Verdict::Drop(r) = f.process(&mut c) {
                    chain = format!("{name}:{r}").into();
                    break;
                }
            }
            row.insert("chain".into(), chain);
            let mut c = d.clone();
            lang.process(&mut c);
            row.insert("language".into(), c.meta_str("language").unwrap_or("").into());
            row.insert("language_score".into(), c.attributes.get("language_score").copied().unwrap_or(0.0).into());
            writeln!(out, "{}", serde_json::Value::Object(row)).unwrap();
        }
    }

    // Timing: the chain, one thread, over repeated copies of the input.
    let bytes_once: usize = docs.iter().map(|d| d.text.len()).sum();
    let reps = ((min_mb * 1e6) / bytes_once as f64).ceil().max(1.0) as usize;
    let mut kept = 0usize;
    let start = Instant::now();
    let cpu0 = thread_cpu_seconds();
    let mut total = 0usize;
    // one scratch per document, shared by the chain (as a fused node does)
    let mut scratch = sluice_pipeline::Scratch::default();
    for _ in 0..reps {
        for d in &docs {
            scratch.clear();
            let mut c = d.clone();
            total += c.text.len();
            if langid {
                lang.process(&mut c);
            }
            if filters.iter().all(|(_, f)| f.process_with(&mut c, &mut scratch) == Verdict::Keep) {
                kept += 1;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = thread_cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
    println!(
        "{{\"docs\": {}, \"kept_once\": {}, \"bytes\": {}, \"seconds\": {:.3}, \"mb_per_s\": {:.2}, \"cpu_seconds\": {}, \"mb_per_cpu_s\": {}}}",
        docs.len() * reps,
        kept / reps,
        total,
        secs,
        total as f64 / 1e6 / secs,
        cpu.map(|c| format!("{c:.3}")).unwrap_or("null".into()),
        cpu.map(|c| format!("{:.2}", total as f64 / 1e6 / c)).unwrap_or("null".into()),
    );
}

/// CPU time of this thread (Linux: utime + stime from /proc, in clock
/// ticks of 1/100 s), so that other load on a shared machine does not count.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn reason(v: Verdict) -> serde_json::Value {
    match v {
        Verdict::Keep => serde_json::Value::Null,
        Verdict::Drop(r) => r.as_str().into(),
    }
}

fn read_docs(path: &str) -> Vec<Document> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
    let r: Box<dyn BufRead> =
        if path.ends_with(".gz") { Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(f))) } else { Box::new(BufReader::new(f)) };
    let source: Arc<str> = Arc::from("eval");
    r.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l.expect("read line")).expect("JSON line");
            let mut d = Document::new(v["id"].as_str().unwrap_or_default(), v["text"].as_str().unwrap_or_default(), source.clone());
            if let Some(u) = v["metadata"]["url"].as_str() {
                d.metadata.insert("url".into(), u.into());
            }
            d
        })
        .collect()
}
