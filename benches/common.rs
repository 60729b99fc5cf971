//! Shared helpers for the engine benches: a deterministic synthetic corpus.

use std::io::Write;
use std::path::Path;

/// Write `files` JSONL.zst files holding about `bytes` of text in total.
/// Documents look like web text: words from a Zipf-ish vocabulary, a few
/// paragraphs, a url.
pub fn make_corpus(dir: &Path, files: usize, bytes: u64) -> u64 {
    std::fs::create_dir_all(dir).unwrap();
    let vocab: Vec<String> = (0..20_000)
        .map(|i| {
            let len = 2 + (i * 7919) % 9;
            (0..len).map(|j| (b'a' + ((i * 31 + j * 17) % 26) as u8) as char).collect()
        })
        .collect();
    let mut rng = 0x2545F4914F6CDD1Du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let per_file = bytes / files as u64;
    let mut total = 0u64;
    for f in 0..files {
        let file = std::fs::File::create(dir.join(format!("part-{f:04}.jsonl.zst"))).unwrap();
        let mut enc = zstd::stream::write::Encoder::new(std::io::BufWriter::new(file), 1).unwrap();
        let mut written = 0u64;
        let mut i = 0u64;
        let mut text = String::new();
        while written < per_file {
            text.clear();
            let words = 50 + next() % 1500;
            for w in 0..words {
                let r = next();
                // squaring skews towards frequent words
                let idx = ((r % 1000) * (r % 1000) / 50) as usize % vocab.len();
                text.push_str(&vocab[idx]);
                text.push(if w % 97 == 96 { '\n' } else { ' ' });
            }
            let line = serde_json::json!({"id": format!("{f}-{i}"), "text": text, "url": format!("https://example.com/{f}/{i}")});
            let s = line.to_string();
            enc.write_all(s.as_bytes()).unwrap();
            enc.write_all(b"\n").unwrap();
            written += text.len() as u64;
            i += 1;
        }
        enc.finish().unwrap().flush().unwrap();
        total += written;
    }
    total
}

/// Total size of the files in `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum()
}

/// The bare-engine recipe: JSONL.zst -> passthrough -> Parquet.
pub fn engine_recipe(input: &Path, out: &Path) -> String {
    format!(
        "seed: 1\noutput: {}\nreaders:\n  corpus: {{kind: jsonl, paths: [{}]}}\nstages:\n  noop: {{kind: passthrough, inputs: [corpus]}}\nwriters:\n  parquet: {{kind: parquet, inputs: [noop]}}\n",
        out.display(),
        input.display()
    )
}

/// Run the bare-engine recipe on `input` into `out` with `threads` workers
/// through the `sluice` binary; panics if the run fails.
pub fn run_engine(dir: &Path, input: &Path, out: &Path, threads: usize) {
    let recipe = dir.join("recipe.yaml");
    std::fs::write(&recipe, engine_recipe(input, out)).unwrap();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", "--progress", "off", "--threads", &threads.to_string()])
        .arg(&recipe)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "sluice run failed");
}
