//! Scoring throughput of `predict_into` alone (model loaded, file in memory):
//! `cargo run --release -p sluice-fasttext --example bench_predict -- MODEL FILE`.
//! Prints MB/s of text per CPU core (single thread) and the load time.

use std::time::Instant;

/// This thread's CPU time in seconds (Linux `/proc/thread-self/schedstat`; 0 elsewhere).
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()))
        .map_or(0.0, |ns| ns / 1e9)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 3 {
        return Err("usage: bench_predict MODEL FILE".into());
    }
    let t0 = Instant::now();
    let model = sluice_fasttext::Model::load(a[1].as_ref())?;
    let load = t0.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&a[2])?;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut s = sluice_fasttext::Scratch::new();
    let mut p = Vec::new();
    let t1 = Instant::now();
    let c1 = cpu_seconds();
    let mut sum = 0.0f64;
    for l in &lines {
        model.predict_into(l, &mut s, &mut p);
        sum += p[0] as f64;
    }
    let secs = t1.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - c1;
    println!(
        "load {load:.3}s; {} lines, {:.1} MB in {secs:.3}s wall, {cpu:.3} CPU-s: {:.1} MB per CPU-second, {:.0} lines per CPU-second (checksum {sum:.3})",
        lines.len(),
        text.len() as f64 / 1e6,
        text.len() as f64 / 1e6 / cpu,
        lines.len() as f64 / cpu
    );
    Ok(())
}
