//! Command-line entry points for `sluice train`, `sluice eval` and `sluice export`.
//! Library errors are typed; here they become `anyhow` errors with context.

use crate::eval::{run_task, table, EvalOptions, Scorer, TASKS};
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
    #[arg(long, default_value_t = 1000)]
    pub steps: usize,
    /// Tokens per sequence [default: the shards' seq_len, else the preset's maximum].
    #[arg(long)]
    pub seq_len: Option<usize>,
    /// Tokens per optimizer step [default: 8 sequences].
    #[arg(long)]
    pub batch_tokens: Option<usize>,
    /// Sequences per forward/backward pass; batch_tokens / (micro_batch x seq_len)
    /// passes are accumulated per step [default: the whole batch at once].
    #[arg(long)]
    pub micro_batch: Option<usize>,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Final learning rate of the cosine decay [default: lr / 10].
    #[arg(long)]
    pub min_lr: Option<f64>,
    /// Linear warmup steps [default: steps / 10, at most 200].
    #[arg(long)]
    pub warmup: Option<usize>,
    /// AdamW decoupled weight decay (matrices only; not norms or embeddings).
    #[arg(long, default_value_t = 0.1)]
    pub weight_decay: f64,
    /// AdamW beta1.
    #[arg(long, default_value_t = 0.9)]
    pub beta1: f64,
    /// AdamW beta2.
    #[arg(long, default_value_t = 0.95)]
    pub beta2: f64,
    /// Clip gradients to this global L2 norm (0 disables).
    #[arg(long, default_value_t = 1.0)]
    pub grad_clip: f64,
    /// Seed for the initialisation and the data order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Validation loss every N steps (0 disables; also run at the last step).
    #[arg(long, default_value_t = 100)]
    pub eval_every: usize,
    /// Micro-batches of validation data per validation.
    #[arg(long, default_value_t = 8)]
    pub eval_batches: usize,
    /// Checkpoint every N steps (a checkpoint is also written at the end).
    #[arg(long, default_value_t = 500)]
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
    #[arg(long)]
    pub peak_tflops: Option<f64>,
    /// Stop after this many completed steps (the schedule still targets --steps);
    /// with --resume this reproduces an interrupted run.
    #[arg(long)]
    pub stop_after: Option<usize>,
}

/// Score a checkpoint on evaluation tasks.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// Run directory (uses its latest checkpoint) or a checkpoint directory.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Comma-separated tasks: hellaswag, lambada, piqa, arc_easy, arc_challenge,
    /// winogrande, mmlu, ceval.
    #[arg(long, default_value = "hellaswag,lambada,piqa,arc_easy,arc_challenge,winogrande,mmlu,ceval", value_delimiter = ',')]
    pub tasks: Vec<String>,
    /// Score at most N items per task (mmlu and ceval take them round-robin over subjects).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Few-shot examples for mmlu and ceval (from their dev splits).
    #[arg(long, default_value_t = 5)]
    pub shots: usize,
    /// Sequences per forward pass.
    #[arg(long, default_value_t = 16)]
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

/// Resolve CLI arguments into a validated training config.
pub fn train_config(args: &TrainArgs) -> anyhow::Result<TrainConfig> {
    let shards = ShardSet::open(&args.shards).with_context(|| format!("opening shards in {}", args.shards.display()))?;
    let vocab = match (shards.vocab_size(), &args.tokenizer) {
        (Some(v), _) => v,
        (None, Some(t)) => crate::tokenizer::Tok::load(t)?.vocab_size(),
        (None, None) => bail!("{} has no manifest.json: pass --tokenizer to give the vocabulary size", args.shards.display()),
    };
    let model = ModelConfig::preset(&args.preset, vocab)?;
    let seq_len = args.seq_len.or(shards.manifest.as_ref().and_then(|m| m.seq_len)).unwrap_or(model.max_seq_len);
    let batch_tokens = args.batch_tokens.unwrap_or(8 * seq_len);
    let micro_batch = args.micro_batch.unwrap_or((batch_tokens / seq_len).max(1));
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
    // Keep the tokenizer with the run so eval and export find it.
    if let Some(t) = args.tokenizer.clone().or_else(|| ShardSet::open(&args.shards).ok()?.tokenizer_path()) {
        std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
        std::fs::copy(&t, args.out.join("tokenizer.json")).with_context(|| format!("copying {}", t.display()))?;
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

pub fn run_eval(args: &EvalArgs) -> anyhow::Result<()> {
    let device = default_device()?;
    let scorer = Scorer::load(&args.checkpoint, args.tokenizer.as_deref(), &device, args.batch_size)
        .with_context(|| format!("loading {}", args.checkpoint.display()))?;
    let opts = EvalOptions { data_dir: args.data.clone(), limit: args.limit, shots: args.shots, save_items: args.save_items };
    let mut results = Vec::new();
    for t in &args.tasks {
        let t = t.trim();
        if !TASKS.contains(&t) {
            bail!("unknown task {t:?}; expected one of {}", TASKS.join(", "));
        }
        let r = run_task(&scorer, t, &opts).with_context(|| format!("task {t}"))?;
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
    std::fs::write(&json_path, serde_json::to_vec_pretty(&js)?).with_context(|| format!("writing {}", json_path.display()))?;
    eprintln!("results written to {}", json_path.display());
    Ok(())
}

pub fn run_export(args: &ExportArgs) -> anyhow::Result<()> {
    crate::export::export(&args.checkpoint, &args.out, args.tokenizer.as_deref())
        .with_context(|| format!("exporting {} to {}", args.checkpoint.display(), args.out.display()))?;
    eprintln!("exported {} to {}", args.checkpoint.display(), args.out.display());
    Ok(())
}
