//! The FineWeb quality filter (Penedo et al. 2024), with datatrove 0.10's
//! rules and default thresholds.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_pipeline::filter::{self as shared, Filter, FilterConfig, Filtered, Mode, Signals};
use sluice_pipeline::{Document, Reason, Scratch};

use crate::gopher::find_duplicates;
use crate::text::{is_terminal_punctuation, py_strip, word_spans, Segmenter};
use crate::{char_len, check_ratio, LanguageOverrides, SignalRule, Test};

fn d_punct() -> f64 {
    0.12
}
fn d_short_thr() -> f64 {
    0.67
}
fn d_short_len() -> usize {
    30
}
fn d_dup() -> f64 {
    0.01
}
fn d_newline() -> f64 {
    0.3
}

/// Configuration of the `fineweb` filter. Lines are the non-blank lines of
/// the text split on `\n`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct FineWebQualityConfig {
    /// Drop when the fraction of lines ending in terminal punctuation (of
    /// any script) is below this (`fineweb_line_punct_ratio`). Default 0.12.
    #[serde(default = "d_punct")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub line_punct_thr: f64,
    /// Do not apply `line_punct_thr` to documents with no such line at all.
    /// Default false.
    #[serde(default)]
    pub line_punct_exclude_zero: bool,
    /// Drop when the fraction of lines of at most `short_line_length`
    /// characters is above this (`fineweb_short_line_ratio`). Default 0.67.
    #[serde(default = "d_short_thr")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub short_line_thr: f64,
    /// What counts as a short line, in characters. Default 30.
    #[serde(default = "d_short_len")]
    #[schemars(range(min = 0, max = 1_000_000_000))]
    pub short_line_length: usize,
    /// Drop when repeated lines hold more than this fraction of the
    /// characters (newlines excluded) (`fineweb_char_dup_ratio`). Default 0.01.
    #[serde(default = "d_dup")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub char_duplicates_ratio: f64,
    /// Drop when newlines per word exceed this (`fineweb_list_ratio`).
    /// Default 0.3.
    #[serde(default = "d_newline")]
    #[schemars(range(min = 0.0, max = 1_000_000.0))]
    pub new_line_ratio: f64,
    /// Only annotate: write `fineweb_*` attributes, drop nothing. Default false.
    #[serde(default)]
    pub annotate_only: bool,
    /// While filtering, also write the signals computed before the verdict
    /// as `fineweb_*` attributes (all of them for kept documents), for
    /// `sluice stats --signals` and `--what-if`. Default false.
    #[serde(default)]
    pub record_signals: bool,
    /// Per-language overrides of the options above, keyed by the
    /// `language` metadata. Default: none.
    #[serde(default, skip_serializing)]
    pub languages: LanguageOverrides,
}

impl Default for FineWebQualityConfig {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("defaults deserialise")
    }
}

impl FineWebQualityConfig {
    /// The options `--what-if` re-evaluates, and their attributes.
    pub const SIGNAL_RULES: &'static [SignalRule] = &[
        SignalRule {
            option: "line_punct_thr",
            attribute: "fineweb_line_punct_ratio",
            test: Test::DropBelow,
            reason: "fineweb_line_punct_ratio",
        },
        SignalRule {
            option: "short_line_thr",
            attribute: "fineweb_short_line_ratio",
            test: Test::DropAbove,
            reason: "fineweb_short_line_ratio",
        },
        SignalRule {
            option: "char_duplicates_ratio",
            attribute: "fineweb_char_dup_ratio",
            test: Test::DropAbove,
            reason: "fineweb_char_dup_ratio",
        },
        SignalRule { option: "new_line_ratio", attribute: "fineweb_list_ratio", test: Test::DropAbove, reason: "fineweb_list_ratio" },
    ];

    fn validate_one(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        check_ratio(&mut e, "line_punct_thr", Some(self.line_punct_thr));
        check_ratio(&mut e, "short_line_thr", Some(self.short_line_thr));
        check_ratio(&mut e, "char_duplicates_ratio", Some(self.char_duplicates_ratio));
        if self.new_line_ratio < 0.0 {
            e.push(("new_line_ratio".into(), "must not be negative".into()));
        }
        e
    }

    pub fn validate(&self) -> Vec<(String, String)> {
        shared::validate(self)
    }

    /// Build the filter. Call [`validate`](Self::validate) first: invalid
    /// language overrides are ignored here.
    pub fn build(&self) -> Filtered<FineWebQuality> {
        shared::build(self).unwrap_or_else(|_| Filtered::single(FineWebQuality { cfg: self.clone() }, self.mode()))
    }
}

impl FilterConfig for FineWebQualityConfig {
    type Filter = FineWebQuality;

    fn mode(&self) -> Mode {
        Mode::of(self.annotate_only, self.record_signals)
    }

    fn languages(&self) -> Option<&LanguageOverrides> {
        Some(&self.languages)
    }

    fn check(&self) -> Vec<(String, String)> {
        self.validate_one()
    }

    fn filter(&self) -> Result<FineWebQuality, Vec<(String, String)>> {
        Ok(FineWebQuality { cfg: self.clone() })
    }
}

/// The `fineweb` filter, for one resolved configuration.
#[derive(Debug, Clone)]
pub struct FineWebQuality {
    cfg: FineWebQualityConfig,
}

impl Filter for FineWebQuality {
    fn evaluate(&self, doc: &mut Document, scratch: &mut Scratch, signals: &mut Signals) -> Option<Reason> {
        let cfg = &self.cfg;
        let seg = Segmenter::for_language(doc.meta_str("language"));
        let text = doc.text.as_str();
        let lines: Vec<&str> = text.split('\n').filter(|l| !py_strip(l).is_empty()).collect();
        if lines.is_empty() {
            return Some(Reason::Static("fineweb_empty"));
        }
        let n = lines.len() as f64;
        let punct = lines.iter().filter(|l| l.chars().next_back().is_some_and(is_terminal_punctuation)).count() as f64 / n;
        let short = lines.iter().filter(|l| char_len(l) <= cfg.short_line_length).count() as f64 / n;
        let (_, dup_chars) = find_duplicates(lines.iter().copied());
        let non_nl = char_len(text) - text.bytes().filter(|&b| b == b'\n').count();
        let dup = if non_nl == 0 { 0.0 } else { dup_chars as f64 / non_nl as f64 };
        signals.push("fineweb_line_punct_ratio", punct);
        signals.push("fineweb_short_line_ratio", short);
        signals.push("fineweb_char_dup_ratio", dup);
        if !signals.all() {
            if punct < cfg.line_punct_thr && !(punct == 0.0 && cfg.line_punct_exclude_zero) {
                return Some(Reason::Static("fineweb_line_punct_ratio"));
            }
            if short > cfg.short_line_thr {
                return Some(Reason::Static("fineweb_short_line_ratio"));
            }
            if dup > cfg.char_duplicates_ratio {
                return Some(Reason::Static("fineweb_char_dup_ratio"));
            }
        }
        let words = word_spans(scratch, text, seg).len();
        let newlines = text.bytes().filter(|&b| b == b'\n').count();
        let list = if words == 0 { f64::INFINITY } else { newlines as f64 / words as f64 };
        signals.push("fineweb_list_ratio", if list.is_finite() { list } else { newlines as f64 });
        (list > cfg.new_line_ratio).then_some(Reason::Static("fineweb_list_ratio"))
    }
}

impl sluice_pipeline::component::Component for FineWebQualityConfig {
    const KIND: &'static str = "fineweb";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Stage;
    const ABOUT: &'static str = "FineWeb filter: terminal-punctuation lines, short lines, duplicated-line characters, newline/word ratio";
    const SIGNAL_RULES: &'static [sluice_pipeline::component::SignalRule] = FineWebQualityConfig::SIGNAL_RULES;

    fn validate(&self) -> Vec<(String, String)> {
        FineWebQualityConfig::validate(self)
    }

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        let _ = cx;
        Ok(sluice_pipeline::component::Built::doc(FineWebQualityConfig::build(self)))
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

    fn run(f: &Filtered<FineWebQuality>, text: &str) -> Verdict {
        f.process(&mut Document::new("d", text, Arc::from("s")))
    }

    fn line(i: usize, end: &str) -> String {
        format!("this is a reasonably long line number {i:03} of prose{end}")
    }

    #[test]
    fn thresholds_from_both_sides() {
        let f = FineWebQualityConfig::default().build();
        // terminal punctuation: 0.12 of lines is the bound (strictly below drops)
        let doc = |punct: usize, total: usize| (0..total).map(|i| line(i, if i < punct { "." } else { "" })).collect::<Vec<_>>().join("\n");
        assert_eq!(run(&f, &doc(3, 25)), Verdict::Keep); // 0.12
        assert_eq!(run(&f, &doc(2, 25)), Verdict::Drop("fineweb_line_punct_ratio".into())); // 0.08
                                                                                            // CJK full stop counts
        assert_eq!(run(&f, "这是一个相当长的中文句子，用来测试句号是否算作结尾标点，而且这一行超过了三十个字符。"), Verdict::Keep);
        let zero = FineWebQualityConfig { line_punct_exclude_zero: true, ..Default::default() }.build();
        assert_eq!(run(&zero, &doc(0, 10)), Verdict::Keep);

        // short lines: more than 0.67 drops
        let short = |s: usize, total: usize| {
            (0..total).map(|i| if i < s { format!("short {i}.") } else { line(i, ".") }).collect::<Vec<_>>().join("\n")
        };
        assert_eq!(run(&f, &short(2, 3)), Verdict::Keep); // 0.667
        assert_eq!(run(&f, &short(7, 10)), Verdict::Drop("fineweb_short_line_ratio".into())); // 0.7
                                                                                              // the 30-character bound is inclusive
        let l30 = format!("{}.", "a".repeat(29));
        let l30b = format!("{}.", "b".repeat(29));
        let l31 = format!("{}.", "a".repeat(30));
        let l31b = format!("{}.", "b".repeat(30));
        let half = FineWebQualityConfig { short_line_thr: 0.5, ..Default::default() }.build();
        assert_eq!(run(&half, &format!("{l30}\n{}", line(1, "."))), Verdict::Keep); // 1/2
        assert_eq!(run(&half, &format!("{l30}\n{l30b}\n{}", line(1, "."))), Verdict::Drop("fineweb_short_line_ratio".into()));
        assert_eq!(run(&half, &format!("{l31}\n{l31b}\n{}", line(1, "."))), Verdict::Keep);

        // duplicated line characters: 0.01
        let mut v: Vec<String> = (0..100).map(|i| line(i, ".")).collect();
        v.push(line(0, "."));
        assert_eq!(run(&f, &v.join("\n")), Verdict::Keep); // 53 / 5353 = 0.0099
        v.truncate(90);
        v.push(line(0, "."));
        assert_eq!(run(&f, &v.join("\n")), Verdict::Drop("fineweb_char_dup_ratio".into())); // 53 / 4876

        // newlines per word: 0.3
        let list = FineWebQualityConfig { short_line_thr: 1.0, ..Default::default() }.build();
        let items = |words_per_line: usize| {
            (0..20).map(|i| format!("{} w{i}.", vec!["item"; words_per_line - 2].join(" "))).collect::<Vec<_>>().join("\n")
        };
        // words per line = wpl (incl. the period token); 19 newlines
        assert_eq!(run(&list, &items(4)), Verdict::Keep); // 19/80
        assert_eq!(run(&list, &items(3)), Verdict::Drop("fineweb_list_ratio".into()));
        // 19/60
    }

    #[test]
    fn annotate_only_keeps_and_records() {
        let cfg = FineWebQualityConfig { annotate_only: true, ..Default::default() };
        let mut d = Document::new("d", "short\nshort\n", Arc::from("s"));
        assert_eq!(cfg.build().process(&mut d), Verdict::Keep);
        assert_eq!(d.attributes["fineweb_line_punct_ratio"], 0.0);
        assert_eq!(d.attributes["fineweb_short_line_ratio"], 1.0);
        assert!((d.attributes["fineweb_char_dup_ratio"] - 5.0 / 10.0).abs() < 1e-9);
    }
}
