//! Real shards from the reference texts in `../shared/data/reference/en`: a
//! byte-level BPE trained with the `tokenizers` crate, documents separated by
//! `<|endoftext|>`, written as llm.c shards with a `sluice-shards/1` manifest.
//!
//! This stands in for the tokens stage until it lands; tests and benches use it.

use crate::error::{read_file, Result, TrainError};
use crate::shards::{write_shard, Manifest, ShardEntry, TokenDtype, MANIFEST_FORMAT};
use std::path::{Path, PathBuf};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, DecoderWrapper, NormalizerWrapper, PostProcessorWrapper, PreTokenizerWrapper, TokenizerImpl};

pub const EOS_TOKEN: &str = "<|endoftext|>";

/// What to build.
#[derive(Debug, Clone)]
pub struct RefShardsConfig {
    /// `../shared/data` (or `$SLUICE_DATA`).
    pub data_dir: PathBuf,
    /// BPE vocabulary size, including the 256 byte tokens and EOS.
    pub vocab_size: usize,
    /// Stop reading text after this many bytes (keeps tests fast).
    pub max_bytes: usize,
    /// Every n-th document goes to the validation split.
    pub val_every: usize,
}

/// The data directory: `$SLUICE_DATA`, else `../shared/data` from the current dir.
pub fn data_dir() -> PathBuf {
    std::env::var_os("SLUICE_DATA").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("../shared/data"))
}

/// Decode as UTF-8 (dropping a BOM), falling back to ISO-8859-1, which two of the
/// Gutenberg files use.
fn decode_text(bytes: &[u8]) -> String {
    let b = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(b) {
        Ok(s) => s.replace("\r\n", "\n"),
        Err(_) => b.iter().map(|&c| c as char).collect::<String>().replace("\r\n", "\n"),
    }
}

/// Split a text into documents: WikiText articles at ` = Title = ` headings, and
/// books into ~8 KB runs of whole paragraphs.
fn split_docs(text: &str, wiki: bool, out: &mut Vec<String>) {
    let mut cur = String::new();
    let flush = |cur: &mut String, out: &mut Vec<String>| {
        let t = cur.trim();
        if t.len() > 200 {
            out.push(t.to_string());
        }
        cur.clear();
    };
    if wiki {
        for line in text.lines() {
            let l = line.trim();
            let top = l.starts_with("= ") && l.ends_with(" =") && !l.starts_with("= =");
            if top {
                flush(&mut cur, out);
            }
            cur.push_str(line);
            cur.push('\n');
        }
    } else {
        for para in text.split("\n\n") {
            cur.push_str(para.trim());
            cur.push_str("\n\n");
            if cur.len() > 8000 {
                flush(&mut cur, out);
            }
        }
    }
    flush(&mut cur, out);
}

/// Read the reference documents, in a fixed file order.
pub fn reference_docs(data_dir: &Path, max_bytes: usize) -> Result<Vec<String>> {
    let en = data_dir.join("reference/en");
    if !en.is_dir() {
        return Err(TrainError::Config(format!(
            "reference data not found at {} (set SLUICE_DATA to the shared data directory)",
            en.display()
        )));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&en)
        .map_err(|e| TrainError::io(&en, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    // WikiText first: it is the most varied text, and a byte budget should see it.
    files.sort_by_key(|p| (!p.to_string_lossy().contains("wiki."), p.clone()));
    let mut docs = Vec::new();
    let mut total = 0;
    for f in files {
        let text = decode_text(&read_file(&f)?);
        let wiki = f.file_name().is_some_and(|n| n.to_string_lossy().starts_with("wiki."));
        let mut ds = Vec::new();
        split_docs(&text, wiki, &mut ds);
        for d in ds {
            if total >= max_bytes {
                return Ok(docs);
            }
            total += d.len();
            docs.push(d);
        }
    }
    Ok(docs)
}

/// Train a byte-level BPE on `docs` and return it as a standard `Tokenizer`.
pub fn train_bpe(docs: &[String], vocab_size: usize) -> Result<tokenizers::Tokenizer> {
    let terr = |e: tokenizers::Error| TrainError::Tokenizer { path: PathBuf::from("<trained BPE>"), msg: e.to_string() };
    let mut trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(vec![AddedToken::from(EOS_TOKEN, true)])
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let mut tk: TokenizerImpl<BPE, NormalizerWrapper, PreTokenizerWrapper, PostProcessorWrapper, DecoderWrapper> =
        TokenizerImpl::new(BPE::default());
    tk.with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)));
    tk.with_decoder(Some(ByteLevelDecoder::default()));
    tk.train(&mut trainer, docs.iter()).map_err(terr)?;
    Ok(tokenizers::Tokenizer::from(tk))
}

/// Build a shard directory: `tokenizer.json`, `train-00000.bin`, `val-00000.bin`
/// and `manifest.json`.
pub fn make_reference_shards(out: &Path, cfg: &RefShardsConfig) -> Result<Manifest> {
    std::fs::create_dir_all(out).map_err(|e| TrainError::io(out, e))?;
    let docs = reference_docs(&cfg.data_dir, cfg.max_bytes)?;
    if docs.len() < 2 {
        return Err(TrainError::Config(format!("only {} reference documents found", docs.len())));
    }
    let tok = train_bpe(&docs, cfg.vocab_size)?;
    let tpath = out.join("tokenizer.json");
    tok.save(&tpath, false).map_err(|e| TrainError::Tokenizer { path: tpath.clone(), msg: e.to_string() })?;
    let eos = tok.token_to_id(EOS_TOKEN).ok_or_else(|| TrainError::Internal("EOS missing from trained BPE".into()))?;
    let vocab = tok.get_vocab_size(true);
    let encs = tok
        .encode_batch(docs.iter().map(|d| d.as_str()).collect::<Vec<_>>(), false)
        .map_err(|e| TrainError::Tokenizer { path: tpath.clone(), msg: e.to_string() })?;
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (i, e) in encs.iter().enumerate() {
        let dst = if cfg.val_every > 0 && i % cfg.val_every == cfg.val_every - 1 { &mut val } else { &mut train };
        dst.extend_from_slice(e.get_ids());
        dst.push(eos);
    }
    let dtype = if vocab <= 65536 { TokenDtype::Uint16 } else { TokenDtype::Uint32 };
    let mut shards = Vec::new();
    for (name, split, toks) in [("train-00000.bin", "train", &train), ("val-00000.bin", "val", &val)] {
        if toks.is_empty() {
            continue;
        }
        let sha = write_shard(&out.join(name), toks, dtype)?;
        shards.push(ShardEntry { file: name.into(), split: split.into(), tokens: toks.len() as u64, sha256: Some(sha) });
    }
    let m = Manifest {
        format: MANIFEST_FORMAT.into(),
        vocab_size: vocab,
        eos_id: eos,
        bos_id: None,
        dtype,
        tokenizer: Some("tokenizer.json".into()),
        seq_len: None,
        shards,
        tokenizer_sha256: Some(crate::shards::hex_sha256(&read_file(&tpath)?)),
        recipe_hash: None,
        tokens_per_source: Default::default(),
        documents: Default::default(),
        packing: None,
    };
    let js = serde_json::to_vec_pretty(&m).map_err(|e| TrainError::Internal(e.to_string()))?;
    crate::error::write_atomic(&out.join("manifest.json"), &js)?;
    Ok(m)
}
