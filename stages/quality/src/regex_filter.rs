//! The `regex_filter` stage: drop (or annotate) documents that match
//! patterns given in the recipe.
//!
//! ```yaml
//! no_boilerplate:
//!   kind: regex_filter
//!   inputs: [crawl]
//!   patterns:
//!     lorem: "(?i)lorem ipsum"
//!     cookie_wall: "(?i)(accept|allow) (all )?cookies"
//!   max_matches: 0        # drop at the first match (the default)
//!   exclusions: true
//! ```
//!
//! Patterns use the `regex` crate's syntax (no look-around or
//! back-references, so matching is linear in the text). A document is
//! dropped as `regex_match` when its patterns match more than `max_matches`
//! times in all; with `record_signals` or `annotate_only` it carries the
//! total as `regex_matches` and each pattern's count as `regex_<name>`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_pipeline::component::{Built, Component, SignalRule, Test};
use sluice_pipeline::filter::{self, Filter, FilterConfig, Mode, Signals};
use sluice_pipeline::{BuildContext, Diagnostic, Document, Reason, Role, Scratch};

/// Compiled program size allowed per pattern: bounds memory whatever the
/// recipe says.
const PATTERN_SIZE_LIMIT: usize = 16 << 20;
const MAX_PATTERN_BYTES: usize = 16 << 10;
const MAX_PATTERNS: usize = 1000;

/// The compiled patterns, with the attribute each one's count is written to.
type Compiled = Vec<(String, regex::Regex)>;

/// Options of the `regex_filter` stage.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegexFilterConfig {
    /// Patterns by name (names: lowercase letters, digits and `_`). Each
    /// pattern's matches are counted (non-overlapping, leftmost-first).
    pub patterns: BTreeMap<String, String>,
    /// Match this metadata string (e.g. `url`) instead of the text. A
    /// document without it matches nothing. Default: the text.
    #[serde(default)]
    pub key: Option<String>,
    /// Drop a document when all patterns together match more than this many
    /// times (`regex_matches`). Default 0: any match drops.
    #[serde(default)]
    #[schemars(range(min = 0, max = 1_000_000_000))]
    pub max_matches: u64,
    /// Only annotate: write `regex_matches` and `regex_<name>`, drop
    /// nothing. Default false.
    #[serde(default)]
    pub annotate_only: bool,
    /// While filtering, also write those attributes. Default false.
    #[serde(default)]
    pub record_signals: bool,
}

impl RegexFilterConfig {
    fn compile(&self) -> Result<Compiled, Vec<(String, String)>> {
        let mut errors = Vec::new();
        let mut out = Vec::new();
        if self.patterns.is_empty() {
            errors.push(("patterns".into(), "give at least one pattern".into()));
        }
        if self.patterns.len() > MAX_PATTERNS {
            errors.push(("patterns".into(), format!("{} patterns; at most {MAX_PATTERNS}", self.patterns.len())));
        }
        for (name, pattern) in &self.patterns {
            let at = format!("patterns.{name}");
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
                errors.push((at.clone(), "a name is lowercase ASCII letters, digits and `_`".into()));
            }
            if pattern.len() > MAX_PATTERN_BYTES {
                errors.push((at, format!("{} bytes; a pattern has at most {MAX_PATTERN_BYTES}", pattern.len())));
                continue;
            }
            match regex::RegexBuilder::new(pattern).size_limit(PATTERN_SIZE_LIMIT).dfa_size_limit(PATTERN_SIZE_LIMIT).build() {
                Ok(re) if re.is_match("") => errors.push((at, "matches the empty string, so it would match every document".into())),
                Ok(re) => out.push((format!("regex_{name}"), re)),
                Err(e) => errors.push((at, e.to_string())),
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }
}

/// The `regex_filter` stage's runtime.
pub struct RegexFilter {
    patterns: Compiled,
    key: Option<String>,
    max_matches: u64,
}

impl Filter for RegexFilter {
    fn evaluate(&self, doc: &mut Document, _: &mut Scratch, signals: &mut Signals) -> Option<Reason> {
        let haystack = match &self.key {
            None => Some(doc.text.as_str()),
            Some(k) => doc.meta_str(k),
        };
        let mut total = 0u64;
        for (attr, re) in &self.patterns {
            let n = haystack.map_or(0, |h| re.find_iter(h).count() as u64);
            total += n;
            signals.push(attr.clone(), n as f64);
            if total > self.max_matches && !signals.all() {
                break;
            }
        }
        signals.push("regex_matches", total as f64);
        (total > self.max_matches).then_some(Reason::Static("regex_match"))
    }
}

impl FilterConfig for RegexFilterConfig {
    type Filter = RegexFilter;

    fn mode(&self) -> Mode {
        Mode::of(self.annotate_only, self.record_signals)
    }

    fn check(&self) -> Vec<(String, String)> {
        self.compile().err().unwrap_or_default()
    }

    fn filter(&self) -> Result<RegexFilter, Vec<(String, String)>> {
        Ok(RegexFilter { patterns: self.compile()?, key: self.key.clone(), max_matches: self.max_matches })
    }
}

impl Component for RegexFilterConfig {
    const KIND: &'static str = "regex_filter";
    const ROLE: Role = Role::Stage;
    const ABOUT: &'static str = "Drops (or annotates) documents whose text or a metadata field matches patterns from the recipe";
    const SIGNAL_RULES: &'static [SignalRule] =
        &[SignalRule { option: "max_matches", attribute: "regex_matches", test: Test::DropAbove, reason: "regex_match" }];

    fn validate(&self) -> Vec<(String, String)> {
        filter::validate(self)
    }

    fn build(&self, cx: &BuildContext) -> Result<Built, Vec<Diagnostic>> {
        filter::build(self).map(Built::doc).map_err(|e| sluice_pipeline::component::located(cx, e))
    }

    fn resolved(&self) -> Option<serde_json::Value> {
        sluice_pipeline::component::resolved_options(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_pipeline::{DocStage, Verdict};
    use std::sync::Arc;

    fn stage(v: serde_json::Value) -> Result<impl DocStage, Vec<(String, String)>> {
        let c: RegexFilterConfig = serde_json::from_value(v).unwrap();
        let e = filter::validate(&c);
        if !e.is_empty() {
            return Err(e);
        }
        filter::build(&c)
    }

    fn doc(text: &str) -> Document {
        let mut d = Document::new("d", text, Arc::from("s"));
        d.metadata.insert("url".into(), "https://shop.example/cart".into());
        d
    }

    #[test]
    fn drops_on_matches_above_the_bound() {
        let s = stage(serde_json::json!({"patterns": {"lorem": "(?i)lorem ipsum", "cookies": "(?i)accept cookies"}})).unwrap();
        assert_eq!(s.process(&mut doc("Lorem Ipsum dolor")), Verdict::Drop("regex_match".into()));
        assert_eq!(s.process(&mut doc("a real sentence")), Verdict::Keep);
        let lenient = stage(serde_json::json!({"patterns": {"lorem": "(?i)lorem ipsum"}, "max_matches": 1})).unwrap();
        assert_eq!(lenient.process(&mut doc("lorem ipsum once")), Verdict::Keep);
        assert_eq!(lenient.process(&mut doc("lorem ipsum, lorem ipsum")), Verdict::Drop("regex_match".into()));
    }

    #[test]
    fn annotates_counts_per_pattern_and_matches_metadata() {
        let s = stage(serde_json::json!({"patterns": {"a": "a", "b": "b+"}, "annotate_only": true})).unwrap();
        let mut d = doc("a b bb a a");
        assert_eq!(s.process(&mut d), Verdict::Keep);
        assert_eq!((d.attributes["regex_a"], d.attributes["regex_b"], d.attributes["regex_matches"]), (3.0, 2.0, 5.0));
        let by_url = stage(serde_json::json!({"patterns": {"cart": "/cart$"}, "key": "url"})).unwrap();
        assert_eq!(by_url.process(&mut doc("clean text")), Verdict::Drop("regex_match".into()));
        let mut no_url = Document::new("d", "/cart", Arc::from("s"));
        assert_eq!(by_url.process(&mut no_url), Verdict::Keep);
    }

    #[test]
    fn bad_patterns_are_named() {
        let e = stage(serde_json::json!({"patterns": {"bad": "(", "empty": "x*", "Bad-Name": "x"}})).err().unwrap();
        let paths: Vec<&str> = e.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["patterns.Bad-Name", "patterns.bad", "patterns.empty"], "{e:?}");
        assert!(stage(serde_json::json!({"patterns": {}})).is_err());
        let huge = "a".repeat(MAX_PATTERN_BYTES + 1);
        assert!(stage(serde_json::json!({"patterns": {"h": huge}})).is_err());
    }
}
