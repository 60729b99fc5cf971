//! Scale bench of `minhash_dedup` on a synthetic corpus with planted near
//! duplicates at known Jaccard similarities.
//!
//! ```sh
//! cargo run --release -p sluice-dedup --bin dedup-bench -- --docs 2000000 --tasks 4
//! cargo run --release -p sluice-dedup --bin dedup-bench -- --docs 100000 --write-jsonl DIR   # corpus for compare_datatrove.py
//! ```
//!
//! The corpus: document `i` is 80-160 words drawn uniformly from a 30,000
//! word vocabulary (seeded by `i`), in files of 10,000 documents dealt to
//! the tasks round robin. Every tenth document (from 10,000 on) is a copy
//! of document `i - 9999` with words substituted at random positions to
//! reach a target word-5-gram Jaccard similarity (0.3 to 1.0); the bench
//! measures each planted pair's real Jaccard and reports, per Jaccard bin,
//! the share of pairs removed against the S-curve's expectation
//! `mean(1 - (1 - J^r)^b)` over the bin's pairs.
//!
//! It drives the stage's phases directly (observe per task, every step
//! unit, decide per task) in one process, generating each task's documents
//! on the fly, so its peak memory is the stage's.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sluice_dedup::minhash::s_curve;
use sluice_dedup::testing::context;
use sluice_dedup::text::{simplify, words};
use sluice_dedup::MinHashConfig;
use sluice_pipeline::{Batch, DocPos, Document, GlobalStage, StageOutput};

const PER_FILE: usize = 10_000;
const LEVELS: [f64; 12] = [0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0];

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct Gen {
    vocab: Vec<String>,
}

impl Gen {
    fn new() -> Gen {
        const SYL: [&str; 20] =
            ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "be", "da", "fu", "gi", "ho", "ja", "pe", "qu", "ri", "so", "tu", "we"];
        let vocab =
            (0..30_000usize).map(|i| format!("{}{}{}{}", SYL[i % 20], SYL[i / 20 % 20], SYL[i / 400 % 20], SYL[i / 8000 % 20])).collect();
        Gen { vocab }
    }

    fn base_words(&self, i: usize) -> Vec<usize> {
        let mut s = mix(i as u64 ^ 0xABCDEF);
        let len = 80 + (s % 81) as usize;
        (0..len)
            .map(|_| {
                s = mix(s);
                (s % self.vocab.len() as u64) as usize
            })
            .collect()
    }

    /// (source, target Jaccard) when document `i` is a planted duplicate.
    fn planted(i: usize) -> Option<(usize, f64)> {
        (i >= PER_FILE && i % 10 == 9).then(|| (i - 9999, LEVELS[(i / 10) % LEVELS.len()]))
    }

    fn words_of(&self, i: usize) -> Vec<usize> {
        match Self::planted(i) {
            None => self.base_words(i),
            Some((src, j)) => {
                let mut w = self.base_words(src);
                // changing k scattered words breaks about 5k of the ~L
                // shingles: J ≈ (L - 5k) / (L + 5k)
                let l = w.len() as f64;
                let k = ((l * (1.0 - j) / (1.0 + j)) / 5.0).round() as usize;
                let mut s = mix(i as u64 ^ 0x5EED);
                for _ in 0..k {
                    s = mix(s);
                    let p = (s % w.len() as u64) as usize;
                    s = mix(s);
                    w[p] = (s % self.vocab.len() as u64) as usize;
                }
                w
            }
        }
    }

    fn doc(&self, i: usize) -> Document {
        let text = self.words_of(i).iter().map(|&w| self.vocab[w].as_str()).collect::<Vec<_>>().join(" ");
        let mut d = Document::new(format!("d{i}"), text, "synthetic".into());
        d.pos = DocPos { reader: 0, file: (i / PER_FILE) as u32, record: (i % PER_FILE) as u64 };
        d
    }
}

fn shingles(text: &str) -> HashSet<String> {
    let s = simplify(text);
    let w = words(&s);
    w.windows(5.min(w.len())).map(|x| x.join(" ")).collect()
}

fn jaccard(a: &str, b: &str) -> f64 {
    let (x, y) = (shingles(a), shingles(b));
    x.intersection(&y).count() as f64 / x.union(&y).count() as f64
}

/// Process CPU seconds (user + system).
fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = s.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

fn peak_rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|k| k.parse::<f64>().ok()).unwrap_or(0.0)
        / 1024.0
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn task_files(n: usize, tasks: usize) -> Vec<Vec<usize>> {
    let files = n.div_ceil(PER_FILE);
    let mut out = vec![Vec::new(); tasks];
    // largest first: the last file may be short; deal in reverse
    for (k, f) in (0..files).rev().enumerate() {
        out[k % tasks].push(f);
    }
    for t in &mut out {
        t.sort_unstable();
    }
    out
}

#[allow(clippy::needless_range_loop)] // `i` is the generator's document number as well as an index
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = arg(&args, "--docs").map(|s| s.parse().expect("--docs N")).unwrap_or(2_000_000);
    let gen = Gen::new();

    if let Some(dir) = arg(&args, "--write-jsonl") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..n.div_ceil(PER_FILE) {
            let mut w = std::io::BufWriter::new(std::fs::File::create(dir.join(format!("{f:05}.jsonl"))).unwrap());
            for i in f * PER_FILE..((f + 1) * PER_FILE).min(n) {
                let d = gen.doc(i);
                serde_json::to_writer(&mut w, &serde_json::json!({"id": d.id, "text": d.text})).unwrap();
                w.write_all(b"\n").unwrap();
            }
        }
        // the planted pairs with their measured Jaccard, for the comparison
        let mut w = std::io::BufWriter::new(std::fs::File::create(dir.join("planted.tsv")).unwrap());
        for i in 0..n {
            if let Some((s, _)) = Gen::planted(i) {
                writeln!(w, "d{s}\td{i}\t{:.4}", jaccard(&gen.doc(s).text, &gen.doc(i).text)).unwrap();
            }
        }
        eprintln!("wrote {n} documents to {}", dir.display());
        return;
    }

    let tasks: usize = arg(&args, "--tasks").map(|s| s.parse().unwrap()).unwrap_or(4);
    let threads: usize = arg(&args, "--threads")
        .map(|s| s.parse().unwrap())
        .unwrap_or_else(|| std::thread::available_parallelism().map(|x| x.get()).unwrap_or(1));
    let budget = arg(&args, "--budget").unwrap_or_else(|| "256MiB".into());
    let keep = args.iter().any(|a| a == "--keep");
    let out_dir = match arg(&args, "--out") {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir().join(format!("sluice-dedup-bench-{}", std::process::id())),
    };
    let _ = std::fs::remove_dir_all(&out_dir);
    let cfg: MinHashConfig = serde_json::from_value(serde_json::json!({"memory_budget": budget})).unwrap();
    let (b, r) = (cfg.bands, cfg.rows);
    let stage = cfg.build();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let files = task_files(n, tasks);
    let docs_of = |t: usize| files[t].iter().flat_map(|&f| f * PER_FILE..((f + 1) * PER_FILE).min(n));
    let seed = 42;
    let t_all = Instant::now();

    // observe: time and CPU only inside the observer calls (the generator
    // runs between them)
    let (mut obs_wall, mut obs_cpu, mut bytes) = (Duration::ZERO, 0.0, 0u64);
    for t in 0..tasks {
        let cx = context(&out_dir, "dedup", t, tasks, seed);
        let mut obs = pool.install(|| stage.observer(&cx)).unwrap();
        let mut batch = Vec::with_capacity(1024);
        let mut flush = |batch: &mut Vec<Document>, obs: &mut Box<dyn sluice_pipeline::Observer>| {
            bytes += batch.iter().map(|d| d.text.len() as u64).sum::<u64>();
            let (w, c) = (Instant::now(), cpu_seconds());
            pool.install(|| obs.observe(batch)).unwrap();
            obs_wall += w.elapsed();
            obs_cpu += cpu_seconds() - c;
            batch.clear();
        };
        for i in docs_of(t) {
            batch.push(gen.doc(i));
            if batch.len() == 1024 {
                flush(&mut batch, &mut obs);
            }
        }
        flush(&mut batch, &mut obs);
        let (w, c) = (Instant::now(), cpu_seconds());
        obs.finish().unwrap();
        obs_wall += w.elapsed();
        obs_cpu += cpu_seconds() - c;
    }

    let mut step_times = Vec::new();
    for (i, step) in stage.steps(tasks).iter().enumerate() {
        let (w, c) = (Instant::now(), cpu_seconds());
        pool.install(|| {
            use rayon::prelude::*;
            (0..step.units).into_par_iter().try_for_each(|u| stage.run_step(i, &context(&out_dir, "dedup", u, tasks, seed)))
        })
        .unwrap();
        step_times.push((step.name.clone(), step.units, w.elapsed().as_secs_f64(), cpu_seconds() - c));
    }

    let mut removed: Vec<bool> = vec![false; n];
    let (mut dec_wall, mut dec_cpu) = (Duration::ZERO, 0.0);
    for t in 0..tasks {
        let cx = context(&out_dir, "dedup", t, tasks, seed);
        let mut dec = stage.decider(&cx).unwrap();
        let mut so = StageOutput::default();
        let mut batch = Vec::with_capacity(1024);
        let ids: Vec<usize> = docs_of(t).collect();
        for chunk in ids.chunks(1024) {
            batch.extend(chunk.iter().map(|&i| gen.doc(i)));
            let (w, c) = (Instant::now(), cpu_seconds());
            dec.process(Batch::new(std::mem::take(&mut batch)), &mut so).unwrap();
            dec_wall += w.elapsed();
            dec_cpu += cpu_seconds() - c;
            for d in so.dropped.drain(..) {
                removed[d.doc.id[1..].parse::<usize>().unwrap()] = true;
            }
            so.kept.clear();
        }
        dec.finish(&mut so).unwrap();
    }
    let total = t_all.elapsed().as_secs_f64();
    let peak = peak_rss_mib();

    // recall of the planted pairs per measured-Jaccard bin
    let mut bins: BTreeMap<u32, (usize, usize, f64)> = BTreeMap::new();
    let mut false_pos = 0usize;
    for i in 0..n {
        match Gen::planted(i) {
            Some((s, _)) => {
                let j = jaccard(&gen.doc(s).text, &gen.doc(i).text);
                let bin = ((j * 20.0).floor() as u32).min(19); // 0.05 wide
                let e = bins.entry(bin).or_default();
                e.0 += 1;
                e.1 += removed[i] as usize;
                e.2 += s_curve(j, b, r);
            }
            None => false_pos += removed[i] as usize,
        }
    }

    let mb = bytes as f64 / 1e6;
    println!("minhash_dedup scale bench: {n} documents, {mb:.0} MB of text, {tasks} tasks, {threads} threads, {b} bands x {r} rows, word 5-grams, budget {budget}");
    println!(
        "signatures (observe): {:.1} s wall, {:.1} CPU s: {:.0} docs/s and {:.1} MB/s wall; per core {:.0} docs/s, {:.2} MB/s",
        obs_wall.as_secs_f64(),
        obs_cpu,
        n as f64 / obs_wall.as_secs_f64(),
        mb / obs_wall.as_secs_f64(),
        n as f64 / obs_cpu,
        mb / obs_cpu
    );
    for (name, units, w, c) in &step_times {
        println!("step {name} ({units} units): {w:.1} s wall, {c:.1} CPU s");
    }
    println!("decide: {:.1} s wall, {:.1} CPU s", dec_wall.as_secs_f64(), dec_cpu);
    println!("total (with the generator): {total:.1} s wall; peak RSS {peak:.0} MiB");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out_dir.join("reports/dedup/clusters.json")).unwrap()).unwrap();
    println!(
        "removed {} of {} (clusters {}); unplanted documents removed: {false_pos}; bucket spill runs: {}",
        report["removed"],
        report["documents"],
        report["clusters"],
        report["buckets"].as_array().map(|a| a.iter().map(|x| x["spill_runs"].as_u64().unwrap_or(0)).sum::<u64>()).unwrap_or(0)
    );
    println!("planted pairs: Jaccard bin | pairs | recall measured | S-curve expected");
    for (bin, (pairs, hit, exp)) in &bins {
        println!(
            "  [{:.2}, {:.2}) | {pairs:6} | {:.3} | {:.3}",
            *bin as f64 / 20.0,
            (*bin + 1) as f64 / 20.0,
            *hit as f64 / *pairs as f64,
            exp / *pairs as f64
        );
    }
    if !keep {
        let _ = std::fs::remove_dir_all(&out_dir);
    }
}
