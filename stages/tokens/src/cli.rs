//! `sluice tokenizer train|eval` and `sluice inspect`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};

use crate::bpe::{self, BpeSpec, Normalization};
use crate::shard::{self, Listing, Manifest};

#[derive(clap::Args)]
pub struct TokenizerArgs {
    #[command(subcommand)]
    pub command: TokenizerCommand,
}

#[derive(clap::Subcommand)]
pub enum TokenizerCommand {
    /// Train a byte-level BPE tokenizer on text files and save tokenizer.json.
    Train(TrainArgs),
    /// Bytes and characters per token on held-out text, per language.
    Eval(EvalArgs),
}

#[derive(clap::Args)]
pub struct TrainArgs {
    /// Input files or directories: .txt/.md (split into ~64 KB chunks at line
    /// ends; ISO-8859-1 when not UTF-8), .jsonl/.jsonl.gz/.jsonl.zst (the
    /// `text` field), .json (every `context` string: SQuAD-style).
    #[arg(long, required = true, num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// Vocabulary size, special tokens included.
    #[arg(long, default_value_t = 32768)]
    pub vocab_size: usize,
    /// Least count of a pair to be merged.
    #[arg(long, default_value_t = 2)]
    pub min_frequency: u64,
    /// Special tokens (ids from 0, in order).
    #[arg(long, num_args = 1.., default_values_t = vec![bpe::EOT.to_string()])]
    pub special_tokens: Vec<String>,
    /// Reserved special tokens after them.
    #[arg(long, default_value_t = 7)]
    pub reserved_tokens: usize,
    /// Skip NFC normalisation.
    #[arg(long)]
    pub no_nfc: bool,
    /// Take at most this many bytes of text from each input argument (e.g. 50MB).
    #[arg(long)]
    pub max_bytes_per_input: Option<String>,
    /// Where to write tokenizer.json.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Tokenizers to compare (tokenizer.json files).
    #[arg(long, required = true, num_args = 1..)]
    pub tokenizer: Vec<PathBuf>,
    /// Held-out text as LABEL=PATH (PATH as for `train --input`), e.g.
    /// `en=../shared/data/reference/en/wiki.test.raw`.
    #[arg(long, required = true, num_args = 1..)]
    pub text: Vec<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Encode with HF `tokenizers` even where sluice's direct encoder applies
    /// (to compare their speed; the ids are the same).
    #[arg(long)]
    pub hf: bool,
    /// Encoding threads for the throughput figure (default: all cores).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
}

#[derive(clap::Args)]
pub struct InspectArgs {
    /// An llm.c shard (.bin) or a Megatron .bin with its .idx beside it.
    pub shard: PathBuf,
    /// First token to decode.
    #[arg(long, default_value_t = 0, value_parser = |s: &str| int_in(s, 0, i32::MAX as usize))]
    pub start: usize,
    /// Tokens to decode.
    #[arg(long, default_value_t = 200, value_parser = |s: &str| int_in(s, 1, 1 << 24))]
    pub count: usize,
    /// tokenizer.json [default: the one named by manifest.json beside the shard].
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
}

/// clap parser: an integer in `lo..=hi`.
fn int_in(s: &str, lo: usize, hi: usize) -> std::result::Result<usize, String> {
    let v: usize = s.trim().parse().map_err(|_| format!("{s:?} is not a whole number"))?;
    if v < lo || v > hi {
        return Err(format!("{v} is out of range: must be in {lo}..={hi}"));
    }
    Ok(v)
}

/// Largest input file (or decompressed input) `sluice tokenizer train|eval` reads.
pub const MAX_INPUT_FILE: u64 = 16 << 30;
/// Largest shard `sluice inspect` reads: an int32 count of 4-byte tokens and the header.
pub use crate::shard::MAX_SHARD_FILE;

fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>> {
    Ok(sluice_pipeline::limits::read_file_limited(path, max)?)
}

/// Read the documents of one input path.
pub fn read_texts(path: &Path) -> Result<Vec<String>> {
    let mut files = Vec::new();
    if path.is_dir() {
        walk(path, &mut files)?;
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    let mut out = Vec::new();
    for f in files {
        let name = f.to_string_lossy().to_string();
        let raw = read_limited(&f, MAX_INPUT_FILE)?;
        // Decompressed sizes are bounded too (a small bomb must not fill memory).
        let decoded = |r: &mut dyn Read| -> Result<Vec<u8>> {
            let mut v = Vec::new();
            r.take(MAX_INPUT_FILE + 1).read_to_end(&mut v)?;
            if v.len() as u64 > MAX_INPUT_FILE {
                bail!("{name}: decompresses to more than {MAX_INPUT_FILE} bytes");
            }
            Ok(v)
        };
        let raw = if name.ends_with(".gz") {
            decoded(&mut flate2::read::MultiGzDecoder::new(&raw[..])).with_context(|| format!("{name}: gzip"))?
        } else if name.ends_with(".zst") {
            decoded(&mut zstd::Decoder::new(&raw[..])?).with_context(|| format!("{name}: zstd"))?
        } else {
            raw
        };
        let base = name.trim_end_matches(".gz").trim_end_matches(".zst");
        let text = match String::from_utf8(raw) {
            Ok(s) => s,
            Err(e) => e.into_bytes().iter().map(|&b| b as char).collect(), // ISO-8859-1
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text).to_string();
        if base.ends_with(".jsonl") {
            for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                let v: serde_json::Value = serde_json::from_str(line).with_context(|| format!("{name}: line {}: invalid JSON", i + 1))?;
                let t = v.get("text").and_then(|t| t.as_str()).ok_or_else(|| anyhow!("{name}: line {}: no string `text`", i + 1))?;
                out.push(t.to_string());
            }
        } else if base.ends_with(".json") {
            let v: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{name}: invalid JSON"))?;
            contexts(&v, &mut out);
        } else {
            chunks(&text, 64 << 10, &mut out);
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| dir.display().to_string())? {
        let p = e?.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

fn contexts(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("context", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => contexts(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| contexts(x, out)),
        _ => {}
    }
}

/// Split at line ends into pieces of about `size` bytes (newlines kept).
fn chunks(text: &str, size: usize, out: &mut Vec<String>) {
    let mut cur = String::new();
    for line in text.split_inclusive('\n') {
        cur.push_str(line);
        if cur.len() >= size {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
}

fn parse_size(s: &str) -> Result<u64> {
    sluice_pipeline::size::ByteSize::parse(s).map(|b| b.0).map_err(|e| anyhow!("{s}: {e}"))
}

pub fn train(a: &TrainArgs) -> Result<()> {
    let spec = BpeSpec {
        vocab_size: a.vocab_size,
        min_frequency: a.min_frequency,
        special_tokens: a.special_tokens.clone(),
        reserved_tokens: a.reserved_tokens,
        normalization: if a.no_nfc { Normalization::None } else { Normalization::Nfc },
        ..BpeSpec::default()
    };
    let errs = spec.validate();
    if !errs.is_empty() {
        bail!("{}", errs.iter().map(|(f, m)| format!("--{}: {m}", f.replace('_', "-"))).collect::<Vec<_>>().join("\n"));
    }
    let cap = a.max_bytes_per_input.as_deref().map(parse_size).transpose()?;
    let mut texts = Vec::new();
    for p in &a.input {
        let mut bytes = 0u64;
        for t in read_texts(p)? {
            if cap.is_some_and(|c| bytes >= c) {
                break;
            }
            bytes += t.len() as u64;
            texts.push(t);
        }
        eprintln!("{}: {bytes} bytes", p.display());
    }
    let total: u64 = texts.iter().map(|t| t.len() as u64).sum();
    let t0 = Instant::now();
    let tok = spec.train(texts.iter()).map_err(|e| anyhow!(e))?;
    let secs = t0.elapsed().as_secs_f64();
    let json = bpe::to_json(&tok).map_err(|e| anyhow!(e))?;
    sluice_pipeline::output::write_atomic(&a.out, json.as_bytes())?;
    eprintln!(
        "trained vocab {} on {:.1} MB in {secs:.1} s ({:.2} MB/s); wrote {} (sha256 {})",
        bpe::vocab_size(&tok),
        total as f64 / 1e6,
        total as f64 / 1e6 / secs,
        a.out.display(),
        crate::util::sha256_hex(json.as_bytes())
    );
    Ok(())
}

/// Bytes and characters per token of `texts`.
pub fn ratios(t: &crate::fast::Encoder, texts: &[String]) -> Result<(u64, u64, u64)> {
    use rayon::prelude::*;
    let r: Vec<std::result::Result<(u64, u64, u64), String>> =
        texts.par_iter().map(|s| t.encode(s).map(|ids| (s.len() as u64, s.chars().count() as u64, ids.len() as u64))).collect();
    let mut acc = (0, 0, 0);
    for x in r {
        let (b, c, n) = x.map_err(|e| anyhow!(e))?;
        acc = (acc.0 + b, acc.1 + c, acc.2 + n);
    }
    Ok(acc)
}

pub fn eval(a: &EvalArgs) -> Result<()> {
    let mut rows = Vec::new();
    let mut sets = Vec::new();
    for spec in &a.text {
        let (label, path) = spec.split_once('=').ok_or_else(|| anyhow!("--text {spec}: expected LABEL=PATH"))?;
        sets.push((label.to_string(), read_texts(Path::new(path))?));
    }
    let threads = a.threads.map(usize::from).unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    for tp in &a.tokenizer {
        let hf = bpe::load(tp).map_err(|e| anyhow!(e))?;
        let vocab = bpe::vocab_size(&hf);
        let t = if a.hf { crate::fast::Encoder::Hf(Box::new(hf)) } else { crate::fast::Encoder::from_tokenizer(hf) };
        for (label, texts) in &sets {
            let t0 = Instant::now();
            let (b, c, n) = pool.install(|| ratios(&t, texts))?;
            let secs = t0.elapsed().as_secs_f64();
            rows.push(serde_json::json!({
                "tokenizer": tp.display().to_string(), "vocab_size": vocab, "text": label, "encoder": if t.is_fast() { "sluice" } else { "hf" },
                "bytes": b, "chars": c, "tokens": n,
                "bytes_per_token": b as f64 / n.max(1) as f64, "chars_per_token": c as f64 / n.max(1) as f64,
                "threads": threads, "seconds": secs, "mb_per_s_per_core": b as f64 / 1e6 / secs / threads as f64,
            }));
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!(
            "{:<50} {:>6} {:>8} {:>10} {:>10} {:>10} {:>12}",
            "tokenizer", "vocab", "text", "tokens", "bytes/tok", "chars/tok", "MB/s/core"
        );
        for r in &rows {
            println!(
                "{:<50} {:>6} {:>8} {:>10} {:>10.3} {:>10.3} {:>12.2}",
                r["tokenizer"].as_str().unwrap_or(""),
                r["vocab_size"],
                r["text"].as_str().unwrap_or(""),
                r["tokens"],
                r["bytes_per_token"].as_f64().unwrap_or(0.0),
                r["chars_per_token"].as_f64().unwrap_or(0.0),
                r["mb_per_s_per_core"].as_f64().unwrap_or(0.0)
            );
        }
    }
    Ok(())
}

/// The manifest beside a shard, if any, read and checked
/// ([`Manifest::read`]).
pub fn manifest_for(shard: &Path) -> Result<Option<(PathBuf, Manifest)>> {
    let dir = match shard.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mp = dir.join("manifest.json");
    if !mp.exists() {
        return Ok(None);
    }
    Ok(Some((dir.to_path_buf(), Manifest::read(&mp)?)))
}

/// The on-disk token type as the manifest and numpy spell it.
fn dtype_name(d: shard::TokenDtype) -> &'static str {
    match d {
        shard::TokenDtype::Uint16 => "uint16",
        shard::TokenDtype::Uint32 => "uint32",
    }
}

/// `sluice inspect`: read a shard through the same checks as the trainer
/// (`sluice_format::shard`): header or index, `.bounds`, and the manifest's
/// size, sha256, token count and vocabulary; then decode a slice.
pub fn inspect(a: &InspectArgs, out: &mut dyn std::io::Write) -> Result<()> {
    let name = a.shard.display().to_string();
    let manifest = manifest_for(&a.shard)?;
    let file = a.shard.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let listing = manifest.as_ref().map(|(_, m)| Listing { manifest: m, entry: m.entry(&file) });
    let idx = a.shard.with_extension("idx");
    let tokens: Vec<u32> = if idx.exists() {
        let s = shard::read_megatron(&a.shard, &idx, listing)?;
        let width = s.index.width;
        writeln!(
            out,
            "{name}: Megatron, {} sequences, {} tokens, {}",
            s.index.lengths.len(),
            s.index.total_tokens(),
            if width == 2 { "uint16" } else { "int32" }
        )?;
        s.tokens
    } else {
        let s = shard::read_llmc(&a.shard, listing)?;
        writeln!(out, "{name}: llm.c header ok ({}), {} tokens", dtype_name(s.dtype), s.tokens.len())?;
        if let Some(bounds) = shard::read_bounds(&a.shard, s.tokens.len() as u64)? {
            writeln!(out, "{}: {} document starts", shard::bounds_path(&a.shard).display(), bounds.len())?;
        }
        s.tokens
    };
    let mut tok_path = a.tokenizer.clone();
    if let Some((dir, m)) = &manifest {
        match m.entry(&file) {
            Some(e) => writeln!(out, "manifest: split {}, token count and sha256 match", e.split)?,
            None => writeln!(out, "manifest: this file is not listed")?,
        }
        if tok_path.is_none() {
            if let Some(t) = &m.tokenizer {
                // The manifest's tokenizer: inside the shard directory, and the
                // file the shards were written with.
                let mp = dir.join("manifest.json");
                let p = shard::confined(dir, t).map_err(|e| anyhow!("{}: tokenizer {e}", mp.display()))?;
                if let Some(want) = &m.tokenizer_sha256 {
                    let got = crate::util::sha256_hex(&read_limited(&p, sluice_pipeline::limits::MAX_OPTION_FILE)?);
                    if !got.eq_ignore_ascii_case(want) {
                        bail!("{}: sha256 is {got} but {} says {want}", p.display(), mp.display());
                    }
                }
                tok_path = Some(p);
            }
        }
    }
    let end = a.start.saturating_add(a.count).min(tokens.len());
    let begin = a.start.min(end);
    let slice = &tokens[begin..end];
    // Every id asked for; when the shard ends first, say so.
    write!(out, "tokens [{begin}, {end}) of {}:", tokens.len())?;
    if slice.len() < a.count {
        write!(out, " ({} asked from {}; the shard has {} tokens)", a.count, a.start, tokens.len())?;
    }
    write!(out, " [")?;
    for (i, id) in slice.iter().enumerate() {
        write!(out, "{}{id}", if i == 0 { "" } else { ", " })?;
    }
    writeln!(out, "]")?;
    if let Some(tp) = tok_path {
        let t = bpe::load(&tp).map_err(|e| anyhow!(e))?;
        let text = bpe::decode(&t, slice).map_err(|e| anyhow!(e))?;
        writeln!(out, "--- decoded ---\n{text}\n---")?;
    } else {
        writeln!(out, "(no tokenizer: pass --tokenizer to decode)")?;
    }
    Ok(())
}
