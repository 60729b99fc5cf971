//! Criterion bench of the bare engine on a synthetic corpus: read JSONL.zst,
//! pass every document through a no-op stage, write Parquet. Throughput is
//! text bytes per second of the whole `sluice run` process, at `--threads 1`
//! and `2`.
//!
//!   cargo bench --bench engine
//!   benches/engine_synthetic.sh          # scripts/figures.sh engine_synthetic
//!
//! `SLUICE_BENCH_MB` sets the corpus size (default 64 MB of text).

use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

mod common;

fn engine(c: &mut Criterion) {
    let mb: u64 = std::env::var("SLUICE_BENCH_MB").ok().and_then(|s| s.parse().ok()).unwrap_or(64);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    let bytes = common::make_corpus(&input, 8, mb * 1_000_000);
    println!(
        "engine bench: {:.1} MB of synthetic web-like text ({:.1} MB as 8 JSONL.zst files) -> passthrough -> Parquet, whole `sluice run` processes",
        bytes as f64 / 1e6,
        common::dir_bytes(&input) as f64 / 1e6
    );
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Bytes(bytes));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(30));
    for threads in [1usize, 2] {
        group.bench_function(format!("jsonl_zst-passthrough-parquet/threads={threads}"), |b| {
            let mut n = 0;
            b.iter(|| {
                n += 1;
                let out: PathBuf = dir.path().join(format!("out-{threads}-{n}"));
                common::run_engine(dir.path(), &input, &out, threads);
                std::fs::remove_dir_all(&out).unwrap();
            })
        });
    }
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
