//! Quality stages: language identification, the Gopher, C4 and FineWeb
//! heuristic filters, the C4 bad-words filter, a URL blocklist, the
//! `length` filter and the no-op `passthrough` stage.
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
pub mod classifier;
pub mod classifier_train;
mod fineweb;
mod gopher;
pub mod langid;
mod length;
mod passthrough;
pub mod regex_filter;
pub mod signals;
mod url;

/// The text primitives (word split, Python string semantics, punctuation),
/// from `sluice-text`.
pub use sluice_text as text;
pub(crate) use sluice_text::{char_len, FxMap};
pub use sluice_text::{error_text, option_file_problem, read_option_file};

pub use c4::{C4BadWords, C4BadWordsConfig, C4Quality, C4QualityConfig, LDNOOBW_EN};
pub use fineweb::{FineWebQuality, FineWebQualityConfig};
pub use gopher::{GopherQuality, GopherQualityConfig, GopherRepetition, GopherRepetitionConfig};
pub use langid::{LanguageId, LanguageIdConfig};
pub use length::{LengthFilter, LengthFilterConfig};
pub use passthrough::{Passthrough, PassthroughConfig};
pub use url::{UrlBlocklist, UrlBlocklistConfig};

pub use sluice_pipeline::component::{SignalRule, Test};

pub use sluice_pipeline::filter::LanguageOverrides;

/// Check that an optional ratio lies in [0, 1].
pub(crate) fn check_ratio(errors: &mut Vec<(String, String)>, field: &str, v: Option<f64>) {
    if let Some(v) = v {
        if !(0.0..=1.0).contains(&v) {
            errors.push((field.to_string(), format!("must be between 0 and 1, got {v}")));
        }
    }
}

#[cfg(test)]
mod signal_rule_tests {
    use super::*;
    use sluice_pipeline::DocStage;
    use sluice_pipeline::Document;
    use std::sync::Arc;

    /// Every option a `--what-if` can name exists in its kind's config
    /// schema, and the attribute it is tested on is what the filter writes
    /// in annotate mode: the mapping cannot drift from the configs.
    #[test]
    fn every_mapped_option_is_in_the_schema_and_its_attribute_is_written() {
        let text = "The quick brown fox jumps over the lazy dog and that is the end of it.\n".repeat(3)
            + "A second paragraph, with other words: to be or not to be, and so on...\n\n# heading\n- a bullet line with several words in it.";
        let kinds: Vec<(&str, schemars::Schema, Box<dyn DocStage>)> = vec![
            (
                "language",
                schemars::schema_for!(LanguageIdConfig),
                Box::new(LanguageIdConfig { annotate_only: true, ..Default::default() }.build()),
            ),
            (
                "gopher_quality",
                schemars::schema_for!(GopherQualityConfig),
                Box::new(GopherQualityConfig { annotate_only: true, ..Default::default() }.build()),
            ),
            (
                "gopher_repetition",
                schemars::schema_for!(GopherRepetitionConfig),
                Box::new(GopherRepetitionConfig { annotate_only: true, ..Default::default() }.build()),
            ),
            ("c4", schemars::schema_for!(C4QualityConfig), Box::new(C4QualityConfig { annotate_only: true, ..Default::default() }.build())),
            (
                "fineweb",
                schemars::schema_for!(FineWebQualityConfig),
                Box::new(FineWebQualityConfig { annotate_only: true, ..Default::default() }.build()),
            ),
        ];
        for (kind, schema, stage) in kinds {
            use sluice_pipeline::Component;
            let rules = match kind {
                "language" => LanguageIdConfig::SIGNAL_RULES,
                "gopher_quality" => <GopherQualityConfig as Component>::SIGNAL_RULES,
                "gopher_repetition" => <GopherRepetitionConfig as Component>::SIGNAL_RULES,
                "c4" => <C4QualityConfig as Component>::SIGNAL_RULES,
                _ => <FineWebQualityConfig as Component>::SIGNAL_RULES,
            };
            assert!(!rules.is_empty(), "{kind} maps no option");
            let props = schema.as_value()["properties"].as_object().cloned().unwrap_or_default();
            let mut doc = Document::new("d", text.clone(), Arc::from("s"));
            assert_eq!(stage.process(&mut doc), sluice_pipeline::Verdict::Keep);
            for r in rules {
                assert!(props.contains_key(r.option), "{kind}.{} is not in the config schema", r.option);
                let attrs: Vec<String> = if r.attribute.contains("{n}") {
                    let list = &serde_json::to_value(GopherRepetitionConfig::default()).unwrap()[r.option];
                    list.as_array().unwrap().iter().map(|p| r.attribute.replace("{n}", &p[0].to_string())).collect()
                } else {
                    vec![r.attribute.to_string()]
                };
                for a in attrs {
                    assert!(
                        doc.attributes.contains_key(&a),
                        "{kind}.{} is tested on `{a}`, which annotate mode does not write: {:?}",
                        r.option,
                        doc.attributes.keys()
                    );
                }
            }
        }
    }

    /// Per-language overrides are checked against the same schema ranges
    /// as the options themselves (issue 21: every numeric option has a range).
    #[test]
    fn language_overrides_are_range_checked() {
        let cfg: GopherQualityConfig =
            serde_json::from_value(serde_json::json!({"languages": {"zh": {"max_avg_word_length": 1e9, "min_doc_words": 5}}})).unwrap();
        let e = cfg.validate();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, "languages.zh.max_avg_word_length");
        assert!(e[0].1.contains("must be at most 1000"), "{e:?}");
        let cfg: FineWebQualityConfig = serde_json::from_value(serde_json::json!({"languages": {"ja": {"line_punct_thr": -1}}})).unwrap();
        assert_eq!(cfg.validate()[0].0, "languages.ja.line_punct_thr");
        let cfg: GopherRepetitionConfig =
            serde_json::from_value(serde_json::json!({"languages": {"ja": {"top_n_grams": [[100000, 0.2]]}}})).unwrap();
        assert_eq!(cfg.validate()[0].0, "languages.ja.top_n_grams[0][0]", "{:?}", cfg.validate());
    }

    #[test]
    fn record_signals_writes_the_same_values_as_annotate_only_and_still_filters() {
        let text = "The cat sat on the mat with the dog. ".repeat(20);
        let mut a = Document::new("d", text.clone(), Arc::from("s"));
        GopherQualityConfig { annotate_only: true, ..Default::default() }.build().process(&mut a);
        let mut b = Document::new("d", text.clone(), Arc::from("s"));
        let v = GopherQualityConfig { record_signals: true, ..Default::default() }.build().process(&mut b);
        assert_eq!(v, sluice_pipeline::Verdict::Keep);
        assert_eq!(a.attributes, b.attributes);
        // a short document is dropped, with its signals recorded
        let mut c = Document::new("d", "too short to keep", Arc::from("s"));
        let v = GopherQualityConfig { record_signals: true, ..Default::default() }.build().process(&mut c);
        assert_eq!(v, sluice_pipeline::Verdict::Drop("gopher_short_doc".into()));
        assert_eq!(c.attributes["gopher_word_count"], 4.0);
        // repetition: the repeated sentence breaks the n-gram rules; the
        // signals computed up to the broken rule are there
        let mut d = Document::new("d", text, Arc::from("s"));
        let v = GopherRepetitionConfig { record_signals: true, ..Default::default() }.build().process(&mut d);
        assert!(matches!(v, sluice_pipeline::Verdict::Drop(_)));
        assert!(d.attributes.contains_key("gopher_rep_dup_line_frac"));
        assert!(d.attributes.contains_key("gopher_rep_top_2_gram_frac"));
    }
}
