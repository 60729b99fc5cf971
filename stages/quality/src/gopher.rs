//! Gopher quality and repetition filters (Rae et al. 2021, table A1), with
//! datatrove 0.10's rules and default thresholds.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_pipeline::filter::{self as shared, Filter, FilterConfig, Filtered, Mode, Signals};
use sluice_pipeline::{Document, Reason, Scratch};

use crate::text::{is_punctuation, py_splitlines, py_strip, with_words, Segmenter};
use crate::{char_len, check_ratio, FxMap, LanguageOverrides, SignalRule, Test};

// ---------------------------------------------------------------------------
// Gopher quality
// ---------------------------------------------------------------------------

fn d_min_doc_words() -> Option<usize> {
    Some(50)
}
fn d_max_doc_words() -> Option<usize> {
    Some(100_000)
}
fn d_min_avg() -> Option<f64> {
    Some(3.0)
}
fn d_max_avg() -> Option<f64> {
    Some(10.0)
}
fn d_symbol() -> Option<f64> {
    Some(0.1)
}
fn d_bullet() -> Option<f64> {
    Some(0.9)
}
fn d_ellipsis_lines() -> Option<f64> {
    Some(0.3)
}
fn d_alpha() -> Option<f64> {
    Some(0.8)
}
fn d_min_stop() -> Option<usize> {
    Some(2)
}
fn d_stop_words() -> Vec<String> {
    ["the", "be", "to", "of", "and", "that", "have", "with"].iter().map(|s| s.to_string()).collect()
}

/// Configuration of the `gopher_quality` filter. Any threshold set to
/// `null` is disabled. Words come from the language's segmenter (see the
/// crate docs); "words" below exclude tokens made only of punctuation
/// unless said otherwise.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct GopherQualityConfig {
    /// Drop documents with fewer words (`gopher_short_doc`). Default 50.
    #[serde(default = "d_min_doc_words")]
    #[schemars(range(min = 0, max = 1_000_000_000))]
    pub min_doc_words: Option<usize>,
    /// Drop documents with more words (`gopher_long_doc`). Default 100000.
    #[serde(default = "d_max_doc_words")]
    #[schemars(range(min = 0, max = 1_000_000_000))]
    pub max_doc_words: Option<usize>,
    /// Drop documents whose mean word length in characters is below this
    /// (`gopher_below_avg_threshold`). Default 3.
    #[serde(default = "d_min_avg")]
    #[schemars(range(min = 0.0, max = 1000.0))]
    pub min_avg_word_length: Option<f64>,
    /// Drop documents whose mean word length is above this
    /// (`gopher_above_avg_threshold`). Default 10.
    #[serde(default = "d_max_avg")]
    #[schemars(range(min = 0.0, max = 1000.0))]
    pub max_avg_word_length: Option<f64>,
    /// Drop documents where `#` per token (`gopher_too_many_hashes`) or
    /// `...`/`…` per token (`gopher_too_many_ellipsis`) exceeds this. Tokens
    /// here include punctuation. Default 0.1.
    #[serde(default = "d_symbol")]
    #[schemars(range(min = 0.0, max = 1_000_000.0))]
    pub max_symbol_word_ratio: Option<f64>,
    /// Drop documents where more than this fraction of lines start with a
    /// bullet (`•` or `-`) (`gopher_too_many_bullets`). Default 0.9.
    #[serde(default = "d_bullet")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_bullet_lines_ratio: Option<f64>,
    /// Drop documents where more than this fraction of lines end with an
    /// ellipsis (`gopher_too_many_end_ellipsis`). Default 0.3.
    #[serde(default = "d_ellipsis_lines")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_ellipsis_lines_ratio: Option<f64>,
    /// Drop documents where fewer than this fraction of tokens contain a
    /// letter (`gopher_below_alpha_threshold`). datatrove calls it
    /// `max_non_alpha_words_ratio`, which is accepted as an alias. Default 0.8.
    #[serde(default = "d_alpha", alias = "max_non_alpha_words_ratio")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_alpha_words_ratio: Option<f64>,
    /// Drop documents containing fewer *distinct* stop words
    /// (`gopher_enough_stop_words`). Default 2.
    #[serde(default = "d_min_stop")]
    #[schemars(range(min = 0, max = 1_000_000))]
    pub min_stop_words: Option<usize>,
    /// The stop words (case-sensitive). Default: the, be, to, of, and,
    /// that, have, with.
    #[serde(default = "d_stop_words")]
    pub stop_words: Vec<String>,
    /// Only annotate: write `gopher_*` attributes, drop nothing. Default false.
    #[serde(default)]
    pub annotate_only: bool,
    /// While filtering, also write the signals as `gopher_*` attributes (as
    /// `annotate_only` does), for `sluice stats --signals` and `--what-if`.
    /// Default false.
    #[serde(default)]
    pub record_signals: bool,
    /// Per-language overrides of the options above, keyed by the
    /// `language` metadata (`zh`, `ja`, ...). Default: none.
    #[serde(default, skip_serializing)]
    pub languages: LanguageOverrides,
}

impl Default for GopherQualityConfig {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("defaults deserialise")
    }
}

impl GopherQualityConfig {
    /// The options `--what-if` re-evaluates, and their attributes.
    pub const SIGNAL_RULES: &'static [SignalRule] = &[
        SignalRule { option: "min_doc_words", attribute: "gopher_word_count", test: Test::DropBelow, reason: "gopher_short_doc" },
        SignalRule { option: "max_doc_words", attribute: "gopher_word_count", test: Test::DropAbove, reason: "gopher_long_doc" },
        SignalRule {
            option: "min_avg_word_length",
            attribute: "gopher_mean_word_length",
            test: Test::DropBelow,
            reason: "gopher_below_avg_threshold",
        },
        SignalRule {
            option: "max_avg_word_length",
            attribute: "gopher_mean_word_length",
            test: Test::DropAbove,
            reason: "gopher_above_avg_threshold",
        },
        SignalRule {
            option: "max_symbol_word_ratio",
            attribute: "gopher_hash_ratio",
            test: Test::DropAbove,
            reason: "gopher_too_many_hashes",
        },
        SignalRule {
            option: "max_symbol_word_ratio",
            attribute: "gopher_ellipsis_ratio",
            test: Test::DropAbove,
            reason: "gopher_too_many_ellipsis",
        },
        SignalRule {
            option: "max_bullet_lines_ratio",
            attribute: "gopher_bullet_lines_ratio",
            test: Test::DropAbove,
            reason: "gopher_too_many_bullets",
        },
        SignalRule {
            option: "max_ellipsis_lines_ratio",
            attribute: "gopher_ellipsis_lines_ratio",
            test: Test::DropAbove,
            reason: "gopher_too_many_end_ellipsis",
        },
        SignalRule {
            option: "min_alpha_words_ratio",
            attribute: "gopher_alpha_words_ratio",
            test: Test::DropBelow,
            reason: "gopher_below_alpha_threshold",
        },
        SignalRule { option: "min_stop_words", attribute: "gopher_stop_words", test: Test::DropBelow, reason: "gopher_enough_stop_words" },
    ];

    fn validate_one(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if let (Some(a), Some(b)) = (self.min_doc_words, self.max_doc_words) {
            if a > b {
                e.push(("max_doc_words".into(), format!("is below min_doc_words ({a})")));
            }
        }
        if let (Some(a), Some(b)) = (self.min_avg_word_length, self.max_avg_word_length) {
            if a > b {
                e.push(("max_avg_word_length".into(), format!("is below min_avg_word_length ({a})")));
            }
        }
        check_ratio(&mut e, "max_bullet_lines_ratio", self.max_bullet_lines_ratio);
        check_ratio(&mut e, "max_ellipsis_lines_ratio", self.max_ellipsis_lines_ratio);
        check_ratio(&mut e, "min_alpha_words_ratio", self.min_alpha_words_ratio);
        if self.max_symbol_word_ratio.is_some_and(|v| v < 0.0) {
            e.push(("max_symbol_word_ratio".into(), "must not be negative".into()));
        }
        e
    }

    pub fn validate(&self) -> Vec<(String, String)> {
        shared::validate(self)
    }

    /// Build the filter. Call [`validate`](Self::validate) first: invalid
    /// language overrides are ignored here.
    pub fn build(&self) -> Filtered<GopherQuality> {
        shared::build(self).unwrap_or_else(|_| Filtered::single(GopherQuality { cfg: self.clone() }, self.mode()))
    }
}

impl FilterConfig for GopherQualityConfig {
    type Filter = GopherQuality;

    fn mode(&self) -> Mode {
        Mode::of(self.annotate_only, self.record_signals)
    }

    fn languages(&self) -> Option<&LanguageOverrides> {
        Some(&self.languages)
    }

    fn check(&self) -> Vec<(String, String)> {
        self.validate_one()
    }

    fn filter(&self) -> Result<GopherQuality, Vec<(String, String)>> {
        Ok(GopherQuality { cfg: self.clone() })
    }
}

/// The `gopher_quality` filter, for one resolved configuration.
#[derive(Debug, Clone)]
pub struct GopherQuality {
    cfg: GopherQualityConfig,
}

/// Every signal of the Gopher quality rules.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct GopherQualitySignals {
    /// All tokens, punctuation included.
    pub tokens: usize,
    /// Tokens with a character outside the punctuation set.
    pub words: usize,
    pub mean_word_length: f64,
    pub hash_ratio: f64,
    pub ellipsis_ratio: f64,
    pub bullet_lines_ratio: f64,
    pub ellipsis_lines_ratio: f64,
    pub alpha_words_ratio: f64,
    pub stop_words: usize,
}

impl GopherQuality {
    fn signals(cfg: &GopherQualityConfig, text: &str, words: &[&str]) -> GopherQualitySignals {
        let tokens = words.len();
        let mut n_words = 0usize;
        let mut total_len = 0usize;
        let mut alpha = 0usize;
        let mut found = vec![false; cfg.stop_words.len()];
        let max_stop = cfg.stop_words.iter().map(|s| s.len()).max().unwrap_or(0);
        for w in words {
            if w.chars().any(|c| !is_punctuation(c)) {
                n_words += 1;
                total_len += char_len(w);
            }
            if w.chars().any(char::is_alphabetic) {
                alpha += 1;
            }
            if w.len() <= max_stop {
                if let Some(i) = cfg.stop_words.iter().position(|s| s == w) {
                    found[i] = true;
                }
            }
        }
        let per_token = |x: usize| if tokens == 0 { 0.0 } else { x as f64 / tokens as f64 };
        let hashes = text.matches('#').count();
        let ellipses = text.matches("...").count() + text.matches('…').count();
        let lines = py_splitlines(text);
        let per_line = |x: usize| if lines.is_empty() { 0.0 } else { x as f64 / lines.len() as f64 };
        let bullets = lines.iter().filter(|l| l.trim_start().starts_with(['•', '-'])).count();
        let end_ellipsis = lines
            .iter()
            .filter(|l| {
                let l = l.trim_end();
                l.ends_with("...") || l.ends_with('…')
            })
            .count();
        GopherQualitySignals {
            tokens,
            words: n_words,
            mean_word_length: if n_words == 0 { 0.0 } else { total_len as f64 / n_words as f64 },
            hash_ratio: per_token(hashes),
            ellipsis_ratio: per_token(ellipses),
            bullet_lines_ratio: per_line(bullets),
            ellipsis_lines_ratio: per_line(end_ellipsis),
            alpha_words_ratio: per_token(alpha),
            stop_words: found.iter().filter(|f| **f).count(),
        }
    }

    /// The rule a document breaks, in datatrove's order, if any.
    fn verdict(cfg: &GopherQualityConfig, s: &GopherQualitySignals) -> Option<&'static str> {
        if cfg.min_doc_words.is_some_and(|m| s.words < m) || s.tokens == 0 {
            return Some("gopher_short_doc");
        }
        if cfg.max_doc_words.is_some_and(|m| s.words > m) {
            return Some("gopher_long_doc");
        }
        if s.words > 0 {
            if cfg.min_avg_word_length.is_some_and(|m| s.mean_word_length < m) {
                return Some("gopher_below_avg_threshold");
            }
            if cfg.max_avg_word_length.is_some_and(|m| s.mean_word_length > m) {
                return Some("gopher_above_avg_threshold");
            }
        }
        if let Some(m) = cfg.max_symbol_word_ratio {
            if s.hash_ratio > m {
                return Some("gopher_too_many_hashes");
            }
            if s.ellipsis_ratio > m {
                return Some("gopher_too_many_ellipsis");
            }
        }
        if cfg.max_bullet_lines_ratio.is_some_and(|m| s.bullet_lines_ratio > m) {
            return Some("gopher_too_many_bullets");
        }
        if cfg.max_ellipsis_lines_ratio.is_some_and(|m| s.ellipsis_lines_ratio > m) {
            return Some("gopher_too_many_end_ellipsis");
        }
        if cfg.min_alpha_words_ratio.is_some_and(|m| s.alpha_words_ratio < m) {
            return Some("gopher_below_alpha_threshold");
        }
        if cfg.min_stop_words.is_some_and(|m| s.stop_words < m) {
            return Some("gopher_enough_stop_words");
        }
        None
    }
}

impl Filter for GopherQuality {
    fn evaluate(&self, doc: &mut Document, scratch: &mut Scratch, signals: &mut Signals) -> Option<Reason> {
        let cfg = &self.cfg;
        let seg = Segmenter::for_language(doc.meta_str("language"));
        let s = with_words(scratch, &doc.text, seg, |words| Self::signals(cfg, &doc.text, words));
        signals.push("gopher_word_count", s.words as f64);
        signals.push("gopher_mean_word_length", s.mean_word_length);
        signals.push("gopher_hash_ratio", s.hash_ratio);
        signals.push("gopher_ellipsis_ratio", s.ellipsis_ratio);
        signals.push("gopher_bullet_lines_ratio", s.bullet_lines_ratio);
        signals.push("gopher_ellipsis_lines_ratio", s.ellipsis_lines_ratio);
        signals.push("gopher_alpha_words_ratio", s.alpha_words_ratio);
        signals.push("gopher_stop_words", s.stop_words as f64);
        Self::verdict(cfg, &s).map(Reason::Static)
    }
}

// ---------------------------------------------------------------------------
// Gopher repetition
// ---------------------------------------------------------------------------

fn d_03() -> Option<f64> {
    Some(0.3)
}
fn d_02() -> Option<f64> {
    Some(0.2)
}
fn d_top() -> Vec<(usize, f64)> {
    vec![(2, 0.2), (3, 0.18), (4, 0.16)]
}
fn d_dup() -> Vec<(usize, f64)> {
    vec![(5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10)]
}

/// The schema of one `[n, fraction]` rule of `top_n_grams` and
/// `dup_n_grams` (the options themselves stay plain pairs): n-gram sizes
/// from 1 to 1000 words, fractions from 0 to 1.
#[derive(JsonSchema)]
#[allow(dead_code)] // only its schema is used
struct NGramRule(#[schemars(range(min = 1, max = 1000))] usize, #[schemars(range(min = 0.0, max = 1.0))] f64);

/// Configuration of the `gopher_repetition` filter. Fractions of
/// characters are relative to the document's length in characters.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct GopherRepetitionConfig {
    /// Drop when more than this fraction of paragraphs (split on blank
    /// lines) repeat an earlier one (`gopher_dup_para_frac`). Default 0.3.
    #[serde(default = "d_03")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub dup_para_frac: Option<f64>,
    /// Drop when repeated paragraphs hold more than this fraction of the
    /// characters (`gopher_dup_para_char_frac`). Default 0.2.
    #[serde(default = "d_02")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub dup_para_char_frac: Option<f64>,
    /// Drop when more than this fraction of lines repeat an earlier one
    /// (`gopher_dup_line_frac`). Default 0.3.
    #[serde(default = "d_03")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub dup_line_frac: Option<f64>,
    /// Drop when repeated lines hold more than this fraction of the
    /// characters (`gopher_dup_line_char_frac`). Default 0.2.
    #[serde(default = "d_02")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub dup_line_char_frac: Option<f64>,
    /// `[n, fraction]` pairs: drop when the most frequent word n-gram
    /// covers more than the fraction of characters (`gopher_top_<n>_gram`).
    /// Default [[2, 0.2], [3, 0.18], [4, 0.16]].
    #[serde(default = "d_top")]
    #[schemars(with = "Vec<NGramRule>")]
    pub top_n_grams: Vec<(usize, f64)>,
    /// `[n, fraction]` pairs: drop when repeated word n-grams cover more
    /// than the fraction of characters (`gopher_duplicated_<n>_n_grams`).
    /// Default [[5, 0.15], [6, 0.14], [7, 0.13], [8, 0.12], [9, 0.11], [10, 0.1]].
    #[serde(default = "d_dup")]
    #[schemars(with = "Vec<NGramRule>")]
    pub dup_n_grams: Vec<(usize, f64)>,
    /// Only annotate: write `gopher_rep_*` attributes, drop nothing. Default false.
    #[serde(default)]
    pub annotate_only: bool,
    /// While filtering, also write the signals computed before the verdict
    /// as `gopher_rep_*` attributes (all of them for kept documents), for
    /// `sluice stats --signals` and `--what-if`. Default false.
    #[serde(default)]
    pub record_signals: bool,
    /// Per-language overrides of the options above, keyed by the
    /// `language` metadata. Default: none.
    #[serde(default, skip_serializing)]
    pub languages: LanguageOverrides,
}

impl Default for GopherRepetitionConfig {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("defaults deserialise")
    }
}

impl GopherRepetitionConfig {
    /// The options `--what-if` re-evaluates, and their attributes.
    pub const SIGNAL_RULES: &'static [SignalRule] = &[
        SignalRule {
            option: "dup_para_frac",
            attribute: "gopher_rep_dup_para_frac",
            test: Test::DropAbove,
            reason: "gopher_dup_para_frac",
        },
        SignalRule {
            option: "dup_para_char_frac",
            attribute: "gopher_rep_dup_para_char_frac",
            test: Test::DropAbove,
            reason: "gopher_dup_para_char_frac",
        },
        SignalRule {
            option: "dup_line_frac",
            attribute: "gopher_rep_dup_line_frac",
            test: Test::DropAbove,
            reason: "gopher_dup_line_frac",
        },
        SignalRule {
            option: "dup_line_char_frac",
            attribute: "gopher_rep_dup_line_char_frac",
            test: Test::DropAbove,
            reason: "gopher_dup_line_char_frac",
        },
        SignalRule {
            option: "top_n_grams",
            attribute: "gopher_rep_top_{n}_gram_frac",
            test: Test::DropAbove,
            reason: "gopher_top_{n}_gram",
        },
        SignalRule {
            option: "dup_n_grams",
            attribute: "gopher_rep_dup_{n}_gram_frac",
            test: Test::DropAbove,
            reason: "gopher_duplicated_{n}_n_grams",
        },
    ];

    fn validate_one(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        check_ratio(&mut e, "dup_para_frac", self.dup_para_frac);
        check_ratio(&mut e, "dup_para_char_frac", self.dup_para_char_frac);
        check_ratio(&mut e, "dup_line_frac", self.dup_line_frac);
        check_ratio(&mut e, "dup_line_char_frac", self.dup_line_char_frac);
        for (field, list) in [("top_n_grams", &self.top_n_grams), ("dup_n_grams", &self.dup_n_grams)] {
            for (i, (n, f)) in list.iter().enumerate() {
                if *n == 0 {
                    e.push((format!("{field}[{i}]"), "n must be at least 1".into()));
                }
                if !(0.0..=1.0).contains(f) {
                    e.push((format!("{field}[{i}]"), format!("fraction must be between 0 and 1, got {f}")));
                }
            }
        }
        e
    }

    pub fn validate(&self) -> Vec<(String, String)> {
        shared::validate(self)
    }

    /// Build the filter. Call [`validate`](Self::validate) first: invalid
    /// language overrides are ignored here.
    pub fn build(&self) -> Filtered<GopherRepetition> {
        shared::build(self).unwrap_or_else(|_| Filtered::single(self.repetition(), self.mode()))
    }

    fn repetition(&self) -> GopherRepetition {
        let mut reasons = FxMap::default();
        for (n, _) in &self.top_n_grams {
            reasons.entry(("top", *n)).or_insert_with(|| ngram_reason("top", *n));
        }
        for (n, _) in &self.dup_n_grams {
            reasons.entry(("dup", *n)).or_insert_with(|| ngram_reason("dup", *n));
        }
        GopherRepetition { cfg: self.clone(), reasons }
    }
}

impl FilterConfig for GopherRepetitionConfig {
    type Filter = GopherRepetition;

    fn mode(&self) -> Mode {
        Mode::of(self.annotate_only, self.record_signals)
    }

    fn languages(&self) -> Option<&LanguageOverrides> {
        Some(&self.languages)
    }

    fn check(&self) -> Vec<(String, String)> {
        self.validate_one()
    }

    fn filter(&self) -> Result<GopherRepetition, Vec<(String, String)>> {
        Ok(self.repetition())
    }
}

/// Reasons for the n-gram rules: static for the usual sizes, so that they
/// compare equal to string literals.
fn ngram_reason(kind: &str, n: usize) -> Reason {
    const TOP: [&str; 9] = [
        "gopher_top_2_gram",
        "gopher_top_3_gram",
        "gopher_top_4_gram",
        "gopher_top_5_gram",
        "gopher_top_6_gram",
        "gopher_top_7_gram",
        "gopher_top_8_gram",
        "gopher_top_9_gram",
        "gopher_top_10_gram",
    ];
    const DUP: [&str; 9] = [
        "gopher_duplicated_2_n_grams",
        "gopher_duplicated_3_n_grams",
        "gopher_duplicated_4_n_grams",
        "gopher_duplicated_5_n_grams",
        "gopher_duplicated_6_n_grams",
        "gopher_duplicated_7_n_grams",
        "gopher_duplicated_8_n_grams",
        "gopher_duplicated_9_n_grams",
        "gopher_duplicated_10_n_grams",
    ];
    let table = if kind == "top" { &TOP } else { &DUP };
    match n {
        2..=10 => Reason::Static(table[n - 2]),
        _ if kind == "top" => Reason::Owned(Arc::from(format!("gopher_top_{n}_gram"))),
        _ => Reason::Owned(Arc::from(format!("gopher_duplicated_{n}_n_grams"))),
    }
}

/// The `gopher_repetition` filter.
#[derive(Debug, Clone)]
pub struct GopherRepetition {
    cfg: GopherRepetitionConfig,
    reasons: FxMap<(&'static str, usize), Reason>,
}

/// Count the elements equal to an earlier one, and their characters.
pub(crate) fn find_duplicates<'a>(items: impl IntoIterator<Item = &'a str>) -> (usize, usize) {
    let items = items.into_iter();
    let mut seen: FxMap<&str, ()> = FxMap::with_capacity_and_hasher(items.size_hint().0, Default::default());
    let (mut n, mut chars) = (0, 0);
    for it in items {
        if seen.insert(it, ()).is_some() {
            n += 1;
            chars += char_len(it);
        }
    }
    (n, chars)
}

/// Word ids and per-word character lengths, for n-gram statistics that
/// never build the joined n-gram strings.
///
/// N-grams are numbered level by level: the (n+1)-gram at `i` is the pair
/// (id of the n-gram at `i`, id of word `i + n`), interned in an exact
/// table of pairs. Ids are given in order of first occurrence, so "the
/// n-gram seen first" is the one with the smallest id, and counting and
/// "seen before" are plain array lookups.
struct WordTable {
    /// word ids, in order of first occurrence
    words: Vec<u32>,
    /// prefix sums of character lengths: `len[i..j] = pre[j] - pre[i]`
    pre: Vec<usize>,
    /// ids of the `level_n`-grams, by position
    level: Vec<u32>,
    level_n: usize,
    /// first position of each `level_n`-gram id
    first: Vec<u32>,
    /// distinct words
    vocab: usize,
    /// scratch: pair keys and ids of the interning table, counts, marks
    keys: Vec<u64>,
    vals: Vec<u32>,
    counts: Vec<u32>,
    seen: Vec<bool>,
    /// Smallest n for which every n-gram is known to be distinct: then no
    /// longer n-gram repeats either (equal m-grams have equal n-gram
    /// prefixes), and the duplicate passes for m >= n are skipped.
    distinct_from: usize,
}

const EMPTY: u64 = u64::MAX;

impl WordTable {
    fn new(words: &[&str]) -> WordTable {
        let mut intern: FxMap<&str, u32> = FxMap::with_capacity_and_hasher(words.len() / 2 + 1, Default::default());
        let mut ids = Vec::with_capacity(words.len());
        let mut pre = Vec::with_capacity(words.len() + 1);
        pre.push(0);
        for w in words {
            let next = intern.len() as u32;
            ids.push(*intern.entry(w).or_insert(next));
            pre.push(pre.last().unwrap() + char_len(w));
        }
        let vocab = intern.len();
        WordTable {
            words: ids,
            pre,
            level: Vec::new(),
            level_n: 0,
            first: Vec::new(),
            vocab,
            keys: Vec::new(),
            vals: Vec::new(),
            counts: Vec::new(),
            seen: Vec::new(),
            distinct_from: usize::MAX,
        }
    }

    /// Make `level` hold the ids of the n-grams (n <= number of words).
    fn prepare(&mut self, n: usize) {
        if self.level_n == n {
            return;
        }
        if self.level_n == 0 || n < self.level_n {
            self.level.clear();
            self.level.extend_from_slice(&self.words);
            self.first.clear();
            self.first.resize(self.vocab, u32::MAX);
            for (i, &w) in self.words.iter().enumerate().rev() {
                self.first[w as usize] = i as u32;
            }
            self.level_n = 1;
        }
        while self.level_n < n {
            let k = self.level_n + 1;
            let positions = self.words.len() + 1 - k;
            self.level.truncate(positions);
            if self.first.len() == self.level.len() + 1 {
                // every (k-1)-gram was distinct: so is every k-gram, in order
                for (i, id) in self.level.iter_mut().enumerate() {
                    *id = i as u32;
                }
                self.first.truncate(positions);
                self.level_n = k;
                continue;
            }
            let cap = (positions * 2).next_power_of_two().max(16);
            let shift = 64 - cap.trailing_zeros();
            self.keys.clear();
            self.keys.resize(cap, EMPTY);
            self.vals.resize(cap, 0);
            self.first.clear();
            for i in 0..positions {
                let key = ((self.level[i] as u64) << 32) | self.words[i + k - 1] as u64;
                let mut slot = (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> shift) as usize;
                let id = loop {
                    let e = self.keys[slot];
                    if e == key {
                        break self.vals[slot];
                    }
                    if e == EMPTY {
                        let id = self.first.len() as u32;
                        self.keys[slot] = key;
                        self.vals[slot] = id;
                        self.first.push(i as u32);
                        break id;
                    }
                    slot = (slot + 1) & (cap - 1);
                };
                self.level[i] = id;
            }
            self.level_n = k;
        }
    }

    /// Characters of the n-gram at `i` joined with single spaces.
    #[inline]
    fn ngram_chars(&self, i: usize, n: usize) -> usize {
        self.pre[i + n] - self.pre[i] + n - 1
    }

    /// Characters of the most frequent n-gram times its count; ties go to
    /// the n-gram seen first (Python's `Counter.most_common`).
    fn top_ngram_chars(&mut self, n: usize) -> Option<usize> {
        if self.words.len() < n {
            return None;
        }
        self.prepare(n);
        self.counts.clear();
        self.counts.resize(self.first.len(), 0);
        for &id in &self.level {
            self.counts[id as usize] += 1;
        }
        let mut best = (0u32, 0usize); // (count, id): the smallest id wins ties
        for (id, &c) in self.counts.iter().enumerate() {
            if c > best.0 {
                best = (c, id);
            }
        }
        if self.first.len() == self.level.len() {
            self.distinct_from = self.distinct_from.min(n);
        }
        Some(self.ngram_chars(self.first[best.1] as usize, n) * best.0 as usize)
    }

    /// Characters of repeated n-grams, skipping past each repeat
    /// (datatrove's `find_all_duplicate`, which joins with ""): an n-gram
    /// counts as seen only at the positions the scan visits.
    fn dup_ngram_chars(&mut self, n: usize) -> usize {
        if self.words.len() < n || n >= self.distinct_from {
            return 0;
        }
        self.prepare(n);
        if self.first.len() == self.level.len() {
            self.distinct_from = self.distinct_from.min(n);
            return 0;
        }
        self.seen.clear();
        self.seen.resize(self.first.len(), false);
        let positions = self.level.len();
        let mut chars = 0;
        let mut i = 0;
        while i < positions {
            let id = self.level[i] as usize;
            if self.seen[id] {
                chars += self.pre[i + n] - self.pre[i];
                i += n;
            } else {
                self.seen[id] = true;
                i += 1;
            }
        }
        chars
    }
}

impl Filter for GopherRepetition {
    fn evaluate(&self, doc: &mut Document, scratch: &mut Scratch, signals: &mut Signals) -> Option<Reason> {
        if doc.text.is_empty() {
            return Some(Reason::Static("gopher_empty"));
        }
        let seg = Segmenter::for_language(doc.meta_str("language"));
        self.check(&self.cfg, seg, &doc.text, scratch, signals)
    }
}

impl GopherRepetition {
    /// The first rule `text` breaks. With `signals`, every signal computed
    /// is pushed there (in annotate mode all of them; otherwise those up to
    /// the first broken rule).
    fn check(
        &self,
        cfg: &GopherRepetitionConfig,
        seg: Segmenter,
        text: &str,
        scratch: &mut Scratch,
        signals: &mut Signals,
    ) -> Option<Reason> {
        let annotate = signals.all();
        let len = char_len(text) as f64;
        let mut first: Option<Reason> = None;
        // In annotate mode every signal is computed; otherwise the first
        // broken rule ends the checks, as in datatrove.
        macro_rules! rule {
            ($broken:expr, $reason:expr) => {
                if $broken && first.is_none() {
                    first = Some($reason);
                    if !annotate {
                        return first;
                    }
                }
            };
        }
        let stripped = py_strip(text);
        let paragraphs = split_on_newline_runs(stripped, 2);
        let (pd, pc) = find_duplicates(paragraphs.iter().copied());
        let para_frac = pd as f64 / paragraphs.len() as f64;
        let para_char = pc as f64 / len;
        signals.push("gopher_rep_dup_para_frac", para_frac);
        rule!(cfg.dup_para_frac.is_some_and(|m| para_frac > m), Reason::Static("gopher_dup_para_frac"));
        signals.push("gopher_rep_dup_para_char_frac", para_char);
        rule!(cfg.dup_para_char_frac.is_some_and(|m| para_char > m), Reason::Static("gopher_dup_para_char_frac"));
        let lines = split_on_newline_runs(text, 1);
        let (ld, lc) = find_duplicates(lines.iter().copied());
        let line_frac = ld as f64 / lines.len() as f64;
        let line_char = lc as f64 / len;
        signals.push("gopher_rep_dup_line_frac", line_frac);
        rule!(cfg.dup_line_frac.is_some_and(|m| line_frac > m), Reason::Static("gopher_dup_line_frac"));
        signals.push("gopher_rep_dup_line_char_frac", line_char);
        rule!(cfg.dup_line_char_frac.is_some_and(|m| line_char > m), Reason::Static("gopher_dup_line_char_frac"));
        with_words(scratch, text, seg, |words| {
            let mut table = WordTable::new(words);
            for &(n, frac) in &cfg.top_n_grams {
                let Some(top) = table.top_ngram_chars(n) else { continue };
                let f = top as f64 / len;
                signals.push_with(|| format!("gopher_rep_top_{n}_gram_frac"), f);
                rule!(f > frac, self.reasons[&("top", n)].clone());
            }
            for &(n, frac) in &cfg.dup_n_grams {
                let f = table.dup_ngram_chars(n) as f64 / len;
                signals.push_with(|| format!("gopher_rep_dup_{n}_gram_frac"), f);
                rule!(f > frac, self.reasons[&("dup", n)].clone());
            }
            first
        })
    }
}

/// `re.split(r"\n{k,}", s)`: split on runs of at least `k` newlines.
fn split_on_newline_runs(s: &str, k: usize) -> Vec<&str> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\n' {
            let mut j = i;
            while j < b.len() && b[j] == b'\n' {
                j += 1;
            }
            if j - i >= k {
                out.push(&s[start..i]);
                start = j;
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out.push(&s[start..]);
    out
}

impl sluice_pipeline::component::Component for GopherRepetitionConfig {
    const KIND: &'static str = "gopher_repetition";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Stage;
    const ABOUT: &'static str =
        "Gopher repetition filter: duplicate lines/paragraphs, top and duplicated n-gram fractions (datatrove defaults)";
    const SIGNAL_RULES: &'static [sluice_pipeline::component::SignalRule] = GopherRepetitionConfig::SIGNAL_RULES;

    fn validate(&self) -> Vec<(String, String)> {
        GopherRepetitionConfig::validate(self)
    }

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        let _ = cx;
        Ok(sluice_pipeline::component::Built::doc(GopherRepetitionConfig::build(self)))
    }

    fn resolved(&self) -> Option<serde_json::Value> {
        sluice_pipeline::component::resolved_options(self)
    }
}

impl sluice_pipeline::component::Component for GopherQualityConfig {
    const KIND: &'static str = "gopher_quality";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Stage;
    const ABOUT: &'static str =
        "Gopher quality filter: word counts and lengths, symbol ratios, bullets/ellipses, alphabetic words, stop words";
    const SIGNAL_RULES: &'static [sluice_pipeline::component::SignalRule] = GopherQualityConfig::SIGNAL_RULES;

    fn validate(&self) -> Vec<(String, String)> {
        GopherQualityConfig::validate(self)
    }

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        let _ = cx;
        Ok(sluice_pipeline::component::Built::doc(GopherQualityConfig::build(self)))
    }

    fn resolved(&self) -> Option<serde_json::Value> {
        sluice_pipeline::component::resolved_options(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_pipeline::{DocStage, Verdict};

    fn run<S: DocStage>(stage: &S, text: &str) -> Verdict {
        stage.process(&mut Document::new("d", text, Arc::from("s")))
    }

    fn drop(r: &'static str) -> Verdict {
        Verdict::Drop(r.into())
    }

    /// `n` copies of a sentence built from distinct words, so that
    /// repetition never matters here.
    fn prose(n_words: usize) -> String {
        let vocab = [
            "the", "with", "garden", "river", "morning", "quiet", "stone", "bridge", "window", "letter", "yellow", "forest", "market",
            "winter", "silver", "harbor",
        ];
        let mut s = String::new();
        for i in 0..n_words {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(vocab[i % vocab.len()]);
            s.push_str(&"x".repeat(i / vocab.len() % 3));
        }
        s.push('.');
        s
    }

    #[test]
    fn quality_thresholds_from_both_sides() {
        let f = GopherQualityConfig::default().build();
        // word count: 50 words pass, 49 do not (the final "." is a symbol token)
        assert_eq!(run(&f, &prose(50)), Verdict::Keep);
        assert_eq!(run(&f, &prose(49)), drop("gopher_short_doc"));
        let small = GopherQualityConfig { max_doc_words: Some(60), ..Default::default() }.build();
        assert_eq!(run(&small, &prose(60)), Verdict::Keep);
        assert_eq!(run(&small, &prose(61)), drop("gopher_long_doc"));

        // mean word length: "the"/"and" are 3 chars (= 3 passes), "an" pulls below
        let words3 = vec!["the and"; 30].join(" ");
        assert_eq!(run(&f, &words3), Verdict::Keep);
        let words_short = format!("{} an", words3);
        assert_eq!(run(&f, &words_short), drop("gopher_below_avg_threshold"));
        let long = format!("the and {}", vec!["abcdefghijk"; 60].join(" "));
        assert_eq!(run(&f, &long), drop("gopher_above_avg_threshold"));

        // hashes: 10% of tokens allowed
        let base = prose(90); // 91 tokens with the period
        let with_hashes = |k: usize| format!("{} {}", base, vec!["#"; k].join(" "));
        // tokens = 91 + k; k/(91+k) > 0.1 from k = 11
        assert_eq!(run(&f, &with_hashes(10)), Verdict::Keep);
        assert_eq!(run(&f, &with_hashes(11)), drop("gopher_too_many_hashes"));
        let with_ell = |k: usize| format!("{} {}", vec!["..."; k].join(" "), base);
        assert_eq!(run(&f, &with_ell(10)), Verdict::Keep);
        assert_eq!(run(&f, &with_ell(11)), drop("gopher_too_many_ellipsis"));

        // bullets: more than 90% of lines
        let lines = |bul: usize, plain: usize| {
            let mut v = vec![format!("{}", prose(60))];
            v.extend((0..bul).map(|i| format!("• item number{i}")));
            v.extend((0..plain).map(|i| format!("plain line{i}")));
            v.join("\n")
        };
        assert_eq!(run(&f, &lines(8, 0)), Verdict::Keep); // 8/9 < 0.9
        assert_eq!(run(&f, &lines(10, 0)), drop("gopher_too_many_bullets")); // 10/11
                                                                             // end ellipsis: more than 30% of lines
        let ell = |k: usize, plain: usize| {
            let mut v = vec![prose(60)];
            v.extend((0..k).map(|i| format!("and so on{i}…")));
            v.extend((0..plain).map(|i| format!("plain line{i}")));
            v.join("\n")
        };
        assert_eq!(run(&f, &ell(3, 6)), Verdict::Keep); // 3/10
        assert_eq!(run(&f, &ell(4, 6)), drop("gopher_too_many_end_ellipsis")); // 4/11

        // alphabetic tokens: at least 80%
        let nums = |k: usize| format!("{} {}", prose(79), vec!["1234"; k].join(" "));
        // tokens = 80 + k, alpha = 79
        assert_eq!(run(&f, &nums(18)), Verdict::Keep); // 79/98 = 0.806
        assert_eq!(run(&f, &nums(20)), drop("gopher_below_alpha_threshold")); // 79/100

        // stop words: two distinct ones needed
        let no_stop = vec!["garden river morning"; 20].join(" ");
        assert_eq!(run(&f, &no_stop), drop("gopher_enough_stop_words"));
        assert_eq!(run(&f, &format!("{no_stop} the")), drop("gopher_enough_stop_words"));
        assert_eq!(run(&f, &format!("{no_stop} the the")), drop("gopher_enough_stop_words"));
        assert_eq!(run(&f, &format!("{no_stop} the with")), Verdict::Keep);
    }

    #[test]
    fn null_disables_a_rule() {
        let cfg: GopherQualityConfig = serde_json::from_str(r#"{"min_doc_words": null, "min_stop_words": null}"#).unwrap();
        assert_eq!(run(&cfg.build(), "garden river morning"), Verdict::Keep);
    }

    #[test]
    fn quality_annotate_only_keeps_and_records() {
        let cfg = GopherQualityConfig { annotate_only: true, ..Default::default() };
        let mut d = Document::new("d", "The cat sat with the dog.", Arc::from("s"));
        assert_eq!(cfg.build().process(&mut d), Verdict::Keep);
        assert_eq!(d.attributes["gopher_word_count"], 6.0);
        assert_eq!(d.attributes["gopher_stop_words"], 2.0);
        assert!((d.attributes["gopher_mean_word_length"] - 19.0 / 6.0).abs() < 1e-9);
    }

    #[test]
    fn language_overrides_apply_by_metadata() {
        let cfg: GopherQualityConfig = serde_json::from_value(serde_json::json!({
            "languages": {"xx": {"min_doc_words": 2, "min_stop_words": null}}
        }))
        .unwrap();
        assert!(cfg.validate().is_empty());
        let f = cfg.build();
        let mut d = Document::new("d", "garden river morning", Arc::from("s"));
        assert_eq!(f.process(&mut d.clone()), drop("gopher_short_doc"));
        d.metadata.insert("language".into(), "xx".into());
        assert_eq!(f.process(&mut d), Verdict::Keep);
        let bad: GopherQualityConfig = serde_json::from_value(serde_json::json!({
            "languages": {"zh": {"nope": 1, }, "ja": {"min_alpha_words_ratio": 2.0}}
        }))
        .unwrap();
        let errs = bad.validate();
        assert!(errs.iter().any(|(f, _)| f == "languages.zh.nope"), "{errs:?}");
        assert!(errs.iter().any(|(f, _)| f == "languages.ja.min_alpha_words_ratio"), "{errs:?}");
    }

    #[test]
    fn repetition_thresholds_from_both_sides() {
        let para = |i: usize| format!("paragraph number {i} has its own words like w{i}a w{i}b w{i}c w{i}d.");
        // paragraphs: 3 duplicates of 10 = 0.3 passes, 4 of 11 drops
        let mut ps: Vec<String> = (0..7).map(para).collect();
        ps.extend(vec![para(0); 3]);
        // but 3 duplicates are 3/10 of chars-ish > 0.2: relax the char rule to test the count rule
        let count_only = GopherRepetitionConfig {
            dup_para_char_frac: None,
            dup_line_char_frac: None,
            dup_line_frac: None,
            top_n_grams: vec![],
            dup_n_grams: vec![],
            ..Default::default()
        }
        .build();
        assert_eq!(run(&count_only, &ps.join("\n\n")), Verdict::Keep);
        ps.push(para(1));
        assert_eq!(run(&count_only, &ps.join("\n\n")), drop("gopher_dup_para_frac"));
        // paragraph characters: 0.2 of the text
        let char_only = GopherRepetitionConfig {
            dup_para_frac: None,
            dup_line_frac: None,
            dup_line_char_frac: None,
            top_n_grams: vec![],
            dup_n_grams: vec![],
            ..Default::default()
        }
        .build();
        let big = "z".repeat(80);
        let small = "y".repeat(20);
        // text = big + \n\n + small + \n\n + small: dup 20 chars of 124 = 0.16
        assert_eq!(run(&char_only, &format!("{big}\n\n{small}\n\n{small}")), Verdict::Keep);
        let small = "y".repeat(30); // 30 of 144 = 0.208
        assert_eq!(run(&char_only, &format!("{big}\n\n{small}\n\n{small}")), drop("gopher_dup_para_char_frac"));
        // lines
        let line_only = GopherRepetitionConfig {
            dup_para_frac: None,
            dup_para_char_frac: None,
            dup_line_char_frac: None,
            top_n_grams: vec![],
            dup_n_grams: vec![],
            ..Default::default()
        }
        .build();
        let mut ls: Vec<String> = (0..7).map(|i| format!("line {i}")).collect();
        ls.extend(vec!["line 0".to_string(); 3]);
        assert_eq!(run(&line_only, &ls.join("\n")), Verdict::Keep);
        ls.push("line 1".into());
        assert_eq!(run(&line_only, &ls.join("\n")), drop("gopher_dup_line_frac"));
        let line_char = GopherRepetitionConfig {
            dup_para_frac: None,
            dup_para_char_frac: None,
            dup_line_frac: None,
            top_n_grams: vec![],
            dup_n_grams: vec![],
            ..Default::default()
        }
        .build();
        assert_eq!(run(&line_char, &format!("{big}\n{small}\n{}", "y".repeat(20))), Verdict::Keep);
        assert_eq!(run(&line_char, &format!("{big}\n{small}\n{small}")), drop("gopher_dup_line_char_frac"));
    }

    #[test]
    fn ngram_thresholds_from_both_sides() {
        // top 2-gram: "aa bb" (5 chars) repeated k times among unique words
        let top2 = GopherRepetitionConfig { top_n_grams: vec![(2, 0.2)], dup_n_grams: vec![], ..Default::default() }.build();
        let text = |k: usize, uniq: usize| {
            let mut v: Vec<String> = (0..k).map(|_| "aa bb".to_string()).collect();
            v.extend((0..uniq).map(|i| format!("u{i:04}")));
            v.join(" ")
        };
        // k=4: top = "aa bb" x4 = 20 chars; "bb aa" x3 = 15. len = 4*6 + uniq*6 - 1
        assert_eq!(run(&top2, &text(4, 13)), Verdict::Keep); // 20/101
        assert_eq!(run(&top2, &text(4, 12)), drop("gopher_top_2_gram")); // 20/95
                                                                         // duplicated 5-grams
        let dup5 = GopherRepetitionConfig { top_n_grams: vec![], dup_n_grams: vec![(5, 0.15)], ..Default::default() }.build();
        let five = "alpha bravo charlie delta echo"; // 26 word characters
        let uniq = |n: usize| (0..n).map(|i| format!("w{i:03}")).collect::<Vec<_>>().join(" ");
        // text = five + " " + uniq(n) + " " + five: the repeat counts 26 characters
        // n=23: len = 30 + 1 + 23*5-1 + 1 + 30 = 176 -> 0.1477; n=22: 171 -> 0.152
        assert_eq!(run(&dup5, &format!("{five} {} {five}", uniq(23))), Verdict::Keep);
        assert_eq!(run(&dup5, &format!("{five} {} {five}", uniq(22))), drop("gopher_duplicated_5_n_grams"));
    }

    #[test]
    fn ngram_statistics_match_the_reference_definitions() {
        let words = ["a", "b", "a", "b", "a", "b", "c"];
        let mut t = WordTable::new(&words);
        // most common 2-gram "a b" x3 (first seen), 3 chars
        assert_eq!(t.top_ngram_chars(2), Some(9));
        // ties go to the first seen: "x y" and "y x" twice each
        let mut t2 = WordTable::new(&["xx", "y", "xx", "y", "xx"]);
        assert_eq!(t2.top_ngram_chars(2), Some(8));
        // find_all_duplicate: [a b][b? ...] skip semantics
        let mut t3 = WordTable::new(&["a", "b", "a", "b", "a", "b"]);
        // i0 "ab" new, i1 "ba" new, i2 "ab" dup (+2, i=4), i4 "ab" dup (+2)
        assert_eq!(t3.dup_ngram_chars(2), 4);
    }

    #[test]
    fn newline_run_split_matches_re_split() {
        assert_eq!(split_on_newline_runs("a\n\nb\n\n\nc\nd", 2), ["a", "b", "c\nd"]);
        assert_eq!(split_on_newline_runs("a\nb\n", 1), ["a", "b", ""]);
    }
}
