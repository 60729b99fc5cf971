//! `sluice classifier train|predict|test`: fastText supervised classifiers
//! on fastText-format files (one example a line: `__label__a text ...`).

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use sluice_fasttext::{metrics, Loss, Model, Scratch, TrainArgs};

#[derive(clap::Args)]
pub struct ClassifierArgs {
    #[command(subcommand)]
    pub command: ClassifierCommand,
}

#[derive(Subcommand)]
pub enum ClassifierCommand {
    /// Train a fastText supervised model (single-threaded, deterministic:
    /// the same file, options and seed give a byte-identical model) and
    /// print a JSON summary.
    Train(TrainCli),
    /// Print the top labels of each input line as `label prob label prob ...`
    /// (fastText's `predict-prob`), or every label's probability as JSON.
    Predict(PredictCli),
    /// Evaluate on a labelled file: P@1 and R@1 over all labels, and per
    /// label (one-vs-rest) ROC AUC and precision/recall/F1 at a threshold.
    Test(TestCli),
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LossArg {
    /// Softmax over the labels (one label per example).
    Softmax,
    /// One-vs-all: an independent sigmoid per label (multi-label).
    Ova,
    /// Hierarchical softmax (fast with many labels).
    Hs,
}

#[derive(clap::Args)]
pub struct TrainCli {
    /// Training file in fastText format.
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
    /// Where to write the model (`.bin`, written atomically).
    #[arg(long, value_name = "MODEL")]
    output: PathBuf,
    /// Embedding dimension (1..=4096).
    #[arg(long, default_value_t = 100)]
    dim: usize,
    /// Passes over the data (1..=10000).
    #[arg(long, default_value_t = 5)]
    epoch: usize,
    /// Initial learning rate, decaying linearly to 0 (0 < lr <= 100).
    #[arg(long, default_value_t = 0.1)]
    lr: f64,
    /// Longest word n-gram (1..=1024; 2 adds bigrams).
    #[arg(long, default_value_t = 1)]
    word_ngrams: usize,
    /// Shortest character n-gram (with --maxn).
    #[arg(long, default_value_t = 0)]
    minn: usize,
    /// Longest character n-gram; 0 for none (<= 1024).
    #[arg(long, default_value_t = 0)]
    maxn: usize,
    /// Hash buckets for word and character n-grams (<= 2^31-1).
    #[arg(long, default_value_t = 2_000_000)]
    bucket: usize,
    /// Minimum count of a word.
    #[arg(long, default_value_t = 1)]
    min_count: u64,
    /// Minimum count of a label.
    #[arg(long, default_value_t = 0)]
    min_count_label: u64,
    /// Output layer.
    #[arg(long, value_enum, default_value_t = LossArg::Softmax)]
    loss: LossArg,
    /// Seed of the initialisation and of label sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Prefix that marks labels.
    #[arg(long, default_value = "__label__")]
    label_prefix: String,
    /// Tokens between learning-rate updates (1..=2^31-1).
    #[arg(long, default_value_t = 100)]
    lr_update_rate: u64,
}

#[derive(clap::Args)]
pub struct PredictCli {
    /// The model (`.bin` or `.ftz`).
    #[arg(long, value_name = "MODEL")]
    model: PathBuf,
    /// Labels per line (0: all).
    #[arg(long, default_value_t = 1)]
    k: usize,
    /// Only labels with at least this probability.
    #[arg(long, default_value_t = 0.0)]
    threshold: f32,
    /// Input, one document a line (`-`: standard input).
    #[arg(long, value_name = "FILE", default_value = "-")]
    input: PathBuf,
    /// Print every label's probability as a JSON object per line instead.
    #[arg(long)]
    probs: bool,
    /// Prefix that marks labels in the input (fastText does not store it in models).
    #[arg(long, default_value = "__label__")]
    label_prefix: String,
}

#[derive(clap::Args)]
pub struct TestCli {
    /// The model (`.bin` or `.ftz`).
    #[arg(long, value_name = "MODEL")]
    model: PathBuf,
    /// Labelled file in fastText format.
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
    /// Report ROC AUC and P/R/F1 for this label only (e.g. `__label__hq`); default: every label.
    #[arg(long, value_name = "LABEL")]
    positive: Option<String>,
    /// Probability at or above which a label counts as predicted, for P/R/F1 (0..=1).
    #[arg(long, default_value_t = 0.5)]
    threshold: f64,
    /// Prefix that marks labels.
    #[arg(long, default_value = "__label__")]
    label_prefix: String,
}

pub fn run(a: &ClassifierArgs) -> anyhow::Result<()> {
    match &a.command {
        ClassifierCommand::Train(t) => train(t),
        ClassifierCommand::Predict(p) => predict(p),
        ClassifierCommand::Test(t) => test(t),
    }
}

fn load(path: &Path, prefix: &str) -> anyhow::Result<Model> {
    Ok(Model::load(path)?.with_label_prefix(prefix))
}

fn train(t: &TrainCli) -> anyhow::Result<()> {
    let args = TrainArgs {
        dim: t.dim,
        epoch: t.epoch,
        lr: t.lr,
        word_ngrams: t.word_ngrams,
        minn: t.minn,
        maxn: t.maxn,
        bucket: t.bucket,
        min_count: t.min_count,
        min_count_label: t.min_count_label,
        loss: match t.loss {
            LossArg::Softmax => Loss::Softmax,
            LossArg::Ova => Loss::OneVsAll,
            LossArg::Hs => Loss::HierarchicalSoftmax,
        },
        label: t.label_prefix.clone(),
        seed: t.seed,
        lr_update_rate: t.lr_update_rate,
    };
    let start = Instant::now();
    let (model, r) = sluice_fasttext::train(&t.input, &args)?;
    model.save(&t.output)?;
    let summary = serde_json::json!({
        "input": t.input.display().to_string(),
        "output": t.output.display().to_string(),
        "tokens": r.tokens,
        "words": r.words,
        "labels": r.labels,
        "lines": r.lines,
        "examples": r.examples,
        "epochs": t.epoch,
        "loss": r.loss,
        "dict_seconds": r.dict_seconds,
        "train_seconds": r.train_seconds,
        "tokens_per_second": r.tokens_per_second(),
        "seconds": start.elapsed().as_secs_f64(),
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string_pretty(&summary)?)?;
    Ok(())
}

/// Calls `f` with each line of `path` (`-`: stdin), '\n' included, and its 1-based number.
fn each_line(path: &Path, mut f: impl FnMut(&[u8], u64) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let name = path.display().to_string();
    let mut r: Box<dyn BufRead> = if path == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path).with_context(|| format!("cannot open {name}"))?))
    };
    let mut buf = Vec::new();
    let mut n = 0u64;
    loop {
        buf.clear();
        if r.read_until(b'\n', &mut buf).with_context(|| format!("{name}: line {}: read error", n + 1))? == 0 {
            return Ok(());
        }
        n += 1;
        f(&buf, n)?;
    }
}

fn predict(p: &PredictCli) -> anyhow::Result<()> {
    let model = load(&p.model, &p.label_prefix)?;
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut s = Scratch::new();
    let mut probs = Vec::new();
    let labels = model.labels();
    let k = if p.k == 0 { labels.len() } else { p.k.min(labels.len()) };
    let mut order: Vec<usize> = Vec::with_capacity(labels.len());
    each_line(&p.input, |line, _| {
        model.predict_bytes_into(line, &mut s, &mut probs);
        if p.probs {
            let obj: serde_json::Map<String, serde_json::Value> =
                labels.iter().zip(&probs).map(|(l, &v)| (l.clone(), serde_json::json!(v))).collect();
            writeln!(out, "{}", serde_json::Value::Object(obj))?;
            return Ok(());
        }
        // fastText's predict-prob: the k best with probability >= threshold, best first.
        order.clear();
        if s.n_features() > 0 {
            order.extend((0..labels.len()).filter(|&i| probs[i] >= p.threshold));
            order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
            order.truncate(k);
        }
        let mut first = true;
        for &i in &order {
            if !first {
                out.write_all(b" ")?;
            }
            first = false;
            write!(out, "{} {}", labels[i], probs[i])?;
        }
        out.write_all(b"\n")?;
        Ok(())
    })?;
    out.flush()?;
    Ok(())
}

fn test(t: &TestCli) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&t.threshold) {
        bail!("--threshold {} is outside 0..=1", t.threshold);
    }
    let model = load(&t.model, &t.label_prefix)?;
    let labels = model.labels();
    let which: Vec<usize> = match &t.positive {
        Some(p) => vec![labels
            .iter()
            .position(|l| l == p)
            .with_context(|| format!("--positive {p}: the model has no such label (it has {})", labels.join(", ")))?],
        None => (0..labels.len()).collect(),
    };
    let mut s = Scratch::new();
    let mut probs = Vec::new();
    let mut scores: Vec<Vec<(f64, bool)>> = vec![Vec::new(); labels.len()];
    let (mut examples, mut skipped, mut correct, mut gold_total) = (0u64, 0u64, 0u64, 0u64);
    each_line(&t.input, |line, _| {
        model.predict_bytes_into(line, &mut s, &mut probs);
        // fastText's test skips lines without a known label or without features.
        if s.labels().is_empty() || s.n_features() == 0 {
            skipped += 1;
            return Ok(());
        }
        examples += 1;
        gold_total += s.labels().len() as u64;
        let best = (0..probs.len()).max_by(|&a, &b| probs[a].total_cmp(&probs[b]).then(b.cmp(&a))).unwrap_or(0);
        if s.labels().contains(&(best as i32)) {
            correct += 1;
        }
        for &i in &which {
            scores[i].push((probs[i] as f64, s.labels().contains(&(i as i32))));
        }
        Ok(())
    })?;
    if examples == 0 {
        bail!("{}: no line has a label the model knows and a known feature", t.input.display());
    }
    let mut per_label = serde_json::Map::new();
    for &i in &which {
        let sc = &scores[i];
        let prf = metrics::prf(sc, t.threshold);
        let auc = metrics::roc_auc(sc);
        per_label.insert(
            labels[i].clone(),
            serde_json::json!({
                "positives": sc.iter().filter(|x| x.1).count(),
                "roc_auc": if auc.is_nan() { serde_json::Value::Null } else { serde_json::json!(auc) },
                "precision": prf.precision,
                "recall": prf.recall,
                "f1": prf.f1,
                "accuracy": prf.accuracy,
            }),
        );
    }
    let summary = serde_json::json!({
        "model": t.model.display().to_string(),
        "input": t.input.display().to_string(),
        "examples": examples,
        "skipped": skipped,
        "precision_at_1": correct as f64 / examples as f64,
        "recall_at_1": correct as f64 / gold_total as f64,
        "threshold": t.threshold,
        "labels": per_label,
    });
    writeln!(std::io::stdout().lock(), "{}", serde_json::to_string_pretty(&summary)?)?;
    Ok(())
}
