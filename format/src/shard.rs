//! Token shard files: llm.c shards, Megatron `.bin`/`.idx`, `.bounds` and
//! `manifest.json`. The `pack` stage writes them; `sluice inspect` and the
//! trainer read them, through the same checks.
//!
//! llm.c: a header of 256 little-endian int32 (`[0]` magic, `[1]` version,
//! `[2]` token count), then the tokens: magic 20240520 / version 1 with
//! uint16 tokens, 20240801 / version 7 with uint32 tokens (vocabularies over
//! 65,536). Beside each shard, `<shard>.bounds` holds the document starts as
//! little-endian u64 offsets into the shard, increasing, which the trainer
//! uses to mask attention across documents.
//!
//! Megatron (`MMapIndexedDataset`): `<name>.bin` is the raw tokens,
//! `<name>.idx` is `MMIDIDX\0\0`, u64 version 1, u8 dtype code (8: uint16,
//! 4: int32), u64 sequence count, u64 document-index count, int32 sequence
//! lengths, int64 byte pointers, int64 document indices. Each packed
//! sequence is one Megatron sequence and one document.
//!
//! `manifest.json` (`sluice-shards/1`) lists the shards with their split,
//! token count and SHA-256. A manifest comes from a shared filesystem: every
//! file it names is resolved with [`confined`], so it can never make sluice
//! open a file outside the shard directory.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::error::{read_file_limited, FormatError, Result};

pub const MAGIC_U16: i32 = 20240520;
pub const VERSION_U16: i32 = 1;
pub const MAGIC_U32: i32 = 20240801;
pub const VERSION_U32: i32 = 7;
/// The llm.c header: 256 int32.
pub const HEADER_BYTES: usize = 256 * 4;
pub const MANIFEST_FORMAT: &str = "sluice-shards/1";
/// Largest shard file: an int32 token count of 4-byte tokens plus the header.
pub const MAX_SHARD_FILE: u64 = (i32::MAX as u64) * 4 + HEADER_BYTES as u64;
/// Largest `manifest.json` read.
pub const MAX_MANIFEST_FILE: u64 = 64 << 20;
/// The magic bytes that start a Megatron `.idx`.
pub const MEGATRON_MAGIC: &[u8; 9] = b"MMIDIDX\x00\x00";
/// Bytes of a Megatron `.idx` before the sequence lengths.
pub const MEGATRON_HEADER_BYTES: usize = 34;

/// On-disk token width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenDtype {
    Uint16,
    Uint32,
}

impl TokenDtype {
    /// uint16 when every id fits.
    pub fn for_vocab(vocab_size: usize) -> TokenDtype {
        if vocab_size <= 65536 {
            TokenDtype::Uint16
        } else {
            TokenDtype::Uint32
        }
    }

    /// Bytes per token.
    pub fn width(self) -> usize {
        match self {
            TokenDtype::Uint16 => 2,
            TokenDtype::Uint32 => 4,
        }
    }
}

/// One entry of the manifest's `shards` list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardEntry {
    /// File name relative to the shard directory.
    pub file: String,
    /// `train` or `val`.
    pub split: String,
    /// Number of tokens in the file (checked against the file).
    pub tokens: u64,
    /// Hex SHA-256 of the whole file; checked when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// `manifest.json` of a shard directory: the `sluice-shards/1` keys, then
/// optional keys the `pack` stage adds (all skipped when empty, so a
/// manifest without them is still valid).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always `sluice-shards/1`.
    pub format: String,
    /// Size of the token vocabulary the shards were written with.
    pub vocab_size: usize,
    /// End-of-document token; documents are separated by it.
    pub eos_id: u32,
    /// Beginning-of-document token, if the tokenizer has one.
    #[serde(default)]
    pub bos_id: Option<u32>,
    /// On-disk token width.
    pub dtype: TokenDtype,
    /// Tokenizer file relative to the shard directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<String>,
    /// Sequence length the packer aimed for, if any.
    #[serde(default)]
    pub seq_len: Option<usize>,
    pub shards: Vec<ShardEntry>,
    /// Optional: hex SHA-256 of the tokenizer file the shards were written with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer_sha256: Option<String>,
    /// Optional: the run's recipe hash (`_sluice/run.json` `recipe_hash`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe_hash: Option<String>,
    /// Optional: document tokens per source (EOS and padding excluded), both splits.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tokens_per_source: BTreeMap<String, u64>,
    /// Optional: documents per split.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub documents: BTreeMap<String, u64>,
    /// Optional: how the sequences were packed (mode, plus_one,
    /// sequence_tokens, shuffle, seed, val_fraction, format).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packing: Option<serde_json::Value>,
}

impl Manifest {
    /// Read and parse `path` (at most [`MAX_MANIFEST_FILE`] bytes), then
    /// [`Manifest::check`] it.
    pub fn read(path: &Path) -> Result<Manifest> {
        let bytes = read_file_limited(path, MAX_MANIFEST_FILE)?;
        let m: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| FormatError::invalid(path.display(), format!("not a {MANIFEST_FORMAT} manifest: {e}")))?;
        m.check().map_err(|reason| FormatError::invalid(path.display(), reason))?;
        Ok(m)
    }

    /// What a manifest must hold whatever its shards: the format name, and
    /// EOS (and BOS) inside the vocabulary.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.format != MANIFEST_FORMAT {
            return Err(format!("format is {:?}, expected {MANIFEST_FORMAT:?}", self.format));
        }
        if self.eos_id as usize >= self.vocab_size {
            return Err(format!("eos_id {} is outside vocab_size {}", self.eos_id, self.vocab_size));
        }
        if let Some(b) = self.bos_id.filter(|&b| b as usize >= self.vocab_size) {
            return Err(format!("bos_id {b} is outside vocab_size {}", self.vocab_size));
        }
        Ok(())
    }

    /// The entry listing `file` (a name relative to the shard directory).
    pub fn entry(&self, file: &str) -> Option<&ShardEntry> {
        self.shards.iter().find(|e| e.file == file)
    }
}

/// The 1024-byte llm.c header for `n` tokens.
pub fn llmc_header(n: usize, dtype: TokenDtype) -> std::result::Result<[u8; HEADER_BYTES], String> {
    let n = i32::try_from(n).map_err(|_| format!("{n} tokens do not fit one llm.c shard (int32 count); lower shard_tokens"))?;
    let (magic, version) = match dtype {
        TokenDtype::Uint16 => (MAGIC_U16, VERSION_U16),
        TokenDtype::Uint32 => (MAGIC_U32, VERSION_U32),
    };
    let mut h = [0u8; HEADER_BYTES];
    h[0..4].copy_from_slice(&magic.to_le_bytes());
    h[4..8].copy_from_slice(&version.to_le_bytes());
    h[8..12].copy_from_slice(&n.to_le_bytes());
    Ok(h)
}

/// Append `ids` at `dtype` width. The caller guarantees that every id fits
/// (ids below a vocabulary of at most 65,536 for uint16): the hot path of
/// the packer does not check each one. [`llmc_bytes`] does.
pub fn push_tokens(out: &mut Vec<u8>, ids: &[u32], dtype: TokenDtype) {
    match dtype {
        TokenDtype::Uint16 => ids.iter().for_each(|&t| out.extend_from_slice(&(t as u16).to_le_bytes())),
        TokenDtype::Uint32 => ids.iter().for_each(|&t| out.extend_from_slice(&t.to_le_bytes())),
    }
}

/// A whole llm.c shard: header and tokens, each checked to fit `dtype`.
pub fn llmc_bytes(tokens: &[u32], dtype: TokenDtype) -> std::result::Result<Vec<u8>, String> {
    if dtype == TokenDtype::Uint16 {
        if let Some(t) = tokens.iter().find(|&&t| t > u16::MAX as u32) {
            return Err(format!("token {t} does not fit uint16"));
        }
    }
    let mut out = Vec::with_capacity(HEADER_BYTES + tokens.len() * dtype.width());
    out.extend_from_slice(&llmc_header(tokens.len(), dtype)?);
    push_tokens(&mut out, tokens, dtype);
    Ok(out)
}

/// Megatron `.idx` bytes for sequences of the given lengths.
pub fn megatron_idx(lengths: &[u32], dtype: TokenDtype) -> Vec<u8> {
    let mut out = Vec::with_capacity(MEGATRON_HEADER_BYTES + lengths.len() * 20 + 8);
    out.extend_from_slice(MEGATRON_MAGIC);
    out.extend_from_slice(&1u64.to_le_bytes());
    out.push(match dtype {
        TokenDtype::Uint16 => 8,
        TokenDtype::Uint32 => 4, // int32: Megatron has no uint32 code
    });
    out.extend_from_slice(&(lengths.len() as u64).to_le_bytes());
    out.extend_from_slice(&(lengths.len() as u64 + 1).to_le_bytes());
    for &l in lengths {
        out.extend_from_slice(&(l as i32).to_le_bytes());
    }
    let mut ptr = 0i64;
    for &l in lengths {
        out.extend_from_slice(&ptr.to_le_bytes());
        ptr += l as i64 * dtype.width() as i64;
    }
    for i in 0..=lengths.len() as i64 {
        out.extend_from_slice(&i.to_le_bytes());
    }
    out
}

/// `<shard>.bounds`: where the document starts of `shard` are listed.
pub fn bounds_path(shard: &Path) -> PathBuf {
    let mut n = shard.as_os_str().to_os_string();
    n.push(".bounds");
    PathBuf::from(n)
}

/// `<shard>.bounds` bytes for document starts (token offsets into the shard).
pub fn bounds_bytes(starts: &[u64]) -> Vec<u8> {
    starts.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&sha2::Sha256::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A streaming SHA-256 (of a shard written piece by piece).
#[derive(Default)]
pub struct Sha256(sha2::Sha256);

impl Sha256 {
    pub fn update(&mut self, b: &[u8]) {
        self.0.update(b)
    }
    pub fn hex(self) -> String {
        hex(&self.0.finalize())
    }
}

/// Resolve `rel`, a file name read from a manifest (or a checkpoint),
/// inside `dir`: it must be relative, made of plain components (no `..`,
/// `.`, root or empty parts), and, once every symlink is resolved, a regular
/// file still inside `dir`. A manifest comes from a shared filesystem and
/// must never make sluice open (or copy into a run) a file elsewhere
/// (`/etc/shadow`, `../../secret`). Returns the resolved path.
pub fn confined(dir: &Path, rel: &str) -> std::result::Result<PathBuf, String> {
    let plain = !rel.is_empty()
        && !rel.split('/').any(|c| c.is_empty() || c == "." || c == "..")
        && !rel.contains(['\\', '\0'])
        && Path::new(rel).components().all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return Err(format!("{rel:?} must be a relative path of plain components inside the shard directory"));
    }
    let root = dir.canonicalize().map_err(|e| format!("{}: {e}", dir.display()))?;
    let full = root.join(rel).canonicalize().map_err(|e| format!("{rel:?}: {e}"))?;
    if !full.starts_with(&root) {
        return Err(format!("{rel:?} resolves to {}, outside the shard directory {}", full.display(), root.display()));
    }
    let meta = std::fs::metadata(&full).map_err(|e| format!("{rel:?}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{rel:?} is not a regular file"));
    }
    Ok(full)
}

fn le_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

/// Token ids of a little-endian body of `width`-byte tokens (a multiple of
/// `width` long; a trailing partial token is ignored, callers check sizes).
fn decode_tokens(body: &[u8], width: usize) -> Vec<u32> {
    if width == 2 {
        body.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]) as u32).collect()
    } else {
        body.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    }
}

/// A parsed llm.c shard.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmcShard {
    pub dtype: TokenDtype,
    pub tokens: Vec<u32>,
}

/// Parse and check an llm.c shard: magic, version, and that the header's
/// count matches the file length. `name` names the file in errors.
pub fn parse_llmc(name: &str, bytes: &[u8]) -> Result<LlmcShard> {
    let bad = |reason: String| FormatError::invalid(name, reason);
    if bytes.len() < HEADER_BYTES {
        return Err(bad(format!("file has {} bytes, shorter than the {HEADER_BYTES}-byte llm.c header", bytes.len())));
    }
    let h = |i: usize| le_i32(bytes, i * 4).unwrap_or_default();
    let (magic, version, n) = (h(0), h(1), h(2));
    let dtype = match (magic, version) {
        (MAGIC_U16, VERSION_U16) => TokenDtype::Uint16,
        (MAGIC_U32, VERSION_U32) => TokenDtype::Uint32,
        (MAGIC_U16, v) | (MAGIC_U32, v) => return Err(bad(format!("llm.c magic {magic} with unsupported version {v}"))),
        _ => return Err(bad(format!("bad magic {magic} (expected {MAGIC_U16} or {MAGIC_U32}): not an llm.c shard"))),
    };
    if n < 0 {
        return Err(bad(format!("negative token count {n} in header")));
    }
    let width = dtype.width();
    let expected = HEADER_BYTES as u64 + n as u64 * width as u64;
    if bytes.len() as u64 != expected {
        return Err(bad(format!(
            "header says {n} tokens of {width} bytes ({expected} bytes in all) but the file has {} bytes",
            bytes.len()
        )));
    }
    Ok(LlmcShard { dtype, tokens: decode_tokens(&bytes[HEADER_BYTES..], width) })
}

/// A parsed Megatron `.idx`: token width and sequence lengths.
#[derive(Debug, Clone, PartialEq)]
pub struct MegatronIdx {
    /// Bytes per token (2: uint16, 4: int32).
    pub width: usize,
    pub lengths: Vec<u32>,
}

impl MegatronIdx {
    /// Tokens in all sequences.
    pub fn total_tokens(&self) -> u64 {
        self.lengths.iter().map(|&l| l as u64).sum()
    }
}

/// Parse and check a Megatron `.idx` (see the module docs): magic, version,
/// dtype code, that the counts fit the file and that no length is negative.
/// Never panics on a short or corrupt file.
pub fn parse_megatron_idx(name: &str, b: &[u8]) -> Result<MegatronIdx> {
    const HEAD: usize = MEGATRON_HEADER_BYTES;
    let bad = |reason: String| FormatError::invalid(name, reason);
    if b.len() < HEAD || !b.starts_with(MEGATRON_MAGIC) {
        return Err(bad(format!("not a Megatron index (bad magic, or {} bytes, shorter than its {HEAD}-byte header)", b.len())));
    }
    let at = |i: usize| le_u64(b, i).ok_or_else(|| bad(format!("truncated at byte {i}")));
    let version = at(9)?;
    if version != 1 {
        return Err(bad(format!("index version {version} is not supported (expected 1)")));
    }
    let width = match b[17] {
        8 => 2,
        4 => 4,
        c => return Err(bad(format!("dtype code {c} not supported (8: uint16, 4: int32)"))),
    };
    let (n, docs) = (at(18)?, at(26)?);
    // sizes: n lengths (4 bytes), n pointers (8), docs document indices (8)
    let need = n.checked_mul(12).and_then(|x| docs.checked_mul(8).and_then(|y| x.checked_add(y))).and_then(|x| x.checked_add(HEAD as u64));
    if need != Some(b.len() as u64) {
        return Err(bad(format!(
            "the header says {n} sequences and {docs} document indices, which need {} bytes, but the file has {}",
            need.map_or("more than 2^64".to_string(), |x| x.to_string()),
            b.len()
        )));
    }
    let mut lengths = Vec::with_capacity(n as usize);
    for (i, c) in b[HEAD..].chunks_exact(4).take(n as usize).enumerate() {
        let l = i32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        lengths.push(u32::try_from(l).map_err(|_| bad(format!("sequence {i} has negative length {l}")))?);
    }
    Ok(MegatronIdx { width, lengths })
}

/// Parse `<shard>.bounds` of a shard of `tokens` tokens: u64 LE offsets,
/// strictly increasing, none past the end of the shard.
pub fn parse_bounds(name: &str, bytes: &[u8], tokens: u64) -> Result<Vec<u64>> {
    let bad = |reason: String| FormatError::invalid(name, reason);
    if !bytes.len().is_multiple_of(8) {
        return Err(bad(format!("length {} is not a multiple of 8", bytes.len())));
    }
    let mut out = Vec::with_capacity(bytes.len() / 8);
    for (i, c) in bytes.chunks_exact(8).enumerate() {
        let off = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        if off > tokens {
            return Err(bad(format!("document start {i} ({off}) is past the shard's {tokens} tokens")));
        }
        if out.last().is_some_and(|&prev| off <= prev) {
            return Err(bad(format!("document start {i} ({off}) does not come after the one before it")));
        }
        out.push(off);
    }
    Ok(out)
}

/// Read `<shard>.bounds` beside `shard` (a shard of `tokens` tokens), if
/// there is one: resolved inside the shard's directory (a link out of it is
/// refused), at most one offset per token (plus one) long, and checked by
/// [`parse_bounds`].
pub fn read_bounds(shard: &Path, tokens: u64) -> Result<Option<Vec<u64>>> {
    let path = bounds_path(shard);
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(None);
    }
    let name = path.display().to_string();
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let parent = match shard.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let resolved = confined(parent, &file).map_err(|reason| FormatError::invalid(&name, reason))?;
    let bytes = read_file_limited(&resolved, tokens.saturating_add(1).saturating_mul(8))?;
    parse_bounds(&name, &bytes, tokens).map(Some)
}

/// What the manifest says about a shard being read: the manifest, and the
/// shard's entry when it lists the shard.
#[derive(Debug, Clone, Copy)]
pub struct Listing<'a> {
    pub manifest: &'a Manifest,
    pub entry: Option<&'a ShardEntry>,
}

impl Listing<'_> {
    /// The entry's size against the file's, before the file is read:
    /// `header` bytes plus the entry's tokens at the manifest's width.
    fn check_size(&self, path: &Path, header: u64) -> Result<()> {
        let Some(e) = self.entry else { return Ok(()) };
        let width = self.manifest.dtype.width() as u64;
        let want = e.tokens.checked_mul(width).and_then(|b| b.checked_add(header));
        let got = std::fs::metadata(path).map_err(|err| FormatError::io(path, err))?.len();
        if want != Some(got) {
            return Err(FormatError::invalid(
                path.display(),
                format!(
                    "file has {got} bytes but the manifest's {} {:?} tokens need {}",
                    e.tokens,
                    self.manifest.dtype,
                    want.map_or("more than 2^64".to_string(), |w| w.to_string())
                ),
            ));
        }
        Ok(())
    }

    fn check_sha256(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        if let Some(want) = self.entry.and_then(|e| e.sha256.as_ref()) {
            let got = sha256_hex(bytes);
            if !got.eq_ignore_ascii_case(want) {
                return Err(FormatError::invalid(path.display(), format!("sha256 is {got} but the manifest says {want}")));
            }
        }
        Ok(())
    }

    /// Token count against the entry, width against the manifest, and
    /// every token inside the vocabulary.
    fn check_tokens(&self, path: &Path, width: usize, tokens: &[u32]) -> Result<()> {
        let bad = |reason: String| FormatError::invalid(path.display(), reason);
        let m = self.manifest;
        if width != m.dtype.width() {
            return Err(bad(format!("has {width}-byte tokens but the manifest says {:?}", m.dtype)));
        }
        if let Some(e) = self.entry {
            if e.tokens != tokens.len() as u64 {
                return Err(bad(format!("has {} tokens but the manifest says {}", tokens.len(), e.tokens)));
            }
        }
        if let Some((i, &t)) = tokens.iter().enumerate().find(|(_, &t)| t as usize >= m.vocab_size) {
            return Err(bad(format!("token {t} at position {i} is outside vocab_size {}", m.vocab_size)));
        }
        Ok(())
    }
}

/// Read an llm.c shard, checked against its manifest when given one: the
/// size the entry implies (before reading), the SHA-256, the header, the
/// token count, the width and that every token is inside the vocabulary.
pub fn read_llmc(path: &Path, listing: Option<Listing<'_>>) -> Result<LlmcShard> {
    if let Some(l) = &listing {
        l.check_size(path, HEADER_BYTES as u64)?;
    }
    let bytes = read_file_limited(path, MAX_SHARD_FILE)?;
    if let Some(l) = &listing {
        l.check_sha256(path, &bytes)?;
    }
    let shard = parse_llmc(&path.display().to_string(), &bytes)?;
    drop(bytes);
    if let Some(l) = &listing {
        l.check_tokens(path, shard.dtype.width(), &shard.tokens)?;
    }
    Ok(shard)
}

/// A Megatron `.bin` with its index.
#[derive(Debug, Clone, PartialEq)]
pub struct MegatronShard {
    pub index: MegatronIdx,
    pub tokens: Vec<u32>,
}

/// Read a Megatron `.bin` and its `.idx`, checked against each other (the
/// index's tokens fill the `.bin` exactly) and, when given one, against the
/// manifest as [`read_llmc`] does.
pub fn read_megatron(bin: &Path, idx: &Path, listing: Option<Listing<'_>>) -> Result<MegatronShard> {
    let index = parse_megatron_idx(&idx.display().to_string(), &read_file_limited(idx, MAX_SHARD_FILE)?)?;
    if let Some(l) = &listing {
        l.check_size(bin, 0)?;
    }
    let bytes = read_file_limited(bin, MAX_SHARD_FILE)?;
    if let Some(l) = &listing {
        l.check_sha256(bin, &bytes)?;
    }
    let total = index.total_tokens();
    if total.checked_mul(index.width as u64) != Some(bytes.len() as u64) {
        return Err(FormatError::invalid(
            bin.display(),
            format!("the index {} says {total} tokens of {} bytes but the file has {} bytes", idx.display(), index.width, bytes.len()),
        ));
    }
    let tokens = decode_tokens(&bytes, index.width);
    drop(bytes);
    if let Some(l) = &listing {
        l.check_tokens(bin, index.width, &tokens)?;
    }
    Ok(MegatronShard { index, tokens })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(vocab: usize, shards: Vec<ShardEntry>) -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT.into(),
            vocab_size: vocab,
            eos_id: 0,
            bos_id: None,
            dtype: TokenDtype::Uint16,
            tokenizer: None,
            seq_len: None,
            shards,
            tokenizer_sha256: None,
            recipe_hash: None,
            tokens_per_source: Default::default(),
            documents: Default::default(),
            packing: None,
        }
    }

    #[test]
    fn llmc_round_trip_and_header_checks() {
        for (dtype, ids) in [(TokenDtype::Uint16, vec![0u32, 1, 65535]), (TokenDtype::Uint32, vec![70000, 0, 5])] {
            let b = llmc_bytes(&ids, dtype).unwrap();
            assert_eq!(parse_llmc("x", &b).unwrap(), LlmcShard { dtype, tokens: ids.clone() });
            let e = parse_llmc("x", &b[..b.len() - 1]).unwrap_err().to_string();
            assert!(e.starts_with("x: header says 3 tokens"), "{e}");
            let mut bad = b.clone();
            bad[0] = 1;
            assert!(parse_llmc("x", &bad).unwrap_err().to_string().contains("bad magic"));
            let mut bad = b.clone();
            bad[4] = 9;
            assert!(parse_llmc("x", &bad).unwrap_err().to_string().contains("unsupported version 9"));
            let mut neg = b.clone();
            neg[8..12].copy_from_slice(&(-1i32).to_le_bytes());
            assert!(parse_llmc("x", &neg).unwrap_err().to_string().contains("negative token count"));
        }
        assert!(parse_llmc("x", &[0; 10]).unwrap_err().to_string().contains("shorter than"));
        assert!(llmc_bytes(&[70000], TokenDtype::Uint16).unwrap_err().contains("does not fit uint16"));
    }

    /// Every truncation and every single-byte corruption of a small shard
    /// is an error naming the file, or (for a corrupted token) a shard that
    /// still parses; never a panic.
    #[test]
    fn llmc_truncated_or_corrupted_at_every_offset_is_an_error_never_a_panic() {
        let b = llmc_bytes(&[1, 2, 3, 4, 5], TokenDtype::Uint16).unwrap();
        for cut in 0..b.len() {
            let e = parse_llmc("s.bin", &b[..cut]).unwrap_err().to_string();
            assert!(e.starts_with("s.bin: "), "{cut}: {e}");
        }
        for at in (0..12).chain(HEADER_BYTES..b.len()) {
            for v in [0u8, 0x80, 0xff] {
                let mut c = b.clone();
                c[at] = v;
                let _ = parse_llmc("s.bin", &c);
            }
        }
    }

    #[test]
    fn megatron_index_layout() {
        let idx = megatron_idx(&[3, 5], TokenDtype::Uint16);
        assert_eq!(&idx[..9], b"MMIDIDX\x00\x00");
        assert_eq!(u64::from_le_bytes(idx[9..17].try_into().unwrap()), 1);
        assert_eq!(idx[17], 8);
        assert_eq!(u64::from_le_bytes(idx[18..26].try_into().unwrap()), 2);
        assert_eq!(u64::from_le_bytes(idx[26..34].try_into().unwrap()), 3);
        assert_eq!(i32::from_le_bytes(idx[38..42].try_into().unwrap()), 5);
        // pointers: 0 then 3 tokens * 2 bytes
        assert_eq!(i64::from_le_bytes(idx[50..58].try_into().unwrap()), 6);
        assert_eq!(idx.len(), 34 + 2 * 4 + 2 * 8 + 3 * 8);
    }

    #[test]
    fn megatron_index_truncated_or_corrupted_at_every_offset_is_an_error_never_a_panic() {
        let idx = megatron_idx(&[3, 5], TokenDtype::Uint16);
        assert_eq!(parse_megatron_idx("x.idx", &idx).unwrap(), MegatronIdx { width: 2, lengths: vec![3, 5] });
        for cut in 0..idx.len() {
            let e = parse_megatron_idx("x.idx", &idx[..cut]).unwrap_err().to_string();
            assert!(e.starts_with("x.idx: "), "{cut}: {e}");
        }
        for at in 0..idx.len() {
            for v in [0u8, 0x7f, 0x80, 0xff] {
                let mut c = idx.clone();
                c[at] = v;
                if let Err(e) = parse_megatron_idx("x.idx", &c) {
                    assert!(e.to_string().starts_with("x.idx: "), "{e}");
                }
            }
        }
        // a header claiming 2^62 sequences
        let mut huge = idx.clone();
        huge[18..26].copy_from_slice(&(1u64 << 62).to_le_bytes());
        assert!(parse_megatron_idx("x.idx", &huge).unwrap_err().to_string().contains("need"));
        let mut neg = idx.clone();
        neg[34..38].copy_from_slice(&(-2i32).to_le_bytes());
        assert!(parse_megatron_idx("x.idx", &neg).unwrap_err().to_string().contains("negative length -2"));
    }

    #[test]
    fn bounds_must_increase_and_stay_inside_the_shard() {
        assert_eq!(parse_bounds("b", &bounds_bytes(&[0, 3, 7]), 7).unwrap(), vec![0, 3, 7]);
        assert!(parse_bounds("b", &bounds_bytes(&[0, 8]), 7).unwrap_err().to_string().contains("past the shard's 7 tokens"));
        assert!(parse_bounds("b", &bounds_bytes(&[3, 3]), 7).unwrap_err().to_string().contains("does not come after"));
        let b = bounds_bytes(&[0, 3]);
        for cut in 0..b.len() {
            let r = parse_bounds("b", &b[..cut], 7);
            assert_eq!(r.is_ok(), cut % 8 == 0, "{cut}");
        }
    }

    #[test]
    fn read_llmc_checks_the_manifest_entry() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("train-0.bin");
        let bytes = llmc_bytes(&[1, 2, 3, 0], TokenDtype::Uint16).unwrap();
        std::fs::write(&p, &bytes).unwrap();
        let entry = ShardEntry { file: "train-0.bin".into(), split: "train".into(), tokens: 4, sha256: Some(sha256_hex(&bytes)) };
        let m = manifest(4, vec![entry.clone()]);
        let l = |m| Some(Listing { manifest: m, entry: m.entry("train-0.bin") });
        assert_eq!(read_llmc(&p, l(&m)).unwrap().tokens, vec![1, 2, 3, 0]);
        let small = manifest(3, vec![entry.clone()]);
        let e = read_llmc(&p, l(&small)).unwrap_err().to_string();
        assert!(e.contains("outside vocab_size 3") && e.contains("train-0.bin"), "{e}");
        let more = manifest(4, vec![ShardEntry { tokens: 5, ..entry.clone() }]);
        let e = read_llmc(&p, l(&more)).unwrap_err().to_string();
        assert!(e.contains("manifest's 5 Uint16 tokens need 1034"), "{e}");
        let other = manifest(4, vec![ShardEntry { sha256: Some("00".repeat(32)), ..entry.clone() }]);
        assert!(read_llmc(&p, l(&other)).unwrap_err().to_string().contains("sha256 is"));
        let mut wide = manifest(4, vec![]);
        wide.dtype = TokenDtype::Uint32;
        assert!(read_llmc(&p, Some(Listing { manifest: &wide, entry: None })).unwrap_err().to_string().contains("2-byte tokens"));
    }

    #[test]
    fn read_megatron_checks_index_against_bin() {
        let dir = tempfile::tempdir().unwrap();
        let (bin, idx) = (dir.path().join("a.bin"), dir.path().join("a.idx"));
        let mut b = Vec::new();
        push_tokens(&mut b, &[1, 2, 3, 4, 5], TokenDtype::Uint16);
        std::fs::write(&bin, &b).unwrap();
        std::fs::write(&idx, megatron_idx(&[2, 3], TokenDtype::Uint16)).unwrap();
        assert_eq!(read_megatron(&bin, &idx, None).unwrap().tokens, vec![1, 2, 3, 4, 5]);
        std::fs::write(&bin, &b[..9]).unwrap();
        let e = read_megatron(&bin, &idx, None).unwrap_err().to_string();
        assert!(e.contains("a.bin") && e.contains("says 5 tokens"), "{e}");
    }

    #[test]
    fn confined_refuses_escapes_and_accepts_plain_names() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("shards");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("a.bin"), b"x").unwrap();
        std::fs::write(dir.join("sub/b.bin"), b"x").unwrap();
        std::fs::write(root.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(root.path().join("secret"), dir.join("link.bin")).unwrap();
        assert!(confined(&dir, "a.bin").is_ok());
        assert!(confined(&dir, "sub/b.bin").is_ok());
        for bad in ["/etc/passwd", "../secret", "sub/../a.bin", "./a.bin", "", "sub//b.bin", "link.bin", "sub", "missing.bin", "a\\b"] {
            assert!(confined(&dir, bad).is_err(), "{bad}");
        }
        assert!(confined(&dir, "link.bin").unwrap_err().contains("outside the shard directory"));
    }

    #[test]
    fn manifest_without_extras_reads_and_writes_without_them() {
        let m: Manifest = serde_json::from_str(r#"{"format":"sluice-shards/1","vocab_size":10,"eos_id":0,"bos_id":null,"dtype":"uint16","seq_len":8,"shards":[{"file":"a.bin","split":"train","tokens":3}]}"#).unwrap();
        let s = serde_json::to_string(&m).unwrap();
        assert!(!s.contains("tokens_per_source") && !s.contains("packing"));
        assert!(serde_json::from_str::<Manifest>(&s.replace("\"seq_len\"", "\"extra\":1,\"seq_len\"")).is_err());
    }

    /// A truncated or corrupt manifest is an error naming it.
    #[test]
    fn manifest_read_names_the_file_on_every_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("manifest.json");
        let good = serde_json::to_vec(&manifest(10, vec![])).unwrap();
        std::fs::write(&p, &good).unwrap();
        Manifest::read(&p).unwrap();
        for cut in 0..good.len() {
            std::fs::write(&p, &good[..cut]).unwrap();
            let e = Manifest::read(&p).unwrap_err().to_string();
            assert!(e.contains("manifest.json"), "{cut}: {e}");
        }
        let mut m = manifest(10, vec![]);
        m.eos_id = 10;
        std::fs::write(&p, serde_json::to_vec(&m).unwrap()).unwrap();
        assert!(Manifest::read(&p).unwrap_err().to_string().contains("eos_id 10 is outside vocab_size 10"));
    }
}
