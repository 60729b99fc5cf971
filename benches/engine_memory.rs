//! Peak memory and throughput of the engine on an input much larger than
//! its channels: generates a multi-GB synthetic JSONL.zst corpus, runs
//! JSONL.zst -> passthrough -> Parquet through the `sluice` binary, and
//! reports wall time, CPU time, MB/s, MB/s per core and the child's peak
//! resident memory (getrusage). Exits non-zero if peak RSS exceeds 1 GiB.
//!
//!   cargo bench --bench engine_memory            # 2 GB of text
//!   SLUICE_BENCH_GB=4 cargo bench --bench engine_memory
//!   benches/engine_memory.sh             # scripts/figures.sh engine_memory (3 GB)

use std::time::Instant;

mod common;

fn main() {
    let gb: f64 = std::env::var("SLUICE_BENCH_GB").ok().and_then(|s| s.parse().ok()).unwrap_or(2.0);
    let threads: usize = std::env::var("SLUICE_BENCH_THREADS").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    let base = std::env::var_os("SLUICE_BENCH_DIR").map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base).unwrap();
    let input = dir.path().join("in");
    let t = Instant::now();
    let bytes = common::make_corpus(&input, 16, (gb * 1e9) as u64);
    let on_disk = common::dir_bytes(&input);
    eprintln!("generated {:.2} GB of text ({:.2} GB compressed) in {:.1?}", bytes as f64 / 1e9, on_disk as f64 / 1e9, t.elapsed());

    let out = dir.path().join("out");
    let t = Instant::now();
    common::run_engine(dir.path(), &input, &out, threads);
    let wall = t.elapsed().as_secs_f64();
    // SAFETY: getrusage fills the struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let cpu = ru.ru_utime.tv_sec as f64 + ru.ru_utime.tv_usec as f64 / 1e6 + ru.ru_stime.tv_sec as f64 + ru.ru_stime.tv_usec as f64 / 1e6;
    let peak_mib = ru.ru_maxrss as f64 / 1024.0; // ru_maxrss is in KiB on Linux
    let mb = bytes as f64 / 1e6;
    println!("input text:        {mb:.0} MB of synthetic web-like text in 16 JSONL.zst files ({:.0} MB compressed)", on_disk as f64 / 1e6);
    println!("graph:             jsonl -> passthrough -> parquet, one `sluice run` process");
    println!("threads:           {threads}");
    println!("wall:              {wall:.1} s");
    println!("cpu:               {cpu:.1} s");
    println!("throughput:        {:.1} MB/s", mb / wall);
    println!("per core (cpu s):  {:.1} MB/s", mb / cpu);
    println!("peak RSS:          {peak_mib:.0} MiB");
    assert!(peak_mib < 1024.0, "peak RSS {peak_mib:.0} MiB exceeds 1 GiB");
}
