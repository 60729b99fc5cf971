//! `classifier_train`: train a fastText supervised classifier on the run's
//! own documents, inside the recipe.
//!
//! Labels come from the recipe: by source (`labels: {by_source: {hq:
//! [reference], cc: [crawl]}}`) or from a metadata field (`labels: {field:
//! {name: quality}}`); a numeric field (`numeric: true`) makes each value,
//! rounded to an integer, a class, and a `classifier` stage then scores a
//! document with the expected value (FineWeb-Edu-style annotations).
//!
//! 1. **observe** (per task): every labelled document becomes a fastText
//!    training line (the label, then the text prepared as `preprocess` says,
//!    cut to `max_document_bytes`). Per label, the task keeps the lines with
//!    the smallest seeded hash of their input position while their byte total
//!    stays under `sample_bytes_per_label` (memory: that budget per label),
//!    and writes them sorted by hash to `{task:05}-examples.jsonl.zst`.
//! 2. **train** (one unit): merges the task files in hash order (a seeded
//!    shuffle that does not depend on `--tasks`), takes per label the lines
//!    under the budget, sends a seeded `holdout` fraction of documents to
//!    the held-out set, trains with `sluice-fasttext` (deterministic:
//!    single-threaded SGD), and saves `OUT/<node>/model.bin` (a fastText
//!    `.bin` that Python's `fasttext` loads) and `OUT/<node>/model.json`.
//!    The held-out precision, recall, F1 and ROC AUC go to
//!    `reports/<node>/classifier_train.json`.
//! 3. **decide**: documents pass on (only those of `pass_sources`, when set).

use std::collections::{BTreeMap, BinaryHeap};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sluice_fasttext::{Loss, Model, TrainArgs};
use sluice_pipeline::component::{located, resolved_options, Built, Component};
use sluice_pipeline::output::{write_atomic, AtomicFile};
use sluice_pipeline::size::ByteSize;
use sluice_pipeline::{
    Batch, BuildContext, Diagnostic, Document, Error, GlobalContext, GlobalStage, GlobalStep, Observer, Result, Role, StageOutput,
    StreamStage,
};

use crate::classifier::{atomic_writer, label_names, write_line, ModelCard, Preprocess, CARD_FILE, MODEL_FILE};

const SALT_SAMPLE: u64 = 0x5eed_c1a5;
const SALT_HOLDOUT: u64 = 0x401d_0075;
const PREFIX: &str = "__label__";

/// Where the labels come from.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Labels {
    /// Label → the sources (reader names) whose documents carry it, e.g.
    /// `{hq: [reference], cc: [crawl]}`. Documents of other sources are not
    /// training examples.
    BySource(BTreeMap<String, Vec<String>>),
    /// A metadata field holds the label.
    Field(FieldLabels),
}

/// Labels from a metadata field.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldLabels {
    /// The metadata key. Documents without it are not training examples.
    pub name: String,
    /// The field is a number: each value rounded to an integer is a class,
    /// and a `classifier` scores with the expected value (a regression
    /// score, as FineWeb-Edu's annotations are). Default false (the field is
    /// a string label).
    #[serde(default)]
    pub numeric: bool,
}

/// The loss (fastText's `-loss`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LossName {
    /// One softmax over the labels (one label per document).
    #[default]
    Softmax,
    /// One-vs-all: an independent sigmoid per label (multi-label).
    Ova,
    /// Hierarchical softmax (fast with many labels).
    Hs,
}

fn d_dim() -> usize {
    100
}
fn d_epoch() -> usize {
    5
}
fn d_lr() -> f64 {
    0.1
}
fn d_ngrams() -> usize {
    1
}
fn d_bucket() -> usize {
    2_000_000
}
fn d_min_count() -> u64 {
    1
}
fn d_holdout() -> f64 {
    0.1
}
fn d_budget() -> ByteSize {
    ByteSize(100 << 20)
}
fn d_max_doc() -> ByteSize {
    ByteSize(100 << 10)
}

/// Options of `classifier_train`. The model options are fastText's
/// supervised options, with its defaults.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassifierTrainConfig {
    /// Where each document's label comes from (`by_source` or `field`).
    pub labels: Labels,
    /// The label whose probability is the score (for the held-out ROC AUC
    /// and precision/recall, and the default score of a `classifier` with
    /// `model_from` this stage). Default: none (metrics per label).
    #[serde(default)]
    pub positive: Option<String>,
    /// Text preparation, saved with the model so that `classifier` scores
    /// the same way. Default: fastText's (no lowercasing; newlines as spaces).
    #[serde(default)]
    pub preprocess: Preprocess,
    /// Size of the word vectors (`-dim`). Default 100.
    #[serde(default = "d_dim")]
    #[schemars(range(min = 1, max = 1024))]
    pub dim: usize,
    /// Passes over the training set (`-epoch`). Default 5.
    #[serde(default = "d_epoch")]
    #[schemars(range(min = 1, max = 1000))]
    pub epoch: usize,
    /// Learning rate at the start, decaying linearly to 0 (`-lr`). Default 0.1.
    #[serde(default = "d_lr")]
    #[schemars(range(min = 0.0, max = 10.0))]
    pub lr: f64,
    /// Longest word n-gram (`-wordNgrams`; 2 adds bigrams). Default 1.
    #[serde(default = "d_ngrams")]
    #[schemars(range(min = 1, max = 6))]
    pub word_ngrams: usize,
    /// Shortest character n-gram (`-minn`; 0: none). Default 0.
    #[serde(default)]
    #[schemars(range(min = 0, max = 20))]
    pub minn: usize,
    /// Longest character n-gram (`-maxn`; 0: none). Default 0.
    #[serde(default)]
    #[schemars(range(min = 0, max = 20))]
    pub maxn: usize,
    /// Hash buckets for n-grams (`-bucket`); the model holds `bucket × dim`
    /// floats. Default 2,000,000.
    #[serde(default = "d_bucket")]
    #[schemars(range(min = 0, max = 100_000_000))]
    pub bucket: usize,
    /// Words seen fewer times are dropped (`-minCount`). Default 1.
    #[serde(default = "d_min_count")]
    #[schemars(range(min = 1, max = 1_000_000_000))]
    pub min_count: u64,
    /// The loss. Default softmax.
    #[serde(default)]
    pub loss: LossName,
    /// The fraction of labelled documents held out for the report's metrics
    /// (chosen by a seeded hash of the document's position). Default 0.1.
    #[serde(default = "d_holdout")]
    #[schemars(range(min = 0.0, max = 0.9))]
    pub holdout: f64,
    /// Training sample budget per label (bytes of training lines). Beyond
    /// it, a seeded sample of the label's documents is taken. It bounds the
    /// memory of each task and the training time. Default 100MB.
    #[serde(default = "d_budget")]
    #[schemars(extend("x-min-bytes" = 1, "x-max-bytes" = 68719476736u64))]
    pub sample_bytes_per_label: ByteSize,
    /// A longer document is cut to this many bytes (at a character
    /// boundary) before it becomes a training line. Default 100KB.
    #[serde(default = "d_max_doc")]
    #[schemars(extend("x-min-bytes" = 16, "x-max-bytes" = 1073741824u64))]
    pub max_document_bytes: ByteSize,
    /// Only documents of these sources continue downstream; the others
    /// (e.g. the reference text used as positives) stop here
    /// (`classifier_train_only`). Default: every document continues.
    #[serde(default)]
    pub pass_sources: Option<Vec<String>>,
}

impl ClassifierTrainConfig {
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let label_ok = |l: &str| !l.is_empty() && l.len() <= 200 && !l.chars().any(|c| c.is_whitespace() || c.is_control());
        let mut names: Vec<&str> = Vec::new();
        match &self.labels {
            Labels::BySource(m) => {
                if m.len() < 2 {
                    e.push(("labels.by_source".into(), "needs at least two labels".into()));
                }
                let mut seen = BTreeMap::new();
                for (l, sources) in m {
                    if !label_ok(l) {
                        e.push((format!("labels.by_source.{l}"), "a label is 1 to 200 characters, no spaces or control characters".into()));
                    }
                    if sources.is_empty() {
                        e.push((format!("labels.by_source.{l}"), "lists no source".into()));
                    }
                    for s in sources {
                        if let Some(other) = seen.insert(s.clone(), l.clone()) {
                            e.push((format!("labels.by_source.{l}"), format!("source `{s}` already has label `{other}`")));
                        }
                    }
                    names.push(l);
                }
            }
            Labels::Field(f) => {
                if f.name.is_empty() {
                    e.push(("labels.field.name".into(), "must not be empty".into()));
                }
            }
        }
        if let Some(p) = &self.positive {
            if !label_ok(p) {
                e.push(("positive".into(), "a label is 1 to 200 characters, no spaces or control characters".into()));
            } else if !names.is_empty() && !names.contains(&p.as_str()) {
                e.push(("positive".into(), format!("`{p}` is not one of the labels ({})", names.join(", "))));
            }
        }
        let ranges: [(&str, usize, usize, usize); 6] = [
            ("dim", self.dim, 1, 1024),
            ("epoch", self.epoch, 1, 1000),
            ("word_ngrams", self.word_ngrams, 1, 6),
            ("minn", self.minn, 0, 20),
            ("maxn", self.maxn, 0, 20),
            ("bucket", self.bucket, 0, 100_000_000),
        ];
        for (k, v, lo, hi) in ranges {
            if v < lo || v > hi {
                e.push((k.into(), format!("{v} is out of range: must be in {lo}..={hi}")));
            }
        }
        if self.maxn > 0 && self.minn > self.maxn {
            e.push(("minn".into(), format!("must not exceed maxn ({})", self.maxn)));
        }
        if (self.word_ngrams > 1 || self.maxn > 0) && self.bucket == 0 {
            e.push(("bucket".into(), "word or character n-grams need buckets".into()));
        }
        if (self.dim as u128) * (self.bucket as u128) > (1u128 << 32) {
            e.push(("bucket".into(), format!("bucket × dim = {} floats; at most 2^32 (16 GiB)", self.dim as u128 * self.bucket as u128)));
        }
        if !(self.lr > 0.0 && self.lr <= 10.0) {
            e.push(("lr".into(), format!("must be in (0, 10], got {}", self.lr)));
        }
        if !(1..=1_000_000_000).contains(&self.min_count) {
            e.push(("min_count".into(), "must be in 1..=1000000000".into()));
        }
        if !(0.0..=0.9).contains(&self.holdout) {
            e.push(("holdout".into(), format!("must be in [0, 0.9], got {}", self.holdout)));
        }
        if self.sample_bytes_per_label.0 == 0 || self.sample_bytes_per_label.0 > 64 << 30 {
            e.push(("sample_bytes_per_label".into(), "must be in 1 byte..=64GiB".into()));
        }
        if !(16..=1 << 30).contains(&self.max_document_bytes.0) {
            e.push(("max_document_bytes".into(), "must be in 16 bytes..=1GiB".into()));
        }
        e
    }

    fn args(&self, seed: u64) -> TrainArgs {
        TrainArgs {
            dim: self.dim,
            epoch: self.epoch,
            lr: self.lr,
            word_ngrams: self.word_ngrams,
            minn: self.minn,
            maxn: self.maxn,
            bucket: self.bucket,
            min_count: self.min_count,
            loss: match self.loss {
                LossName::Softmax => Loss::Softmax,
                LossName::Ova => Loss::OneVsAll,
                LossName::Hs => Loss::HierarchicalSoftmax,
            },
            seed,
            ..TrainArgs::default()
        }
    }

    /// The label of a document, if it is a training example.
    fn label_of(&self, d: &Document) -> Option<String> {
        match &self.labels {
            Labels::BySource(m) => m.iter().find(|(_, s)| s.iter().any(|s| **s == *d.source)).map(|(l, _)| l.clone()),
            Labels::Field(f) => match d.metadata.get(&f.name)? {
                Value::String(s) if !f.numeric => {
                    let s = s.trim();
                    (!s.is_empty() && !s.contains(char::is_whitespace) && s.len() <= 200).then(|| s.to_string())
                }
                Value::Number(n) if f.numeric => {
                    n.as_f64().filter(|v| v.is_finite() && v.abs() <= 1e9).map(|v| format!("{}", v.round() as i64))
                }
                Value::String(s) if f.numeric => {
                    s.trim().parse::<f64>().ok().filter(|v| v.is_finite() && v.abs() <= 1e9).map(|v| format!("{}", v.round() as i64))
                }
                Value::Bool(b) if !f.numeric => Some(b.to_string()),
                _ => None,
            },
        }
    }

    fn numeric(&self) -> bool {
        matches!(&self.labels, Labels::Field(f) if f.numeric)
    }
}

/// One training line, as the observers write it.
#[derive(Serialize, Deserialize)]
struct Example {
    h: u64,
    pos: u128,
    label: String,
    line: String,
}

struct Heap {
    heap: BinaryHeap<(u64, u128, usize)>,
    lines: BTreeMap<(u64, u128), (String, String)>,
    bytes: u64,
}

struct TrainObserver {
    cfg: ClassifierTrainConfig,
    seed: u64,
    path: PathBuf,
    by_label: BTreeMap<String, Heap>,
    line: String,
}

fn cut(text: &str, max: u64) -> &str {
    if text.len() as u64 <= max {
        return text;
    }
    let mut end = max as usize;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl Observer for TrainObserver {
    fn observe(&mut self, docs: &[Document]) -> Result<()> {
        let budget = self.cfg.sample_bytes_per_label.0;
        for d in docs {
            let Some(label) = self.cfg.label_of(d) else { continue };
            let h = d.pos.seeded_hash(self.seed, SALT_SAMPLE);
            let heap =
                self.by_label.entry(label.clone()).or_insert_with(|| Heap { heap: BinaryHeap::new(), lines: BTreeMap::new(), bytes: 0 });
            let k = (h, d.pos.key());
            if heap.bytes >= budget && heap.heap.peek().is_some_and(|top| (top.0, top.1) < k) {
                continue; // cannot be in the sample
            }
            let text = cut(&d.text, self.cfg.max_document_bytes.0);
            self.cfg.preprocess.training_line(&format!("{PREFIX}{label}"), text, PREFIX, &mut self.line);
            let len = self.line.len();
            heap.heap.push((h, d.pos.key(), len));
            heap.lines.insert(k, (label, self.line.clone()));
            heap.bytes += len as u64;
            while let Some(&(th, tp, tl)) = heap.heap.peek() {
                if heap.bytes - tl as u64 >= budget {
                    heap.heap.pop();
                    heap.lines.remove(&(th, tp));
                    heap.bytes -= tl as u64;
                } else {
                    break;
                }
            }
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<()> {
        // every label's lines, in one (hash, position) order
        let mut all: Vec<((u64, u128), (String, String))> = self.by_label.into_values().flat_map(|h| h.lines).collect();
        all.sort_unstable_by_key(|(k, _)| *k);
        let mut f = AtomicFile::create(&self.path)?;
        {
            let mut z = zstd::Encoder::new(&mut f, 3).map_err(|e| Error::io(&self.path, e))?;
            for ((h, pos), (label, line)) in all {
                let s = serde_json::to_string(&Example { h, pos, label, line }).expect("json");
                write_line(&mut z, &s).map_err(|e| Error::io(&self.path, e))?;
            }
            z.finish().map_err(|e| Error::io(&self.path, e))?;
        }
        f.commit()
    }
}

fn examples_path(dir: &Path, task: usize) -> PathBuf {
    dir.join(format!("{task:05}-examples.jsonl.zst"))
}

/// The runtime of `classifier_train`.
pub struct ClassifierTrainStage {
    cfg: ClassifierTrainConfig,
    node: String,
}

type Lines = std::io::Lines<std::io::BufReader<zstd::Decoder<'static, std::io::BufReader<std::fs::File>>>>;

impl ClassifierTrainStage {
    fn err(&self, m: impl Into<String>) -> Error {
        Error::Stage { node: self.node.clone(), message: m.into() }
    }

    fn next(&self, lines: &mut Lines, p: &Path) -> Result<Option<Example>> {
        match lines.next() {
            None => Ok(None),
            Some(l) => {
                let l = l.map_err(|e| Error::io(p, e))?;
                serde_json::from_str(&l).map(Some).map_err(|e| self.err(format!("{}: {e}", p.display())))
            }
        }
    }

    fn train(&self, cx: &GlobalContext) -> Result<()> {
        // 1. merge the task files in (hash, position) order; per label, the
        // lines while its total is under the budget (what a single task
        // would have kept); split off the held-out documents.
        let mut readers = Vec::new();
        let mut heads = BinaryHeap::new();
        for t in 0..cx.tasks {
            let p = examples_path(&cx.dir, t);
            let f = std::fs::File::open(&p).map_err(|e| Error::io(&p, e))?;
            let mut lines = std::io::BufReader::new(zstd::Decoder::new(f).map_err(|e| Error::io(&p, e))?).lines();
            if let Some(ex) = self.next(&mut lines, &p)? {
                heads.push(std::cmp::Reverse((ex.h, ex.pos, t)));
                readers.push((lines, p, Some(ex)));
            } else {
                readers.push((lines, p, None));
            }
        }
        // the step's own files carry its unit number, as the engine's
        // clean-up of a killed unit expects
        let train_path = cx.dir.join(format!("{:05}-train.txt", cx.unit));
        let test_path = cx.dir.join(format!("{:05}-heldout.txt", cx.unit));
        let mut train = atomic_writer(&train_path)?;
        let mut test = atomic_writer(&test_path)?;
        let budget = self.cfg.sample_bytes_per_label.0;
        let mut bytes: BTreeMap<String, u64> = BTreeMap::new();
        let mut counts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        let mut test_labels: Vec<String> = Vec::new();
        while let Some(std::cmp::Reverse((_, _, t))) = heads.pop() {
            let (lines, p, cur) = &mut readers[t];
            let ex = cur.take().expect("a head has its example");
            let p2 = p.clone();
            if let Some(n) = self.next(lines, &p2)? {
                heads.push(std::cmp::Reverse((n.h, n.pos, t)));
                *cur = Some(n);
            }
            let b = bytes.entry(ex.label.clone()).or_default();
            if *b >= budget {
                continue;
            }
            *b += ex.line.len() as u64;
            let pos = sluice_pipeline::DocPos { reader: (ex.pos >> 96) as u32, file: (ex.pos >> 64) as u32, record: ex.pos as u64 };
            let held = crate::classifier_train::unit(pos.seeded_hash(cx.seed, SALT_HOLDOUT)) < self.cfg.holdout;
            let c = counts.entry(ex.label.clone()).or_default();
            if held {
                c.1 += 1;
                test_labels.push(ex.label);
                write_line(&mut test, &ex.line).map_err(|e| Error::io(&test_path, e))?;
            } else {
                c.0 += 1;
                write_line(&mut train, &ex.line).map_err(|e| Error::io(&train_path, e))?;
            }
        }
        for (w, p) in [(train, &train_path), (test, &test_path)] {
            w.into_inner().map_err(|e| Error::io(p, e.into_error()))?.commit()?;
        }
        if counts.values().all(|c| c.0 == 0) {
            return Err(self.err("no labelled documents reached the classifier trainer"));
        }
        if counts.len() < 2 {
            return Err(self.err(format!(
                "only one label has training documents ({}): a classifier needs two",
                counts.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        if let Labels::BySource(m) = &self.cfg.labels {
            for l in m.keys() {
                if counts.get(l).is_none_or(|c| c.0 == 0) {
                    return Err(self.err(format!("label `{l}` has no training documents (check its sources)")));
                }
            }
        }

        // 2. train
        let t0 = Instant::now();
        let (model, report) =
            sluice_fasttext::train(&train_path, &self.cfg.args(cx.seed)).map_err(|e| self.err(format!("training: {e}")))?;
        let train_secs = t0.elapsed().as_secs_f64();
        let dir = cx.output.join(&self.node);
        let mp = dir.join(MODEL_FILE);
        let mut f = AtomicFile::create(&mp)?;
        model.write(&mut f).map_err(|e| self.err(format!("{}: {e}", mp.display())))?;
        f.commit()?;
        let names = label_names(&model);
        let card = ModelCard {
            kind: "sluice_classifier".into(),
            labels: names.clone(),
            preprocess: self.cfg.preprocess,
            positive: self.cfg.positive.clone(),
            numeric: self.cfg.numeric(),
        };
        write_atomic(&dir.join(CARD_FILE), &serde_json::to_vec_pretty(&card).expect("json"))?;

        // 3. held-out metrics
        let metrics = self.evaluate(&model, &names, &test_path, &test_labels)?;
        let report = json!({
            "kind": "classifier_train",
            "node": cx.node,
            "labels": names,
            "documents": counts.iter().map(|(l, c)| (l.clone(), json!({"train": c.0, "heldout": c.1}))).collect::<serde_json::Map<_, _>>(),
            "sample_bytes_per_label": budget,
            "train_seconds": train_secs,
            "train": {"tokens": report.tokens, "words": report.words, "labels": report.labels, "lines": report.lines,
                      "examples": report.examples, "loss": report.loss, "sgd_seconds": report.train_seconds},
            "model": {"path": format!("{}/{MODEL_FILE}", self.node), "bytes": std::fs::metadata(&mp).map(|m| m.len()).unwrap_or(0)},
            "options": resolved_options(&self.cfg),
            "heldout": metrics,
        });
        write_atomic(&cx.reports.join("classifier_train.json"), &serde_json::to_vec_pretty(&report).expect("json"))
    }

    /// Precision, recall, F1 (at the most probable label) and one-vs-rest
    /// ROC AUC per label on the held-out lines.
    fn evaluate(&self, model: &Model, names: &[String], test: &Path, truth: &[String]) -> Result<Value> {
        if truth.is_empty() {
            return Ok(json!(null));
        }
        let f = std::fs::File::open(test).map_err(|e| Error::io(test, e))?;
        let mut probs_all: Vec<Vec<f32>> = Vec::with_capacity(truth.len());
        let mut scratch = sluice_fasttext::Scratch::new();
        for line in std::io::BufReader::new(f).lines() {
            let line = line.map_err(|e| Error::io(test, e))?;
            // the text after the label; `</s>` tokens stand for newlines
            let text = line.split_once(' ').map(|(_, t)| t).unwrap_or("");
            // as `classifier` scores it: the line, then fastText's `</s>`
            let text = format!("{text}\n");
            let mut p = Vec::new();
            model.predict_into(&text, &mut scratch, &mut p);
            probs_all.push(p);
        }
        let mut per_label = serde_json::Map::new();
        for (i, name) in names.iter().enumerate() {
            let scored: Vec<(f64, bool)> = probs_all.iter().zip(truth).map(|(p, t)| (p[i] as f64, t == name)).collect();
            let predicted: Vec<bool> = probs_all.iter().map(|p| crate::classifier::top_label(p) == i).collect();
            let (tp, fp, fn_) = predicted.iter().zip(truth).fold((0u64, 0u64, 0u64), |(tp, fp, fn_), (&pr, t)| {
                let pos = t == name;
                (tp + (pr && pos) as u64, fp + (pr && !pos) as u64, fn_ + (!pr && pos) as u64)
            });
            let precision = if tp + fp > 0 { tp as f64 / (tp + fp) as f64 } else { 0.0 };
            let recall = if tp + fn_ > 0 { tp as f64 / (tp + fn_) as f64 } else { 0.0 };
            let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
            per_label.insert(
                name.clone(),
                json!({
                    "documents": truth.iter().filter(|t| *t == name).count(),
                    "precision": precision, "recall": recall, "f1": f1,
                    "roc_auc": sluice_fasttext::metrics::roc_auc(&scored),
                }),
            );
        }
        let accuracy =
            probs_all.iter().zip(truth).filter(|(p, t)| names[crate::classifier::top_label(p)] == **t).count() as f64 / truth.len() as f64;
        let mut out = json!({"documents": truth.len(), "accuracy": accuracy, "labels": per_label});
        if let Some(p) = &self.cfg.positive {
            if let Some(m) = out["labels"].get(p).cloned() {
                out["positive"] =
                    json!({"label": p, "precision": m["precision"], "recall": m["recall"], "f1": m["f1"], "roc_auc": m["roc_auc"]});
            }
        }
        if self.cfg.numeric() {
            let values: Vec<f64> = names.iter().map(|n| n.parse().unwrap_or(0.0)).collect();
            let mae = probs_all
                .iter()
                .zip(truth)
                .map(|(p, t)| {
                    let ev: f64 = p.iter().zip(&values).map(|(&p, v)| p as f64 * v).sum::<f64>()
                        / p.iter().map(|&x| x as f64).sum::<f64>().max(1e-12);
                    (ev - t.parse::<f64>().unwrap_or(0.0)).abs()
                })
                .sum::<f64>()
                / truth.len() as f64;
            out["expected_value_mae"] = json!(mae);
        }
        Ok(out)
    }
}

/// `h` as a uniform number in [0, 1).
pub(crate) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

struct PassDecider {
    pass: Option<Vec<String>>,
}

impl StreamStage for PassDecider {
    fn process(&mut self, batch: Batch, out: &mut StageOutput) -> Result<()> {
        for d in batch.docs {
            match &self.pass {
                Some(p) if !p.iter().any(|s| **s == *d.source) => out.drop(d, "classifier_train_only"),
                _ => out.keep(d),
            }
        }
        Ok(())
    }
    fn finish(&mut self, _out: &mut StageOutput) -> Result<()> {
        Ok(())
    }
}

impl GlobalStage for ClassifierTrainStage {
    fn observer(&self, cx: &GlobalContext) -> Result<Box<dyn Observer>> {
        Ok(Box::new(TrainObserver {
            cfg: self.cfg.clone(),
            seed: cx.seed,
            path: examples_path(&cx.dir, cx.unit),
            by_label: BTreeMap::new(),
            line: String::new(),
        }))
    }

    fn steps(&self, _tasks: usize) -> Vec<GlobalStep> {
        vec![GlobalStep { name: "train".into(), units: 1 }]
    }

    fn run_step(&self, step: usize, cx: &GlobalContext) -> Result<()> {
        match step {
            0 => self.train(cx),
            _ => Err(Error::Internal(format!("classifier_train has no step {step}"))),
        }
    }

    fn decider(&self, _cx: &GlobalContext) -> Result<Box<dyn StreamStage>> {
        Ok(Box::new(PassDecider { pass: self.cfg.pass_sources.clone() }))
    }
}

impl Component for ClassifierTrainConfig {
    const KIND: &'static str = "classifier_train";
    const ROLE: Role = Role::Stage;
    const ABOUT: &'static str =
        "Global: trains a fastText classifier on labelled documents of the stream (OUT/<node>/model.bin), with held-out metrics";

    fn validate(&self) -> Vec<(String, String)> {
        ClassifierTrainConfig::validate(self)
    }

    fn build(&self, cx: &BuildContext) -> std::result::Result<Built, Vec<Diagnostic>> {
        let errs = ClassifierTrainConfig::validate(self);
        if !errs.is_empty() {
            return Err(located(cx, errs));
        }
        // It writes OUT/<node>/model.bin and model.json.
        cx.claim_output("folder", cx.name).map_err(|d| vec![d])?;
        Ok(Built::global(ClassifierTrainStage { cfg: self.clone(), node: cx.name.to_string() }))
    }

    fn resolved(&self) -> Option<Value> {
        resolved_options(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn cfg(v: Value) -> ClassifierTrainConfig {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn labels_by_source_and_by_field() {
        let c = cfg(json!({"labels": {"by_source": {"hq": ["ref"], "cc": ["crawl"]}}}));
        assert!(c.validate().is_empty(), "{:?}", c.validate());
        let mut d = Document::new("1", "x", Arc::from("ref"));
        assert_eq!(c.label_of(&d).as_deref(), Some("hq"));
        d.source = Arc::from("other");
        assert_eq!(c.label_of(&d), None);

        let c = cfg(json!({"labels": {"field": {"name": "edu", "numeric": true}}}));
        d.metadata.insert("edu".into(), json!(2.6));
        assert_eq!(c.label_of(&d).as_deref(), Some("3"));
        d.metadata.insert("edu".into(), json!("oops"));
        assert_eq!(c.label_of(&d), None);
        let c = cfg(json!({"labels": {"field": {"name": "edu"}}}));
        d.metadata.insert("edu".into(), json!("good"));
        assert_eq!(c.label_of(&d).as_deref(), Some("good"));
        d.metadata.insert("edu".into(), json!("has space"));
        assert_eq!(c.label_of(&d), None);
    }

    #[test]
    fn bad_options_are_named() {
        let c = cfg(json!({"labels": {"by_source": {"hq": ["a"], "cc": ["a"]}}, "positive": "x", "minn": 5, "maxn": 3, "lr": 0.0}));
        let keys: Vec<String> = c.validate().into_iter().map(|(k, _)| k).collect();
        for k in ["labels.by_source.hq", "positive", "minn", "lr"] {
            assert!(keys.iter().any(|x| x == k), "{k} missing from {keys:?}");
        }
        assert!(serde_json::from_value::<ClassifierTrainConfig>(json!({"labels": {"by_source": {}}, "nope": 1})).is_err());
        assert!(serde_json::from_value::<ClassifierTrainConfig>(json!({"labels": {"field": {"name": "a", "x": 1}}})).is_err());
    }
}
