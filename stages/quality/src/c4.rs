//! C4's line-level cleaning and its bad-words filter (Raffel et al. 2020),
//! with datatrove 0.10's rules and defaults.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_pipeline::filter::{self as shared, Filter, FilterConfig, Filtered, Mode, Signals};
use sluice_pipeline::{Document, Reason, Scratch};

use crate::text::{count_sentences, is_py_space, offer_word_spans, py_splitlines, py_strip, split_words, word_spans, Segmenter};
use crate::{char_len, check_ratio, LanguageOverrides, SignalRule, Test};

const POLICY_SUBSTRINGS: &[&str] = &["terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies"];

fn d_true() -> bool {
    true
}
fn d_min_sentences() -> Option<usize> {
    Some(5)
}
fn d_min_words() -> Option<usize> {
    Some(3)
}
fn d_max_word() -> Option<usize> {
    Some(1000)
}

/// Configuration of the `c4` filter. It removes lines (and rewrites the
/// text with the lines it keeps) and drops whole documents for a few rules.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct C4QualityConfig {
    /// Remove Wikipedia-style citations (`[1]`, `[edit]`, `[citation
    /// needed]`) from lines. Default true.
    #[serde(default = "d_true")]
    pub remove_citations: bool,
    /// Remove lines that do not end in `.`, `?`, `!`, `"` or `'`, or that
    /// end in `...`. FineWeb's own run set this to false. Default true.
    #[serde(default = "d_true")]
    pub filter_no_terminal_punct: bool,
    /// Drop documents with fewer sentences in the kept lines
    /// (`c4_too_few_sentences`); `null` disables. Default 5.
    #[serde(default = "d_min_sentences")]
    #[schemars(range(min = 0, max = 1_000_000_000))]
    pub min_num_sentences: Option<usize>,
    /// Remove lines with fewer whitespace-separated words; `null` disables.
    /// Default 3.
    #[serde(default = "d_min_words")]
    #[schemars(range(min = 0, max = 1_000_000_000))]
    pub min_words_per_line: Option<usize>,
    /// Remove lines containing a word longer than this many characters;
    /// `null` disables. Default 1000.
    #[serde(default = "d_max_word")]
    #[schemars(range(min = 1, max = 1_000_000_000))]
    pub max_word_length: Option<usize>,
    /// Drop documents containing "lorem ipsum" (`c4_lorem_ipsum`). Default true.
    #[serde(default = "d_true")]
    pub filter_lorem_ipsum: bool,
    /// Remove lines mentioning "javascript". Default true.
    #[serde(default = "d_true")]
    pub filter_javascript: bool,
    /// Drop documents with a `{` in a kept line (`c4_curly_bracket`). Default true.
    #[serde(default = "d_true")]
    pub filter_curly_bracket: bool,
    /// Remove lines mentioning terms of use, privacy or cookie policies.
    /// Default true.
    #[serde(default = "d_true")]
    pub filter_policy: bool,
    /// Only annotate: write `c4_*` attributes, keep the text unchanged and
    /// drop nothing. Default false.
    #[serde(default)]
    pub annotate_only: bool,
    /// While filtering, also write `c4_lines`, `c4_kept_lines` and
    /// `c4_sentences` (of the kept lines; also on `c4_too_few_sentences`
    /// drops), for `sluice stats --signals` and `--what-if`. Default false.
    #[serde(default)]
    pub record_signals: bool,
    /// Per-language overrides of the options above, keyed by the
    /// `language` metadata. Default: none.
    #[serde(default, skip_serializing)]
    pub languages: LanguageOverrides,
}

impl Default for C4QualityConfig {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("defaults deserialise")
    }
}

impl C4QualityConfig {
    /// The options `--what-if` re-evaluates, and their attributes.
    pub const SIGNAL_RULES: &'static [SignalRule] =
        &[SignalRule { option: "min_num_sentences", attribute: "c4_sentences", test: Test::DropBelow, reason: "c4_too_few_sentences" }];

    fn validate_one(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if self.max_word_length == Some(0) {
            e.push(("max_word_length".into(), "must be at least 1 (use null to disable)".into()));
        }
        e
    }

    pub fn validate(&self) -> Vec<(String, String)> {
        shared::validate(self)
    }

    /// Build the filter. Call [`validate`](Self::validate) first: invalid
    /// language overrides are ignored here.
    pub fn build(&self) -> Filtered<C4Quality> {
        shared::build(self).unwrap_or_else(|_| Filtered::single(C4Quality { cfg: self.clone() }, self.mode()))
    }
}

impl FilterConfig for C4QualityConfig {
    type Filter = C4Quality;

    fn mode(&self) -> Mode {
        Mode::of(self.annotate_only, self.record_signals)
    }

    fn languages(&self) -> Option<&LanguageOverrides> {
        Some(&self.languages)
    }

    fn check(&self) -> Vec<(String, String)> {
        self.validate_one()
    }

    fn filter(&self) -> Result<C4Quality, Vec<(String, String)>> {
        Ok(C4Quality { cfg: self.clone() })
    }
}

/// The `c4` filter, for one resolved configuration.
#[derive(Debug, Clone)]
pub struct C4Quality {
    cfg: C4QualityConfig,
}

/// Remove `[digits]`, `[edit]` and `[citation needed]`.
fn remove_citations(line: &str) -> std::borrow::Cow<'_, str> {
    if !line.contains('[') {
        return line.into();
    }
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find('[') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let digits = after.len() - after.trim_start_matches(is_unicode_decimal).len();
        if after[digits..].starts_with(']') {
            rest = &after[digits + 1..];
        } else if let Some(r) = after.strip_prefix("edit]") {
            rest = r;
        } else if let Some(r) = after.strip_prefix("citation needed]") {
            rest = r;
        } else {
            out.push('[');
            rest = after;
        }
    }
    out.push_str(rest);
    out.into()
}

/// Python's `\d` in a `str` pattern: Unicode decimal digits (Nd).
fn is_unicode_decimal(c: char) -> bool {
    c.is_ascii_digit()
        || matches!(c as u32, 0x660..=0x669 | 0x6f0..=0x6f9 | 0x966..=0x96f | 0x9e6..=0x9ef | 0xe50..=0xe59 | 0xff10..=0xff19)
}

enum C4Outcome {
    Keep { text: String, lines: usize, kept: usize, sentences: usize },
    Drop { reason: &'static str, lines: usize, sentences: usize },
}

impl C4Quality {
    fn run(cfg: &C4QualityConfig, text: &str, seg: Segmenter, scratch: &mut Scratch) -> C4Outcome {
        let lines = py_splitlines(text);
        // With a whitespace-first splitter the words of a line are the words
        // of the whole text inside it: take them from the split that the
        // Gopher filters already made, and hand the split of the output on
        // to the next filter.
        let shared = cfg.min_num_sentences.is_some() && seg.splits_on_whitespace();
        let spans = if shared { Some(word_spans(scratch, text, seg)) } else { None };
        let base = text.as_ptr() as usize;
        let mut out_spans: Vec<(u32, u32)> = Vec::new();
        let mut out_len = 0usize;
        let mut kept: Vec<std::borrow::Cow<'_, str>> = Vec::new();
        let mut sentences = 0;
        let mut drop: Option<&'static str> = None;
        let mut words: Vec<&str> = Vec::new();
        for raw in &lines {
            let line = py_strip(raw);
            let mut n_words = 0;
            let mut too_long = false;
            for w in line.split(is_py_space).filter(|w| !w.is_empty()) {
                n_words += 1;
                if cfg.max_word_length.is_some_and(|m| char_len(w) > m) {
                    too_long = true;
                }
            }
            if too_long {
                continue;
            }
            let line = if cfg.remove_citations { remove_citations(line) } else { line.into() };
            if cfg.filter_no_terminal_punct && (!line.ends_with(['.', '?', '!', '"', '\'']) || line.ends_with("...")) {
                continue;
            }
            if cfg.min_words_per_line.is_some_and(|m| n_words < m) {
                continue;
            }
            let lower = line.to_lowercase();
            if cfg.filter_lorem_ipsum && lower.contains("lorem ipsum") {
                drop = Some("c4_lorem_ipsum");
                break;
            }
            if cfg.filter_javascript && lower.contains("javascript") {
                continue;
            }
            if cfg.filter_curly_bracket && line.contains('{') {
                drop = Some("c4_curly_bracket");
                break;
            }
            if cfg.filter_policy && POLICY_SUBSTRINGS.iter().any(|p| lower.contains(p)) {
                continue;
            }
            if !kept.is_empty() {
                out_len += 1; // the joining newline
            }
            if cfg.min_num_sentences.is_some() {
                match (&spans, &line) {
                    (Some(sp), std::borrow::Cow::Borrowed(l)) => {
                        // the line is a slice of the text: its words are a run of the spans
                        let start = (l.as_ptr() as usize - base) as u32;
                        let end = start + l.len() as u32;
                        let first = sp.partition_point(|&(a, _)| a < start);
                        words.clear();
                        for &(a, b) in sp[first..].iter().take_while(|&&(a, _)| a < end) {
                            words.push(&text[a as usize..b as usize]);
                            out_spans.push(((out_len + (a - start) as usize) as u32, (out_len + (b - start) as usize) as u32));
                        }
                        sentences += count_sentences(&words);
                    }
                    _ => {
                        let w = split_words(&line, seg);
                        if shared {
                            let lb = line.as_ptr() as usize;
                            out_spans.extend(w.iter().map(|x| {
                                let a = out_len + (x.as_ptr() as usize - lb);
                                (a as u32, (a + x.len()) as u32)
                            }));
                        }
                        sentences += count_sentences(&w);
                    }
                }
            }
            out_len += line.len();
            kept.push(line);
        }
        if let Some(r) = drop {
            return C4Outcome::Drop { reason: r, lines: lines.len(), sentences };
        }
        if cfg.min_num_sentences.is_some_and(|m| sentences < m) {
            return C4Outcome::Drop { reason: "c4_too_few_sentences", lines: lines.len(), sentences };
        }
        let n_kept = kept.len();
        let joined = kept.join("\n");
        let stripped = py_strip(&joined);
        let text = if stripped.len() == joined.len() { joined } else { stripped.to_string() };
        // (a stripped output moved its words: then let the next filter split it)
        if shared && text.len() == out_len {
            offer_word_spans(scratch, &text, seg, out_spans);
        }
        C4Outcome::Keep { text, lines: lines.len(), kept: n_kept, sentences }
    }
}

impl Filter for C4Quality {
    fn evaluate(&self, doc: &mut Document, scratch: &mut Scratch, signals: &mut Signals) -> Option<Reason> {
        let cfg = &self.cfg;
        let seg = Segmenter::for_language(doc.meta_str("language"));
        if signals.all() {
            // Measure without the rules that drop whole documents, so that
            // the line statistics are always there.
            let mut probe = cfg.clone();
            probe.filter_lorem_ipsum = false;
            probe.filter_curly_bracket = false;
            probe.min_num_sentences = Some(0);
            let lower = doc.text.to_lowercase();
            if let C4Outcome::Keep { lines, kept, sentences, text } = Self::run(&probe, &doc.text, seg, scratch) {
                signals.push("c4_lines", lines as f64);
                signals.push("c4_kept_lines", kept as f64);
                signals.push("c4_sentences", sentences as f64);
                signals.push(
                    "c4_kept_chars_ratio",
                    if doc.text.is_empty() { 0.0 } else { char_len(&text) as f64 / char_len(&doc.text) as f64 },
                );
            }
            signals.push("c4_lorem_ipsum", lower.contains("lorem ipsum") as u8 as f64);
            signals.push("c4_curly_bracket", doc.text.contains('{') as u8 as f64);
            return None;
        }
        match Self::run(cfg, &doc.text, seg, scratch) {
            C4Outcome::Drop { reason, lines, sentences } => {
                signals.push("c4_lines", lines as f64);
                if reason == "c4_too_few_sentences" {
                    signals.push("c4_sentences", sentences as f64);
                }
                Some(Reason::Static(reason))
            }
            C4Outcome::Keep { text, lines, kept, sentences } => {
                signals.push("c4_lines", lines as f64);
                signals.push("c4_kept_lines", kept as f64);
                signals.push("c4_sentences", sentences as f64);
                signals.push(
                    "c4_kept_chars_ratio",
                    if doc.text.is_empty() { 0.0 } else { char_len(&text) as f64 / char_len(&doc.text) as f64 },
                );
                doc.text = text;
                None
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Bad words
// ---------------------------------------------------------------------------

/// The English LDNOOBW list (one entry per line), shared with the safety stages.
pub use sluice_text::LDNOOBW_EN;

fn d_en() -> String {
    "en".to_string()
}

/// Configuration of the `c4_badwords` filter: drop documents containing a
/// word of the LDNOOBW list (C4's "bad words" rule), matched case-insensitively
/// on word boundaries. Only the English list is embedded; documents whose
/// `language` has no list are kept (counted as `c4_badwords_no_list` in
/// annotate mode).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct C4BadWordsConfig {
    /// Fraction of documents with bad words to keep anyway, chosen by a
    /// hash of the document id and `seed` (deterministic). Default 0.0.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub keep_fraction: f64,
    /// Seed of that choice. Default 0.
    #[serde(default)]
    #[schemars(range(min = 0, max = 18_446_744_073_709_551_615u64))]
    pub seed: u64,
    /// Language assumed for documents without `language` metadata. Default "en".
    #[serde(default = "d_en")]
    pub default_language: String,
    /// Extra words or phrases to block, in addition to the embedded list.
    /// Default: none.
    #[serde(default)]
    pub extra_words: Vec<String>,
    /// Only annotate: write `c4_badwords_count`, drop nothing. Default false.
    #[serde(default)]
    pub annotate_only: bool,
}

impl Default for C4BadWordsConfig {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("defaults deserialise")
    }
}

impl C4BadWordsConfig {
    pub fn validate(&self) -> Vec<(String, String)> {
        shared::validate(self)
    }

    pub fn build(&self) -> Filtered<C4BadWords> {
        Filtered::single(self.words(), self.mode())
    }

    fn words(&self) -> C4BadWords {
        let mut words: Vec<String> = LDNOOBW_EN.lines().map(|l| l.trim().to_lowercase()).filter(|l| !l.is_empty()).collect();
        words.extend(self.extra_words.iter().map(|w| w.trim().to_lowercase()).filter(|w| !w.is_empty()));
        words.sort();
        words.dedup();
        let max_words = words.iter().map(|w| w.split(' ').count()).max().unwrap_or(1);
        let set: crate::FxMap<String, ()> = words.into_iter().map(|w| (w, ())).collect();
        C4BadWords { cfg: self.clone(), words: Arc::new(set), max_words }
    }
}

/// The `c4_badwords` filter.
#[derive(Debug, Clone)]
pub struct C4BadWords {
    cfg: C4BadWordsConfig,
    words: Arc<crate::FxMap<String, ()>>,
    max_words: usize,
}

/// A "word character" for the `(?:\W|^)word(?:\W|$)` pattern.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl C4BadWords {
    /// Count bad-word occurrences in lowercased text: candidates are runs of
    /// 1..=max_words word-character tokens (and the separators between them)
    /// flanked by non-word characters, which is what the regex alternation
    /// matches for list entries made of word characters. Entries with other
    /// characters (`s&m`, `g-spot`, `🖕`) are looked for by substring with
    /// the same flanking rule.
    fn count(&self, lower: &str, stop_at_first: bool) -> usize {
        let mut n = 0;
        // token spans of word characters
        let mut spans: Vec<(usize, usize)> = Vec::new();
        let mut start = None;
        for (i, c) in lower.char_indices() {
            if is_word_char(c) {
                if start.is_none() {
                    start = Some(i);
                }
            } else if let Some(s) = start.take() {
                spans.push((s, i));
            }
        }
        if let Some(s) = start {
            spans.push((s, lower.len()));
        }
        for i in 0..spans.len() {
            for k in 0..self.max_words {
                let j = i + k;
                if j >= spans.len() {
                    break;
                }
                // phrases are separated by single spaces in the list
                if k > 0 && &lower[spans[j - 1].1..spans[j].0] != " " {
                    break;
                }
                if self.words.contains_key(&lower[spans[i].0..spans[j].1]) {
                    n += 1;
                    if stop_at_first {
                        return n;
                    }
                }
            }
        }
        for w in self.words.keys().filter(|w| w.chars().any(|c| !is_word_char(c) && c != ' ')) {
            for (pos, _) in lower.match_indices(w.as_str()) {
                let before = lower[..pos].chars().next_back();
                let after = lower[pos + w.len()..].chars().next();
                let flank = |c: Option<char>| c.is_none_or(|c| !is_word_char(c));
                if flank(before) && flank(after) {
                    n += 1;
                    if stop_at_first {
                        return n;
                    }
                }
            }
        }
        n
    }
}

impl FilterConfig for C4BadWordsConfig {
    type Filter = C4BadWords;

    fn mode(&self) -> Mode {
        Mode::of(self.annotate_only, false)
    }

    fn check(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        check_ratio(&mut e, "keep_fraction", Some(self.keep_fraction));
        e
    }

    fn filter(&self) -> Result<C4BadWords, Vec<(String, String)>> {
        Ok(self.words())
    }
}

impl Filter for C4BadWords {
    fn evaluate(&self, doc: &mut Document, _: &mut Scratch, signals: &mut Signals) -> Option<Reason> {
        let lang = doc.meta_str("language").unwrap_or(&self.cfg.default_language);
        let has_list = lang == "en" || lang.starts_with("en-");
        if !has_list {
            signals.push("c4_badwords_no_list", 1.0);
            return None;
        }
        let lower = doc.text.to_lowercase();
        if signals.all() {
            signals.push("c4_badwords_count", self.count(&lower, false) as f64);
            return None;
        }
        if self.count(&lower, true) == 0 {
            return None;
        }
        if self.cfg.keep_fraction > 0.0 {
            let h = xxhash_rust::xxh3::xxh3_64_with_seed(doc.id.as_bytes(), self.cfg.seed);
            let u = (h >> 11) as f64 / (1u64 << 53) as f64;
            if u < self.cfg.keep_fraction {
                return None;
            }
        }
        Some(Reason::Static("c4_badwords"))
    }
}

impl sluice_pipeline::component::Component for C4QualityConfig {
    const KIND: &'static str = "c4";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Stage;
    const ABOUT: &'static str =
        "C4 line-level cleaning (punctuation, javascript, policy, citations, lorem ipsum, braces, sentences); rewrites the text";
    const SIGNAL_RULES: &'static [sluice_pipeline::component::SignalRule] = C4QualityConfig::SIGNAL_RULES;

    fn validate(&self) -> Vec<(String, String)> {
        C4QualityConfig::validate(self)
    }

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        let _ = cx;
        Ok(sluice_pipeline::component::Built::doc(C4QualityConfig::build(self)))
    }

    fn resolved(&self) -> Option<serde_json::Value> {
        sluice_pipeline::component::resolved_options(self)
    }
}

impl sluice_pipeline::component::Component for C4BadWordsConfig {
    const KIND: &'static str = "c4_badwords";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Stage;
    const ABOUT: &'static str = "C4 bad-words filter (LDNOOBW English list)";

    fn validate(&self) -> Vec<(String, String)> {
        C4BadWordsConfig::validate(self)
    }

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        let _ = cx;
        Ok(sluice_pipeline::component::Built::doc(C4BadWordsConfig::build(self)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_pipeline::{DocStage, Verdict};
    use std::sync::Arc as A;

    fn run<S: DocStage>(f: &S, text: &str) -> (Verdict, String) {
        let mut d = Document::new("d", text, A::from("s"));
        let v = f.process(&mut d);
        (v, d.text)
    }

    const GOOD: &str = "The first sentence is here. The second one follows it. A third sentence comes now. The fourth is short too. And the fifth ends it.";

    #[test]
    fn line_rules_from_both_sides() {
        let f = C4QualityConfig::default().build();
        // five sentences on one line pass, four do not
        assert_eq!(run(&f, GOOD).0, Verdict::Keep);
        let four = "The first sentence is here. The second one follows it. A third sentence comes now. The fourth is short too.";
        assert_eq!(run(&f, four).0, Verdict::Drop("c4_too_few_sentences".into()));
        // lines without terminal punctuation, too few words, javascript and
        // policy lines are removed; citations are cut
        let text = format!("Menu Home About\n{GOOD}[1]\nok fine.\nPlease enable JavaScript to view it.\nRead our privacy policy here.\nEnds with ellipsis and more...\nTwo words.");
        let (v, out) = run(&f, &text);
        assert_eq!(v, Verdict::Keep);
        assert_eq!(out, GOOD);
        // min words per line: 3 passes, 2 does not
        let f5 = C4QualityConfig { min_num_sentences: Some(1), ..Default::default() }.build();
        assert_eq!(run(&f5, "Three words here.").1, "Three words here.");
        assert_eq!(run(&f5, "Two words.").0, Verdict::Drop("c4_too_few_sentences".into()));
        // long words
        let long = format!("A {} word.", "x".repeat(1001));
        assert_eq!(run(&f5, &long).0, Verdict::Drop("c4_too_few_sentences".into()));
        let ok = format!("A {} word.", "x".repeat(1000));
        assert_eq!(run(&f5, &ok).0, Verdict::Keep);
        // whole-document rules
        assert_eq!(run(&f, &format!("{GOOD}\nLorem ipsum dolor sit amet.")).0, Verdict::Drop("c4_lorem_ipsum".into()));
        assert_eq!(run(&f, &format!("{GOOD}\nvar x = {{ a: 1 }} is code.")).0, Verdict::Drop("c4_curly_bracket".into()));
        // a brace on a line that is removed anyway does not drop the document
        assert_eq!(run(&f, &format!("{GOOD}\nfunction() {{")).0, Verdict::Keep);
        // FineWeb's setting keeps lines without terminal punctuation
        let fw = C4QualityConfig { filter_no_terminal_punct: false, ..Default::default() }.build();
        assert_eq!(run(&fw, &format!("Menu Home About\n{GOOD}")).1, format!("Menu Home About\n{GOOD}"));
    }

    #[test]
    fn citations_are_removed() {
        assert_eq!(remove_citations("a[1] b[23][edit] c[citation needed]. d[x]"), "a b c. d[x]");
        assert_eq!(remove_citations("x[]y"), "xy");
    }

    #[test]
    fn annotate_only_keeps_text() {
        let cfg = C4QualityConfig { annotate_only: true, ..Default::default() };
        let mut d = Document::new("d", "Menu\nlorem ipsum {", A::from("s"));
        assert_eq!(cfg.build().process(&mut d), Verdict::Keep);
        assert_eq!(d.text, "Menu\nlorem ipsum {");
        assert_eq!(d.attributes["c4_lines"], 2.0);
        assert_eq!(d.attributes["c4_kept_lines"], 0.0);
        assert_eq!(d.attributes["c4_lorem_ipsum"], 1.0);
        assert_eq!(d.attributes["c4_curly_bracket"], 1.0);
    }

    #[test]
    fn bad_words_on_word_boundaries() {
        let f = C4BadWordsConfig::default().build();
        assert_eq!(run(&f, "A quiet afternoon in the garden.").0, Verdict::Keep);
        // substrings of other words do not match ("class", "scrap", "analysis")
        assert_eq!(run(&f, "The class analysis of scrapbooks.").0, Verdict::Keep);
        assert_eq!(run(&f, "What a BITCH of a day.").0, Verdict::Drop("c4_badwords".into()));
        // phrases and entries with punctuation
        assert_eq!(run(&f, "they used a ball gag there").0, Verdict::Drop("c4_badwords".into()));
        assert_eq!(run(&f, "they used a ball  gag there").0, Verdict::Keep);
        assert_eq!(run(&f, "about s&m, really").0, Verdict::Drop("c4_badwords".into()));
        // other languages have no embedded list and are kept
        let mut d = Document::new("d", "bitch", A::from("s"));
        d.metadata.insert("language".into(), "fr".into());
        assert_eq!(f.process(&mut d), Verdict::Keep);
        // keep_fraction 1 keeps everything, deterministically
        let all = C4BadWordsConfig { keep_fraction: 1.0, ..Default::default() }.build();
        assert_eq!(run(&all, "bitch").0, Verdict::Keep);
    }
}
