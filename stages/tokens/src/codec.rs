//! Token ids carried on a document between stages.
//!
//! The `tokenize` stage stores a document's ids in `metadata.tokens` and the
//! count in `attributes.tokens`, which the engine totals. The ids are base64
//! of little-endian integers: `u16:` then base64 of u16 when every id fits
//! (2.7 characters a token, every vocabulary up to 65,536), else base64 of
//! u32 (5.3 characters a token). A quarter or less of a JSON array's size,
//! which matters because a global stage keeps its documents on disk between
//! phases, and because one very large document must not need several copies
//! of its ids in memory: encoding writes the text straight from the ids, and
//! [`for_each_token_chunk`] decodes in small chunks without building the list.

use sluice_pipeline::Document;

pub const TOKENS_KEY: &str = "tokens";
/// Prefix of the u16 form.
const U16_PREFIX: &str = "u16:";

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Base64 of `bytes`, appended to `out` (standard alphabet, `=` padding).
fn b64_push(out: &mut String, bytes: &[u8]) {
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
}

#[cfg(test)]
fn b64_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    b64_push(&mut out, bytes);
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

/// Decode base64 `b` (a multiple of 4 characters, padding only at the end)
/// into `out`.
fn b64_decode_into(b: &[u8], last: bool, out: &mut Vec<u8>) -> Option<()> {
    if b.len() % 4 != 0 {
        return None;
    }
    let groups = b.len() / 4;
    for (g, q) in b.chunks(4).enumerate() {
        let pad = q.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !(last && g + 1 == groups)) {
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
    Some(())
}

#[cfg(test)]
fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    b64_decode_into(s.as_bytes(), true, &mut out)?;
    Some(out)
}

/// Store `ids` on the document.
pub fn set_tokens(doc: &mut Document, ids: &[u32]) {
    let narrow = ids.iter().all(|&t| t <= u16::MAX as u32);
    let width = if narrow { 2 } else { 4 };
    let mut out = String::with_capacity(U16_PREFIX.len() + (ids.len() * width).div_ceil(3) * 4);
    if narrow {
        out.push_str(U16_PREFIX);
    }
    // 3 ids at a time (6 or 12 bytes): whole base64 groups, so only the
    // last call can end in padding.
    let mut buf = Vec::with_capacity(12);
    for c in ids.chunks(3) {
        buf.clear();
        for &t in c {
            if narrow {
                buf.extend_from_slice(&(t as u16).to_le_bytes());
            } else {
                buf.extend_from_slice(&t.to_le_bytes());
            }
        }
        b64_push(&mut out, &buf);
    }
    doc.metadata.insert(TOKENS_KEY.into(), out.into());
    doc.attributes.insert(TOKENS_KEY.into(), ids.len() as f64);
}

fn missing(doc: &Document) -> String {
    format!("document {} has no `metadata.tokens`: put a `tokenize` stage (or `tokenizer_train` with `tokenize: true`) upstream", doc.id)
}

/// Call `f` with the document's ids in order, a few thousand at a time,
/// without building the whole list; returns the number of ids.
pub fn for_each_token_chunk(doc: &Document, mut f: impl FnMut(&[u32]) -> Result<(), String>) -> Result<u64, String> {
    let s = doc.meta_str(TOKENS_KEY).ok_or_else(|| missing(doc))?;
    let bad = || format!("document {}: `metadata.tokens` is not base64 of u16 or u32 ids", doc.id);
    let (body, width) = match s.strip_prefix(U16_PREFIX) {
        Some(b) => (b.as_bytes(), 2usize),
        None => (s.as_bytes(), 4usize),
    };
    if body.len() % 4 != 0 {
        return Err(bad());
    }
    // 4096 base64 groups = 12,288 bytes: a whole number of u16 and u32 ids.
    const GROUPS: usize = 4096;
    let (mut bytes, mut ids) = (Vec::with_capacity(GROUPS * 3), Vec::with_capacity(GROUPS * 3 / 2));
    let mut n = 0u64;
    let chunks = body.len().div_ceil(GROUPS * 4);
    for (i, c) in body.chunks(GROUPS * 4).enumerate() {
        bytes.clear();
        b64_decode_into(c, i + 1 == chunks, &mut bytes).ok_or_else(bad)?;
        if bytes.len() % width != 0 {
            return Err(bad());
        }
        ids.clear();
        if width == 2 {
            ids.extend(bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]) as u32));
        } else {
            ids.extend(bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])));
        }
        n += ids.len() as u64;
        f(&ids)?;
    }
    Ok(n)
}

/// The ids the `tokenize` stage stored, or a message saying what is wrong.
pub fn get_tokens(doc: &Document) -> Result<Vec<u32>, String> {
    // the recorded count only sizes the list (token_count falls back to this function)
    let n = doc.attributes.get(TOKENS_KEY).copied().filter(|&n| n >= 0.0).unwrap_or(0.0) as u64;
    let mut out = Vec::with_capacity(n.min(1 << 24) as usize);
    for_each_token_chunk(doc, |ids| {
        out.extend_from_slice(ids);
        Ok(())
    })?;
    Ok(out)
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
    fn wide_and_narrow_forms_and_chunked_decoding() {
        let mut d = Document::new("a", "x", Arc::from("s"));
        set_tokens(&mut d, &[1, 2, 65535]);
        assert!(d.meta_str(TOKENS_KEY).unwrap().starts_with("u16:"));
        set_tokens(&mut d, &[1, 65536]);
        assert!(!d.meta_str(TOKENS_KEY).unwrap().starts_with("u16:"));
        // more ids than one decoding chunk, both widths, odd counts
        for top in [60_000u32, 100_000] {
            let ids: Vec<u32> = (0..20_001u32).map(|i| (i * 7919) % top).collect();
            set_tokens(&mut d, &ids);
            let mut chunks = 0;
            let mut back = Vec::new();
            let n = for_each_token_chunk(&d, |c| {
                chunks += 1;
                back.extend_from_slice(c);
                Ok(())
            })
            .unwrap();
            assert_eq!((n, back), (ids.len() as u64, ids.clone()));
            assert!(chunks > 1);
        }
        // padding in the middle of the text is refused
        d.metadata.insert(TOKENS_KEY.into(), "u16:AQ==AQ==".into());
        assert!(get_tokens(&d).unwrap_err().contains("not base64"));
        d.metadata.insert(TOKENS_KEY.into(), "u16:AQA=".into());
        assert_eq!(get_tokens(&d).unwrap(), vec![1]);
    }

    #[test]
    fn missing_tokens_name_the_document() {
        let d = Document::new("doc-9", "x", Arc::from("s"));
        assert!(get_tokens(&d).unwrap_err().contains("doc-9"));
    }
}
