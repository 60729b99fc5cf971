//! `classifier`: score every document with a fastText model and keep by
//! threshold, by label or by the top fraction of the corpus.
//!
//! The model is a fastText `.bin`/`.ftz` file (`model:`, e.g. DCLM's
//! `openhermes_reddit_eli5_vs_rw_v2_bigram_200k_train.bin`, a FineWeb-Edu
//! style classifier, a Jigsaw toxicity model) or the one a
//! `classifier_train` stage produced earlier in the same recipe
//! (`model_from:`). Scoring reads the model through `sluice-fasttext`, which
//! tokenises and hashes exactly as fastText does, so the probabilities are
//! fastText's.
//!
//! Every document gets the attribute `<attribute>_score` (the score the
//! keep rules test) and, with `probabilities: true`, `<attribute>_<label>`
//! for every label. Rules:
//! - `min_score`: drop a document whose score is below (`classifier_low_score`);
//! - `keep_labels`: drop a document whose most probable label is not listed
//!   (`classifier_label_not_kept`);
//! - `top_fraction`: keep the highest-scoring fraction of every document that
//!   reaches the stage (`classifier_below_top_fraction`). This needs every
//!   document's score before deciding on any, so the stage is then a global
//!   stage: scores are binned into a fixed histogram of 2^20 bins per task,
//!   the histograms are summed (so the threshold is the same whatever
//!   `--tasks`), and the threshold bin is the highest one at which the kept
//!   fraction reaches the target. The report `reports/<node>/classifier.json`
//!   holds the histogram, the threshold and example documents on both sides.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sluice_fasttext::Model;
use sluice_pipeline::component::{located, resolved_options, Built, Component, SignalRule, Test};
use sluice_pipeline::output::AtomicFile;
use sluice_pipeline::stage::TaskContext;
use sluice_pipeline::{
    Batch, BuildContext, Diagnostic, DocStage, Document, Error, GlobalContext, GlobalStage, GlobalStep, Observer, Result, Role,
    StageOutput, StreamStage, Verdict,
};

/// How a document's text is turned into the line the model reads. It must
/// match what the model was trained with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Preprocess {
    /// Lowercase the text (Unicode lowercasing) first. Default false:
    /// fastText itself does not lowercase.
    #[serde(default)]
    pub lowercase: bool,
    /// What a newline becomes: `space` (default; one document is one
    /// fastText line, which is what Python's `model.predict` requires and
    /// what DCLM and datatrove do) or `eos` (fastText's end-of-sentence
    /// token `</s>`, what fastText's own tokenizer makes of a newline).
    #[serde(default)]
    pub newlines: Newlines,
}

/// See [`Preprocess::newlines`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Newlines {
    #[default]
    Space,
    Eos,
}

impl Preprocess {
    /// The line the model scores: the text prepared, newlines as spaces or
    /// as ` </s> ` (the token fastText makes of a newline in its training
    /// file), and a final `\n`, which Python's `model.predict` appends too
    /// (fastText then adds its `</s>`).
    pub fn apply<'a>(&self, text: &str, buf: &'a mut String) -> &'a str {
        buf.clear();
        buf.reserve(text.len() + 1);
        for c in text.chars() {
            match c {
                '\n' if self.newlines == Newlines::Space => buf.push(' '),
                '\n' => buf.push_str(" </s> "),
                c if self.lowercase => buf.extend(c.to_lowercase()),
                c => buf.push(c),
            }
        }
        buf.push('\n');
        buf
    }

    /// One training line of fastText's input format: the labels, then the
    /// preprocessed text with newlines as ` </s> ` (eos) or spaces, and
    /// every token that would read as a label (starts with `prefix`)
    /// removed: scoring ignores such tokens, so training must not see them
    /// either (and crawled text must not be able to inject a label).
    pub fn training_line(&self, labels: &str, text: &str, prefix: &str, out: &mut String) {
        out.clear();
        out.push_str(labels);
        let lowered;
        let text = if self.lowercase {
            lowered = text.to_lowercase();
            &lowered
        } else {
            text
        };
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 && self.newlines == Newlines::Eos {
                out.push_str(" </s>");
            }
            for tok in line.split(is_fasttext_space) {
                if tok.is_empty() || tok.starts_with(prefix) {
                    continue;
                }
                out.push(' ');
                out.push_str(tok);
            }
        }
    }
}

/// fastText's token separators (besides `\n`, which ends a sentence).
fn is_fasttext_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{b}' | '\u{c}' | '\r' | '\0')
}

/// What `classifier_train` saves beside its model, `OUT/<node>/model.json`:
/// what a `classifier` stage with `model_from` needs to score the same way.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelCard {
    pub kind: String,
    /// Label names without the prefix, in the model's label order.
    pub labels: Vec<String>,
    pub preprocess: Preprocess,
    /// The label whose probability is the score, if the recipe named one.
    pub positive: Option<String>,
    /// The labels are numbers (a numeric metadata field): the score is the
    /// expected value.
    pub numeric: bool,
}

/// File names `classifier_train` writes under `OUT/<node>/`.
pub const MODEL_FILE: &str = "model.bin";
pub const CARD_FILE: &str = "model.json";

fn d_true() -> bool {
    true
}
fn d_examples() -> usize {
    6
}

/// Options of `classifier`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassifierConfig {
    /// A fastText model file (`.bin`, or quantised `.ftz`). Set this or
    /// `model_from`.
    #[serde(default)]
    pub model: Option<PathBuf>,
    /// The name of a `classifier_train` stage upstream of this one: score
    /// with the model it trained (`OUT/<stage>/model.bin`), prepared the way
    /// it was trained.
    #[serde(default)]
    pub model_from: Option<String>,
    /// Text preparation (lowercasing, newlines); must match the model's
    /// training. Default: fastText's (no lowercasing, newlines as spaces),
    /// or, with `model_from`, what that stage trained with (then it may not
    /// be set here).
    #[serde(default)]
    pub preprocess: Option<Preprocess>,
    /// The label (without `__label__`) whose probability is the score. For a
    /// model trained from a numeric field the score is instead the expected
    /// value. Default: with `model_from`, that stage's `positive` label;
    /// with `model`, required unless the labels are all numbers.
    #[serde(default)]
    pub score_label: Option<String>,
    /// Prefix of the attributes written: `<attribute>_score` and, with
    /// `probabilities`, `<attribute>_<label>`. Default: the stage's name.
    #[serde(default)]
    pub attribute: Option<String>,
    /// Write every label's probability as an attribute. Default true.
    #[serde(default = "d_true")]
    pub probabilities: bool,
    /// Drop documents whose score is below this (`classifier_low_score`).
    /// Default: none.
    #[serde(default)]
    #[schemars(range(min = -1e12, max = 1e12))]
    pub min_score: Option<f64>,
    /// Keep only this fraction of the documents reaching the stage, those
    /// with the highest scores (`classifier_below_top_fraction`); ties at
    /// the threshold are all kept. Makes the stage global. Default: none.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub top_fraction: Option<f64>,
    /// Keep only documents whose most probable label is one of these
    /// (`classifier_label_not_kept`). Default: empty (no such rule).
    #[serde(default)]
    pub keep_labels: Vec<String>,
    /// Only annotate: write the attributes, drop nothing. Default false.
    #[serde(default)]
    pub annotate_only: bool,
    /// With `top_fraction`: how many example documents on each side of the
    /// threshold the report shows. Default 6.
    #[serde(default = "d_examples")]
    #[schemars(range(min = 0, max = 1000))]
    pub report_examples: usize,
}

/// Largest number of labels a model may have for `probabilities: true`
/// (every label becomes an attribute of every document).
const MAX_ATTRIBUTE_LABELS: usize = 1000;

impl ClassifierConfig {
    /// Every check, the model file's included (it is loaded).
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e = self.check_options();
        if let (Some(p), None) = (&self.model, &self.model_from) {
            match load_model(p) {
                Ok(m) => e.extend(self.check_model(&m)),
                Err(m) => e.push(("model".into(), m)),
            }
        }
        e
    }

    /// The checks that do not need the model.
    fn check_options(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        match (&self.model, &self.model_from) {
            (None, None) | (Some(_), Some(_)) => {
                e.push(("model".into(), "set exactly one of `model` (a fastText file) and `model_from` (a classifier_train stage)".into()))
            }
            (None, Some(_)) if self.preprocess.is_some() => {
                e.push(("preprocess".into(), "comes from the classifier_train stage named by `model_from`; do not set it here".into()));
            }
            _ => {}
        }
        if let Some(t) = self.min_score {
            if !t.is_finite() || t.abs() > 1e12 {
                e.push(("min_score".into(), format!("must be a finite number, got {t}")));
            }
        }
        if let Some(f) = self.top_fraction {
            if !(f > 0.0 && f <= 1.0) {
                e.push(("top_fraction".into(), format!("must be in (0, 1], got {f}")));
            }
        }
        if let Some(a) = &self.attribute {
            if a.is_empty() || a.len() > 200 || a.chars().any(|c| c.is_control()) {
                e.push(("attribute".into(), "must be 1 to 200 printable characters".into()));
            }
        }
        if self.report_examples > 1000 {
            e.push(("report_examples".into(), "must be at most 1000".into()));
        }
        e
    }

    /// The checks against a loaded model file.
    fn check_model(&self, m: &Model) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let names = label_names(m);
        if let Err(m) = score_of(&names, self.score_label.as_deref(), None, false) {
            e.push(("score_label".into(), m));
        }
        for (i, l) in self.keep_labels.iter().enumerate() {
            if !names.contains(l) {
                e.push((format!("keep_labels[{i}]"), format!("`{l}` is not a label of the model (labels: {})", names.join(", "))));
            }
        }
        if self.probabilities && names.len() > MAX_ATTRIBUTE_LABELS {
            e.push((
                "probabilities".into(),
                format!("the model has {} labels; at most {MAX_ATTRIBUTE_LABELS} can be attributes", names.len()),
            ));
        }
        e
    }
}

/// The model's labels without their prefix.
pub fn label_names(m: &Model) -> Vec<String> {
    let p = m.label_prefix();
    m.labels().iter().map(|l| l.strip_prefix(p).unwrap_or(l).to_string()).collect()
}

/// Load a model file, as a message for the recipe path.
fn load_model(p: &Path) -> std::result::Result<Model, String> {
    Model::load(p).map_err(|e| format!("{}: {e}", p.display()))
}

/// How a document's score is made from the label probabilities.
#[derive(Debug, Clone)]
enum ScoreOf {
    /// The probability of one label.
    Label(usize),
    /// The expected value of numeric labels.
    Expected(Vec<f64>),
}

impl ScoreOf {
    fn score(&self, probs: &[f32]) -> f64 {
        match self {
            ScoreOf::Label(i) => probs[*i] as f64,
            ScoreOf::Expected(v) => {
                let total: f64 = probs.iter().map(|&p| p as f64).sum();
                let s: f64 = probs.iter().zip(v).map(|(&p, &x)| p as f64 * x).sum();
                if total > 0.0 {
                    s / total
                } else {
                    0.0
                }
            }
        }
    }

    /// The range a score can take.
    fn range(&self) -> (f64, f64) {
        match self {
            ScoreOf::Label(_) => (0.0, 1.0),
            ScoreOf::Expected(v) => {
                let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
                let hi = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                (lo, hi)
            }
        }
    }
}

fn score_of(names: &[String], score_label: Option<&str>, positive: Option<&str>, numeric: bool) -> std::result::Result<ScoreOf, String> {
    if let Some(l) = score_label.or(positive) {
        return names
            .iter()
            .position(|n| n == l)
            .map(ScoreOf::Label)
            .ok_or_else(|| format!("`{l}` is not a label of the model (labels: {})", names.join(", ")));
    }
    let values: Option<Vec<f64>> = names.iter().map(|n| n.parse::<f64>().ok().filter(|v| v.is_finite())).collect();
    match values {
        Some(v) if !v.is_empty() && (numeric || names.len() > 1) => Ok(ScoreOf::Expected(v)),
        _ => Err(format!(
            "the model's labels ({}) are not numbers: name the label whose probability is the score with `score_label`",
            names.join(", ")
        )),
    }
}

/// A model ready to score: the model, its label names, the preparation and
/// the score rule.
pub struct Scorer {
    model: Model,
    names: Vec<String>,
    preprocess: Preprocess,
    score: ScoreOf,
}

thread_local! {
    static BUFS: RefCell<(sluice_fasttext::Scratch, String)> = RefCell::new((sluice_fasttext::Scratch::new(), String::new()));
}

impl Scorer {
    /// The label probabilities of `text` into `probs`, and the score.
    pub fn score(&self, text: &str, probs: &mut Vec<f32>) -> f64 {
        BUFS.with(|b| {
            let (scratch, buf) = &mut *b.borrow_mut();
            if self.preprocess == Preprocess::default() {
                // newlines as spaces, nothing else: no copy of the text
                self.model.predict_document_into(text, scratch, probs);
            } else {
                let line = self.preprocess.apply(text, buf);
                self.model.predict_into(line, scratch, probs);
            }
        });
        self.score.score(probs)
    }

    pub fn labels(&self) -> &[String] {
        &self.names
    }
}

/// The index of the most probable label (the first of equal ones).
pub(crate) fn top_label(probs: &[f32]) -> usize {
    let mut best = 0;
    for (i, &p) in probs.iter().enumerate() {
        if p > probs[best] {
            best = i;
        }
    }
    best
}

/// The runtime of `classifier` (both shapes).
pub struct Classifier {
    cfg: ClassifierConfig,
    node: String,
    attribute: String,
    /// Set at build (`model:`) or when the first task starts (`model_from:`).
    scorer: OnceLock<std::result::Result<Arc<Scorer>, String>>,
    keep: Vec<usize>,
}

impl Classifier {
    fn new(cfg: &ClassifierConfig, node: &str) -> Classifier {
        Classifier {
            attribute: cfg.attribute.clone().unwrap_or_else(|| node.to_string()),
            cfg: cfg.clone(),
            node: node.to_string(),
            scorer: OnceLock::new(),
            keep: Vec::new(),
        }
    }

    fn err(&self, m: impl Into<String>) -> Error {
        Error::Stage { node: self.node.clone(), message: m.into() }
    }

    /// Load the model (once per process).
    fn scorer(&self, output: &Path) -> Result<Arc<Scorer>> {
        let r = self.scorer.get_or_init(|| self.load(output).map(Arc::new));
        r.clone().map_err(|m| self.err(m))
    }

    fn load(&self, output: &Path) -> std::result::Result<Scorer, String> {
        let (model, preprocess, positive, numeric) = match (&self.cfg.model, &self.cfg.model_from) {
            (Some(p), _) => (load_model(p)?, self.cfg.preprocess.unwrap_or_default(), None, false),
            (None, Some(from)) => {
                let dir = output.join(from);
                let card_path = dir.join(CARD_FILE);
                let bytes = sluice_pipeline::limits::read_file_limited(&card_path, 1 << 20)
                    .map_err(|e| format!("{e}: no model from the classifier_train stage `{from}` (is this stage downstream of it?)"))?;
                let card: ModelCard = serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", card_path.display()))?;
                let model = load_model(&dir.join(MODEL_FILE))?;
                (model, card.preprocess, card.positive, card.numeric)
            }
            (None, None) => return Err("no model".into()),
        };
        self.scorer_of(model, preprocess, positive, numeric)
    }

    fn scorer_of(
        &self,
        model: Model,
        preprocess: Preprocess,
        positive: Option<String>,
        numeric: bool,
    ) -> std::result::Result<Scorer, String> {
        let names = label_names(&model);
        let score = score_of(&names, self.cfg.score_label.as_deref(), positive.as_deref(), numeric)?;
        for l in &self.cfg.keep_labels {
            if !names.contains(l) {
                return Err(format!("keep_labels: `{l}` is not a label of the model (labels: {})", names.join(", ")));
            }
        }
        Ok(Scorer { model, names, preprocess, score })
    }

    fn keep_indices(&self, s: &Scorer) -> Vec<usize> {
        self.cfg.keep_labels.iter().filter_map(|l| s.names.iter().position(|n| n == l)).collect()
    }

    /// Write the attributes of one document's probabilities and score.
    fn annotate(&self, s: &Scorer, doc: &mut Document, probs: &[f32], score: f64) {
        doc.attributes.insert(format!("{}_score", self.attribute), score);
        if self.cfg.probabilities {
            for (n, &p) in s.names.iter().zip(probs) {
                doc.attributes.insert(format!("{}_{n}", self.attribute), p as f64);
            }
        }
    }

    /// The per-document rules (`min_score`, `keep_labels`).
    fn verdict(&self, probs: &[f32], score: f64, keep: &[usize]) -> Option<&'static str> {
        if let Some(t) = self.cfg.min_score {
            if score < t {
                return Some("classifier_low_score");
            }
        }
        if !keep.is_empty() && !keep.contains(&top_label(probs)) {
            return Some("classifier_label_not_kept");
        }
        None
    }
}

impl DocStage for Classifier {
    fn process(&self, doc: &mut Document) -> Verdict {
        let Some(Ok(s)) = self.scorer.get() else {
            return Verdict::Drop("classifier_no_model".into());
        };
        let mut probs = Vec::new();
        let score = s.score(&doc.text, &mut probs);
        self.annotate(s, doc, &probs, score);
        let keep = if self.keep.is_empty() { self.keep_indices(s) } else { self.keep.clone() };
        match self.verdict(&probs, score, &keep) {
            Some(r) if !self.cfg.annotate_only => Verdict::Drop(r.into()),
            _ => Verdict::Keep,
        }
    }

    fn prepare(&self, ctx: &TaskContext) -> Result<()> {
        self.scorer(&ctx.output).map(|_| ())
    }
}

// ---------------------------------------------------------------------------
// top_fraction: the global shape.

/// Bins of the score histogram: fine enough that the kept fraction misses
/// the target only by the documents tied in one bin of width 2^-20 of the
/// score range.
const BINS: usize = 1 << 20;
const SALT_EXAMPLES: u64 = 0xc1a5_51f1;

fn bin_of(score: f64, (lo, hi): (f64, f64)) -> usize {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) || score.is_nan() {
        return 0;
    }
    let x = ((score - lo) / (hi - lo)).clamp(0.0, 1.0);
    ((x * BINS as f64) as usize).min(BINS - 1)
}

fn task_file(dir: &Path, task: usize, name: &str) -> PathBuf {
    dir.join(format!("{task:05}-{name}"))
}

/// One example document for the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Example {
    h: u64,
    pos: u128,
    id: String,
    source: String,
    url: Option<String>,
    score: f64,
    label: String,
    /// The start of the text (600 bytes at most).
    text: String,
}

struct TopObserver {
    scorer: Arc<Scorer>,
    seed: u64,
    examples_cap: usize,
    hist: Vec<u64>,
    range: (f64, f64),
    scores: Option<AtomicFile>,
    examples: BTreeMap<(u64, u128), Example>,
    hist_path: PathBuf,
    examples_path: PathBuf,
    n_labels: usize,
}

fn snippet(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

impl Observer for TopObserver {
    fn observe(&mut self, docs: &[Document]) -> Result<()> {
        let scored: Vec<(Vec<f32>, f64)> = docs
            .par_iter()
            .map(|d| {
                let mut p = Vec::with_capacity(self.n_labels);
                let s = self.scorer.score(&d.text, &mut p);
                (p, s)
            })
            .collect();
        let f = self.scores.as_mut().expect("open until finish");
        for (d, (probs, score)) in docs.iter().zip(scored) {
            self.hist[bin_of(score, self.range)] += 1;
            for p in &probs {
                f.write_all(&p.to_le_bytes()).map_err(|e| Error::io(f.path().to_path_buf(), e))?;
            }
            if self.examples_cap > 0 {
                let h = d.pos.seeded_hash(self.seed, SALT_EXAMPLES);
                let k = (h, d.pos.key());
                if self.examples.len() < self.examples_cap || self.examples.keys().next_back().is_some_and(|last| k < *last) {
                    self.examples.insert(
                        k,
                        Example {
                            h,
                            pos: d.pos.key(),
                            id: d.id.clone(),
                            source: d.source.to_string(),
                            url: d.metadata.get("url").and_then(Value::as_str).map(str::to_string),
                            score,
                            label: self.scorer.names[top_label(&probs)].clone(),
                            text: snippet(&d.text, 600),
                        },
                    );
                    if self.examples.len() > self.examples_cap {
                        self.examples.pop_last();
                    }
                }
            }
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.scores.take().expect("open").commit()?;
        let sparse: Vec<(usize, u64)> = self.hist.iter().enumerate().filter(|(_, &c)| c > 0).map(|(i, &c)| (i, c)).collect();
        sluice_pipeline::output::write_atomic(&self.hist_path, &serde_json::to_vec(&sparse).expect("json"))?;
        let ex: Vec<&Example> = self.examples.values().collect();
        sluice_pipeline::output::write_atomic(&self.examples_path, &serde_json::to_vec(&ex).expect("json"))
    }
}

/// What the threshold step decides, `threshold.json` in the stage's dir.
#[derive(Debug, Serialize, Deserialize)]
struct Threshold {
    /// Documents in bins at or above this one are kept.
    bin: usize,
    /// The score at the bottom of that bin.
    score: f64,
    documents: u64,
    kept: u64,
}

struct TopStage {
    inner: Classifier,
}

impl TopStage {
    fn threshold(&self, cx: &GlobalContext) -> Result<()> {
        let s = self.inner.scorer(&cx.output)?;
        let range = s.score.range();
        let mut hist = vec![0u64; BINS];
        let mut examples: Vec<Example> = Vec::new();
        for t in 0..cx.tasks {
            let p = task_file(&cx.dir, t, "histogram.json");
            let bytes = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
            let sparse: Vec<(usize, u64)> = serde_json::from_slice(&bytes).map_err(|e| self.inner.err(format!("{}: {e}", p.display())))?;
            for (i, c) in sparse {
                if i < BINS {
                    hist[i] += c;
                }
            }
            let p = task_file(&cx.dir, t, "examples.json");
            let bytes = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
            let mut ex: Vec<Example> = serde_json::from_slice(&bytes).map_err(|e| self.inner.err(format!("{}: {e}", p.display())))?;
            examples.append(&mut ex);
        }
        let total: u64 = hist.iter().sum();
        let fraction = self.inner.cfg.top_fraction.unwrap_or(1.0);
        let want = (fraction * total as f64).ceil() as u64;
        let (mut bin, mut kept) = (0usize, total);
        let mut acc = 0u64;
        for i in (0..BINS).rev() {
            acc += hist[i];
            if acc >= want {
                bin = i;
                kept = acc;
                break;
            }
        }
        let (lo, hi) = range;
        let score_at = |b: usize| lo + (hi - lo) * b as f64 / BINS as f64;
        let th = Threshold { bin, score: score_at(bin), documents: total, kept };
        sluice_pipeline::output::write_atomic(&task_file(&cx.dir, cx.unit, "threshold.json"), &serde_json::to_vec(&th).expect("json"))?;

        // The report: a 50-bin histogram, the threshold, examples.
        const SHOWN: usize = 50;
        let mut coarse = vec![0u64; SHOWN];
        for (i, &c) in hist.iter().enumerate() {
            coarse[i * SHOWN / BINS] += c;
        }
        examples.sort_by_key(|e| (e.h, e.pos));
        let n = self.inner.cfg.report_examples;
        let kept_ex: Vec<&Example> = examples.iter().filter(|e| bin_of(e.score, range) >= bin).take(n).collect();
        let dropped_ex: Vec<&Example> = examples.iter().filter(|e| bin_of(e.score, range) < bin).take(n).collect();
        let report = json!({
            "kind": "classifier",
            "node": cx.node,
            "labels": s.names,
            "score": match &s.score { ScoreOf::Label(i) => json!({"label": s.names[*i]}), ScoreOf::Expected(_) => json!("expected_value") },
            "attribute": format!("{}_score", self.inner.attribute),
            "top_fraction": fraction,
            "threshold": th.score,
            "documents": total,
            "kept": kept,
            "kept_fraction": if total > 0 { kept as f64 / total as f64 } else { 0.0 },
            "annotate_only": self.inner.cfg.annotate_only,
            "histogram": {
                "lo": lo, "hi": hi,
                "counts": coarse,
            },
            "examples": {"kept": kept_ex, "dropped": dropped_ex},
        });
        sluice_pipeline::output::write_atomic(&cx.reports.join("classifier.json"), &serde_json::to_vec_pretty(&report).expect("json"))
    }
}

impl GlobalStage for TopStage {
    fn observer(&self, cx: &GlobalContext) -> Result<Box<dyn Observer>> {
        let scorer = self.inner.scorer(&cx.output)?;
        let scores = AtomicFile::create(&task_file(&cx.dir, cx.unit, "probabilities.f32"))?;
        Ok(Box::new(TopObserver {
            n_labels: scorer.names.len(),
            range: scorer.score.range(),
            scorer,
            seed: cx.seed,
            // a few times what the report shows on each side, so both sides
            // usually have enough
            examples_cap: self.inner.cfg.report_examples * 8,
            hist: vec![0; BINS],
            scores: Some(scores),
            examples: BTreeMap::new(),
            hist_path: task_file(&cx.dir, cx.unit, "histogram.json"),
            examples_path: task_file(&cx.dir, cx.unit, "examples.json"),
        }))
    }

    fn steps(&self, _tasks: usize) -> Vec<GlobalStep> {
        vec![GlobalStep { name: "threshold".into(), units: 1 }]
    }

    fn run_step(&self, step: usize, cx: &GlobalContext) -> Result<()> {
        match step {
            0 => self.threshold(cx),
            _ => Err(Error::Internal(format!("classifier has no step {step}"))),
        }
    }

    fn decider(&self, cx: &GlobalContext) -> Result<Box<dyn StreamStage>> {
        let scorer = self.inner.scorer(&cx.output)?;
        let tp = task_file(&cx.dir, 0, "threshold.json");
        let th: Threshold = serde_json::from_slice(&std::fs::read(&tp).map_err(|e| Error::io(&tp, e))?)
            .map_err(|e| self.inner.err(format!("{}: {e}", tp.display())))?;
        let pp = task_file(&cx.dir, cx.unit, "probabilities.f32");
        let f = std::fs::File::open(&pp).map_err(|e| Error::io(&pp, e))?;
        Ok(Box::new(TopDecider {
            keep: self.inner.keep_indices(&scorer),
            stage: Classifier::new(&self.inner.cfg, &self.inner.node),
            scorer,
            threshold: th.bin,
            probs: BufReader::with_capacity(1 << 20, f),
            path: pp,
        }))
    }
}

struct TopDecider {
    stage: Classifier,
    scorer: Arc<Scorer>,
    keep: Vec<usize>,
    threshold: usize,
    probs: BufReader<std::fs::File>,
    path: PathBuf,
}

impl StreamStage for TopDecider {
    fn process(&mut self, batch: Batch, out: &mut StageOutput) -> Result<()> {
        let n = self.scorer.names.len();
        let mut bytes = vec![0u8; 4 * n];
        let range = self.scorer.score.range();
        for mut d in batch.docs {
            self.probs
                .read_exact(&mut bytes)
                .map_err(|e| self.stage.err(format!("{}: fewer scores than documents: {e}", self.path.display())))?;
            let probs: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            let score = self.scorer.score.score(&probs);
            self.stage.annotate(&self.scorer, &mut d, &probs, score);
            let reason = self
                .stage
                .verdict(&probs, score, &self.keep)
                .or_else(|| (bin_of(score, range) < self.threshold).then_some("classifier_below_top_fraction"));
            match reason {
                Some(r) if !self.stage.cfg.annotate_only => out.drop(d, r),
                _ => out.keep(d),
            }
        }
        Ok(())
    }

    fn finish(&mut self, _out: &mut StageOutput) -> Result<()> {
        let mut rest = [0u8; 1];
        match self.probs.read(&mut rest) {
            Ok(0) => Ok(()),
            Ok(_) => Err(self.stage.err(format!("{}: more scores than documents", self.path.display()))),
            Err(e) => Err(Error::io(&self.path, e)),
        }
    }
}

impl Component for ClassifierConfig {
    const KIND: &'static str = "classifier";
    const ROLE: Role = Role::Stage;
    const ABOUT: &'static str =
        "Scores documents with a fastText model (a file, or a classifier_train stage's); keeps by threshold, label or top fraction";
    const SIGNAL_RULES: &'static [SignalRule] =
        &[SignalRule { option: "min_score", attribute: "{attribute}_score", test: Test::DropBelow, reason: "classifier_low_score" }];

    /// The options alone: `build` loads the model (once) and checks the
    /// options against it.
    fn validate(&self) -> Vec<(String, String)> {
        self.check_options()
    }

    fn build(&self, cx: &BuildContext) -> std::result::Result<Built, Vec<Diagnostic>> {
        let errs = self.check_options();
        if !errs.is_empty() {
            return Err(located(cx, errs));
        }
        let mut c = Classifier::new(self, cx.name);
        if let Some(p) = &self.model {
            // load now, so that a bad file or label fails the recipe, not the run
            let m = load_model(p).map_err(|m| located(cx, vec![("model".into(), m)]))?;
            let errs = self.check_model(&m);
            if !errs.is_empty() {
                return Err(located(cx, errs));
            }
            let s = c.scorer_of(m, self.preprocess.unwrap_or_default(), None, false).map_err(|m| located(cx, vec![("model".into(), m)]))?;
            c.keep = c.keep_indices(&s);
            let _ = c.scorer.set(Ok(Arc::new(s)));
        }
        if self.top_fraction.is_some() {
            Ok(Built::global(TopStage { inner: c }))
        } else {
            Ok(Built::doc(c))
        }
    }

    fn resolved(&self) -> Option<Value> {
        resolved_options(self)
    }
}

/// Write `line` and a newline.
pub(crate) fn write_line(w: &mut impl Write, line: &str) -> std::io::Result<()> {
    w.write_all(line.as_bytes())?;
    w.write_all(b"\n")
}

/// A buffered writer over an [`AtomicFile`].
pub(crate) fn atomic_writer(path: &Path) -> Result<BufWriter<AtomicFile>> {
    Ok(BufWriter::with_capacity(1 << 20, AtomicFile::create(path)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preprocessing_matches_the_options() {
        let mut b = String::new();
        let p = Preprocess::default();
        assert_eq!(p.apply("A b\nC", &mut b), "A b C\n");
        let p = Preprocess { lowercase: true, newlines: Newlines::Eos };
        assert_eq!(p.apply("A É\nC", &mut b), "a é </s> c\n");
        let p = Preprocess { lowercase: false, newlines: Newlines::Eos };
        assert_eq!(p.apply("A\nB", &mut b), "A </s> B\n");
    }

    #[test]
    fn training_lines_drop_label_tokens_and_mark_sentences() {
        let mut out = String::new();
        let p = Preprocess { lowercase: false, newlines: Newlines::Eos };
        p.training_line("__label__hq", "one __label__cc two\nthree\t four", "__label__", &mut out);
        assert_eq!(out, "__label__hq one two </s> three four");
        let p = Preprocess::default();
        p.training_line("__label__hq", "One\nTwo", "__label__", &mut out);
        assert_eq!(out, "__label__hq One Two");
    }

    #[test]
    fn the_default_preparation_scores_like_the_copied_line() {
        let dir = std::env::temp_dir().join(format!("sluice-clf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let data = dir.join("t.txt");
        let mut lines = String::new();
        for i in 0..50 {
            lines.push_str(&format!("__label__a red green blue {i}\n__label__b one two three {i}\n"));
        }
        std::fs::write(&data, lines).unwrap();
        let args = sluice_fasttext::TrainArgs { dim: 4, epoch: 2, bucket: 1000, word_ngrams: 2, ..Default::default() };
        let (model, _) = sluice_fasttext::train(&data, &args).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let s = Scorer { names: label_names(&model), model, preprocess: Preprocess::default(), score: ScoreOf::Label(0) };
        let (mut a, mut b, mut buf) = (Vec::new(), Vec::new(), String::new());
        for text in ["red green\nblue one", "\n\ntwo\r\nthree  red\n", "", "unknown words only"] {
            s.score(text, &mut a);
            let line = Preprocess::default().apply(text, &mut buf);
            s.model.predict_into(line, &mut sluice_fasttext::Scratch::new(), &mut b);
            assert_eq!(a, b, "{text:?}");
        }
    }

    #[test]
    fn bins_cover_the_range() {
        assert_eq!(bin_of(0.0, (0.0, 1.0)), 0);
        assert_eq!(bin_of(1.0, (0.0, 1.0)), BINS - 1);
        assert_eq!(bin_of(0.5, (0.0, 1.0)), BINS / 2);
        assert_eq!(bin_of(f64::NAN, (0.0, 1.0)), 0);
        assert_eq!(bin_of(3.0, (1.0, 5.0)), BINS / 2);
    }

    #[test]
    fn expected_value_scores_are_weighted_means() {
        let s = ScoreOf::Expected(vec![0.0, 1.0, 2.0]);
        assert!((s.score(&[0.25, 0.5, 0.25]) - 1.0).abs() < 1e-9);
        assert_eq!(s.range(), (0.0, 2.0));
        assert_eq!(ScoreOf::Label(1).score(&[0.2, 0.8]), 0.800000011920929);
    }
}
