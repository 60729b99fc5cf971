//! Quality stages: language identification, the Gopher, C4 and FineWeb
//! heuristic filters, the C4 bad-words filter and a URL blocklist.
//!
//! Every filter reproduces the rules and default thresholds of datatrove
//! 0.10 (`GopherQualityFilter`, `GopherRepetitionFilter`, `C4QualityFilter`,
//! `C4BadWordsFilter`, `FineWebQualityFilter`), records the rule that
//! dropped a document as its reason (`gopher_short_doc`, `c4_curly_bracket`,
//! `fineweb_line_punct_ratio`, ...), and can instead only annotate: with
//! `annotate_only: true` it writes its signals as numeric attributes
//! prefixed by the filter name and keeps every document.
//!
//! Word-based rules are language-aware: the `language` metadata that the
//! [`LanguageIdConfig`] stage writes selects the word segmenter (jieba for
//! Chinese, script runs for Japanese, spaCy-like rules otherwise), and each
//! filter's `languages:` map overrides its thresholds per language:
//!
//! ```
//! use sluice_pipeline::{DocStage, Document, Verdict};
//! use sluice_quality::GopherQualityConfig;
//!
//! let cfg: GopherQualityConfig = serde_json::from_value(serde_json::json!({
//!     "languages": {"zh": {"min_avg_word_length": 1, "stop_words": ["的", "是"]}}
//! })).unwrap();
//! assert!(cfg.validate().is_empty());
//! let stage = cfg.build();
//! let mut doc = Document::new("1", "too short", "s".into());
//! assert_eq!(stage.process(&mut doc), Verdict::Drop("gopher_short_doc".into()));
//! ```

mod c4;
mod fineweb;
mod gopher;
mod langid;
pub mod text;
mod url;

pub use c4::{C4BadWords, C4BadWordsConfig, C4Quality, C4QualityConfig, LDNOOBW_EN};
pub use fineweb::{FineWebQuality, FineWebQualityConfig};
pub use gopher::{GopherQuality, GopherQualityConfig, GopherRepetition, GopherRepetitionConfig};
pub use langid::{LanguageId, LanguageIdConfig};
pub use url::{UrlBlocklist, UrlBlocklistConfig};

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use sluice_pipeline::Document;

use text::Segmenter;

/// Per-language overrides of a filter's options: `{zh: {min_doc_words: 100}}`.
pub type LanguageOverrides = BTreeMap<String, Map<String, Value>>;

/// A filter's resolved configuration for each language it has overrides for.
#[derive(Debug, Clone)]
pub(crate) struct PerLanguage<R> {
    pub default: R,
    pub by_lang: HashMap<String, R>,
}

impl<R> PerLanguage<R> {
    /// The configuration and the word segmenter for a document, keyed by
    /// its `language` metadata (`zh-Hant` falls back to `zh`).
    pub fn get(&self, doc: &Document) -> (&R, Segmenter) {
        let lang = doc.meta_str("language");
        let seg = Segmenter::for_language(lang);
        let Some(lang) = lang else { return (&self.default, seg) };
        if self.by_lang.is_empty() {
            return (&self.default, seg);
        }
        let cfg = self
            .by_lang
            .get(lang)
            .or_else(|| lang.split(['-', '_']).next().and_then(|b| self.by_lang.get(b)))
            .unwrap_or(&self.default);
        (cfg, seg)
    }
}

/// Apply each language's overrides on top of `base` (its serialised form,
/// less the `languages` key) and check every resulting configuration.
/// Errors name `languages.<lang>.<field>`.
pub(crate) fn resolve_languages<C: Serialize + DeserializeOwned>(
    base: &C,
    overrides: &LanguageOverrides,
    validate: impl Fn(&C) -> Vec<(String, String)>,
) -> Result<HashMap<String, C>, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let mut out = HashMap::new();
    if overrides.is_empty() {
        return Ok(out);
    }
    let Value::Object(mut base_map) = serde_json::to_value(base).expect("configs serialise") else {
        unreachable!("configs are structs")
    };
    base_map.remove("languages");
    for (lang, over) in overrides {
        let mut merged = base_map.clone();
        let mut ok = true;
        for (k, v) in over {
            if k == "languages" || !base_map.contains_key(k) {
                errors.push((format!("languages.{lang}.{k}"), "unknown option".to_string()));
                ok = false;
            } else {
                merged.insert(k.clone(), v.clone());
            }
        }
        if !ok {
            continue;
        }
        match serde_json::from_value::<C>(Value::Object(merged)) {
            Ok(c) => {
                errors.extend(validate(&c).into_iter().map(|(f, m)| (format!("languages.{lang}.{f}"), m)));
                out.insert(lang.clone(), c);
            }
            Err(e) => errors.push((format!("languages.{lang}"), e.to_string())),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Check that an optional ratio lies in [0, 1].
pub(crate) fn check_ratio(errors: &mut Vec<(String, String)>, field: &str, v: Option<f64>) {
    if let Some(v) = v {
        if !(0.0..=1.0).contains(&v) {
            errors.push((field.to_string(), format!("must be between 0 and 1, got {v}")));
        }
    }
}

/// Python's `len(str)`: the number of characters.
#[inline]
pub(crate) fn char_len(s: &str) -> usize {
    // count bytes that are not UTF-8 continuation bytes
    s.as_bytes().iter().filter(|&&b| (b & 0xC0) != 0x80).count()
}

/// A small, fast, deterministic hasher for the n-gram tables (FxHash's
/// multiply-rotate scheme). Inputs are our own word ids, so no DoS concern.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rem = chunks.remainder();
        if !rem.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rem.len()].copy_from_slice(rem);
            self.add(u64::from_le_bytes(buf));
        }
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.hash = (self.hash.rotate_left(5) ^ w).wrapping_mul(SEED);
    }
}

pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;
pub(crate) type FxMap<K, V> = HashMap<K, V, FxBuild>;
