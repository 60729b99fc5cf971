//! Reading (and, for tests and the reference-shard helper, writing) llm.c-format
//! token shards, the optional `manifest.json`, and the deterministic data loader.
//!
//! A shard is a 256 x int32 little-endian header followed by the tokens:
//! magic 20240520 / version 1 for uint16 tokens, magic 20240801 / version 7 for
//! uint32 tokens, `header[2]` = number of tokens.

use crate::error::{Result, TrainError};
use serde::{Deserialize, Serialize};
use sluice_format::shard::{self as format, Listing};
use sluice_format::FormatError;
use std::path::{Path, PathBuf};

/// The shard format itself (header, manifest, confinement) is `sluice-format`'s,
/// shared with the `pack` stage and `sluice inspect`.
pub use sluice_format::shard::{
    bounds_path, confined, sha256_hex as hex_sha256, Manifest, ShardEntry, TokenDtype, HEADER_BYTES, MAGIC_U16, MAGIC_U32, MANIFEST_FORMAT,
    MAX_SHARD_FILE, VERSION_U16, VERSION_U32,
};

/// A shard file that failed its checks, as a trainer error naming it.
fn shard_err(e: FormatError) -> TrainError {
    match e {
        FormatError::Io { path, source } => TrainError::Io { path, source },
        FormatError::Invalid { file, reason } => TrainError::Shard { path: file.into(), msg: reason },
    }
}

/// Read one shard, validating its header and length against the file size.
pub fn read_shard(path: &Path) -> Result<Vec<u32>> {
    format::read_llmc(path, None).map(|s| s.tokens).map_err(shard_err)
}

/// Serialise tokens as an llm.c shard.
pub fn shard_bytes(tokens: &[u32], dtype: TokenDtype) -> Result<Vec<u8>> {
    format::llmc_bytes(tokens, dtype).map_err(TrainError::Config)
}

pub fn write_shard(path: &Path, tokens: &[u32], dtype: TokenDtype) -> Result<String> {
    let bytes = shard_bytes(tokens, dtype)?;
    crate::error::write_atomic(path, &bytes)?;
    Ok(hex_sha256(&bytes))
}

/// The train and val files of a shard directory plus what the manifest says about them.
#[derive(Debug, Clone)]
pub struct ShardSet {
    pub dir: PathBuf,
    pub manifest: Option<Manifest>,
    pub train: Vec<PathBuf>,
    pub val: Vec<PathBuf>,
    /// The manifest entry of each listed file (by its resolved path).
    entries: std::collections::BTreeMap<PathBuf, ShardEntry>,
}

impl ShardSet {
    /// Open a shard directory: from `manifest.json` when present, else by llm.c
    /// file naming (`*train*.bin`, `*val*.bin`), sorted by name for a stable order.
    /// Every file a manifest names must be a regular file inside `dir` (see
    /// [`confined`]); so must the files found by naming, once symlinks are resolved.
    pub fn open(dir: &Path) -> Result<ShardSet> {
        let mpath = dir.join("manifest.json");
        if mpath.exists() {
            let merr = |msg: String| TrainError::Manifest { path: mpath.clone(), msg };
            let m = Manifest::read(&mpath).map_err(|e| match e {
                FormatError::Io { path, source } => TrainError::Io { path, source },
                FormatError::Invalid { reason, .. } => merr(reason),
            })?;
            if let Some(t) = &m.tokenizer {
                confined(dir, t).map_err(|e| merr(format!("tokenizer {e}")))?;
            }
            let (mut train, mut val) = (vec![], vec![]);
            let mut entries = std::collections::BTreeMap::new();
            for s in &m.shards {
                let p = confined(dir, &s.file).map_err(|e| merr(format!("shard {e}")))?;
                match s.split.as_str() {
                    "train" => train.push(p.clone()),
                    "val" => val.push(p.clone()),
                    other => return Err(merr(format!("shard {} has split {other:?}, expected \"train\" or \"val\"", s.file))),
                }
                if entries.insert(p, s.clone()).is_some() {
                    return Err(merr(format!("shard {} is listed twice", s.file)));
                }
            }
            if train.is_empty() {
                return Err(merr("no train shards listed".into()));
            }
            return Ok(ShardSet { dir: dir.to_path_buf(), manifest: Some(m), train, val, entries });
        }
        let rd = std::fs::read_dir(dir).map_err(|e| TrainError::io(dir, e))?;
        let mut names: Vec<String> =
            rd.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned())).filter(|n| n.ends_with(".bin")).collect();
        names.sort();
        let resolve = |n: &String| confined(dir, n).map_err(|msg| TrainError::Shard { path: dir.to_path_buf(), msg });
        let train = names.iter().filter(|n| n.contains("train")).map(resolve).collect::<Result<Vec<_>>>()?;
        let val = names.iter().filter(|n| n.contains("val")).map(resolve).collect::<Result<Vec<_>>>()?;
        if train.is_empty() {
            return Err(TrainError::Shard {
                path: dir.to_path_buf(),
                msg: "no manifest.json and no *train*.bin files in the directory".into(),
            });
        }
        Ok(ShardSet { dir: dir.to_path_buf(), manifest: None, train, val, entries: Default::default() })
    }

    pub fn vocab_size(&self) -> Option<usize> {
        self.manifest.as_ref().map(|m| m.vocab_size)
    }

    pub fn eos_id(&self) -> Option<u32> {
        self.manifest.as_ref().map(|m| m.eos_id)
    }

    /// The tokenizer the manifest names, resolved inside the shard directory.
    pub fn tokenizer_path(&self) -> Result<Option<PathBuf>> {
        let Some(m) = self.manifest.as_ref() else { return Ok(None) };
        let Some(t) = &m.tokenizer else { return Ok(None) };
        let mpath = self.dir.join("manifest.json");
        confined(&self.dir, t).map(Some).map_err(|e| TrainError::Manifest { path: mpath, msg: format!("tokenizer {e}") })
    }

    /// The bytes of the manifest's tokenizer, checked against `tokenizer_sha256`
    /// when the manifest records it (sluice's `pack` always does).
    pub fn tokenizer_bytes(&self) -> Result<Option<(PathBuf, Vec<u8>)>> {
        let Some(p) = self.tokenizer_path()? else { return Ok(None) };
        let bytes = crate::error::read_file_limited(&p, crate::error::MAX_OPTION_FILE)?;
        if let Some(want) = self.manifest.as_ref().and_then(|m| m.tokenizer_sha256.as_ref()) {
            let got = hex_sha256(&bytes);
            if !got.eq_ignore_ascii_case(want) {
                return Err(TrainError::Tokenizer {
                    path: p,
                    msg: format!("sha256 is {got} but the manifest says {want}: the file changed since the shards were written"),
                });
            }
        }
        Ok(Some((p, bytes)))
    }

    /// Load a split into memory, checking every shard against the manifest
    /// (`sluice_format::shard::read_llmc`): its size (before reading it), its
    /// sha256 when recorded, its token count and width, and that every token
    /// is inside the vocabulary; and its `.bounds` when there is one.
    pub fn load(&self, split: &str) -> Result<TokenStream> {
        let files = if split == "train" { &self.train } else { &self.val };
        let mut tokens = Vec::new();
        let mut bounds = Vec::new();
        for f in files {
            let listing = self.manifest.as_ref().map(|m| Listing { manifest: m, entry: self.entries.get(f) });
            let toks = format::read_llmc(f, listing).map_err(shard_err)?.tokens;
            let base = tokens.len() as u64;
            if let Some(b) = format::read_bounds(f, toks.len() as u64).map_err(shard_err)? {
                bounds.extend(b.into_iter().map(|off| base + off));
            }
            // A shard always starts a new document.
            bounds.push(base);
            tokens.extend_from_slice(&toks);
        }
        bounds.sort_unstable();
        bounds.dedup();
        Ok(TokenStream { tokens, doc_starts: bounds })
    }
}

/// All tokens of one split, concatenated in shard order, with known document starts.
#[derive(Debug, Clone)]
pub struct TokenStream {
    pub tokens: Vec<u32>,
    /// Sorted offsets where a document starts (from `.bounds` files and shard starts).
    pub doc_starts: Vec<u64>,
}

/// A batch of `b` windows: inputs, next-token targets and per-position document ids.
#[derive(Debug, Clone)]
pub struct Batch {
    pub b: usize,
    pub t: usize,
    pub inputs: Vec<u32>,
    pub targets: Vec<u32>,
    /// Document index of each input position inside its window (starts at 0).
    pub doc_ids: Vec<u32>,
}

impl TokenStream {
    /// Number of non-overlapping windows of `seq_len + 1` tokens (stride `seq_len`).
    pub fn windows(&self, seq_len: usize) -> usize {
        if self.tokens.len() <= seq_len {
            0
        } else {
            (self.tokens.len() - 1) / seq_len
        }
    }

    /// Fill a batch from window indices. Document ids restart at each EOS (the
    /// token after an EOS begins a new document) and at each known document start.
    pub fn batch(&self, windows: &[usize], seq_len: usize, eos: Option<u32>) -> Batch {
        let b = windows.len();
        let mut inputs = Vec::with_capacity(b * seq_len);
        let mut targets = Vec::with_capacity(b * seq_len);
        let mut doc_ids = Vec::with_capacity(b * seq_len);
        for &w in windows {
            let o = w * seq_len;
            let win = &self.tokens[o..o + seq_len + 1];
            inputs.extend_from_slice(&win[..seq_len]);
            targets.extend_from_slice(&win[1..]);
            let mut next_start = self.doc_starts.partition_point(|&s| s <= o as u64);
            let mut doc = 0u32;
            for i in 0..seq_len {
                if i > 0 {
                    let mut new_doc = eos.is_some_and(|e| win[i - 1] == e);
                    while next_start < self.doc_starts.len() && self.doc_starts[next_start] <= (o + i) as u64 {
                        new_doc |= self.doc_starts[next_start] == (o + i) as u64;
                        next_start += 1;
                    }
                    if new_doc {
                        doc += 1;
                    }
                }
                doc_ids.push(doc);
            }
        }
        Batch { b, t: seq_len, inputs, targets, doc_ids }
    }
}

/// SplitMix64: tiny, fast, and its whole state is one u64, which makes the data
/// order trivially checkpointable and identical on every platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rng {
    pub state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed ^ 0x5851_F42D_4C95_7F2D }
    }
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1) with 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [0, n) by rejection, so there is no modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }
    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            xs.swap(i, j);
        }
    }
}

/// Where the loader is: which epoch, how far into its permutation, and the RNG
/// state that produced that permutation. Saved in checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataCursor {
    pub epoch: u64,
    pub pos: usize,
    /// RNG state *before* the current epoch's shuffle was drawn.
    pub epoch_rng: Rng,
}

/// Deterministic, seeded order over the windows of a token stream: each epoch is a
/// fresh permutation drawn from one running RNG.
pub struct DataLoader {
    pub stream: TokenStream,
    pub seq_len: usize,
    pub eos: Option<u32>,
    order: Vec<usize>,
    cursor: DataCursor,
}

impl DataLoader {
    pub fn new(stream: TokenStream, seq_len: usize, eos: Option<u32>, seed: u64) -> Result<DataLoader> {
        let n = stream.windows(seq_len);
        if n == 0 {
            return Err(TrainError::Config(format!(
                "the train split has {} tokens, too few for one window of seq_len {seq_len} + 1",
                stream.tokens.len()
            )));
        }
        let cursor = DataCursor { epoch: 0, pos: 0, epoch_rng: Rng::new(seed) };
        let mut dl = DataLoader { stream, seq_len, eos, order: vec![], cursor };
        dl.reshuffle();
        Ok(dl)
    }

    fn reshuffle(&mut self) {
        let mut rng = self.cursor.epoch_rng;
        self.order = (0..self.stream.windows(self.seq_len)).collect();
        rng.shuffle(&mut self.order);
    }

    pub fn cursor(&self) -> DataCursor {
        self.cursor
    }

    /// Jump to a saved cursor (regenerates that epoch's permutation).
    pub fn seek(&mut self, c: DataCursor) -> Result<()> {
        if c.pos > self.stream.windows(self.seq_len) {
            return Err(TrainError::Config(format!("data cursor position {} is past this data's windows", c.pos)));
        }
        self.cursor = c;
        self.reshuffle();
        Ok(())
    }

    pub fn next_batch(&mut self, b: usize) -> Batch {
        let mut ws = Vec::with_capacity(b);
        while ws.len() < b {
            if self.cursor.pos >= self.order.len() {
                // Advance the running RNG past this epoch's draws: the next
                // epoch's permutation starts from a fresh state.
                let mut rng = self.cursor.epoch_rng;
                let _ = rng.next_u64();
                let next = Rng { state: rng.next_u64() };
                self.cursor = DataCursor { epoch: self.cursor.epoch + 1, pos: 0, epoch_rng: next };
                self.reshuffle();
            }
            ws.push(self.order[self.cursor.pos]);
            self.cursor.pos += 1;
        }
        self.stream.batch(&ws, self.seq_len, self.eos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_u16_u32_and_header_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x_train_000.bin");
        write_shard(&p, &[1, 2, 65535], TokenDtype::Uint16).unwrap();
        assert_eq!(read_shard(&p).unwrap(), vec![1, 2, 65535]);
        let q = dir.path().join("y.bin");
        write_shard(&q, &[70000, 3], TokenDtype::Uint32).unwrap();
        assert_eq!(read_shard(&q).unwrap(), vec![70000, 3]);
        assert!(write_shard(&q, &[70000], TokenDtype::Uint16).is_err());
        // Truncated body: the error names the file and both sizes.
        let mut bytes = std::fs::read(&p).unwrap();
        bytes.pop();
        std::fs::write(&p, &bytes).unwrap();
        let e = read_shard(&p).unwrap_err().to_string();
        assert!(e.contains("x_train_000.bin") && e.contains("3 tokens"), "{e}");
        std::fs::write(&p, [0u8; 10]).unwrap();
        assert!(read_shard(&p).unwrap_err().to_string().contains("shorter than"));
        let mut bad = shard_bytes(&[1], TokenDtype::Uint16).unwrap();
        bad[0] = 7;
        std::fs::write(&p, &bad).unwrap();
        assert!(read_shard(&p).unwrap_err().to_string().contains("bad magic"));
    }

    #[test]
    fn doc_ids_follow_eos_and_bounds() {
        let s = TokenStream { tokens: vec![5, 6, 0, 7, 8, 9, 10, 11, 12], doc_starts: vec![0, 5] };
        let b = s.batch(&[0], 8, Some(0));
        // EOS at 2 -> doc 1 from position 3; bounds file says a doc starts at 5.
        assert_eq!(b.doc_ids, vec![0, 0, 0, 1, 1, 2, 2, 2]);
        assert_eq!(b.targets[..3], [6, 0, 7]);
    }

    #[test]
    fn loader_is_deterministic_and_seekable() {
        let s = TokenStream { tokens: (0..1000).collect(), doc_starts: vec![0] };
        let mut a = DataLoader::new(s.clone(), 10, None, 42).unwrap();
        let mut b = DataLoader::new(s, 10, None, 42).unwrap();
        let mut saved = None;
        let mut after = vec![];
        for i in 0..70 {
            if i == 40 {
                saved = Some(a.cursor());
            }
            let x = a.next_batch(3);
            assert_eq!(x.inputs, b.next_batch(3).inputs);
            if i >= 40 {
                after.push(x.inputs);
            }
        }
        let s2 = TokenStream { tokens: (0..1000).collect(), doc_starts: vec![0] };
        let mut d = DataLoader::new(s2, 10, None, 42).unwrap();
        d.seek(saved.unwrap()).unwrap();
        for want in after {
            assert_eq!(d.next_batch(3).inputs, want);
        }
    }

    #[test]
    fn different_seeds_give_different_orders() {
        let s = TokenStream { tokens: (0..1000).collect(), doc_starts: vec![0] };
        let mut a = DataLoader::new(s.clone(), 10, None, 1).unwrap();
        let mut c = DataLoader::new(s, 10, None, 2).unwrap();
        assert_ne!(a.next_batch(8).inputs, c.next_batch(8).inputs);
    }

    #[test]
    fn manifest_checks_tokens_and_vocab() {
        let dir = tempfile::tempdir().unwrap();
        let sha = write_shard(&dir.path().join("train-00000.bin"), &[1, 2, 3, 0], TokenDtype::Uint16).unwrap();
        let mut m = Manifest {
            format: MANIFEST_FORMAT.into(),
            vocab_size: 4,
            eos_id: 0,
            bos_id: None,
            dtype: TokenDtype::Uint16,
            tokenizer: None,
            seq_len: None,
            shards: vec![ShardEntry { file: "train-00000.bin".into(), split: "train".into(), tokens: 4, sha256: Some(sha) }],
            tokenizer_sha256: None,
            recipe_hash: None,
            tokens_per_source: Default::default(),
            documents: Default::default(),
            packing: None,
        };
        let mp = dir.path().join("manifest.json");
        std::fs::write(&mp, serde_json::to_vec(&m).unwrap()).unwrap();
        let set = ShardSet::open(dir.path()).unwrap();
        assert_eq!(set.load("train").unwrap().tokens, vec![1, 2, 3, 0]);
        m.vocab_size = 3;
        std::fs::write(&mp, serde_json::to_vec(&m).unwrap()).unwrap();
        let e = ShardSet::open(dir.path()).unwrap().load("train").unwrap_err().to_string();
        assert!(e.contains("outside vocab_size 3") && e.contains("train-00000.bin"), "{e}");
        m.vocab_size = 4;
        m.shards[0].tokens = 5;
        std::fs::write(&mp, serde_json::to_vec(&m).unwrap()).unwrap();
        let e = ShardSet::open(dir.path()).unwrap().load("train").unwrap_err().to_string();
        // the size is checked before the file is read
        assert!(e.contains("manifest's 5 Uint16 tokens need 1034"), "{e}");
    }

    /// The trainer reads through `sluice_format::shard`: a shard, its
    /// `.bounds` or the manifest cut at any offset is an error naming the
    /// file, never a panic (a `.bounds` cut at a multiple of 8 is a shorter
    /// valid list).
    #[test]
    fn every_truncation_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let shard = shard_bytes(&[1, 2, 3, 0, 4], TokenDtype::Uint16).unwrap();
        let bounds = sluice_format::shard::bounds_bytes(&[0, 4]);
        let m = serde_json::json!({"format": MANIFEST_FORMAT, "vocab_size": 8, "eos_id": 0, "dtype": "uint16",
            "shards": [{"file": "train-0.bin", "split": "train", "tokens": 5, "sha256": hex_sha256(&shard)}]});
        let manifest = serde_json::to_vec(&m).unwrap();
        let files: [(&str, &[u8]); 3] = [("train-0.bin", &shard), ("train-0.bin.bounds", &bounds), ("manifest.json", &manifest)];
        let write_all = || files.iter().for_each(|(n, b)| std::fs::write(dir.path().join(n), b).unwrap());
        write_all();
        assert_eq!(ShardSet::open(dir.path()).unwrap().load("train").unwrap().doc_starts, vec![0, 4]);
        for (name, bytes) in &files {
            for cut in 0..bytes.len() {
                write_all();
                std::fs::write(dir.path().join(name), &bytes[..cut]).unwrap();
                match ShardSet::open(dir.path()).and_then(|s| s.load("train")) {
                    Ok(_) => assert!(name.ends_with(".bounds") && cut % 8 == 0, "{name} cut at {cut} was accepted"),
                    Err(e) => assert!(e.to_string().contains(name), "{name} cut at {cut}: {e}"),
                }
            }
        }
    }
}
