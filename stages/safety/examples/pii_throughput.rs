//! PII stage throughput on a JSONL(.gz) file, per core: the documents are
//! repeated up to `--min-mb` MB of text and run through `pii` on this
//! thread; the time is this thread's CPU time. Prints one JSON line.
//! Used by `benches/safety/pii_figures.py` (`scripts/figures.sh pii`) for its warm-loop rows.
//!
//! cargo run --release -p sluice-safety --example pii_throughput -- FILE [--min-mb 100] [--datatrove-kinds | --only KIND] [--stage pii|toxicity|decontaminate --eval-dir DIR]

use std::io::{BufRead, BufReader};

use sluice_pipeline::{DocStage, Document};
use sluice_safety::{Action, PiiConfig};

fn thread_cpu_seconds() -> f64 {
    // /proc/thread-self/stat: utime and stime in clock ticks (fields 14, 15)
    let s = std::fs::read_to_string("/proc/thread-self/stat").expect("/proc/thread-self/stat");
    let rest = &s[s.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().expect("utime") + f[12].parse::<f64>().expect("stime");
    ticks / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("usage: pii_throughput FILE [--min-mb N] [--datatrove-kinds]");
    let min_mb: f64 =
        args.iter().position(|a| a == "--min-mb").and_then(|i| args.get(i + 1)).map(|v| v.parse().expect("number")).unwrap_or(100.0);
    let dt_kinds = args.iter().any(|a| a == "--datatrove-kinds");
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let reader: Box<dyn std::io::Read> = if path.ends_with(".gz") { Box::new(flate2::read::MultiGzDecoder::new(f)) } else { Box::new(f) };
    let mut texts = Vec::new();
    for (i, line) in BufReader::new(reader).lines().enumerate() {
        let line = line.unwrap_or_else(|e| panic!("{path}: line {}: {e}", i + 1));
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{path}: line {}: {e}", i + 1));
        texts.push(v["text"].as_str().unwrap_or_else(|| panic!("{path}: line {}: no text", i + 1)).to_string());
    }
    let one_pass: usize = texts.iter().map(|t| t.len()).sum();
    let passes = ((min_mb * 1e6) / one_pass as f64).ceil().max(1.0) as usize;
    let only = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1));
    let cfg = if let Some(k) = only {
        // one kind alone (to see what each costs)
        let mut v = serde_json::json!({});
        for kind in sluice_safety::PiiKind::ALL {
            if kind.name() != k {
                v[kind.name()] = "off".into();
            }
        }
        serde_json::from_value(v).expect("config")
    } else if dt_kinds {
        // only what datatrove's PIIFormatter does: emails and public IPs
        PiiConfig {
            phone: Action::Off,
            credit_card: Action::Off,
            iban: Action::Off,
            us_ssn: Action::Off,
            cn_id: Action::Off,
            secret: Action::Off,
            url_credentials: Action::Off,
            ..Default::default()
        }
    } else {
        PiiConfig::default()
    };
    let pii = cfg.build(0);
    // `--stage toxicity|decontaminate` times another stage on the same input
    let stage_name = args.iter().position(|a| a == "--stage").and_then(|i| args.get(i + 1)).map(String::as_str).unwrap_or("pii");
    let stage: Box<dyn DocStage> = match stage_name {
        "pii" => Box::new(pii),
        "toxicity" => Box::new(sluice_safety::ToxicityConfig::default().build().expect("toxicity")),
        "decontaminate" => {
            let eval = args.iter().position(|a| a == "--eval-dir").and_then(|i| args.get(i + 1)).expect("--eval-dir DIR");
            let t = std::time::Instant::now();
            let s = sluice_safety::DecontamConfig { eval_dir: Some(eval.into()), ..Default::default() }.build().expect("index");
            eprintln!("index built in {:.2?}", t.elapsed());
            Box::new(s)
        }
        other => panic!("unknown stage {other}"),
    };
    let mut found = 0.0;
    let mut out_bytes = 0usize;
    let t0 = thread_cpu_seconds();
    let w0 = std::time::Instant::now();
    for _ in 0..passes {
        for t in &texts {
            let mut d = Document::new("d", t.clone(), "s".into());
            stage.process(&mut d);
            found += d.attributes.values().sum::<f64>();
            out_bytes += d.text.len();
        }
    }
    let cpu = thread_cpu_seconds() - t0;
    let wall = w0.elapsed().as_secs_f64();
    let bytes = one_pass * passes;
    println!(
        "{}",
        serde_json::json!({"docs": texts.len(), "passes": passes, "bytes": bytes, "cpu_s": cpu, "wall_s": wall,
            "stage": stage_name, "mb_per_cpu_s": bytes as f64 / 1e6 / cpu, "found_per_pass": found / passes as f64, "out_bytes_per_pass": out_bytes / passes})
    );
}
