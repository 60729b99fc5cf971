//! The `length` filter: bounds on characters and lines.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_pipeline::component::{SignalRule, Test};
use sluice_pipeline::filter::{Filter, FilterConfig, Filtered, Mode, Signals};
use sluice_pipeline::{Document, Reason, Scratch};

/// Configuration of the `length` filter. Every bound is optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
pub struct LengthFilterConfig {
    /// Drop documents with fewer characters (`too_few_chars`).
    #[serde(default)]
    #[schemars(range(min = 0, max = 1_000_000_000_000u64))]
    pub min_chars: Option<usize>,
    /// Drop documents with more characters (`too_many_chars`).
    #[serde(default)]
    #[schemars(range(min = 0, max = 1_000_000_000_000u64))]
    pub max_chars: Option<usize>,
    /// Drop documents with fewer non-empty lines (`too_few_lines`).
    #[serde(default)]
    #[schemars(range(min = 0, max = 1_000_000_000_000u64))]
    pub min_lines: Option<usize>,
    /// Drop documents with more lines (`too_many_lines`).
    #[serde(default)]
    #[schemars(range(min = 0, max = 1_000_000_000_000u64))]
    pub max_lines: Option<usize>,
    /// Only annotate: write `chars` and `lines` attributes, drop nothing.
    #[serde(default)]
    pub annotate_only: bool,
}

impl LengthFilterConfig {
    /// The bounds `--what-if` re-evaluates and the report draws, on the
    /// attributes annotate mode writes.
    pub const SIGNAL_RULES: &'static [SignalRule] = &[
        SignalRule { option: "min_chars", attribute: "chars", test: Test::DropBelow, reason: "too_few_chars" },
        SignalRule { option: "max_chars", attribute: "chars", test: Test::DropAbove, reason: "too_many_chars" },
        SignalRule { option: "min_lines", attribute: "lines", test: Test::DropBelow, reason: "too_few_lines" },
        SignalRule { option: "max_lines", attribute: "lines", test: Test::DropAbove, reason: "too_many_lines" },
    ];

    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if let (Some(a), Some(b)) = (self.min_chars, self.max_chars) {
            if a > b {
                e.push(("max_chars".into(), format!("is below min_chars ({a})")));
            }
        }
        if let (Some(a), Some(b)) = (self.min_lines, self.max_lines) {
            if a > b {
                e.push(("max_lines".into(), format!("is below min_lines ({a})")));
            }
        }
        e
    }

    pub fn build(&self) -> Filtered<LengthFilter> {
        Filtered::single(LengthFilter { cfg: self.clone() }, self.mode())
    }
}

/// The `length` filter.
#[derive(Debug, Clone)]
pub struct LengthFilter {
    cfg: LengthFilterConfig,
}

impl FilterConfig for LengthFilterConfig {
    type Filter = LengthFilter;

    fn mode(&self) -> Mode {
        Mode::of(self.annotate_only, false)
    }

    fn check(&self) -> Vec<(String, String)> {
        self.validate()
    }

    fn filter(&self) -> Result<LengthFilter, Vec<(String, String)>> {
        Ok(LengthFilter { cfg: self.clone() })
    }
}

impl Filter for LengthFilter {
    fn evaluate(&self, doc: &mut Document, _: &mut Scratch, signals: &mut Signals) -> Option<Reason> {
        let c = &self.cfg;
        let chars = doc.text.chars().count();
        let need_lines = c.min_lines.is_some() || c.max_lines.is_some() || signals.all();
        let lines = if need_lines { doc.text.lines().filter(|l| !l.trim().is_empty()).count() } else { 0 };
        signals.push("chars", chars as f64);
        // Lines are counted only when a bound or annotate mode needs them:
        // no placeholder 0 on a dropped document.
        if need_lines {
            signals.push("lines", lines as f64);
        }
        if c.min_chars.is_some_and(|m| chars < m) {
            return Some(Reason::Static("too_few_chars"));
        }
        if c.max_chars.is_some_and(|m| chars > m) {
            return Some(Reason::Static("too_many_chars"));
        }
        if c.min_lines.is_some_and(|m| lines < m) {
            return Some(Reason::Static("too_few_lines"));
        }
        if c.max_lines.is_some_and(|m| lines > m) {
            return Some(Reason::Static("too_many_lines"));
        }
        None
    }
}

impl sluice_pipeline::component::Component for LengthFilterConfig {
    const KIND: &'static str = "length";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Stage;
    const ABOUT: &'static str = "Drops documents outside character/line bounds, or annotates their lengths";
    const SIGNAL_RULES: &'static [sluice_pipeline::component::SignalRule] = LengthFilterConfig::SIGNAL_RULES;

    fn validate(&self) -> Vec<(String, String)> {
        LengthFilterConfig::validate(self)
    }

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        let _ = cx;
        Ok(sluice_pipeline::component::Built::doc(LengthFilterConfig::build(self)))
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

    fn verdict(cfg: &LengthFilterConfig, text: &str) -> Verdict {
        cfg.build().process(&mut Document::new("d", text, Arc::from("s")))
    }

    #[test]
    fn thresholds_from_both_sides() {
        let cfg = LengthFilterConfig { min_chars: Some(5), max_chars: Some(10), min_lines: Some(2), ..Default::default() };
        assert_eq!(verdict(&cfg, "abcd"), Verdict::Drop("too_few_chars".into()));
        // characters, not bytes: five CJK characters pass min_chars 5
        assert_eq!(verdict(&cfg, "中文\n中文字"), Verdict::Keep);
        assert_eq!(verdict(&cfg, "abcdefghijk"), Verdict::Drop("too_many_chars".into()));
        assert_eq!(verdict(&cfg, "abcdefgh"), Verdict::Drop("too_few_lines".into()));
        assert_eq!(verdict(&cfg, "abc\n\nefg"), Verdict::Keep);
    }

    #[test]
    fn annotate_only_keeps_and_records() {
        let cfg = LengthFilterConfig { min_chars: Some(100), annotate_only: true, ..Default::default() };
        let mut d = Document::new("d", "a\nbb\n", Arc::from("s"));
        assert_eq!(cfg.build().process(&mut d), Verdict::Keep);
        assert_eq!(d.attributes["chars"], 5.0);
        assert_eq!(d.attributes["lines"], 2.0);
    }

    /// A dropped document carries the value that dropped it (for its
    /// exclusion record), and no line count that was never measured; a
    /// kept one carries nothing.
    #[test]
    fn a_dropped_document_carries_its_measured_signals() {
        let cfg = LengthFilterConfig { min_chars: Some(100), ..Default::default() };
        let mut d = Document::new("d", "a\nbb\n", Arc::from("s"));
        assert_eq!(cfg.build().process(&mut d), Verdict::Drop("too_few_chars".into()));
        assert_eq!(d.attributes.get("chars"), Some(&5.0));
        assert_eq!(d.attributes.get("lines"), None);
        let mut kept = Document::new("d", "x".repeat(100), Arc::from("s"));
        assert_eq!(cfg.build().process(&mut kept), Verdict::Keep);
        assert!(kept.attributes.is_empty());
        let cfg = LengthFilterConfig { min_lines: Some(3), ..Default::default() };
        let mut d = Document::new("d", "a\nbb\n", Arc::from("s"));
        assert_eq!(cfg.build().process(&mut d), Verdict::Drop("too_few_lines".into()));
        assert_eq!(d.attributes.get("lines"), Some(&2.0));
    }

    #[test]
    fn inverted_bounds_are_config_errors() {
        let cfg = LengthFilterConfig { min_chars: Some(10), max_chars: Some(5), ..Default::default() };
        assert_eq!(cfg.validate().len(), 1);
    }
}
