//! A filter is its verdict: the scaffolding every document filter shares.
//!
//! A filter kind implements [`Filter`]: for one document, the signals it
//! measured and the first rule the document breaks. [`Filtered`] wraps it
//! into a [`DocStage`] and owns, for every filter alike:
//! - `annotate_only` ([`Mode::Annotate`]): every signal is computed and
//!   written as an attribute, and every document is kept;
//! - `record_signals` ([`Mode::Record`]): the filter drops as usual and also
//!   writes the signals it computed (all of them for a kept document, those
//!   up to the broken rule for a dropped one), for `sluice stats --signals`
//!   and `--what-if`;
//! - in every mode a *dropped* document carries the signals measured up to
//!   the rule it broke, so its exclusion record (and the run report) shows
//!   the value that dropped it; in the default mode kept documents get none;
//! - per-language overrides (`languages: {zh: {min_doc_words: 100}}`): each
//!   language's options are the kind's options with the overrides applied,
//!   checked against the same schema ranges and checks, and a document is
//!   judged with those of its `language` metadata (`zh-Hant` falls back to
//!   `zh`).
//!
//! Exclusions (where dropped documents go, with their reason) are the
//! engine's, for every stage.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::doc::{Document, Reason};
use crate::recipe::parse_checked;
use crate::scratch::Scratch;
use crate::stage::{DocStage, TaskContext, Verdict};

/// What a filter does with its verdict and its signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Drop documents that break a rule; write no signal.
    Filter,
    /// Drop, and write the signals computed.
    Record,
    /// Keep everything; compute and write every signal.
    Annotate,
}

impl Mode {
    /// The mode of a filter's `annotate_only` and `record_signals` options.
    pub fn of(annotate_only: bool, record_signals: bool) -> Mode {
        match (annotate_only, record_signals) {
            (true, _) => Mode::Annotate,
            (false, true) => Mode::Record,
            (false, false) => Mode::Filter,
        }
    }
}

/// The signals a filter measured on one document, in the order measured.
/// In [`Mode::Filter`] they are written only if the document is dropped
/// (the value that dropped it); a static name costs no allocation.
#[derive(Debug)]
pub struct Signals {
    mode: Mode,
    values: Vec<(Cow<'static, str>, f64)>,
}

impl Signals {
    pub fn new(mode: Mode) -> Self {
        Signals { mode, values: Vec::new() }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Annotate mode: measure every signal, even after a broken rule
    /// (otherwise the first broken rule may end the checks, as datatrove
    /// does).
    pub fn all(&self) -> bool {
        self.mode == Mode::Annotate
    }

    /// Whether pushed signals are written on kept documents too (annotate
    /// or record mode). Dropped documents get them in every mode.
    pub fn recording(&self) -> bool {
        self.mode != Mode::Filter
    }

    /// Record a signal (its attribute name and value).
    #[inline]
    pub fn push(&mut self, name: impl Into<Cow<'static, str>>, value: f64) {
        self.values.push((name.into(), value));
    }

    /// Record a signal whose name is built by `name` (a `format!`).
    #[inline]
    pub fn push_with(&mut self, name: impl FnOnce() -> String, value: f64) {
        self.values.push((Cow::Owned(name()), value));
    }

    /// The signals recorded, in order.
    pub fn values(&self) -> &[(Cow<'static, str>, f64)] {
        &self.values
    }
}

/// A document filter: what it measured and the first rule the document
/// breaks, if any. It may also edit the document (C4 removes lines,
/// language ID writes the `language` metadata) and write attributes that are
/// facts rather than signals (counts of PII found), whatever the mode.
pub trait Filter: Send + Sync {
    /// Judge one document. Push every signal measured to `signals`; when
    /// `signals.all()` is false the filter may stop at the first broken
    /// rule. `scratch` holds what earlier stages of the chain derived from
    /// the text (the word split) and takes what this filter derives.
    fn evaluate(&self, doc: &mut Document, scratch: &mut Scratch, signals: &mut Signals) -> Option<Reason>;

    /// See [`DocStage::prepare`].
    fn prepare(&self, ctx: &TaskContext) -> crate::Result<()> {
        let _ = ctx;
        Ok(())
    }

    /// See [`DocStage::counted_attributes`].
    fn counted_attributes(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Per-language overrides of a filter's options: `{zh: {min_doc_words: 100}}`.
pub type LanguageOverrides = BTreeMap<String, Map<String, Value>>;

/// The options of a filter kind that the shared wrapper reads.
pub trait FilterConfig: Clone + Serialize + DeserializeOwned + schemars::JsonSchema {
    type Filter: Filter + 'static;

    /// From the config's `annotate_only` and `record_signals` options.
    fn mode(&self) -> Mode;

    /// The config's `languages:` overrides; none by default.
    fn languages(&self) -> Option<&LanguageOverrides> {
        None
    }

    /// Checks of one resolved configuration (the defaults, or one
    /// language's), as `(option path, message)` pairs.
    fn check(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// The filter for one resolved configuration.
    fn filter(&self) -> Result<Self::Filter, Vec<(String, String)>>;
}

/// Apply each language's overrides on top of `base` (its serialised form,
/// less the `languages` key) and check every resulting configuration.
/// Errors name `languages.<lang>.<field>`.
pub fn resolve_languages<C: FilterConfig>(base: &C) -> Result<HashMap<String, C>, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let mut out = HashMap::new();
    let Some(overrides) = base.languages().filter(|o| !o.is_empty()) else { return Ok(out) };
    let mut base_map = match serde_json::to_value(base) {
        Ok(Value::Object(m)) => m,
        _ => return Err(vec![("languages".into(), "internal: the options do not serialise to a map".into())]),
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
        // The schema's ranges apply to overrides as to the options themselves.
        let at = format!("languages.{lang}");
        match parse_checked::<C>(&Value::Object(merged), &at) {
            Ok(c) => {
                errors.extend(c.check().into_iter().map(|(f, m)| (format!("{at}.{f}"), m)));
                out.insert(lang.clone(), c);
            }
            Err(diags) => errors.extend(diags.into_iter().map(|d| (d.path, d.message))),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Every check of a filter's options: the defaults' and each language's.
pub fn validate<C: FilterConfig>(c: &C) -> Vec<(String, String)> {
    let mut e = c.check();
    if let Err(more) = resolve_languages(c) {
        e.extend(more);
    }
    e
}

/// Build the stage of a filter's options (checked by [`validate`]).
pub fn build<C: FilterConfig>(c: &C) -> Result<Filtered<C::Filter>, Vec<(String, String)>> {
    let default = (c.filter()?, c.mode());
    let mut by_lang = HashMap::new();
    for (lang, lc) in resolve_languages(c)? {
        let f = lc.filter().map_err(|e| e.into_iter().map(|(f, m)| (format!("languages.{lang}.{f}"), m)).collect::<Vec<_>>())?;
        by_lang.insert(lang, (f, lc.mode()));
    }
    Ok(Filtered { default, by_lang })
}

/// A [`Filter`] as a document stage, with its per-language variants.
#[derive(Debug)]
pub struct Filtered<F> {
    default: (F, Mode),
    by_lang: HashMap<String, (F, Mode)>,
}

impl<F> Filtered<F> {
    /// A filter with no per-language variants.
    pub fn single(filter: F, mode: Mode) -> Self {
        Filtered { default: (filter, mode), by_lang: HashMap::new() }
    }

    /// The filter of the default options (no language override).
    pub fn filter(&self) -> &F {
        &self.default.0
    }

    /// The filter for a document, by its `language` metadata.
    pub fn for_doc(&self, doc: &Document) -> &(F, Mode) {
        if self.by_lang.is_empty() {
            return &self.default;
        }
        let Some(lang) = doc.meta_str("language") else { return &self.default };
        self.by_lang.get(lang).or_else(|| lang.split(['-', '_']).next().and_then(|b| self.by_lang.get(b))).unwrap_or(&self.default)
    }
}

/// The filter of the default options, so that a filter's own methods stay
/// at hand on its stage.
impl<F> std::ops::Deref for Filtered<F> {
    type Target = F;
    fn deref(&self) -> &F {
        &self.default.0
    }
}

impl<F: Filter> DocStage for Filtered<F> {
    fn process(&self, doc: &mut Document) -> Verdict {
        self.process_with(doc, &mut Scratch::default())
    }

    fn process_with(&self, doc: &mut Document, scratch: &mut Scratch) -> Verdict {
        let (filter, mode) = self.for_doc(doc);
        let mut signals = Signals::new(*mode);
        let broken = filter.evaluate(doc, scratch, &mut signals);
        // Kept documents carry the signals in annotate and record mode;
        // dropped ones always, so their exclusion record shows the value
        // of the rule they broke.
        if signals.recording() || broken.is_some() {
            doc.attributes.extend(signals.values.into_iter().map(|(k, v)| (k.into_owned(), v)));
        }
        match broken {
            Some(reason) if *mode != Mode::Annotate => Verdict::Drop(reason),
            _ => Verdict::Keep,
        }
    }

    fn prepare(&self, ctx: &TaskContext) -> crate::Result<()> {
        self.default.0.prepare(ctx)
    }

    fn counted_attributes(&self) -> Vec<String> {
        self.default.0.counted_attributes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A filter on the text length, with a per-language bound.
    #[derive(Debug, Clone, Serialize, serde::Deserialize, schemars::JsonSchema)]
    struct MinLen {
        #[schemars(range(min = 0, max = 1000))]
        min: usize,
        #[serde(default)]
        annotate_only: bool,
        #[serde(default)]
        record_signals: bool,
        #[serde(default, skip_serializing)]
        languages: LanguageOverrides,
    }

    impl Filter for MinLen {
        fn evaluate(&self, doc: &mut Document, _: &mut Scratch, s: &mut Signals) -> Option<Reason> {
            s.push("len", doc.text.len() as f64);
            (doc.text.len() < self.min).then(|| Reason::from("too_short"))
        }
    }

    impl FilterConfig for MinLen {
        type Filter = MinLen;
        fn mode(&self) -> Mode {
            Mode::of(self.annotate_only, self.record_signals)
        }
        fn languages(&self) -> Option<&LanguageOverrides> {
            Some(&self.languages)
        }
        fn check(&self) -> Vec<(String, String)> {
            if self.min == 7 {
                vec![("min".into(), "seven is unlucky".into())]
            } else {
                Vec::new()
            }
        }
        fn filter(&self) -> Result<MinLen, Vec<(String, String)>> {
            Ok(self.clone())
        }
    }

    fn cfg(v: serde_json::Value) -> MinLen {
        serde_json::from_value(v).unwrap()
    }

    fn run(stage: &Filtered<MinLen>, text: &str, lang: Option<&str>) -> (Verdict, BTreeMap<String, f64>) {
        let mut d = Document::new("d", text, Arc::from("s"));
        if let Some(l) = lang {
            d.metadata.insert("language".into(), l.into());
        }
        let v = stage.process(&mut d);
        (v, d.attributes)
    }

    #[test]
    fn modes_decide_what_is_written_and_dropped() {
        let f = build(&cfg(serde_json::json!({"min": 5}))).unwrap();
        // The default mode writes no signal on a kept document, and the
        // value that dropped it on a dropped one (its exclusion record).
        assert_eq!(run(&f, "abc", None), (Verdict::Drop("too_short".into()), BTreeMap::from([("len".to_string(), 3.0)])));
        assert_eq!(run(&f, "abcdef", None), (Verdict::Keep, BTreeMap::new()));
        let r = build(&cfg(serde_json::json!({"min": 5, "record_signals": true}))).unwrap();
        let (v, a) = run(&r, "abc", None);
        assert_eq!(v, Verdict::Drop("too_short".into()));
        assert_eq!(a["len"], 3.0);
        let a_only = build(&cfg(serde_json::json!({"min": 5, "annotate_only": true}))).unwrap();
        let (v, a) = run(&a_only, "abc", None);
        assert_eq!(v, Verdict::Keep);
        assert_eq!(a["len"], 3.0);
    }

    #[test]
    fn languages_override_and_are_checked() {
        let c = cfg(serde_json::json!({"min": 5, "languages": {"zh": {"min": 1}}}));
        assert!(validate(&c).is_empty());
        let f = build(&c).unwrap();
        assert_eq!(run(&f, "abc", Some("zh-Hant")).0, Verdict::Keep);
        assert_eq!(run(&f, "abc", Some("zh")).0, Verdict::Keep);
        assert_eq!(run(&f, "abc", Some("en")).0, Verdict::Drop("too_short".into()));
        assert_eq!(run(&f, "abc", None).0, Verdict::Drop("too_short".into()));
        // ranges, own checks and unknown options, each named
        let bad = cfg(serde_json::json!({"min": 5, "languages": {"zh": {"min": 5000}, "ja": {"min": 7}, "ko": {"nope": 1}}}));
        let e = validate(&bad);
        let paths: Vec<&str> = e.iter().map(|(p, _)| p.as_str()).collect();
        assert!(paths.contains(&"languages.zh.min"), "{e:?}");
        assert!(paths.contains(&"languages.ja.min"), "{e:?}");
        assert!(paths.contains(&"languages.ko.nope"), "{e:?}");
        assert!(build(&bad).is_err());
    }
}
