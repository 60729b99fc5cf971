//! The training loop: data, forward/backward with gradient accumulation, clipping,
//! AdamW, the schedule, metrics, validation, checkpoints and the loss plot.

use crate::checkpoint::{self, CheckpointState};
use crate::error::{Result, TrainError};
use crate::model::{ModelConfig, Params, Transformer};
use crate::optim::{clip_grad_norm, AdamW, AdamWConfig, Schedule};
use crate::shards::{Batch, DataLoader, ShardSet, TokenStream};
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Everything that defines a training run (saved as `train_config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Shard directory.
    pub shards: PathBuf,
    /// Preset the model shape came from.
    pub preset: String,
    pub model: ModelConfig,
    /// Optimizer steps to run in total.
    pub steps: usize,
    /// Tokens per sequence.
    pub seq_len: usize,
    /// Tokens per optimizer step (sequences x seq_len x accumulation steps).
    pub batch_tokens: usize,
    /// Sequences per forward/backward pass; the rest is gradient accumulation.
    pub micro_batch: usize,
    pub schedule: Schedule,
    pub adamw: AdamWConfig,
    /// Clip gradients to this global norm (0 disables).
    pub grad_clip: f64,
    /// Seed for the init and the data order.
    pub seed: u64,
    /// Validation every N steps (0 disables).
    pub eval_every: usize,
    /// Micro-batches of validation data per validation.
    pub eval_batches: usize,
    /// Checkpoint every N steps (0: only at the end).
    pub ckpt_every: usize,
    /// Mask attention per document (EOS / `.bounds`).
    pub doc_mask: bool,
    /// Peak FLOP/s of the device, for MFU; unknown if None.
    pub peak_flops: Option<f64>,
}

impl TrainConfig {
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        let bad = |m: String| Err(TrainError::Config(m));
        if self.seq_len == 0 || self.seq_len > self.model.max_seq_len {
            return bad(format!("seq_len {} must be in 1..={} (the preset's max_seq_len)", self.seq_len, self.model.max_seq_len));
        }
        if self.micro_batch == 0 {
            return bad("micro_batch must be positive".into());
        }
        let per = self.micro_batch * self.seq_len;
        if self.batch_tokens == 0 || !self.batch_tokens.is_multiple_of(per) {
            return bad(format!("batch_tokens {} must be a positive multiple of micro_batch x seq_len = {per}", self.batch_tokens));
        }
        if self.schedule.lr <= 0.0 || self.schedule.min_lr < 0.0 || self.schedule.min_lr > self.schedule.lr {
            return bad(format!("need 0 <= min_lr <= lr, lr > 0 (lr {}, min_lr {})", self.schedule.lr, self.schedule.min_lr));
        }
        Ok(())
    }

    pub fn accum_steps(&self) -> usize {
        self.batch_tokens / (self.micro_batch * self.seq_len)
    }
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Optimizer steps completed when this was measured.
    pub step: usize,
    /// `train` or `val`.
    pub kind: String,
    pub loss: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_norm: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_s: Option<f64>,
    /// Model FLOPs utilisation, when the device's peak is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfu: Option<f64>,
    /// Tokens seen so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
}

pub const METRICS_FILE: &str = "metrics.jsonl";
pub const CONFIG_FILE: &str = "train_config.json";
pub const PLOT_FILE: &str = "loss.svg";

/// The device training runs on: the first CUDA GPU when built with `cuda` and
/// one is present, else the CPU.
pub fn default_device() -> Result<Device> {
    #[cfg(feature = "cuda")]
    {
        if candle_core::utils::cuda_is_available() {
            return Ok(Device::new_cuda(0)?);
        }
    }
    Ok(Device::Cpu)
}

/// bf16 compute on CUDA, f32 on CPU.
pub fn compute_dtype(device: &Device) -> DType {
    if device.is_cuda() {
        DType::BF16
    } else {
        DType::F32
    }
}

pub struct TrainOutcome {
    pub final_step: usize,
    pub metrics: Vec<Metric>,
    pub last_checkpoint: Option<PathBuf>,
}

fn batch_tensors(b: &Batch, device: &Device) -> Result<(Tensor, Tensor)> {
    let x = Tensor::from_vec(b.inputs.clone(), (b.b, b.t), device)?;
    let y = Tensor::from_vec(b.targets.clone(), (b.b, b.t), device)?;
    Ok((x, y))
}

/// Mean loss over the first `n` micro-batches of validation windows, in order.
pub fn validation_loss(
    model: &Transformer,
    ws: &BTreeMap<String, Tensor>,
    val: &TokenStream,
    cfg: &TrainConfig,
    eos: Option<u32>,
) -> Result<Option<f64>> {
    let windows = val.windows(cfg.seq_len);
    if windows == 0 {
        return Ok(None);
    }
    let mut total = 0.0;
    let mut count = 0usize;
    let mut next = 0usize;
    for _ in 0..cfg.eval_batches.max(1) {
        if next >= windows {
            break;
        }
        let ids: Vec<usize> = (next..(next + cfg.micro_batch).min(windows)).collect();
        next += ids.len();
        let b = val.batch(&ids, cfg.seq_len, eos);
        let (x, y) = batch_tensors(&b, &model.device)?;
        let docs = cfg.doc_mask.then_some(b.doc_ids.as_slice());
        let l = model.loss(ws, &x, &y, docs)?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        total += l * ids.len() as f64;
        count += ids.len();
    }
    Ok(Some(total / count as f64))
}

fn read_metrics(path: &Path) -> Result<Vec<Metric>> {
    if !path.exists() {
        return Ok(vec![]);
    }
    let s = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|source| TrainError::Json { path: path.to_path_buf(), source }))
        .collect()
}

fn write_metrics(path: &Path, ms: &[Metric]) -> Result<()> {
    let mut s = String::new();
    for m in ms {
        s.push_str(&serde_json::to_string(m).map_err(|e| TrainError::Internal(e.to_string()))?);
        s.push('\n');
    }
    crate::error::write_atomic(path, s.as_bytes())
}

fn plot(run: &Path, ms: &[Metric]) -> Result<()> {
    let tr: Vec<_> = ms.iter().filter(|m| m.kind == "train").map(|m| (m.step, m.loss)).collect();
    let va: Vec<_> = ms.iter().filter(|m| m.kind == "val").map(|m| (m.step, m.loss)).collect();
    crate::plot::loss_curve(&run.join(PLOT_FILE), &tr, &va)
}

/// Train (or, with `resume`, continue) a run in `run`. `stop_after` ends the run
/// early after that many completed steps (used to test interruption); the
/// schedule still runs to `cfg.steps`. `on_metric` sees every metric as it is logged.
pub fn train(
    cfg: &TrainConfig,
    run: &Path,
    resume: bool,
    stop_after: Option<usize>,
    device: &Device,
    on_metric: &mut dyn FnMut(&Metric),
) -> Result<TrainOutcome> {
    cfg.validate()?;
    std::fs::create_dir_all(run).map_err(|e| TrainError::io(run, e))?;
    let shards = ShardSet::open(&cfg.shards)?;
    if let Some(v) = shards.vocab_size() {
        if v != cfg.model.vocab_size {
            return Err(TrainError::Config(format!(
                "model vocab_size {} differs from the shards' manifest vocab_size {v}",
                cfg.model.vocab_size
            )));
        }
    }
    let eos = shards.eos_id();
    let train_stream = shards.load("train")?;
    if let Some((i, &t)) = train_stream.tokens.iter().enumerate().find(|(_, &t)| t as usize >= cfg.model.vocab_size) {
        return Err(TrainError::Config(format!("train token {t} at offset {i} is outside vocab_size {}", cfg.model.vocab_size)));
    }
    let val_stream = if shards.val.is_empty() { None } else { Some(shards.load("val")?) };
    let mut loader = DataLoader::new(train_stream, cfg.seq_len, eos, cfg.seed)?;

    let dtype = compute_dtype(device);
    let model = Transformer::new(&cfg.model, dtype, device)?;
    let metrics_path = run.join(METRICS_FILE);
    let (params, mut opt, start, mut metrics) = match (resume, checkpoint::latest(run)?) {
        (true, Some(dir)) => {
            let st = checkpoint::load_state(&dir)?;
            if st.model != cfg.model {
                return Err(TrainError::Checkpoint { path: dir, msg: "model config differs from this run's".into() });
            }
            let params = checkpoint::load_params(&dir, &cfg.model, device)?;
            let mut opt = AdamW::new(cfg.adamw.clone(), &params.vars)?;
            checkpoint::load_optimizer(&dir, &mut opt, st.optim_t, device)?;
            loader.seek(st.cursor)?;
            // Forget metrics logged after the checkpoint: they are about to be redone.
            let ms: Vec<Metric> = read_metrics(&metrics_path)?.into_iter().filter(|m| m.step <= st.step).collect();
            (params, opt, st.step, ms)
        }
        (true, None) => {
            return Err(TrainError::Checkpoint { path: run.to_path_buf(), msg: "--resume given but the run has no checkpoint".into() })
        }
        (false, _) => {
            if checkpoint::latest(run)?.is_some() {
                return Err(TrainError::Config(format!(
                    "{} already holds checkpoints; pass --resume to continue it or choose a new --out",
                    run.display()
                )));
            }
            let params = Params::init(&cfg.model, cfg.seed, DType::F32, device)?;
            let opt = AdamW::new(cfg.adamw.clone(), &params.vars)?;
            (params, opt, 0, vec![])
        }
    };
    let cfg_json = serde_json::to_vec_pretty(cfg).map_err(|e| TrainError::Internal(e.to_string()))?;
    crate::error::write_atomic(&run.join(CONFIG_FILE), &cfg_json)?;
    write_metrics(&metrics_path, &metrics)?;
    let mut mfile = std::fs::OpenOptions::new().append(true).open(&metrics_path).map_err(|e| TrainError::io(&metrics_path, e))?;
    let mut log = |m: Metric, metrics: &mut Vec<Metric>, on: &mut dyn FnMut(&Metric)| -> Result<()> {
        let line = serde_json::to_string(&m).map_err(|e| TrainError::Internal(e.to_string()))?;
        writeln!(mfile, "{line}").map_err(|e| TrainError::io(&metrics_path, e))?;
        on(&m);
        metrics.push(m);
        Ok(())
    };

    let accum = cfg.accum_steps();
    let flops_per_token = cfg.model.train_flops_per_token(cfg.seq_len);
    let end = stop_after.map_or(cfg.steps, |s| s.min(cfg.steps));
    let mut last_ckpt = None;
    let mut tokens_seen = (start * cfg.batch_tokens) as u64;
    for step in start..end {
        let t0 = Instant::now();
        let lr = cfg.schedule.at(step);
        let ws = params.tensors();
        let mut grads: BTreeMap<String, Tensor> = BTreeMap::new();
        let mut loss_sum = 0f64;
        for _ in 0..accum {
            let b = loader.next_batch(cfg.micro_batch);
            let (x, y) = batch_tensors(&b, device)?;
            let docs = cfg.doc_mask.then_some(b.doc_ids.as_slice());
            let loss = model.loss(&ws, &x, &y, docs)?;
            let lv = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            if !lv.is_finite() {
                return Err(TrainError::NonFinite { step: step + 1, what: "loss", value: lv });
            }
            loss_sum += lv;
            let gs = (loss / accum as f64)?.backward()?;
            for (name, var) in &params.vars {
                let g = gs.get(var.as_tensor()).ok_or_else(|| TrainError::Internal(format!("{name} got no gradient")))?;
                let g = g.to_dtype(DType::F32)?;
                let acc = match grads.remove(name) {
                    Some(a) => (a + g)?,
                    None => g,
                };
                grads.insert(name.clone(), acc);
            }
        }
        let gnorm = clip_grad_norm(&mut grads, cfg.grad_clip)?;
        if !gnorm.is_finite() {
            return Err(TrainError::NonFinite { step: step + 1, what: "gradient norm", value: gnorm });
        }
        opt.step(&params.vars, &grads, lr)?;
        let dt = t0.elapsed().as_secs_f64();
        tokens_seen += cfg.batch_tokens as u64;
        let tps = cfg.batch_tokens as f64 / dt;
        let done = step + 1;
        log(
            Metric {
                step: done,
                kind: "train".into(),
                loss: loss_sum / accum as f64,
                lr: Some(lr),
                grad_norm: Some(gnorm),
                tokens_per_s: Some(tps),
                mfu: cfg.peak_flops.map(|p| flops_per_token * tps / p),
                tokens: Some(tokens_seen),
            },
            &mut metrics,
            on_metric,
        )?;
        let is_last = done == cfg.steps;
        if let Some(val) = &val_stream {
            if cfg.eval_every > 0 && (done % cfg.eval_every == 0 || is_last) {
                if let Some(vl) = validation_loss(&model, &params.detached(), val, cfg, eos)? {
                    log(
                        Metric {
                            step: done,
                            kind: "val".into(),
                            loss: vl,
                            lr: None,
                            grad_norm: None,
                            tokens_per_s: None,
                            mfu: None,
                            tokens: None,
                        },
                        &mut metrics,
                        on_metric,
                    )?;
                }
            }
        }
        if (cfg.ckpt_every > 0 && done % cfg.ckpt_every == 0) || is_last || done == end {
            let st = CheckpointState {
                step: done,
                optim_t: opt.t,
                cursor: loader.cursor(),
                model: cfg.model.clone(),
                files: Default::default(),
            };
            last_ckpt = Some(checkpoint::save(run, &params, &opt, &st)?);
            plot(run, &metrics)?;
        }
    }
    plot(run, &metrics)?;
    Ok(TrainOutcome { final_step: end.max(start), metrics, last_checkpoint: last_ckpt })
}
