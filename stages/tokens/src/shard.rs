//! Shard files: llm.c token shards, Megatron `.bin/.idx`, `manifest.json`.
//!
//! llm.c: a header of 256 little-endian int32 (`[0]` magic, `[1]` version,
//! `[2]` token count), then the tokens: magic 20240520 / version 1 with
//! uint16 tokens, 20240801 / version 7 with uint32 tokens (vocabularies over
//! 65,535). Beside each shard, `<shard>.bounds` holds the document starts
//! as little-endian u64 offsets into the shard, which the trainer uses to
//! mask attention across documents (trainer/src/shards.rs reads both).
//!
//! Megatron (`MMapIndexedDataset`): `<name>.bin` is the raw tokens, `<name>.idx`
//! is `MMIDIDX\0\0`, u64 version 1, u8 dtype code, u64 sequence count, u64
//! document-index count, int32 sequence lengths, int64 byte pointers, int64
//! document indices. Each packed sequence is one Megatron sequence and one
//! document.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sluice_pipeline::output::AtomicFile;
use sluice_pipeline::{Error, Result};

use crate::util::Sha256;

pub const MAGIC_U16: i32 = 20240520;
pub const VERSION_U16: i32 = 1;
pub const MAGIC_U32: i32 = 20240801;
pub const VERSION_U32: i32 = 7;
pub const HEADER_BYTES: usize = 1024;
pub const MANIFEST_FORMAT: &str = "sluice-shards/1";

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
    pub fn width(self) -> usize {
        match self {
            TokenDtype::Uint16 => 2,
            TokenDtype::Uint32 => 4,
        }
    }
}

/// One entry of the manifest's `shards` (the trainer's `ShardEntry`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardEntry {
    pub file: String,
    pub split: String,
    pub tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// `manifest.json`: the trainer's `sluice-shards/1` keys, then optional keys
/// this crate adds (all `skip_serializing_if` empty, so a manifest without
/// them is still valid).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub vocab_size: usize,
    pub eos_id: u32,
    #[serde(default)]
    pub bos_id: Option<u32>,
    pub dtype: TokenDtype,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<String>,
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
    /// Optional: how the sequences were packed (mode, plus_one, seed, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packing: Option<serde_json::Value>,
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::io(path, e)
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

/// Append `ids` at `dtype` width.
pub fn push_tokens(out: &mut Vec<u8>, ids: &[u32], dtype: TokenDtype) {
    match dtype {
        TokenDtype::Uint16 => ids.iter().for_each(|&t| out.extend_from_slice(&(t as u16).to_le_bytes())),
        TokenDtype::Uint32 => ids.iter().for_each(|&t| out.extend_from_slice(&t.to_le_bytes())),
    }
}

/// Write `bytes` atomically and return its SHA-256.
pub fn write_hashed(path: &Path, parts: &[&[u8]]) -> Result<String> {
    let mut f = AtomicFile::create(path)?;
    let mut h = Sha256::default();
    for p in parts {
        f.write_all(p).map_err(|e| io(path, e))?;
        h.update(p);
    }
    f.commit()?;
    Ok(h.hex())
}

/// Megatron `.idx` bytes for sequences of the given lengths.
pub fn megatron_idx(lengths: &[u32], dtype: TokenDtype) -> Vec<u8> {
    let mut out = Vec::with_capacity(34 + lengths.len() * 20);
    out.extend_from_slice(b"MMIDIDX\x00\x00");
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

/// Resolve `rel`, a file name read from a manifest, inside `dir`: it must be
/// relative, made of plain components (no `..`, `.`, root or empty parts),
/// and, once every symlink is resolved, a regular file still inside `dir`. A
/// manifest comes from a shared filesystem and must never make sluice open a
/// file elsewhere (`/etc/shadow`, `../../secret`). The trainer's reader
/// (`sluice_train::shards::confined`) applies the same rule.
pub fn confined(dir: &Path, rel: &str) -> std::result::Result<std::path::PathBuf, String> {
    let plain = !rel.is_empty()
        && !rel.split('/').any(|c| c.is_empty() || c == "." || c == "..")
        && !rel.contains(['\\', '\0'])
        && Path::new(rel).components().all(|c| matches!(c, std::path::Component::Normal(_)));
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

/// A parsed Megatron `.idx`: token width and sequence lengths.
#[derive(Debug, Clone, PartialEq)]
pub struct MegatronIdx {
    /// Bytes per token (2: uint16, 4: int32).
    pub width: usize,
    pub lengths: Vec<u32>,
}

/// Parse and check a Megatron `.idx` (see the module docs): magic, version,
/// dtype code, and that the counts fit the file. Never panics on a short or
/// corrupt file.
pub fn parse_megatron_idx(name: &str, b: &[u8]) -> std::result::Result<MegatronIdx, String> {
    const HEAD: usize = 34;
    if b.len() < HEAD || &b[..9] != b"MMIDIDX\x00\x00" {
        return Err(format!("{name}: not a Megatron index (bad magic or shorter than its {HEAD}-byte header)"));
    }
    let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    let version = u64_at(9);
    if version != 1 {
        return Err(format!("{name}: index version {version} is not supported (expected 1)"));
    }
    let width = match b[17] {
        8 => 2,
        4 => 4,
        c => return Err(format!("{name}: dtype code {c} not supported (8: uint16, 4: int32)")),
    };
    let (n, docs) = (u64_at(18), u64_at(26));
    // sizes: n lengths (4 bytes), n pointers (8), docs document indices (8)
    let need = n.checked_mul(12).and_then(|x| docs.checked_mul(8).and_then(|y| x.checked_add(y))).and_then(|x| x.checked_add(HEAD as u64));
    if need != Some(b.len() as u64) {
        return Err(format!(
            "{name}: the header says {n} sequences and {docs} document indices, which need {} bytes, but the file has {}",
            need.map_or("more than 2^64".to_string(), |x| x.to_string()),
            b.len()
        ));
    }
    let n = n as usize;
    let mut lengths = Vec::with_capacity(n);
    for i in 0..n {
        let l = i32::from_le_bytes(b[HEAD + 4 * i..HEAD + 4 * i + 4].try_into().expect("4 bytes"));
        lengths.push(u32::try_from(l).map_err(|_| format!("{name}: sequence {i} has negative length {l}"))?);
    }
    Ok(MegatronIdx { width, lengths })
}

/// A parsed llm.c shard.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmcShard {
    pub dtype: TokenDtype,
    pub tokens: Vec<u32>,
}

/// Parse and check an llm.c shard: magic, version, and that the header's
/// count matches the file length.
pub fn parse_llmc(name: &str, bytes: &[u8]) -> std::result::Result<LlmcShard, String> {
    if bytes.len() < HEADER_BYTES {
        return Err(format!("{name}: {} bytes, shorter than the 1024-byte header", bytes.len()));
    }
    let h = |i: usize| i32::from_le_bytes(bytes[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
    let dtype = match (h(0), h(1)) {
        (MAGIC_U16, VERSION_U16) => TokenDtype::Uint16,
        (MAGIC_U32, VERSION_U32) => TokenDtype::Uint32,
        (m, v) => {
            return Err(format!("{name}: magic {m} version {v} is not llm.c ({MAGIC_U16}/{VERSION_U16} or {MAGIC_U32}/{VERSION_U32})"))
        }
    };
    let n = h(2);
    if n < 0 {
        return Err(format!("{name}: negative token count {n}"));
    }
    let want = HEADER_BYTES + n as usize * dtype.width();
    if bytes.len() != want {
        return Err(format!("{name}: header says {n} tokens ({want} bytes) but the file has {} bytes", bytes.len()));
    }
    let body = &bytes[HEADER_BYTES..];
    let tokens = match dtype {
        TokenDtype::Uint16 => body.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]) as u32).collect(),
        TokenDtype::Uint32 => body.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
    };
    Ok(LlmcShard { dtype, tokens })
}

/// Read `<shard>.bounds` (u64 LE offsets).
pub fn parse_bounds(bytes: &[u8]) -> std::result::Result<Vec<u64>, String> {
    if bytes.len() % 8 != 0 {
        return Err(format!("bounds length {} is not a multiple of 8", bytes.len()));
    }
    Ok(bytes.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8"))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llmc_round_trip_and_header_checks() {
        for (dtype, ids) in [(TokenDtype::Uint16, vec![0u32, 1, 65535]), (TokenDtype::Uint32, vec![70000, 0, 5])] {
            let mut b = llmc_header(ids.len(), dtype).unwrap().to_vec();
            push_tokens(&mut b, &ids, dtype);
            let s = parse_llmc("x", &b).unwrap();
            assert_eq!(s, LlmcShard { dtype, tokens: ids.clone() });
            assert!(parse_llmc("x", &b[..b.len() - 1]).unwrap_err().contains("header says"));
            let mut bad = b.clone();
            bad[0] = 1;
            assert!(parse_llmc("x", &bad).unwrap_err().contains("not llm.c"));
        }
        assert!(parse_llmc("x", &[0; 10]).unwrap_err().contains("shorter"));
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
    fn megatron_index_round_trip_and_truncation_is_an_error() {
        let idx = megatron_idx(&[3, 5], TokenDtype::Uint16);
        assert_eq!(parse_megatron_idx("x.idx", &idx).unwrap(), MegatronIdx { width: 2, lengths: vec![3, 5] });
        // every truncation is a clear error, never a panic
        for cut in 0..idx.len() {
            let e = parse_megatron_idx("x.idx", &idx[..cut]).unwrap_err();
            assert!(e.starts_with("x.idx: "), "{e}");
        }
        // a header claiming 2^62 sequences
        let mut huge = idx.clone();
        huge[18..26].copy_from_slice(&(1u64 << 62).to_le_bytes());
        assert!(parse_megatron_idx("x.idx", &huge).unwrap_err().contains("need"));
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
        for bad in ["/etc/passwd", "../secret", "sub/../a.bin", "./a.bin", "", "sub//b.bin", "link.bin", "sub", "missing.bin"] {
            assert!(confined(&dir, bad).is_err(), "{bad}");
        }
        assert!(confined(&dir, "link.bin").unwrap_err().contains("outside the shard directory"));
    }

    #[test]
    fn manifest_without_extras_matches_the_trainer_shape() {
        let m: Manifest = serde_json::from_str(r#"{"format":"sluice-shards/1","vocab_size":10,"eos_id":0,"bos_id":null,"dtype":"uint16","seq_len":8,"shards":[{"file":"a.bin","split":"train","tokens":3}]}"#).unwrap();
        let s = serde_json::to_string(&m).unwrap();
        assert!(!s.contains("tokens_per_source") && !s.contains("packing"));
    }
}
