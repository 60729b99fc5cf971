//! Log-likelihood evaluation. One engine scores (context, continuation) pairs in
//! batches and counts only the continuation's tokens; every task is a way of
//! building such pairs from its data file and reading an answer from the scores.
//!
//! Prompt conventions follow lm-eval-harness: context and continuation are
//! tokenised separately and concatenated, trailing spaces of the context move to
//! the continuation, and every request is prefixed with the end-of-document token
//! (the model saw each training document begin right after one).

use crate::checkpoint;
use crate::error::{read_file, Result, TrainError};
use crate::model::{log_softmax_last, Transformer};
use crate::tokenizer::Tok;
use candle_core::{DType, Device, Tensor, D};
use serde::Serialize;
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

pub const TASKS: &[&str] = &["hellaswag", "lambada", "piqa", "arc_easy", "arc_challenge", "winogrande", "mmlu", "ceval"];

fn data_err(path: &Path, msg: impl Into<String>) -> TrainError {
    TrainError::EvalData { path: path.to_path_buf(), msg: msg.into() }
}

/// lm-eval-harness's HellaSwag cleanup: WikiHow "[title]" markers become sentence
/// breaks, other bracketed tags go, double spaces collapse.
pub fn hellaswag_preprocess(text: &str) -> String {
    let t = text.trim().replace(" [title]", ". ");
    let mut out = String::with_capacity(t.len());
    let mut rest = t.as_str();
    // Non-greedy `\[.*?\]`: drop from each '[' to the next ']'.
    while let Some(open) = rest.find('[') {
        match rest[open..].find(']') {
            Some(close) => {
                out.push_str(&rest[..open]);
                rest = &rest[open + close + 1..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out.replace("  ", " ")
}

fn load_hellaswag(path: &Path, limit: Option<usize>) -> Result<Vec<McItem>> {
    let text = String::from_utf8(read_file(path)?).map_err(|_| data_err(path, "not UTF-8"))?;
    let lines: Vec<&str> = text.lines().collect();
    if !lines.len().is_multiple_of(6) {
        return Err(data_err(path, format!("{} lines, not a multiple of 6", lines.len())));
    }
    let mut items = Vec::new();
    for (k, g) in lines.chunks(6).enumerate() {
        if limit.is_some_and(|l| items.len() >= l) {
            break;
        }
        let gold: usize = g[1].trim().parse().map_err(|_| data_err(path, format!("item {k}: gold {:?} is not 0-3", g[1])))?;
        if gold > 3 {
            return Err(data_err(path, format!("item {k}: gold {gold} is not 0-3")));
        }
        let ctx = hellaswag_preprocess(g[0]);
        items.push(McItem {
            contexts: vec![ctx],
            continuations: g[2..6].iter().map(|e| format!(" {}", hellaswag_preprocess(e))).collect(),
            gold,
        });
    }
    Ok(items)
}

fn jsonl(path: &Path, limit: Option<usize>) -> Result<Vec<serde_json::Value>> {
    let text = String::from_utf8(read_file(path)?).map_err(|_| data_err(path, "not UTF-8"))?;
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        if limit.is_some_and(|n| out.len() >= n) {
            break;
        }
        out.push(serde_json::from_str(l).map_err(|e| data_err(path, format!("line {}: {e}", i + 1)))?);
    }
    Ok(out)
}

fn field<'a>(v: &'a serde_json::Value, k: &str, path: &Path, i: usize) -> Result<&'a serde_json::Value> {
    v.get(k).ok_or_else(|| data_err(path, format!("item {i}: missing field {k:?}")))
}

fn str_field(v: &serde_json::Value, k: &str, path: &Path, i: usize) -> Result<String> {
    field(v, k, path, i)?.as_str().map(str::to_string).ok_or_else(|| data_err(path, format!("item {i}: {k:?} is not a string")))
}

fn gold_field(v: &serde_json::Value, n: usize, path: &Path, i: usize) -> Result<usize> {
    let g = field(v, "gold", path, i)?.as_u64().ok_or_else(|| data_err(path, format!("item {i}: gold is not an integer")))?;
    if g as usize >= n {
        return Err(data_err(path, format!("item {i}: gold {g} with {n} choices")));
    }
    Ok(g as usize)
}

/// PIQA / ARC (llm-foundry layout): "Question: ...\nAnswer:" + " choice".
fn load_choice_jsonl(path: &Path, limit: Option<usize>) -> Result<Vec<McItem>> {
    let mut items = Vec::new();
    for (i, v) in jsonl(path, limit)?.iter().enumerate() {
        let q = str_field(v, "query", path, i)?;
        let choices: Vec<String> = field(v, "choices", path, i)?
            .as_array()
            .ok_or_else(|| data_err(path, format!("item {i}: choices is not a list")))?
            .iter()
            .map(|c| c.as_str().map(|s| format!(" {s}")).ok_or_else(|| data_err(path, format!("item {i}: a choice is not a string"))))
            .collect::<Result<_>>()?;
        let gold = gold_field(v, choices.len(), path, i)?;
        items.push(McItem { contexts: vec![format!("{}\nAnswer:", q.trim_end())], continuations: choices, gold });
    }
    Ok(items)
}

/// Winogrande, partial scoring: the shared continuation under each context.
fn load_winogrande(path: &Path, limit: Option<usize>) -> Result<Vec<McItem>> {
    let mut items = Vec::new();
    for (i, v) in jsonl(path, limit)?.iter().enumerate() {
        let opts: Vec<String> = field(v, "context_options", path, i)?
            .as_array()
            .ok_or_else(|| data_err(path, format!("item {i}: context_options is not a list")))?
            .iter()
            .map(|c| c.as_str().map(str::to_string).ok_or_else(|| data_err(path, format!("item {i}: an option is not a string"))))
            .collect::<Result<_>>()?;
        let cont = format!(" {}", str_field(v, "continuation", path, i)?);
        let gold = gold_field(v, opts.len(), path, i)?;
        items.push(McItem { continuations: vec![cont; opts.len()], contexts: opts, gold });
    }
    Ok(items)
}

/// Minimal RFC 4180 CSV: quoted fields may hold commas, newlines and "" escapes.
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut f = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    f.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                f.push(c);
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ',' => row.push(std::mem::take(&mut f)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut f));
                rows.push(std::mem::take(&mut row));
            }
            c => f.push(c),
        }
    }
    if !f.is_empty() || !row.is_empty() {
        row.push(f);
        rows.push(row);
    }
    rows
}

struct McqRow {
    question: String,
    choices: [String; 4],
    answer: usize,
}

/// Read an MMLU (`question,choice0..3,answer` with answer 0-3) or C-Eval
/// (`id,question,A,B,C,D,answer[,explanation]` with answer A-D) CSV.
fn read_mcq_csv(path: &Path) -> Result<Vec<McqRow>> {
    let text = String::from_utf8(read_file(path)?).map_err(|_| data_err(path, "not UTF-8"))?;
    let rows = parse_csv(text.trim_start_matches('\u{feff}'));
    let header = rows.first().ok_or_else(|| data_err(path, "empty file"))?;
    let col = |name: &str| header.iter().position(|h| h == name).ok_or_else(|| data_err(path, format!("no column {name:?}")));
    let q = col("question")?;
    let ans = col("answer")?;
    let cs: Vec<usize> = if header.iter().any(|h| h == "choice0") {
        ["choice0", "choice1", "choice2", "choice3"].iter().map(|c| col(c)).collect::<Result<_>>()?
    } else {
        ["A", "B", "C", "D"].iter().map(|c| col(c)).collect::<Result<_>>()?
    };
    let mut out = Vec::new();
    for (i, r) in rows.iter().enumerate().skip(1) {
        if r.len() < header.len().min(ans + 1) {
            return Err(data_err(path, format!("row {i} has {} fields, the header {}", r.len(), header.len())));
        }
        let a = r[ans].trim();
        let answer = match a {
            "A" | "0" => 0,
            "B" | "1" => 1,
            "C" | "2" => 2,
            "D" | "3" => 3,
            other => return Err(data_err(path, format!("row {i}: answer {other:?} is not A-D or 0-3"))),
        };
        out.push(McqRow {
            question: r[q].clone(),
            choices: [r[cs[0]].clone(), r[cs[1]].clone(), r[cs[2]].clone(), r[cs[3]].clone()],
            answer,
        });
    }
    Ok(out)
}

const LETTERS: [&str; 4] = ["A", "B", "C", "D"];

/// MMLU / C-Eval k-shot with letter answers. `limit` caps the task's items,
/// taken round-robin over subjects so that a small limit still spans subjects.
/// The continuation is the letter (" A" for MMLU, "A" for C-Eval, whose prompt
/// ends in a full-width colon).
fn load_mcq(dir: &Path, shots: usize, chinese: bool, limit: Option<usize>) -> Result<Vec<McItem>> {
    let (dev_dir, test_dir, suffix) = if chinese { ("dev", "val", "_val.csv") } else { ("dev", "test", "_test.csv") };
    let td = dir.join(test_dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&td)
        .map_err(|e| TrainError::io(&td, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(data_err(&td, format!("no *{suffix} files")));
    }
    let mut per_subject: Vec<Vec<McItem>> = Vec::new();
    for f in files {
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let subject = name.trim_end_matches(suffix).to_string();
        let devf = dir.join(dev_dir).join(format!("{subject}_dev.csv"));
        let dev = read_mcq_csv(&devf)?;
        let fmt = |r: &McqRow| {
            let mut s = format!("{}\n", r.question.trim());
            for (l, c) in LETTERS.iter().zip(&r.choices) {
                s.push_str(&format!("{l}. {}\n", c.trim()));
            }
            s.push_str(if chinese { "答案：" } else { "Answer:" });
            s
        };
        let subj = subject.replace('_', " ");
        let mut prefix = if chinese {
            format!("以下是中国关于{subj}考试的单项选择题，请选出其中的正确答案。\n\n")
        } else {
            format!("The following are multiple choice questions (with answers) about {subj}.\n\n")
        };
        for r in dev.iter().take(shots) {
            let sep = if chinese { "" } else { " " };
            prefix.push_str(&format!("{}{sep}{}\n\n", fmt(r), LETTERS[r.answer]));
        }
        let mut items = Vec::new();
        for r in read_mcq_csv(&f)? {
            let sep = if chinese { "" } else { " " };
            items.push(McItem {
                contexts: vec![format!("{prefix}{}", fmt(&r))],
                continuations: LETTERS.iter().map(|l| format!("{sep}{l}")).collect(),
                gold: r.answer,
            });
        }
        per_subject.push(items);
    }
    let mut iters: Vec<_> = per_subject.into_iter().map(|v| v.into_iter()).collect();
    let mut items = Vec::new();
    loop {
        let before = items.len();
        for it in iters.iter_mut() {
            if limit.is_some_and(|l| items.len() >= l) {
                return Ok(items);
            }
            items.extend(it.next());
        }
        if items.len() == before {
            return Ok(items);
        }
    }
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

fn score_lambada(scorer: &Scorer, path: &Path, limit: Option<usize>) -> Result<TaskResult> {
    let mut reqs = Vec::new();
    for (i, v) in jsonl(path, limit)?.iter().enumerate() {
        let ctx = str_field(v, "context", path, i)?;
        let cont = str_field(v, "continuation", path, i)?;
        reqs.push(scorer.request(&ctx, &format!(" {}", cont.trim_start()))?);
    }
    let scores = scorer.score(&reqs)?;
    let n = scores.len().max(1) as f64;
    let acc = scores.iter().filter(|s| s.greedy).count() as f64 / n;
    // lm-eval's perplexity: exp of the mean negative log-likelihood per item.
    let ppl = (-scores.iter().map(|s| s.logprob).sum::<f64>() / n).exp();
    let mut metrics = BTreeMap::new();
    metrics.insert("acc".to_string(), acc);
    metrics.insert("perplexity".to_string(), ppl);
    Ok(TaskResult { task: "lambada".into(), n: scores.len(), metrics, items: None })
}

/// Options for a run of tasks.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// The shared data directory (holding `eval/`).
    pub data_dir: PathBuf,
    pub limit: Option<usize>,
    /// Few-shot examples for MMLU / C-Eval.
    pub shots: usize,
    pub save_items: bool,
}

/// Run one task by name.
pub fn run_task(scorer: &Scorer, task: &str, o: &EvalOptions) -> Result<TaskResult> {
    let e = o.data_dir.join("eval");
    if !e.is_dir() {
        return Err(data_err(&e, "eval data directory not found (set SLUICE_DATA or --data)"));
    }
    match task {
        "hellaswag" => score_mc(scorer, task, &load_hellaswag(&e.join("hellaswag/hellaswag_val_full.txt"), o.limit)?, true, o.save_items),
        "lambada" => score_lambada(scorer, &e.join("lambada_openai.jsonl"), o.limit),
        "piqa" | "arc_easy" | "arc_challenge" => {
            score_mc(scorer, task, &load_choice_jsonl(&e.join(format!("{task}.jsonl")), o.limit)?, true, o.save_items)
        }
        "winogrande" => score_mc(scorer, task, &load_winogrande(&e.join("winogrande.jsonl"), o.limit)?, false, o.save_items),
        "mmlu" => score_mc(scorer, task, &load_mcq(&e.join("mmlu"), o.shots, false, o.limit)?, false, o.save_items),
        "ceval" => score_mc(scorer, task, &load_mcq(&e.join("ceval"), o.shots, true, o.limit)?, false, o.save_items),
        other => Err(TrainError::Config(format!("unknown task {other:?}; expected one of {}", TASKS.join(", ")))),
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
    fn hellaswag_cleanup_matches_lm_eval() {
        assert_eq!(hellaswag_preprocess(" How to x [title] Do it [step] now  ok "), "How to x. Do it now ok");
    }

    #[test]
    fn csv_quotes_commas_newlines() {
        let r = parse_csv("a,b\n\"x, \"\"y\"\"\nz\",2\n");
        assert_eq!(r, vec![vec!["a", "b"], vec!["x, \"y\"\nz", "2"]]);
    }

    #[test]
    fn argmax_prefers_first_on_ties() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
    }
}
