//! Command-line entry points for `sluice train`, `sluice eval` and `sluice export`.
//! Library errors are typed; here they become `anyhow` errors with context.

use crate::error::{read_file_limited, MAX_OPTION_FILE};
use crate::eval::{run_spec, table, EvalOptions, Scorer, TASKS};
use crate::model::ModelConfig;
use crate::optim::{AdamWConfig, Schedule};
use crate::shards::ShardSet;
use crate::train::{default_device, train, TrainConfig};
use anyhow::{bail, Context};
use std::path::PathBuf;

/// Train a decoder-only transformer on token shards.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// Shard directory (llm.c `.bin` files, optionally with `manifest.json`).
    #[arg(long)]
    pub shards: PathBuf,
    /// Model preset: tiny (~1M params), small (~15M), gpt2-124m.
    #[arg(long, default_value = "small")]
    pub preset: String,
    /// Run directory: checkpoints, metrics.jsonl, loss.svg, train_config.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Total optimizer steps.
    #[arg(long, default_value_t = 1000, value_parser = |s: &str| int_in(s, 1, MAX_STEPS))]
    pub steps: usize,
    /// Tokens per sequence [default: the shards' seq_len, else the preset's maximum].
    #[arg(long, value_parser = |s: &str| int_in(s, 1, MAX_SEQ_LEN))]
    pub seq_len: Option<usize>,
    /// Tokens per optimizer step [default: 8 sequences].
    #[arg(long, value_parser = |s: &str| int_in(s, 1, MAX_BATCH_TOKENS))]
    pub batch_tokens: Option<usize>,
    /// Sequences per forward/backward pass; batch_tokens / (micro_batch x seq_len)
    /// passes are accumulated per step [default: the whole batch at once].
    #[arg(long, value_parser = |s: &str| int_in(s, 1, MAX_MICRO_TOKENS))]
    pub micro_batch: Option<usize>,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3, value_parser = |s: &str| float_in(s, 0.0, false, 10.0, true))]
    pub lr: f64,
    /// Final learning rate of the cosine decay [default: lr / 10].
    #[arg(long, value_parser = |s: &str| float_in(s, 0.0, true, 10.0, true))]
    pub min_lr: Option<f64>,
    /// Linear warmup steps [default: steps / 10, at most 200].
    #[arg(long, value_parser = |s: &str| int_in(s, 0, MAX_STEPS))]
    pub warmup: Option<usize>,
    /// AdamW decoupled weight decay (matrices only; not norms or embeddings).
    #[arg(long, default_value_t = 0.1, value_parser = |s: &str| float_in(s, 0.0, true, 10.0, true))]
    pub weight_decay: f64,
    /// AdamW beta1.
    #[arg(long, default_value_t = 0.9, value_parser = |s: &str| float_in(s, 0.0, true, 1.0, false))]
    pub beta1: f64,
    /// AdamW beta2.
    #[arg(long, default_value_t = 0.95, value_parser = |s: &str| float_in(s, 0.0, true, 1.0, false))]
    pub beta2: f64,
    /// Clip gradients to this global L2 norm (0 disables).
    #[arg(long, default_value_t = 1.0, value_parser = |s: &str| float_in(s, 0.0, true, 1e6, true))]
    pub grad_clip: f64,
    /// Seed for the initialisation and the data order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Validation loss every N steps (0 disables; also run at the last step).
    #[arg(long, default_value_t = 100, value_parser = |s: &str| int_in(s, 0, MAX_STEPS))]
    pub eval_every: usize,
    /// Micro-batches of validation data per validation.
    #[arg(long, default_value_t = 8, value_parser = |s: &str| int_in(s, 1, 1_000_000))]
    pub eval_batches: usize,
    /// Checkpoint every N steps (a checkpoint is also written at the end).
    #[arg(long, default_value_t = 500, value_parser = |s: &str| int_in(s, 0, MAX_STEPS))]
    pub ckpt_every: usize,
    /// Mask attention per document (boundaries from EOS and `.bounds` files).
    #[arg(long)]
    pub doc_mask: bool,
    /// tokenizer.json giving the vocabulary size when the shards have no manifest.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Continue the run in --out from its latest checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Peak FLOP/s of the device in TFLOP/s, to report MFU.
    #[arg(long, value_parser = |s: &str| float_in(s, 0.0, false, 1e6, true))]
    pub peak_tflops: Option<f64>,
    /// Stop after this many completed steps (the schedule still targets --steps);
    /// with --resume this reproduces an interrupted run.
    #[arg(long, value_parser = |s: &str| int_in(s, 1, MAX_STEPS))]
    pub stop_after: Option<usize>,
}

/// Score a checkpoint on evaluation tasks.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// Run directory (uses its latest checkpoint) or a checkpoint directory.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Comma-separated benchmarks: built-ins (hellaswag, lambada, piqa,
    /// arc_easy, arc_challenge, arc, winogrande, mmlu, ceval, cmmlu, gsm8k) or
    /// the names of specs given with --benchmark [default: the specs given with
    /// --benchmark, else hellaswag,lambada,piqa,arc_easy,arc_challenge,winogrande,mmlu,ceval].
    #[arg(long, value_delimiter = ',')]
    pub tasks: Option<Vec<String>>,
    /// A benchmark spec file (YAML or JSON: name, format, files, question,
    /// choices, answer, ...; see the README); repeat for several. Relative
    /// data files are read from <data>/eval.
    #[arg(long = "benchmark", value_name = "SPEC")]
    pub benchmark: Vec<PathBuf>,
    /// Specs given inline (a recipe's `train.eval.benchmarks`), like --benchmark.
    #[arg(skip)]
    pub specs: Vec<sluice_safety::BenchmarkSpec>,
    /// Specs that --tasks may name but that are not run by default (a
    /// recipe's `decontaminate` stages' specs).
    #[arg(skip)]
    pub known_specs: Vec<sluice_safety::BenchmarkSpec>,
    /// Score at most N items per task (taken round-robin over a benchmark's files, e.g. subjects).
    #[arg(long, value_parser = |s: &str| int_in(s, 1, 100_000_000))]
    pub limit: Option<usize>,
    /// Few-shot examples, for benchmarks with few-shot files (mmlu, ceval, cmmlu: their dev splits).
    #[arg(long, default_value_t = 5, value_parser = |s: &str| int_in(s, 0, 64))]
    pub shots: usize,
    /// Sequences per forward pass.
    #[arg(long, default_value_t = 16, value_parser = |s: &str| int_in(s, 1, 65_536))]
    pub batch_size: usize,
    /// Shared data directory holding eval/.
    #[arg(long, env = "SLUICE_DATA", default_value = "../shared/data")]
    pub data: PathBuf,
    /// tokenizer.json [default: the run's].
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Write results as JSON here [default: eval.json in the run directory].
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Include per-item log-likelihoods and predictions in the JSON.
    #[arg(long)]
    pub save_items: bool,
}

/// Export a checkpoint as a Hugging Face Llama model directory.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// Run directory (uses its latest checkpoint) or a checkpoint directory.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Output directory: config.json, model.safetensors, tokenizer.json.
    #[arg(long)]
    pub out: PathBuf,
    /// tokenizer.json to ship [default: the run's].
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
}

/// Most optimizer steps (and step counts such as warmup or checkpoint intervals).
pub const MAX_STEPS: usize = 1_000_000_000;
/// Longest sequence: beyond every preset's window, so the preset check speaks.
pub const MAX_SEQ_LEN: usize = 1 << 20;
/// Most tokens per optimizer step (1G; real runs use a few million).
pub const MAX_BATCH_TOKENS: usize = 1 << 30;
/// Most tokens in one forward/backward pass (micro-batch x seq_len): the
/// activations of a pass scale with it, and past this they exceed any device.
pub const MAX_MICRO_TOKENS: usize = 1 << 18;
/// Largest vocabulary a manifest or tokenizer may give the model (the
/// embedding is vocab x hidden; real vocabularies are at most a few hundred thousand).
pub const MAX_VOCAB: usize = 1 << 21;

/// clap parser: an integer in `lo..=hi`.
fn int_in(s: &str, lo: usize, hi: usize) -> Result<usize, String> {
    let v: usize = s.trim().parse().map_err(|_| format!("{s:?} is not a whole number"))?;
    if v < lo || v > hi {
        return Err(format!("{v} is out of range: must be in {lo}..={hi}"));
    }
    Ok(v)
}

/// clap parser: a finite number between `lo` and `hi`, each end included or not.
fn float_in(s: &str, lo: f64, lo_incl: bool, hi: f64, hi_incl: bool) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("{s:?} is not a number"))?;
    let ok = v.is_finite() && (v > lo || (lo_incl && v == lo)) && (v < hi || (hi_incl && v == hi));
    if !ok {
        let (a, b) = (if lo_incl { "[" } else { "(" }, if hi_incl { "]" } else { ")" });
        return Err(format!("{v} is out of range: must be in {a}{lo}, {hi}{b}"));
    }
    Ok(v)
}

impl TrainArgs {
    /// Checks between options that need no shards (ranges of single options
    /// are checked by clap): reported by `sluice validate` for a recipe's
    /// `train:` section as well as by `sluice train`.
    pub fn check(&self) -> Vec<String> {
        let mut e = Vec::new();
        match ModelConfig::preset(&self.preset, 256) {
            Ok(m) => {
                if let Some(t) = self.seq_len.filter(|&t| t > m.max_seq_len) {
                    e.push(format!("seq_len {t} is over the `{}` preset's window of {}", self.preset, m.max_seq_len));
                }
            }
            Err(err) => e.push(format!("preset: {err}")),
        }
        if let Some(m) = self.min_lr.filter(|&m| m > self.lr) {
            e.push(format!("min_lr {m} is above lr {}", self.lr));
        }
        if let Some(w) = self.warmup.filter(|&w| w > self.steps) {
            e.push(format!("warmup {w} is more than the {} steps", self.steps));
        }
        if let (Some(t), Some(b)) = (self.seq_len, self.micro_batch) {
            if t * b > MAX_MICRO_TOKENS {
                e.push(format!("micro_batch {b} x seq_len {t} = {} tokens per pass is over the limit of {MAX_MICRO_TOKENS}", t * b));
            } else if let Some(n) = self.batch_tokens.filter(|n| !n.is_multiple_of(t * b)) {
                e.push(format!("batch_tokens {n} must be a multiple of micro_batch x seq_len = {}", t * b));
            }
        }
        if let Some(s) = self.stop_after.filter(|&s| s > self.steps) {
            e.push(format!("stop_after {s} is more than the {} steps", self.steps));
        }
        e
    }
}

/// Resolve CLI arguments into a validated training config.
pub fn train_config(args: &TrainArgs) -> anyhow::Result<TrainConfig> {
    let errs = args.check();
    if !errs.is_empty() {
        bail!("{}", errs.join("\n"));
    }
    let shards = ShardSet::open(&args.shards).with_context(|| format!("opening shards in {}", args.shards.display()))?;
    let vocab = match (shards.vocab_size(), &args.tokenizer) {
        (Some(v), _) => v,
        (None, Some(t)) => crate::tokenizer::Tok::load(t)?.vocab_size(),
        (None, None) => bail!("{} has no manifest.json: pass --tokenizer to give the vocabulary size", args.shards.display()),
    };
    if vocab == 0 || vocab > MAX_VOCAB {
        bail!("vocabulary size {vocab} (from the shards' manifest or --tokenizer) is out of range: must be in 1..={MAX_VOCAB}");
    }
    let model = ModelConfig::preset(&args.preset, vocab)?;
    let seq_len = args.seq_len.or(shards.manifest.as_ref().and_then(|m| m.seq_len)).unwrap_or(model.max_seq_len);
    if seq_len == 0 || seq_len > model.max_seq_len {
        bail!("seq_len {seq_len} (from --seq-len or the shards' manifest) must be in 1..={} (the preset's window)", model.max_seq_len);
    }
    let batch_tokens = args.batch_tokens.unwrap_or(8 * seq_len);
    let micro_batch = args.micro_batch.unwrap_or((batch_tokens / seq_len).max(1));
    if micro_batch * seq_len > MAX_MICRO_TOKENS {
        bail!(
            "micro_batch {micro_batch} x seq_len {seq_len} = {} tokens per pass is over the limit of {MAX_MICRO_TOKENS}{}",
            micro_batch * seq_len,
            if args.micro_batch.is_none() { "; pass --micro-batch to accumulate the batch in smaller passes" } else { "" }
        );
    }
    let cfg = TrainConfig {
        shards: args.shards.clone(),
        preset: args.preset.clone(),
        model,
        steps: args.steps,
        seq_len,
        batch_tokens,
        micro_batch,
        schedule: Schedule {
            lr: args.lr,
            min_lr: args.min_lr.unwrap_or(args.lr / 10.0),
            warmup: args.warmup.unwrap_or((args.steps / 10).min(200)),
            total: args.steps,
        },
        adamw: AdamWConfig { beta1: args.beta1, beta2: args.beta2, eps: 1e-8, weight_decay: args.weight_decay },
        grad_clip: args.grad_clip,
        seed: args.seed,
        eval_every: args.eval_every,
        eval_batches: args.eval_batches,
        ckpt_every: args.ckpt_every,
        doc_mask: args.doc_mask,
        peak_flops: args.peak_tflops.map(|t| t * 1e12),
    };
    cfg.validate()?;
    Ok(cfg)
}

pub fn run_train(args: &TrainArgs) -> anyhow::Result<()> {
    let cfg = train_config(args)?;
    let device = default_device()?;
    // Keep the tokenizer with the run so eval and export find it. The
    // manifest's tokenizer is resolved inside the shard directory and checked
    // against its recorded sha256 before a byte of it reaches the run.
    let tokenizer = match &args.tokenizer {
        Some(t) => Some((t.clone(), read_file_limited(t, MAX_OPTION_FILE)?)),
        None => ShardSet::open(&args.shards)?.tokenizer_bytes()?,
    };
    if let Some((src, bytes)) = tokenizer {
        std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
        crate::error::write_atomic(&args.out.join("tokenizer.json"), &bytes).with_context(|| format!("copying {}", src.display()))?;
    }
    eprintln!(
        "sluice train: preset {} ({} params), {} steps x {} tokens (seq_len {}, micro-batch {}, accumulation {}), device {:?}",
        cfg.preset,
        cfg.model.num_params(),
        cfg.steps,
        cfg.batch_tokens,
        cfg.seq_len,
        cfg.micro_batch,
        cfg.accum_steps(),
        device
    );
    let mut print = |m: &crate::train::Metric| {
        if m.kind == "val" {
            eprintln!("step {:>6} | val loss {:.4}", m.step, m.loss);
        } else {
            eprintln!(
                "step {:>6} | loss {:.4} | lr {:.2e} | grad norm {:.3} | {:.0} tok/s{}",
                m.step,
                m.loss,
                m.lr.unwrap_or(0.0),
                m.grad_norm.unwrap_or(0.0),
                m.tokens_per_s.unwrap_or(0.0),
                m.mfu.map(|x| format!(" | MFU {:.1}%", x * 100.0)).unwrap_or_default()
            );
        }
    };
    let out = train(&cfg, &args.out, args.resume, args.stop_after, &device, &mut print)
        .with_context(|| format!("training run {}", args.out.display()))?;
    eprintln!(
        "done at step {}; checkpoint {}",
        out.final_step,
        out.last_checkpoint.map(|p| p.display().to_string()).unwrap_or_else(|| "none".into())
    );
    Ok(())
}

impl EvalArgs {
    /// The benchmarks to run, in order: `--tasks` resolved against the specs
    /// given (--benchmark files, inline specs), the known specs and the
    /// built-ins. Every mistake is reported, spec files by path.
    pub fn resolve_tasks(&self) -> Result<Vec<sluice_safety::BenchmarkSpec>, Vec<String>> {
        use sluice_safety::benchmark::{builtin, builtin_names};
        let mut errs = Vec::new();
        let mut given = self.specs.clone();
        for p in &self.benchmark {
            match sluice_safety::BenchmarkSpec::from_file(p) {
                Ok(s) => given.push(s),
                Err(e) => errs.push(format!("--benchmark {e}")),
            }
        }
        for (i, s) in given.iter().enumerate() {
            for (f, m) in s.validate() {
                errs.push(format!("benchmark `{}`: {f}: {m}", s.name));
            }
            if given[..i].iter().any(|g| g.name == s.name) {
                errs.push(format!("two benchmark specs are named `{}`", s.name));
            }
        }
        let names: Vec<String> = match &self.tasks {
            Some(t) => t.iter().map(|t| t.trim().to_string()).collect(),
            None if !given.is_empty() => given.iter().map(|s| s.name.clone()).collect(),
            None => TASKS.iter().map(|t| t.to_string()).collect(),
        };
        if names.is_empty() || names.iter().any(String::is_empty) {
            errs.push("--tasks: an empty task name".into());
        }
        let mut out = Vec::new();
        for n in &names {
            if out.iter().any(|s: &sluice_safety::BenchmarkSpec| &s.name == n) {
                errs.push(format!("--tasks names `{n}` twice"));
                continue;
            }
            match given.iter().chain(&self.known_specs).find(|s| &s.name == n).or_else(|| builtin(n)) {
                Some(s) => out.push(s.clone()),
                None => errs.push(format!(
                    "unknown task {n:?}: not a built-in benchmark ({}) nor the name of a spec given with --benchmark",
                    builtin_names().join(", ")
                )),
            }
        }
        for s in &given {
            if !names.contains(&s.name) {
                errs.push(format!("benchmark spec `{}` is given but --tasks does not name it; add it to --tasks", s.name));
            }
        }
        if errs.is_empty() {
            Ok(out)
        } else {
            Err(errs)
        }
    }
}

pub fn run_eval(args: &EvalArgs) -> anyhow::Result<()> {
    let specs = match args.resolve_tasks() {
        Ok(s) => s,
        Err(e) => bail!("{}", e.join("\n")),
    };
    let device = default_device()?;
    let scorer = Scorer::load(&args.checkpoint, args.tokenizer.as_deref(), &device, args.batch_size)
        .with_context(|| format!("loading {}", args.checkpoint.display()))?;
    let opts = EvalOptions { data_dir: args.data.clone(), limit: args.limit, shots: args.shots, save_items: args.save_items };
    let mut results = Vec::new();
    for spec in &specs {
        let t = &spec.name;
        let r = run_spec(&scorer, spec, &opts).with_context(|| format!("task {t}"))?;
        eprintln!("{t}: {:?}", r.metrics);
        results.push(r);
    }
    print!("{}", table(&results));
    let json_path = match &args.json {
        Some(p) => p.clone(),
        None => {
            let dir = crate::checkpoint::resolve(&args.checkpoint)?;
            dir.parent().and_then(|p| p.parent()).map(|r| r.join("eval.json")).unwrap_or_else(|| PathBuf::from("eval.json"))
        }
    };
    let js = serde_json::json!({ "checkpoint": args.checkpoint, "results": results });
    crate::error::write_atomic(&json_path, &serde_json::to_vec_pretty(&js)?).with_context(|| format!("writing {}", json_path.display()))?;
    eprintln!("results written to {}", json_path.display());
    Ok(())
}

pub fn run_export(args: &ExportArgs) -> anyhow::Result<()> {
    crate::export::export(&args.checkpoint, &args.out, args.tokenizer.as_deref())
        .with_context(|| format!("exporting {} to {}", args.checkpoint.display(), args.out.display()))?;
    eprintln!("exported {} to {}", args.checkpoint.display(), args.out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Args, FromArgMatches};

    fn parse<T: Args + FromArgMatches>(argv: &[&str]) -> Result<T, String> {
        let cmd = T::augment_args(clap::Command::new("x")).no_binary_name(true);
        cmd.try_get_matches_from(argv).and_then(|m| T::from_arg_matches(&m)).map_err(|e| e.to_string())
    }

    /// Issue 21, hole 7: `--seq-len 0` divided by zero and `--batch-tokens
    /// 1000000000000` aborted allocating; every numeric option is now ranged.
    #[test]
    fn numeric_train_options_are_range_checked() {
        let base = ["--shards", "s", "--out", "o"];
        for (flag, value) in [
            ("--seq-len", "0"),
            ("--batch-tokens", "1000000000000"),
            ("--batch-tokens", "0"),
            ("--micro-batch", "0"),
            ("--micro-batch", "1000000"),
            ("--steps", "0"),
            ("--steps", "18446744073709551615"),
            ("--lr", "0"),
            ("--lr", "nan"),
            ("--lr", "inf"),
            ("--min-lr", "-1"),
            ("--warmup", "99999999999"),
            ("--weight-decay", "-0.1"),
            ("--beta1", "1"),
            ("--beta2", "1.5"),
            ("--grad-clip", "-1"),
            ("--eval-every", "99999999999"),
            ("--eval-batches", "0"),
            ("--ckpt-every", "99999999999"),
            ("--peak-tflops", "0"),
            ("--stop-after", "0"),
        ] {
            let arg = format!("{flag}={value}");
            let mut argv = base.to_vec();
            argv.push(&arg);
            let e = parse::<TrainArgs>(&argv).err().unwrap_or_else(|| panic!("{flag} {value} accepted"));
            assert!(e.contains(flag) && (e.contains("out of range") || e.contains("not a")), "{flag} {value}: {e}");
        }
        let ok = parse::<TrainArgs>(&base).unwrap();
        assert!(ok.check().is_empty());
        // Checks between options, without shards.
        for (argv, want) in [
            (vec!["--lr", "0.001", "--min-lr", "0.01"], "min_lr"),
            (vec!["--steps", "10", "--warmup", "20"], "warmup"),
            (vec!["--seq-len", "1024", "--micro-batch", "1024"], "tokens per pass"),
            (vec!["--seq-len", "100", "--micro-batch", "2", "--batch-tokens", "300"], "multiple"),
            (vec!["--preset", "tiny", "--seq-len", "4096"], "preset's window"),
            (vec!["--preset", "huge"], "unknown preset"),
            (vec!["--steps", "10", "--stop-after", "11"], "stop_after"),
        ] {
            let mut a = base.to_vec();
            a.extend(argv);
            let errs = parse::<TrainArgs>(&a).unwrap().check();
            assert!(errs.iter().any(|e| e.contains(want)), "{a:?}: {errs:?}");
        }
    }

    #[test]
    fn default_micro_batch_of_a_huge_batch_is_refused_before_allocating() {
        let dir = tempfile::tempdir().unwrap();
        let shards = dir.path().join("s");
        std::fs::create_dir_all(&shards).unwrap();
        crate::shards::write_shard(&shards.join("train-0.bin"), &[1, 2, 3, 0], crate::shards::TokenDtype::Uint16).unwrap();
        let tok = crate::refdata::train_bpe(&vec!["hello world".to_string(); 4], 300).unwrap();
        let tpath = dir.path().join("tokenizer.json");
        tok.save(&tpath, false).unwrap();
        let (s, t) = (shards.to_str().unwrap(), tpath.to_str().unwrap());
        let a = parse::<TrainArgs>(&["--shards", s, "--out", "o", "--tokenizer", t, "--preset", "tiny", "--batch-tokens", "1073741824"])
            .unwrap();
        let e = train_config(&a).unwrap_err().to_string();
        assert!(e.contains("tokens per pass") && e.contains("--micro-batch"), "{e}");
        // a tokenizer that is a device, not a file, is refused without reading it
        let a = parse::<TrainArgs>(&["--shards", s, "--out", "o", "--tokenizer", "/dev/zero"]).unwrap();
        let e = format!("{:#}", train_config(&a).unwrap_err());
        assert!(e.contains("/dev/zero") && e.contains("not a regular file"), "{e}");
    }

    #[test]
    fn numeric_eval_options_are_range_checked() {
        for (flag, value) in [("--batch-size", "0"), ("--batch-size", "100000000"), ("--limit", "0"), ("--shots", "1000")] {
            let e = parse::<EvalArgs>(&["--checkpoint", "c", &format!("{flag}={value}")])
                .err()
                .unwrap_or_else(|| panic!("{flag} {value} accepted"));
            assert!(e.contains(flag) && e.contains("out of range"), "{e}");
        }
        assert!(parse::<EvalArgs>(&["--checkpoint", "c", "--limit", "5"]).is_ok());
    }
}
