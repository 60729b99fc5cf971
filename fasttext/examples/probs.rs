//! Prints every label's probability for each line of a file, one line of
//! tab-separated floats per input line (header: the labels):
//! `cargo run --release -p sluice-fasttext --example probs -- MODEL FILE`.
//! Each line is scored with its '\n', as fastText's `predict` reads it.

use std::io::{BufRead, Write};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 3 {
        return Err("usage: probs MODEL FILE".into());
    }
    let model = sluice_fasttext::Model::load(a[1].as_ref())?;
    let r = std::io::BufReader::new(std::fs::File::open(&a[2])?);
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    writeln!(out, "{}", model.labels().join("\t"))?;
    let mut s = sluice_fasttext::Scratch::new();
    let mut p = Vec::new();
    for line in r.lines() {
        let mut line = line?;
        line.push('\n');
        model.predict_into(&line, &mut s, &mut p);
        let v: Vec<String> = p.iter().map(|x| format!("{x:.9e}")).collect();
        writeln!(out, "{}", v.join("\t"))?;
    }
    Ok(())
}
