//! Token ids carried on a document between stages.
//!
//! The `tokenize` stage (or `tokenizer_train` with `tokenize: true`) sets a
//! document's ids as a typed field ([`sluice_pipeline::Tokens`], u16 when
//! every id fits, else u32) and their count in `attributes.tokens`, which
//! the engine totals. Writers write the ids to `metadata.tokens` only when
//! asked to (`tokens: true`). A document read back from such output carries
//! them as metadata text instead: the stages that need ids (`mix`, `pack`)
//! accept that form too, so a run can start from sluice's own output.

use sluice_pipeline::{Document, Tokens};

pub use sluice_pipeline::TOKENS_KEY;

/// Store `ids` on the document.
pub fn set_tokens(doc: &mut Document, ids: &[u32]) {
    doc.set_tokens(Tokens::from_ids(ids));
}

fn missing(doc: &Document) -> String {
    format!("document {} has no token ids: put a `tokenize` stage (or `tokenizer_train` with `tokenize: true`) upstream", doc.id)
}

/// The document's ids: the typed field, else `metadata.tokens` as sluice's
/// writers write it (`u16:` + base64 of u16, or base64 of u32).
pub fn tokens(doc: &Document) -> Result<Tokens, String> {
    if let Some(t) = &doc.tokens {
        return Ok(t.clone());
    }
    match doc.metadata.get(TOKENS_KEY) {
        None => Err(missing(doc)),
        Some(v) => v
            .as_str()
            .and_then(Tokens::from_text)
            .ok_or_else(|| format!("document {}: `metadata.tokens` is not base64 of u16 or u32 ids", doc.id)),
    }
}

/// The ids as a list, or a message saying what is wrong.
pub fn get_tokens(doc: &Document) -> Result<Vec<u32>, String> {
    tokens(doc).map(|t| t.to_vec())
}

/// The token count (`attributes.tokens`) without decoding the ids.
pub fn token_count(doc: &Document) -> Result<u64, String> {
    if let Some(t) = &doc.tokens {
        return Ok(t.len() as u64);
    }
    match doc.attributes.get(TOKENS_KEY) {
        Some(&n) if n >= 0.0 => Ok(n as u64),
        _ => tokens(doc).map(|t| t.len() as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn ids_are_typed_not_metadata() {
        for ids in [vec![], vec![0], vec![1, 2], vec![u32::MAX, 0, 65535, 7], (0..1000).collect::<Vec<u32>>()] {
            let mut d = Document::new("a", "x", Arc::from("s"));
            set_tokens(&mut d, &ids);
            assert!(d.metadata.is_empty());
            assert_eq!(get_tokens(&d).unwrap(), ids);
            assert_eq!(token_count(&d).unwrap(), ids.len() as u64);
            assert_eq!(d.attributes[TOKENS_KEY], ids.len() as f64);
        }
    }

    #[test]
    fn ids_read_back_from_written_metadata() {
        // what a writer asked for the ids writes, read back as a reader does
        for ids in [vec![1u32, 2, 65535], vec![1, 65536], (0..20_001u32).map(|i| (i * 7919) % 100_000).collect()] {
            let mut d = Document::new("a", "x", Arc::from("s"));
            set_tokens(&mut d, &ids);
            let mut json = Vec::new();
            d.to_json_writer(&mut json, true).unwrap();
            let back: Document = serde_json::from_slice(&json).unwrap();
            assert!(back.tokens.is_none());
            assert_eq!(get_tokens(&back).unwrap(), ids);
            assert_eq!(token_count(&back).unwrap(), ids.len() as u64);
        }
        let mut d = Document::new("a", "x", Arc::from("s"));
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
