//! Print precision and recall per PII kind on the labelled test set built
//! from real English and Chinese text (see `sluice_safety::testset`).
//!
//! cargo run -p sluice-safety --example pii_eval [-- --docs 600 --per-doc 3 --seed 1 --errors 20]
//! cargo run -p sluice-safety --example pii_eval -- --list ../shared/data/web/cc-main-2019-30.sample.jsonl.gz

use sluice_safety::{testset, PiiConfig};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str, d: u64| -> u64 {
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(|v| v.parse().expect("a number")).unwrap_or(d)
    };
    // `--list FILE.jsonl[.gz]`: print every detection in real documents, for review
    if let Some(path) = args.iter().position(|a| a == "--list").and_then(|i| args.get(i + 1)) {
        use std::io::BufRead;
        let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let r: Box<dyn std::io::Read> = if path.ends_with(".gz") { Box::new(flate2::read::MultiGzDecoder::new(f)) } else { Box::new(f) };
        let pii = PiiConfig::default().scrubber(0);
        let mut n = std::collections::BTreeMap::new();
        for line in std::io::BufReader::new(r).lines() {
            let v: serde_json::Value = serde_json::from_str(&line.expect("line")).expect("JSON");
            let t = v["text"].as_str().expect("text");
            for m in pii.find(t) {
                *n.entry(m.kind.name()).or_insert(0) += 1;
                let mut a = m.span.start.saturating_sub(40);
                while !t.is_char_boundary(a) {
                    a -= 1;
                }
                let mut b = (m.span.end + 40).min(t.len());
                while !t.is_char_boundary(b) {
                    b += 1;
                }
                println!(
                    "{}",
                    format!("{:<16} {}[[{}]]{}", m.kind.name(), &t[a..m.span.start], &t[m.span.clone()], &t[m.span.end..b])
                        .replace('\n', " ")
                );
            }
        }
        println!("{n:?}");
        return;
    }
    let data = testset::data_dir();
    let set = testset::build(&data, opt("--seed", 1), opt("--docs", 600) as usize, opt("--per-doc", 3) as usize)
        .unwrap_or_else(|e| panic!("{e}"));
    let pii = PiiConfig::default().scrubber(0);
    let ev = testset::evaluate(&pii, &set);
    print!("{}", testset::table(&ev));
    let n = opt("--errors", 20) as usize;
    if n > 0 {
        println!("errors (first {n}):");
        for (k, what, s) in ev.errors.iter().take(n) {
            println!("  {what} {}: {s}", k.name());
        }
    }
}
