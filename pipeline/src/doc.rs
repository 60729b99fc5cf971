//! The data model: documents and the batches they travel in.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::tokens::{Tokens, TOKENS_KEY};

/// Free-form metadata a reader saw (url, dates, headers, ...). Insertion
/// ordered, so the same input always serialises to the same bytes.
pub type Metadata = serde_json::Map<String, serde_json::Value>;

/// One document flowing through the pipeline.
///
/// `attributes` hold numeric signals that stages add (scores, counts). They
/// are a `BTreeMap` so that their serialised order never depends on the order
/// in which stages ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// Stable identifier: taken from the input where it has one, otherwise
    /// derived from the file and the record's position in it.
    pub id: String,
    /// The text itself, always valid UTF-8.
    pub text: String,
    /// Name of the source (by default the reader's name in the recipe).
    pub source: Arc<str>,
    /// Whatever the reader saw: url, dates, path, language hints.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub metadata: Metadata,
    /// Numeric signals added by stages.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, f64>,
    /// Where the document came from in the run's input, set by the engine.
    /// Not serialised: it is a position in this run's file list.
    #[serde(skip)]
    pub pos: DocPos,
    /// The token ids a `tokenize` stage (or `tokenizer_train` with
    /// `tokenize: true`) set. Not serialised: writers write them to
    /// `metadata.tokens` only when asked to ([`Document::metadata_with_tokens`]).
    #[serde(skip)]
    pub tokens: Option<Tokens>,
}

/// A document's position in the run's input: reader node, file index in that
/// reader's sorted file list, record index in the file. It orders documents
/// the way a single task would read them, whatever the task split, so
/// "first seen" rules (dedup keep-first, say) do not depend on `--tasks`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocPos {
    pub reader: u32,
    pub file: u32,
    pub record: u64,
}

impl DocPos {
    /// The position packed into 128 bits, ordered like the struct.
    pub fn key(&self) -> u128 {
        ((self.reader as u128) << 96) | ((self.file as u128) << 64) | self.record as u128
    }

    /// The position from [`DocPos::key`].
    pub fn from_key(k: u128) -> DocPos {
        DocPos { reader: (k >> 96) as u32, file: (k >> 64) as u32, record: k as u64 }
    }

    /// A uniform 64-bit hash of the position under a seed and a salt: the
    /// key of every seeded per-document decision (sampling, held-out
    /// splits), so the decision depends on the document and the seed, never
    /// on the task split.
    pub fn seeded_hash(&self, seed: u64, salt: u64) -> u64 {
        let mut b = [0u8; 24];
        b[..16].copy_from_slice(&self.key().to_le_bytes());
        b[16..].copy_from_slice(&salt.to_le_bytes());
        xxhash_rust::xxh3::xxh3_64_with_seed(&b, seed)
    }
}

impl Document {
    /// A document with no metadata or attributes.
    pub fn new(id: impl Into<String>, text: impl Into<String>, source: Arc<str>) -> Self {
        Document {
            id: id.into(),
            text: text.into(),
            source,
            metadata: Metadata::new(),
            attributes: BTreeMap::new(),
            pos: DocPos::default(),
            tokens: None,
        }
    }

    /// Set the document's token ids and their count (`attributes.tokens`,
    /// which the engine totals). A `metadata.tokens` the document already
    /// had (read from sluice's own output) is replaced: the ids take its
    /// place in the metadata order when written.
    pub fn set_tokens(&mut self, tokens: Tokens) {
        let slot = match self.metadata.keys().position(|k| k == TOKENS_KEY) {
            Some(i) => {
                self.metadata.shift_remove(TOKENS_KEY);
                i
            }
            None => match &self.tokens {
                Some(t) => t.slot(),
                None => self.metadata.len(),
            },
        };
        self.attributes.insert(TOKENS_KEY.into(), tokens.len() as f64);
        self.tokens = Some(tokens.with_slot(slot));
    }

    /// The metadata as writers asked for the ids write it: with
    /// `metadata.tokens` (the text form) at the place it had when the ids
    /// were set. Borrowed when the document has no ids.
    pub fn metadata_with_tokens(&self) -> std::borrow::Cow<'_, Metadata> {
        match &self.tokens {
            None => std::borrow::Cow::Borrowed(&self.metadata),
            Some(t) => {
                let mut m = self.metadata.clone();
                m.shift_insert(t.slot().min(m.len()), TOKENS_KEY.into(), t.to_text().into());
                std::borrow::Cow::Owned(m)
            }
        }
    }

    /// The document serialised as JSON the way writers do (`id`, `text`,
    /// `source`, then `metadata` and `attributes` when not empty), with
    /// `metadata.tokens` when `with_tokens` and the document has ids.
    pub fn to_json_writer<W: std::io::Write>(&self, w: W, with_tokens: bool) -> serde_json::Result<()> {
        if !with_tokens || self.tokens.is_none() {
            return serde_json::to_writer(w, self);
        }
        #[derive(Serialize)]
        struct View<'a> {
            id: &'a str,
            text: &'a str,
            source: &'a str,
            #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
            metadata: &'a Metadata,
            #[serde(skip_serializing_if = "BTreeMap::is_empty")]
            attributes: &'a BTreeMap<String, f64>,
        }
        let metadata = self.metadata_with_tokens();
        serde_json::to_writer(
            w,
            &View { id: &self.id, text: &self.text, source: &self.source, metadata: &metadata, attributes: &self.attributes },
        )
    }

    /// Size used by the stats: the UTF-8 length of the text.
    pub fn bytes(&self) -> u64 {
        self.text.len() as u64
    }

    /// The metadata value `key` as a string, if it is one.
    pub fn meta_str(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).and_then(|v| v.as_str())
    }
}

/// Documents travel between stages in batches; a batch is the unit of
/// parallel work and of backpressure.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    pub docs: Vec<Document>,
}

impl Batch {
    pub fn new(docs: Vec<Document>) -> Self {
        Batch { docs }
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Total text bytes in the batch.
    pub fn bytes(&self) -> u64 {
        self.docs.iter().map(Document::bytes).sum()
    }
}

/// A document that a stage dropped, with the reason it gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Dropped {
    pub doc: Document,
    pub reason: Reason,
}

/// A drop reason: a short snake_case rule name such as
/// `gopher_mean_word_length`. Most are static strings; the `Arc` form lets a
/// stage build reasons at configuration time without leaking.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    Static(&'static str),
    Owned(Arc<str>),
}

impl Reason {
    pub fn as_str(&self) -> &str {
        match self {
            Reason::Static(s) => s,
            Reason::Owned(s) => s,
        }
    }
}

impl From<&'static str> for Reason {
    fn from(s: &'static str) -> Self {
        Reason::Static(s)
    }
}

impl From<String> for Reason {
    fn from(s: String) -> Self {
        Reason::Owned(s.into())
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_json_round_trip_is_stable() {
        let mut d = Document::new("a", "hello", Arc::from("web"));
        d.metadata.insert("url".into(), "http://x".into());
        d.attributes.insert("z".into(), 1.0);
        d.attributes.insert("a".into(), 2.0);
        let s = serde_json::to_string(&d).unwrap();
        // attributes serialise sorted whatever the insertion order
        assert_eq!(s, r#"{"id":"a","text":"hello","source":"web","metadata":{"url":"http://x"},"attributes":{"a":2.0,"z":1.0}}"#);
        let back: Document = serde_json::from_str(&s).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn tokens_are_written_only_when_asked_and_where_they_stood() {
        let mut d = Document::new("a", "hi", Arc::from("s"));
        d.metadata.insert("url".into(), "u".into());
        d.set_tokens(Tokens::from_ids(&[1, 2]));
        // a later stage adds a key after the ids
        d.metadata.insert("mix_copy".into(), 1.into());
        let plain = serde_json::to_string(&d).unwrap();
        let mut without = Vec::new();
        d.to_json_writer(&mut without, false).unwrap();
        assert_eq!(String::from_utf8(without).unwrap(), plain);
        assert!(!plain.contains("u16:"));
        let mut with = Vec::new();
        d.to_json_writer(&mut with, true).unwrap();
        assert_eq!(
            String::from_utf8(with).unwrap(),
            r#"{"id":"a","text":"hi","source":"s","metadata":{"url":"u","tokens":"u16:AQACAA==","mix_copy":1},"attributes":{"tokens":2.0}}"#
        );
        // re-tokenizing a document read back with its ids keeps their place
        let mut r: Document =
            serde_json::from_str(r#"{"id":"a","text":"hi","source":"s","metadata":{"tokens":"u16:AQA=","x":1}}"#).unwrap();
        r.set_tokens(Tokens::from_ids(&[3]));
        assert!(!r.metadata.contains_key("tokens"));
        assert_eq!(r.metadata_with_tokens().keys().collect::<Vec<_>>(), ["tokens", "x"]);
        assert_eq!(r.metadata_with_tokens()["tokens"], "u16:AwA=");
    }

    #[test]
    fn batch_bytes_counts_utf8() {
        let b = Batch::new(vec![Document::new("1", "héllo", Arc::from("s")), Document::new("2", "中文", Arc::from("s"))]);
        assert_eq!(b.bytes(), 6 + 6);
    }
}
