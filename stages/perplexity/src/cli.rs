//! `sluice ppl calibrate|score|auc|bench`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use rayon::prelude::*;
use sluice_pipeline::{Decoded, Document, Reader};

use crate::buckets::{auc_lower_is_positive, Cutoffs, Metric, ALL_LANGUAGES};
use crate::scorer::{DeviceChoice, PplScorer, Score, ScoreOptions};

/// Perplexity scoring with a reference LM: calibrate CCNet buckets, score,
/// measure separation and throughput.
#[derive(Debug, clap::Args)]
pub struct PplArgs {
    #[command(subcommand)]
    pub cmd: PplCmd,
}

/// The model and how to run it.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// Run directory (latest checkpoint) or checkpoint directory of `sluice train`.
    #[arg(long)]
    pub model: PathBuf,
    /// tokenizer.json [default: the run's].
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Tokens per window [default: the model's max_seq_len].
    #[arg(long)]
    pub window: Option<usize>,
    /// Tokens between window starts [default: window / 2].
    #[arg(long)]
    pub stride: Option<usize>,
    /// Padded tokens per forward pass.
    #[arg(long, default_value_t = 4096)]
    pub max_batch_tokens: usize,
    /// auto, cpu or cuda.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceArg,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DeviceArg {
    Auto,
    Cpu,
    Cuda,
}

impl From<DeviceArg> for DeviceChoice {
    fn from(d: DeviceArg) -> Self {
        match d {
            DeviceArg::Auto => DeviceChoice::Auto,
            DeviceArg::Cpu => DeviceChoice::Cpu,
            DeviceArg::Cuda => DeviceChoice::Cuda,
        }
    }
}

impl ModelArgs {
    pub fn load(&self) -> anyhow::Result<PplScorer> {
        self.load_on(self.device.into())
    }

    fn load_on(&self, device: DeviceChoice) -> anyhow::Result<PplScorer> {
        let opts = ScoreOptions { window: self.window, stride: self.stride, max_batch_tokens: self.max_batch_tokens };
        PplScorer::load(&self.model, self.tokenizer.as_deref(), device, opts)
            .with_context(|| format!("loading the reference model {}", self.model.display()))
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum PplCmd {
    /// Compute per-language percentile cut-offs from a sample of JSONL
    /// documents (language from their `language` metadata, as written by
    /// the `language` stage) and write them as JSON for the stage's `cutoffs`.
    Calibrate {
        #[command(flatten)]
        model: ModelArgs,
        /// JSONL files or directories (.jsonl, .jsonl.gz, .jsonl.zst), e.g. a writer's output.
        #[arg(long, required = true, num_args = 1..)]
        input: Vec<String>,
        /// Output cut-offs file.
        #[arg(long)]
        out: PathBuf,
        /// Documents per language in the sample: the first N in input order.
        #[arg(long, default_value_t = 2000)]
        sample: usize,
        /// head/middle and middle/tail percentiles.
        #[arg(long, value_delimiter = ',', default_value = "30,60")]
        percentiles: Vec<f64>,
        /// The score to cut.
        #[arg(long, value_enum, default_value = "bpb")]
        metric: Metric,
        /// Languages with fewer sampled documents use the all-languages cut-offs.
        #[arg(long, default_value_t = 50)]
        min_documents: usize,
        /// Metadata key of the language.
        #[arg(long, default_value = "language")]
        language_key: String,
    },
    /// Score JSONL documents and print one JSON line per document
    /// (id, tokens, bytes, ppl_nll, ppl, ppl_bpb).
    Score {
        #[command(flatten)]
        model: ModelArgs,
        #[arg(long, required = true, num_args = 1..)]
        input: Vec<String>,
        /// At most this many documents.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// ROC AUC of bits-per-byte separating `--good` documents (lower is
    /// better) from `--bad` ones.
    Auc {
        #[command(flatten)]
        model: ModelArgs,
        /// JSONL files or directories of good documents.
        #[arg(long, required = true, num_args = 1..)]
        good: Vec<String>,
        /// Keep only good documents whose metadata `split` is this: `val`
        /// picks the documents the `pack` stage held out of training (it
        /// records each document's split).
        #[arg(long)]
        good_split: Option<String>,
        /// JSONL files or directories of bad documents.
        #[arg(long, required = true, num_args = 1..)]
        bad: Vec<String>,
        /// At most this many documents per group.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Throughput: tokens/s scoring JSONL documents one at a time (in
    /// parallel over documents, as a document-wise stage would) and
    /// batched by length (as the stage does), and the largest difference
    /// between their scores.
    Bench {
        #[command(flatten)]
        model: ModelArgs,
        #[arg(long, required = true, num_args = 1..)]
        input: Vec<String>,
        /// Documents to score.
        #[arg(long, default_value_t = 200)]
        docs: usize,
        /// Batched runs at these max_batch_tokens.
        #[arg(long, value_delimiter = ',', default_value = "1024,4096,16384")]
        batch_tokens: Vec<usize>,
        /// Also score on the CPU and report the largest difference (for GPU runs).
        #[arg(long)]
        compare_cpu: bool,
    },
}

/// Read documents from JSONL files/directories (.jsonl, .jsonl.gz,
/// .jsonl.zst), or Parquet when no JSONL file is found, in the reader's file order.
pub fn read_docs(paths: &[String], limit: Option<usize>) -> anyhow::Result<Vec<Document>> {
    let spec = serde_json::json!({ "paths": paths });
    let jsonl: sluice_readers::JsonlReaderConfig = serde_json::from_value(spec.clone())?;
    let mut reader: Box<dyn Reader> = Box::new(jsonl.build("input", 0).map_err(|e| anyhow::anyhow!("{e:?}"))?);
    let mut files = reader.files()?;
    if files.is_empty() {
        let pq: sluice_readers::ParquetReaderConfig = serde_json::from_value(spec)?;
        reader = Box::new(pq.build("input", 0).map_err(|e| anyhow::anyhow!("{e:?}"))?);
        files = reader.files()?;
    }
    if files.is_empty() {
        bail!("no JSONL or Parquet files in {}", paths.join(", "));
    }
    let mut docs = Vec::new();
    for f in &files {
        for raw in reader.open(f)? {
            if limit.is_some_and(|l| docs.len() >= l) {
                return Ok(docs);
            }
            match reader.decode(f, raw?)? {
                Decoded::Doc(d) => docs.push(d),
                Decoded::Skip(_) => {}
            }
        }
    }
    Ok(docs)
}

fn score_docs(s: &PplScorer, docs: &[Document]) -> anyhow::Result<Vec<Score>> {
    let texts: Vec<&str> = docs.iter().map(|d| d.text.as_str()).collect();
    Ok(s.score_texts(&texts)?)
}

pub fn run(args: &PplArgs) -> anyhow::Result<()> {
    match &args.cmd {
        PplCmd::Calibrate { model, input, out, sample, percentiles, metric, min_documents, language_key } => {
            let [lo, hi] = percentiles[..] else { bail!("--percentiles takes two values, e.g. 30,60") };
            if !(0.0..=100.0).contains(&lo) || !(lo..=100.0).contains(&hi) {
                bail!("--percentiles must satisfy 0 <= head <= tail <= 100, got {lo},{hi}");
            }
            let scorer = model.load()?;
            // The first `sample` documents of each language, in input order.
            let mut counts = std::collections::BTreeMap::<String, usize>::new();
            let mut picked = Vec::new();
            for d in read_docs(input, None)? {
                let lang = d.meta_str(language_key).unwrap_or(ALL_LANGUAGES).to_string();
                let c = counts.entry(lang.clone()).or_default();
                if *c < *sample {
                    *c += 1;
                    picked.push((lang, d));
                }
            }
            if picked.is_empty() {
                bail!("no documents found in {}", input.join(", "));
            }
            let docs: Vec<Document> = picked.iter().map(|(_, d)| d.clone()).collect();
            let t0 = Instant::now();
            let scores = score_docs(&scorer, &docs)?;
            let samples: Vec<(String, f64)> =
                picked.iter().zip(&scores).map(|((l, _), s)| (l.clone(), if *metric == Metric::Bpb { s.bpb() } else { s.ppl() })).collect();
            let c = Cutoffs::compute(&samples, *metric, [lo, hi], *min_documents, &model.model.display().to_string());
            let js = serde_json::to_vec_pretty(&c)?;
            sluice_pipeline::output::write_atomic(out, &js).with_context(|| format!("writing {}", out.display()))?;
            eprintln!("scored {} documents in {:.1}s", docs.len(), t0.elapsed().as_secs_f64());
            for (l, lc) in &c.languages {
                println!("{l:<8} {:>6} docs  head <= {:.4}  tail > {:.4}", lc.documents, lc.head, lc.tail);
            }
            println!("wrote {}", out.display());
        }
        PplCmd::Score { model, input, limit } => {
            let scorer = model.load()?;
            let docs = read_docs(input, *limit)?;
            let scores = score_docs(&scorer, &docs)?;
            let mut w = std::io::BufWriter::new(std::io::stdout().lock());
            for (d, s) in docs.iter().zip(&scores) {
                let line = serde_json::json!({"id": d.id, "tokens": s.tokens, "bytes": s.bytes,
                    "ppl_nll": s.mean_nll(), "ppl": s.ppl(), "ppl_bpb": s.bpb()});
                std::io::Write::write_all(&mut w, format!("{line}\n").as_bytes())?;
            }
        }
        PplCmd::Auc { model, good, good_split, bad, limit } => {
            let scorer = model.load()?;
            // read everything when filtering by split: the limit applies after
            let mut good_docs: Vec<String> = read_docs(good, if good_split.is_some() { None } else { *limit })?
                .into_iter()
                .filter(|d| good_split.as_deref().is_none_or(|s| d.meta_str("split") == Some(s)))
                .map(|d| d.text)
                .collect();
            if let Some(l) = limit {
                good_docs.truncate(*l);
            }
            let bad_docs: Vec<String> = read_docs(bad, *limit)?.into_iter().map(|d| d.text).collect();
            if good_docs.is_empty() || bad_docs.is_empty() {
                bail!("need good and bad documents: {} good, {} bad", good_docs.len(), bad_docs.len());
            }
            let g = scorer.score_texts(&good_docs.iter().map(String::as_str).collect::<Vec<_>>())?;
            let b = scorer.score_texts(&bad_docs.iter().map(String::as_str).collect::<Vec<_>>())?;
            let gb: Vec<f64> = g.iter().map(Score::bpb).filter(|x| x.is_finite()).collect();
            let bb: Vec<f64> = b.iter().map(Score::bpb).filter(|x| x.is_finite()).collect();
            let med = |v: &[f64]| {
                let mut s = v.to_vec();
                s.sort_by(f64::total_cmp);
                crate::buckets::percentile(&s, 50.0)
            };
            println!("good: {} documents, median bits/byte {:.4}", gb.len(), med(&gb));
            println!("bad:  {} documents, median bits/byte {:.4}", bb.len(), med(&bb));
            println!("ROC AUC (bits/byte, lower = good): {:.4}", auc_lower_is_positive(&gb, &bb));
        }
        PplCmd::Bench { model, input, docs, batch_tokens, compare_cpu } => bench(model, input, *docs, batch_tokens, *compare_cpu)?,
    }
    Ok(())
}

fn bench(model: &ModelArgs, input: &[String], n: usize, batch_tokens: &[usize], compare_cpu: bool) -> anyhow::Result<()> {
    let mut scorer = model.load()?;
    let docs = read_docs(input, Some(n))?;
    let texts: Vec<&str> = docs.iter().map(|d| d.text.as_str()).collect();
    let threads = rayon::current_num_threads();
    let cfg = &scorer.model.cfg;
    println!(
        "model: {} layers, hidden {}, vocab {}, {:.1}M params; window {} stride {}; device {:?}; {threads} threads",
        cfg.num_layers,
        cfg.hidden_size,
        cfg.vocab_size,
        cfg.num_params() as f64 / 1e6,
        scorer.window,
        scorer.stride,
        scorer.device()
    );
    // warm-up (first-touch allocations, CUDA kernels)
    scorer.score_texts(&texts[..texts.len().min(4)])?;
    let time = |f: &dyn Fn() -> anyhow::Result<Vec<Score>>| -> anyhow::Result<(Vec<Score>, f64)> {
        let t0 = Instant::now();
        let r = f()?;
        Ok((r, t0.elapsed().as_secs_f64()))
    };
    let (reference, secs) = time(&|| texts.par_iter().map(|t| Ok(scorer.score_texts(&[*t])?[0])).collect::<anyhow::Result<Vec<Score>>>())?;
    let tokens: usize = reference.iter().map(|s| s.tokens).sum();
    let base = tokens as f64 / secs;
    println!("{} documents, {tokens} tokens", docs.len());
    println!("{:<28} {:>12} {:>16} {:>8} {:>12}", "mode", "tokens/s", "tokens/s/thread", "ratio", "max |dnll|");
    println!("{:<28} {:>12.0} {:>16.0} {:>8.2} {:>12}", "one document per call", base, base / threads as f64, 1.0, "-");
    for &bt in batch_tokens {
        scorer.max_batch_tokens = bt;
        let (s, secs) = time(&|| Ok(scorer.score_texts(&texts)?))?;
        let diff = reference.iter().zip(&s).map(|(a, b)| (a.mean_nll() - b.mean_nll()).abs()).filter(|d| d.is_finite()).fold(0.0, f64::max);
        let r = tokens as f64 / secs;
        println!("{:<28} {:>12.0} {:>16.0} {:>8.2} {:>12.2e}", format!("batched, {bt} tokens/pass"), r, r / threads as f64, r / base, diff);
    }
    if compare_cpu {
        let cpu = model.load_on(DeviceChoice::Cpu)?;
        let c = cpu.score_texts(&texts)?;
        let diff = reference.iter().zip(&c).map(|(a, b)| (a.mean_nll() - b.mean_nll()).abs()).filter(|d| d.is_finite()).fold(0.0, f64::max);
        let rel =
            reference.iter().zip(&c).map(|(a, b)| ((a.bpb() - b.bpb()) / b.bpb()).abs()).filter(|d| d.is_finite()).fold(0.0, f64::max);
        println!("largest difference from CPU: {diff:.2e} nats/token, {rel:.2e} relative bits/byte");
    }
    Ok(())
}

/// Used by tests: the directory of the shared data.
pub fn data_dir() -> PathBuf {
    std::env::var_os("SLUICE_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}
