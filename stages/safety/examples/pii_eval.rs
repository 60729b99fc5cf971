//! Print precision and recall per PII kind on the labelled test set built
//! from real English and Chinese text (see `sluice_safety::testset`).
//!
//! cargo run -p sluice-safety --example pii_eval [-- --docs 600 --per-doc 3 --seed 1 --errors 20]

use sluice_safety::{testset, PiiConfig};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str, d: u64| -> u64 {
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(|v| v.parse().expect("a number")).unwrap_or(d)
    };
    let data = testset::data_dir();
    let set = testset::build(&data, opt("--seed", 1), opt("--docs", 600) as usize, opt("--per-doc", 3) as usize).unwrap_or_else(|e| panic!("{e}"));
    let pii = PiiConfig::default().build(0);
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
