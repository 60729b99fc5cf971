//! Log-likelihood evaluation. One engine scores (context, continuation) pairs in
//! batches and counts only the continuation's tokens; every task is a way of
//! building such pairs from its data file and reading an answer from the scores.
//!
//! Tasks are benchmark specs ([`sluice_safety::benchmark::BenchmarkSpec`], the
//! same that the `decontaminate` stage reads): the built-ins by name, or any
//! spec. A spec with choices is scored as multiple choice (acc, and acc_norm
//! where the spec asks); one without is scored as a continuation (greedy
//! exact match and perplexity).
//!
//! Prompt conventions follow lm-eval-harness: context and continuation are
//! tokenised separately and concatenated, trailing spaces of the context move to
//! the continuation, and every request is prefixed with the end-of-document token
//! (the model saw each training document begin right after one).

use crate::checkpoint;
use crate::error::{Result, TrainError};
use crate::model::{log_softmax_last, Transformer};
use crate::tokenizer::Tok;
use candle_core::{DType, Device, Tensor, D};
use serde::Serialize;
use sluice_safety::benchmark::{BenchmarkSpec, Item};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One scoring request, already tokenised.
#[derive(Debug, Clone)]
pub struct Request {
    pub context: Vec<u32>,
    pub continuation: Vec<u32>,
}

/// The score of one request.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scored {
    /// Sum of the continuation tokens' log-probabilities.
    pub logprob: f64,
    /// Whether every continuation token is the argmax prediction.
    pub greedy: bool,
}

/// A model ready for inference plus its tokenizer.
pub struct Scorer {
    pub model: Transformer,
    pub weights: BTreeMap<String, Tensor>,
    pub tok: Tok,
    pub eos: u32,
    pub batch_size: usize,
}

/// The tokenizer of a run: `tokenizer.json` beside the checkpoints (copied at
/// training start), else the shards' manifest's (resolved inside the shard
/// directory and checked against the manifest's sha256).
pub fn run_tokenizer_path(ckpt_dir: &Path) -> Option<PathBuf> {
    let run = ckpt_dir.parent()?.parent()?;
    let p = run.join("tokenizer.json");
    if p.exists() {
        return Some(p);
    }
    let cfg: crate::train::TrainConfig = crate::error::read_json(&run.join(crate::train::CONFIG_FILE)).ok()?;
    Some(crate::shards::ShardSet::open(&cfg.shards).ok()?.tokenizer_bytes().ok()??.0)
}

/// The end-of-document id of a run, from its shards' manifest.
pub fn run_eos_id(ckpt_dir: &Path) -> Option<u32> {
    let run = ckpt_dir.parent()?.parent()?;
    let cfg: crate::train::TrainConfig = crate::error::read_json(&run.join(crate::train::CONFIG_FILE)).ok()?;
    crate::shards::ShardSet::open(&cfg.shards).ok()?.eos_id()
}

impl Scorer {
    /// Load a checkpoint (checkpoint or run directory) for scoring.
    pub fn load(ckpt: &Path, tokenizer: Option<&Path>, device: &Device, batch_size: usize) -> Result<Scorer> {
        let dir = checkpoint::resolve(ckpt)?;
        let st = checkpoint::load_state(&dir)?;
        let params = checkpoint::load_params(&dir, &st.model, device)?;
        let tpath = match tokenizer {
            Some(p) => p.to_path_buf(),
            None => run_tokenizer_path(&dir).ok_or_else(|| TrainError::Checkpoint {
                path: dir.clone(),
                msg: "no tokenizer.json found for this run; pass --tokenizer".into(),
            })?,
        };
        let tok = Tok::load(&tpath)?;
        if tok.vocab_size() > st.model.vocab_size {
            return Err(TrainError::Tokenizer {
                path: tpath,
                msg: format!("vocabulary of {} exceeds the model's {}", tok.vocab_size(), st.model.vocab_size),
            });
        }
        let eos = run_eos_id(&dir).or_else(|| tok.token_to_id(crate::refdata::EOS_TOKEN)).ok_or_else(|| TrainError::Tokenizer {
            path: tok.path.clone(),
            msg: format!("no end-of-document id: the run's shards have no manifest and the tokenizer has no {}", crate::refdata::EOS_TOKEN),
        })?;
        let dtype = crate::train::compute_dtype(device);
        let model = Transformer::new(&st.model, dtype, device)?;
        Ok(Scorer { model, weights: params.detached(), tok, eos, batch_size: batch_size.max(1) })
    }

    /// Tokenise a (context, continuation) pair the lm-eval-harness way.
    pub fn request(&self, context: &str, continuation: &str) -> Result<Request> {
        let trimmed = context.trim_end();
        let moved = &context[trimmed.len()..];
        let cont = format!("{moved}{continuation}");
        let mut ctx = vec![self.eos];
        ctx.extend(self.tok.encode(trimmed)?);
        Ok(Request { context: ctx, continuation: self.tok.encode(&cont)? })
    }

    /// Score requests in batches (longest first, right-padded: padding after the
    /// last real token cannot affect it under causal attention). Inputs longer than
    /// the model's window keep their last `max_seq_len` tokens.
    pub fn score(&self, reqs: &[Request]) -> Result<Vec<Scored>> {
        let max = self.model.cfg.max_seq_len;
        let mut order: Vec<usize> = (0..reqs.len()).collect();
        let len = |r: &Request| r.context.len() + r.continuation.len();
        order.sort_by_key(|&i| std::cmp::Reverse(len(&reqs[i])));
        let mut out = vec![Scored { logprob: 0.0, greedy: false }; reqs.len()];
        for chunk in order.chunks(self.batch_size) {
            // (input tokens, targets, index of first continuation target)
            let mut rows = Vec::with_capacity(chunk.len());
            for &i in chunk {
                let r = &reqs[i];
                if r.continuation.is_empty() {
                    return Err(TrainError::Internal("empty continuation".into()));
                }
                let full: Vec<u32> = r.context.iter().chain(&r.continuation).copied().collect();
                let start = full.len().saturating_sub(max + 1);
                let full = &full[start..];
                let n = full.len() - 1;
                let first = n.saturating_sub(r.continuation.len());
                rows.push((full[..n].to_vec(), full[1..].to_vec(), first));
            }
            let t = rows.iter().map(|r| r.0.len()).max().unwrap_or(1);
            let b = rows.len();
            let mut x = vec![0u32; b * t];
            let mut y = vec![0u32; b * t];
            for (k, (inp, tgt, _)) in rows.iter().enumerate() {
                x[k * t..k * t + inp.len()].copy_from_slice(inp);
                y[k * t..k * t + tgt.len()].copy_from_slice(tgt);
            }
            let dev = &self.model.device;
            let xt = Tensor::from_vec(x, (b, t), dev)?;
            let yt = Tensor::from_vec(y, (b, t), dev)?;
            let logits = self.model.forward(&self.weights, &xt, None)?.to_dtype(DType::F32)?;
            let lp = log_softmax_last(&logits)?;
            let picked = lp.gather(&yt.unsqueeze(2)?, 2)?.squeeze(2)?.to_dtype(DType::F64)?.to_vec2::<f64>()?;
            let argmax = logits.argmax_keepdim(D::Minus1)?.squeeze(2)?.to_vec2::<u32>()?;
            for (k, &i) in chunk.iter().enumerate() {
                let (inp, tgt, first) = &rows[k];
                let n = inp.len();
                let logprob: f64 = picked[k][*first..n].iter().sum();
                let greedy = (*first..n).all(|p| argmax[k][p] == tgt[p]);
                out[i] = Scored { logprob, greedy };
            }
        }
        Ok(out)
    }
}

/// Result of one task.
#[derive(Debug, Clone, Serialize)]
pub struct TaskResult {
    pub task: String,
    pub n: usize,
    /// Metric name -> value (acc, acc_norm, perplexity).
    pub metrics: BTreeMap<String, f64>,
    /// Per-item predictions and scores (only with `--save-items`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<ItemResult>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ItemResult {
    pub gold: usize,
    pub logprobs: Vec<f64>,
    pub pred: usize,
    pub pred_norm: usize,
}

/// A multiple-choice item: one context per choice (Winogrande) or one shared.
struct McItem {
    contexts: Vec<String>,
    continuations: Vec<String>,
    gold: usize,
}

/// The default tasks: the built-in benchmarks whose data is in
/// `../shared/data/eval`. Every built-in ([`sluice_safety::benchmark::BUILTINS`])
/// and any spec can be run.
pub const TASKS: &[&str] = &["hellaswag", "lambada", "piqa", "arc_easy", "arc_challenge", "winogrande", "mmlu", "ceval"];

fn data_err(path: &Path, msg: impl Into<String>) -> TrainError {
    TrainError::EvalData { path: path.to_path_buf(), msg: msg.into() }
}

/// A spec's items, each with its test file's header and few-shot prefix,
/// taken round-robin over the test files (subjects) so that a small `limit`
/// still spans them.
fn load_spec(spec: &BenchmarkSpec, eval_dir: &Path, shots: usize, limit: Option<usize>) -> Result<Vec<(String, Item)>> {
    let spec_err = |m: String| TrainError::Config(format!("benchmark `{}`: {m}", spec.name));
    let mut per_file = Vec::new();
    for (file, subject) in spec.test_files(eval_dir).map_err(spec_err)? {
        let mut prefix = spec.render_header(&subject);
        if shots > 0 {
            if let Some(f) = spec.fewshot_file(eval_dir, &subject) {
                for ex in spec.read_file(&f, &subject).map_err(spec_err)?.iter().take(shots) {
                    prefix.push_str(&spec.render_prompt(ex, None));
                    prefix.push_str(&spec.render_target(ex, None));
                    prefix.push_str("\n\n");
                }
            }
        }
        per_file.push((prefix, spec.read_file(&file, &subject).map_err(spec_err)?));
    }
    let mut iters: Vec<_> = per_file.into_iter().map(|(p, items)| (p, items.into_iter())).collect();
    let mut out = Vec::new();
    loop {
        let before = out.len();
        for (prefix, it) in iters.iter_mut() {
            if limit.is_some_and(|l| out.len() >= l) {
                return Ok(out);
            }
            out.extend(it.next().map(|x| (prefix.clone(), x)));
        }
        if out.len() == before {
            return Ok(out);
        }
    }
}

/// A multiple-choice spec's items as scoring requests: each choice's target
/// after the prompt (or, with `{choice}` in the prompt, the shared target
/// after each choice's prompt).
fn mc_items(spec: &BenchmarkSpec, items: &[(String, Item)]) -> Result<Vec<McItem>> {
    let mut out = Vec::new();
    for (prefix, it) in items {
        if let Some(c) = (0..it.choices.len()).find(|&c| spec.render_target(it, Some(c)).trim().is_empty()) {
            return Err(TrainError::Config(format!(
                "benchmark `{}`: the target of choice {} of the item {:?} (subject {:?}) is empty: nothing to score",
                spec.name,
                sluice_safety::benchmark::letter(c),
                it.question,
                it.subject
            )));
        }
        let n = it.choices.len();
        let contexts = if spec.prompt_per_choice() {
            (0..n).map(|c| format!("{prefix}{}", spec.render_prompt(it, Some(c)))).collect()
        } else {
            vec![format!("{prefix}{}", spec.render_prompt(it, None))]
        };
        out.push(McItem { contexts, continuations: (0..n).map(|c| spec.render_target(it, Some(c))).collect(), gold: it.gold });
    }
    Ok(out)
}

/// Score multiple-choice items: acc (argmax log-likelihood) and acc_norm (argmax
/// log-likelihood divided by the continuation's length in characters, as
/// lm-eval-harness defines it).
fn score_mc(scorer: &Scorer, task: &str, items: &[McItem], norm: bool, save_items: bool) -> Result<TaskResult> {
    let mut reqs = Vec::new();
    for it in items {
        for (c, cont) in it.continuations.iter().enumerate() {
            let ctx = if it.contexts.len() == 1 { &it.contexts[0] } else { &it.contexts[c] };
            reqs.push(scorer.request(ctx, cont)?);
        }
    }
    let scores = scorer.score(&reqs)?;
    let mut k = 0;
    let (mut acc, mut acc_norm) = (0usize, 0usize);
    let mut per = Vec::new();
    for it in items {
        let n = it.continuations.len();
        let lps: Vec<f64> = scores[k..k + n].iter().map(|s| s.logprob).collect();
        k += n;
        let pred = argmax(&lps);
        let normed: Vec<f64> = lps.iter().zip(&it.continuations).map(|(l, c)| l / c.chars().count() as f64).collect();
        let pred_norm = argmax(&normed);
        acc += (pred == it.gold) as usize;
        acc_norm += (pred_norm == it.gold) as usize;
        if save_items {
            per.push(ItemResult { gold: it.gold, logprobs: lps, pred, pred_norm });
        }
    }
    let n = items.len().max(1) as f64;
    let mut metrics = BTreeMap::new();
    metrics.insert("acc".to_string(), acc as f64 / n);
    if norm {
        metrics.insert("acc_norm".to_string(), acc_norm as f64 / n);
    }
    Ok(TaskResult { task: task.into(), n: items.len(), metrics, items: save_items.then_some(per) })
}

/// First index of the maximum (ties go to the earlier choice, as numpy's argmax).
fn argmax(xs: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in xs.iter().enumerate() {
        if x > xs[best] {
            best = i;
        }
    }
    best
}

/// A spec without choices: the answer's log-likelihood after the prompt.
/// `acc` is the share of items whose whole answer is the greedy
/// continuation; `perplexity` is lm-eval's, exp of the mean negative
/// log-likelihood per item.
fn score_continuation(scorer: &Scorer, spec: &BenchmarkSpec, items: &[(String, Item)]) -> Result<TaskResult> {
    let mut reqs = Vec::new();
    for (prefix, it) in items {
        let target = spec.render_target(it, None);
        if target.trim().is_empty() {
            return Err(TrainError::Config(format!(
                "benchmark `{}`: the target of the item {:?} (subject {:?}) is empty: nothing to score",
                spec.name, it.question, it.subject
            )));
        }
        reqs.push(scorer.request(&format!("{prefix}{}", spec.render_prompt(it, None)), &target)?);
    }
    let scores = scorer.score(&reqs)?;
    let n = scores.len().max(1) as f64;
    let acc = scores.iter().filter(|s| s.greedy).count() as f64 / n;
    let ppl = (-scores.iter().map(|s| s.logprob).sum::<f64>() / n).exp();
    let mut metrics = BTreeMap::new();
    metrics.insert("acc".to_string(), acc);
    metrics.insert("perplexity".to_string(), ppl);
    Ok(TaskResult { task: spec.name.clone(), n: scores.len(), metrics, items: None })
}

/// Options for a run of tasks.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// The shared data directory (holding `eval/`).
    pub data_dir: PathBuf,
    pub limit: Option<usize>,
    /// Few-shot examples, for benchmarks with `fewshot_files` (MMLU, C-Eval, CMMLU).
    pub shots: usize,
    pub save_items: bool,
}

/// Run one built-in benchmark by name.
pub fn run_task(scorer: &Scorer, task: &str, o: &EvalOptions) -> Result<TaskResult> {
    let spec = sluice_safety::benchmark::builtin(task).ok_or_else(|| {
        TrainError::Config(format!(
            "unknown task {task:?}; the built-in benchmarks are {} (or give a spec with --benchmark)",
            sluice_safety::benchmark::builtin_names().join(", ")
        ))
    })?;
    run_spec(scorer, spec, o)
}

/// Run one benchmark given by its spec. Relative files are read from
/// `<data_dir>/eval`.
pub fn run_spec(scorer: &Scorer, spec: &BenchmarkSpec, o: &EvalOptions) -> Result<TaskResult> {
    let errs = spec.validate();
    if !errs.is_empty() {
        let m: Vec<String> = errs.iter().map(|(f, m)| format!("{f}: {m}")).collect();
        return Err(TrainError::Config(format!("benchmark `{}`: {}", spec.name, m.join("; "))));
    }
    let e = o.data_dir.join("eval");
    if !e.is_dir() && spec.files.iter().any(|f| !Path::new(f).is_absolute()) {
        return Err(data_err(&e, "eval data directory not found (set SLUICE_DATA or --data)"));
    }
    let items = load_spec(spec, &e, o.shots, o.limit)?;
    if spec.is_multiple_choice() {
        score_mc(scorer, &spec.name, &mc_items(spec, &items)?, spec.acc_norm, o.save_items)
    } else {
        score_continuation(scorer, spec, &items)
    }
}

/// Results as an aligned text table.
pub fn table(results: &[TaskResult]) -> String {
    let mut s = format!("{:<14} {:>6}  {:<11} {:>10}\n", "task", "n", "metric", "value");
    for r in results {
        for (k, v) in &r.metrics {
            s.push_str(&format!("{:<14} {:>6}  {:<11} {:>10.4}\n", r.task, r.n, k, v));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_prefers_first_on_ties() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
    }
}
