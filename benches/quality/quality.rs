//! Throughput of the FineWeb filter chain and of each filter, one thread,
//! over the Common Crawl sample (2.5 MB of text per iteration; criterion
//! repeats it for as long as it measures, typically a few hundred MB).
//!
//! ```text
//! cargo bench -p sluice-quality --bench quality
//! ```
//!
//! Reads `$SLUICE_TEST_DATA/web/cc-main-2019-30.sample.jsonl.gz` (default
//! `../shared/data`). For the side-by-side run against datatrove, see
//! `compare_datatrove.py` beside this file.

use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sluice_pipeline::{DocStage, Document, Verdict};
use sluice_quality::{C4QualityConfig, FineWebQualityConfig, GopherQualityConfig, GopherRepetitionConfig, LanguageIdConfig};

fn sample() -> Vec<Document> {
    let dir = std::env::var_os("SLUICE_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")));
    let path = dir.join("web/cc-main-2019-30.sample.jsonl.gz");
    let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e} (set SLUICE_TEST_DATA)", path.display()));
    let src: Arc<str> = Arc::from("cc");
    BufReader::new(flate2::read::MultiGzDecoder::new(f))
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l.unwrap()).unwrap();
            Document::new(v["id"].as_str().unwrap(), v["text"].as_str().unwrap(), src.clone())
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let docs = sample();
    let bytes: u64 = docs.iter().map(|d| d.text.len() as u64).sum();
    let stages: Vec<(&str, Box<dyn DocStage>)> = vec![
        ("gopher_repetition", Box::new(GopherRepetitionConfig::default().build())),
        ("gopher_quality", Box::new(GopherQualityConfig::default().build())),
        ("c4", Box::new(C4QualityConfig::default().build())),
        ("fineweb", Box::new(FineWebQualityConfig::default().build())),
    ];
    let lang = LanguageIdConfig { annotate_only: true, ..Default::default() }.build();

    let mut g = c.benchmark_group("quality");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(20);
    g.bench_function("fineweb_chain", |b| {
        b.iter(|| {
            // one scratch per document, shared by the chain, as in a fused node
            let mut scratch = sluice_pipeline::Scratch::default();
            let mut kept = 0;
            for d in &docs {
                let mut d = d.clone();
                scratch.clear();
                if stages.iter().all(|(_, s)| s.process_with(&mut d, &mut scratch) == Verdict::Keep) {
                    kept += 1;
                }
            }
            black_box(kept)
        })
    });
    for (name, s) in &stages {
        g.bench_function(*name, |b| {
            b.iter(|| {
                for d in &docs {
                    let mut d = d.clone();
                    black_box(s.process(&mut d));
                }
            })
        });
    }
    g.bench_function("language", |b| {
        b.iter(|| {
            for d in &docs {
                let mut d = d.clone();
                black_box(lang.process(&mut d));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
