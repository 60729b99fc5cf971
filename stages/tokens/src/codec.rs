//! Token ids carried on a document between stages.
//!
//! The `tokenize` stage stores a document's ids in `metadata.tokens` as
//! base64 of little-endian u32 (5.3 characters a token, about a quarter of a
//! JSON array's size, which matters when a global stage spills documents to
//! disk) and the count in `attributes.tokens`, which the engine totals.

use sluice_pipeline::Document;

pub const TOKENS_KEY: &str = "tokens";

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        let k = c.len() + 1;
        for i in 0..4 {
            if i < k {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b64_value(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    for q in b.chunks(4) {
        let pad = q.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 {
            return None;
        }
        let mut n = 0u32;
        for &c in &q[..4 - pad] {
            n = n << 6 | b64_value(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// Store `ids` on the document.
pub fn set_tokens(doc: &mut Document, ids: &[u32]) {
    let mut bytes = Vec::with_capacity(ids.len() * 4);
    for id in ids {
        bytes.extend_from_slice(&id.to_le_bytes());
    }
    doc.metadata.insert(TOKENS_KEY.into(), b64_encode(&bytes).into());
    doc.attributes.insert(TOKENS_KEY.into(), ids.len() as f64);
}

/// The ids the `tokenize` stage stored, or a message saying what is wrong.
pub fn get_tokens(doc: &Document) -> Result<Vec<u32>, String> {
    let s = doc.meta_str(TOKENS_KEY).ok_or_else(|| {
        format!(
            "document {} has no `metadata.tokens`: put a `tokenize` stage (or `tokenizer_train` with `tokenize: true`) upstream",
            doc.id
        )
    })?;
    let bytes = b64_decode(s)
        .filter(|b| b.len() % 4 == 0)
        .ok_or_else(|| format!("document {}: `metadata.tokens` is not base64 of u32 ids", doc.id))?;
    Ok(bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// The token count (`attributes.tokens`) without decoding the ids.
pub fn token_count(doc: &Document) -> Result<u64, String> {
    match doc.attributes.get(TOKENS_KEY) {
        Some(&n) if n >= 0.0 => Ok(n as u64),
        _ => get_tokens(doc).map(|t| t.len() as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn ids_round_trip_through_metadata() {
        for ids in [vec![], vec![0], vec![1, 2], vec![u32::MAX, 0, 65535, 7], (0..1000).collect::<Vec<u32>>()] {
            let mut d = Document::new("a", "x", Arc::from("s"));
            set_tokens(&mut d, &ids);
            assert_eq!(get_tokens(&d).unwrap(), ids);
            assert_eq!(token_count(&d).unwrap(), ids.len() as u64);
            // and through JSON, as when a stage spills documents
            let back: Document = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
            assert_eq!(get_tokens(&back).unwrap(), ids);
        }
    }

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(b64_encode(b"Man"), "TWFu");
        assert_eq!(b64_encode(b"Ma"), "TWE=");
        assert_eq!(b64_encode(b"M"), "TQ==");
        assert_eq!(b64_decode("TWE=").unwrap(), b"Ma");
        assert!(b64_decode("TW!=").is_none());
    }

    #[test]
    fn missing_tokens_name_the_document() {
        let d = Document::new("doc-9", "x", Arc::from("s"));
        assert!(get_tokens(&d).unwrap_err().contains("doc-9"));
    }
}
