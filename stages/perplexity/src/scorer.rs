//! Document scoring with a sluice-trained reference LM.
//!
//! A document is tokenised, prefixed with the end-of-document token (the
//! model saw every training document begin right after one), and every
//! token after that prefix is scored. Documents longer than the window are
//! scored in overlapping windows: window `k` starts `k * stride` tokens in
//! and counts only the targets no earlier window counted, so every target
//! after the first window has at least `window - stride` tokens of context.
//!
//! Windows of many documents are batched. A row is right-padded to a length
//! that depends on its own length only ([`PAD_MULTIPLE`]), and only rows of
//! the same padded length share a forward pass. Under the causal mask,
//! padding after the last real token cannot reach it, and because every
//! matrix product a row goes through then has the same shape along its
//! reduction axis whatever the batch, a document's score does not depend on
//! which documents it was batched with (checked by the `padding_does_not_leak`
//! test). That is what keeps the stage's output byte-identical whatever
//! `--tasks` or the engine's batch boundaries.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, D};
use rayon::prelude::*;
use sluice_train::checkpoint;
use sluice_train::eval::{run_eos_id, run_tokenizer_path};
use sluice_train::model::Transformer;
use sluice_train::tokenizer::Tok;
use sluice_train::{Result, TrainError};

/// Rows are right-padded to a multiple of this many tokens.
pub const PAD_MULTIPLE: usize = 32;

/// The score of one document.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Score {
    /// Total negative log-likelihood of the scored tokens, in nats.
    pub nll: f64,
    /// Tokens scored (every token of the text; the EOS prefix is context only).
    pub tokens: usize,
    /// UTF-8 bytes of the text.
    pub bytes: usize,
}

impl Score {
    /// Mean NLL per token, in nats (NaN when nothing was scored).
    pub fn mean_nll(&self) -> f64 {
        if self.tokens == 0 {
            f64::NAN
        } else {
            self.nll / self.tokens as f64
        }
    }

    /// Per-token perplexity, `exp(mean NLL)`.
    pub fn ppl(&self) -> f64 {
        self.mean_nll().exp()
    }

    /// Bits per UTF-8 byte: the total NLL in bits over the text's bytes. It
    /// does not depend on the tokenizer, so models with different
    /// vocabularies (and languages with different bytes per character, up
    /// to that factor) are comparable.
    pub fn bpb(&self) -> f64 {
        if self.bytes == 0 {
            f64::NAN
        } else {
            self.nll / std::f64::consts::LN_2 / self.bytes as f64
        }
    }
}

/// Where to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// CUDA when built with `--features cuda` and a GPU is present, else CPU.
    #[default]
    Auto,
    /// Always the CPU.
    Cpu,
    /// The first CUDA GPU; an error when there is none.
    Cuda,
}

impl DeviceChoice {
    pub fn device(self) -> Result<Device> {
        match self {
            DeviceChoice::Auto => sluice_train::train::default_device(),
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Cuda => {
                if cfg!(feature = "cuda") {
                    Ok(Device::new_cuda(0)?)
                } else {
                    Err(TrainError::Config("device: cuda, but sluice was built without `--features cuda`".into()))
                }
            }
        }
    }
}

/// How to window and batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreOptions {
    /// Tokens per window (at most the model's `max_seq_len`; None: that).
    pub window: Option<usize>,
    /// Step between windows (None: half the window).
    pub stride: Option<usize>,
    /// Padded tokens per forward pass (rows x padded length).
    pub max_batch_tokens: usize,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions { window: None, stride: None, max_batch_tokens: 4096 }
    }
}

/// One window of one document.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub doc: usize,
    /// Input tokens; targets are the next tokens.
    pub input: Vec<u32>,
    pub target: Vec<u32>,
    /// Targets before this index were counted by an earlier window.
    pub first: usize,
}

/// A loaded reference model and tokenizer.
pub struct PplScorer {
    pub model: Transformer,
    pub weights: BTreeMap<String, Tensor>,
    pub tok: Tok,
    pub eos: u32,
    pub window: usize,
    pub stride: usize,
    pub max_batch_tokens: usize,
}

/// The largest `tokenizer.json` the stage loads (sluice's own are a few MB).
pub const MAX_TOKENIZER_BYTES: u64 = sluice_pipeline::limits::MAX_OPTION_FILE;

/// Check a tokenizer file before the tokenizers crate reads it whole: a
/// regular file (not `/dev/zero`, a FIFO or a directory) of at most
/// [`MAX_TOKENIZER_BYTES`]. The message names the file.
pub fn check_tokenizer_file(path: &Path) -> std::result::Result<(), String> {
    let m = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !m.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    if m.len() > MAX_TOKENIZER_BYTES {
        return Err(format!("{}: {} bytes, larger than the limit of {MAX_TOKENIZER_BYTES} bytes for a tokenizer", path.display(), m.len()));
    }
    Ok(())
}

impl PplScorer {
    /// Load a run directory (its latest checkpoint) or a checkpoint
    /// directory, with the run's tokenizer unless `tokenizer` is given.
    pub fn load(model: &Path, tokenizer: Option<&Path>, device: DeviceChoice, opts: ScoreOptions) -> Result<PplScorer> {
        let device = device.device()?;
        let dir = checkpoint::resolve(model)?;
        let st = checkpoint::load_state(&dir)?;
        let params = checkpoint::load_params(&dir, &st.model, &device)?;
        let tpath = match tokenizer {
            Some(p) => p.to_path_buf(),
            None => run_tokenizer_path(&dir).ok_or_else(|| TrainError::Checkpoint {
                path: dir.clone(),
                msg: "no tokenizer.json found for this run; set `tokenizer`".into(),
            })?,
        };
        check_tokenizer_file(&tpath).map_err(|msg| TrainError::Tokenizer { path: tpath.clone(), msg })?;
        let tok = Tok::load(&tpath)?;
        if tok.vocab_size() > st.model.vocab_size {
            return Err(TrainError::Tokenizer {
                path: tpath,
                msg: format!("vocabulary of {} exceeds the model's {}", tok.vocab_size(), st.model.vocab_size),
            });
        }
        let eos = run_eos_id(&dir).or_else(|| tok.token_to_id(sluice_train::refdata::EOS_TOKEN)).ok_or_else(|| TrainError::Tokenizer {
            path: tok.path.clone(),
            msg: format!(
                "no end-of-document id: the run's shards have no manifest and the tokenizer has no {}",
                sluice_train::refdata::EOS_TOKEN
            ),
        })?;
        let dtype = sluice_train::train::compute_dtype(&device);
        let model = Transformer::new(&st.model, dtype, &device)?;
        let weights = params.detached().into_iter().map(|(k, t)| Ok((k, t.to_dtype(dtype)?))).collect::<Result<BTreeMap<_, _>>>()?;
        PplScorer::from_parts(model, weights, tok, eos, opts)
    }

    /// A scorer from an already built model (tests, benches).
    pub fn from_parts(model: Transformer, weights: BTreeMap<String, Tensor>, tok: Tok, eos: u32, opts: ScoreOptions) -> Result<PplScorer> {
        let max = model.cfg.max_seq_len;
        let window = opts.window.unwrap_or(max);
        if window == 0 || window > max {
            return Err(TrainError::Config(format!("window {window} must be between 1 and the model's max_seq_len {max}")));
        }
        let stride = opts.stride.unwrap_or((window / 2).max(1));
        if stride == 0 || stride > window {
            return Err(TrainError::Config(format!("stride {stride} must be between 1 and the window {window}")));
        }
        Ok(PplScorer { model, weights, tok, eos, window, stride, max_batch_tokens: opts.max_batch_tokens.max(1) })
    }

    pub fn device(&self) -> &Device {
        &self.model.device
    }

    /// Token ids of a text, EOS first.
    pub fn tokens(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::with_capacity(text.len() / 3 + 2);
        ids.push(self.eos);
        ids.extend(self.tok.encode(text)?);
        Ok(ids)
    }

    /// The windows of one document's tokens (EOS first). A document with no
    /// token after the EOS has no window.
    pub fn windows(&self, doc: usize, ids: &[u32]) -> Vec<Row> {
        let n = ids.len().saturating_sub(1); // targets
        let mut rows = Vec::new();
        let (mut begin, mut counted) = (0, 0);
        while counted < n {
            let end = (begin + self.window).min(n);
            rows.push(Row { doc, input: ids[begin..end].to_vec(), target: ids[begin + 1..end + 1].to_vec(), first: counted - begin });
            counted = end;
            begin += self.stride;
        }
        rows
    }

    fn padded_len(&self, len: usize) -> usize {
        len.div_ceil(PAD_MULTIPLE).saturating_mul(PAD_MULTIPLE).min(self.model.cfg.max_seq_len).max(len)
    }

    /// Score texts: tokenise (in parallel), window, batch by padded length.
    pub fn score_texts(&self, texts: &[&str]) -> Result<Vec<Score>> {
        let ids: Vec<Vec<u32>> = texts.par_iter().map(|t| self.tokens(t)).collect::<Result<_>>()?;
        let nll = self.score_ids(&ids)?;
        Ok(texts.iter().zip(&ids).zip(nll).map(|((t, i), nll)| Score { nll, tokens: i.len() - 1, bytes: t.len() }).collect())
    }

    /// Total NLL (nats) of each token sequence (EOS first) beyond its first token.
    pub fn score_ids(&self, docs: &[Vec<u32>]) -> Result<Vec<f64>> {
        let mut rows: Vec<Row> = docs.iter().enumerate().flat_map(|(d, ids)| self.windows(d, ids)).collect();
        // Longest first; ties keep document order, so batches are a function of the input.
        rows.sort_by_key(|r| std::cmp::Reverse(self.padded_len(r.input.len())));
        let mut out = vec![0.0f64; docs.len()];
        let mut i = 0;
        while i < rows.len() {
            let t = self.padded_len(rows[i].input.len());
            let per = (self.max_batch_tokens / t).max(1);
            let mut j = i;
            while j < rows.len() && j - i < per && self.padded_len(rows[j].input.len()) == t {
                j += 1;
            }
            let sums = self.forward_rows(&rows[i..j], t)?;
            for (r, s) in rows[i..j].iter().zip(sums) {
                out[r.doc] += s;
            }
            i = j;
        }
        Ok(out)
    }

    /// One forward pass over rows padded to `t`: the NLL summed over each
    /// row's counted targets.
    fn forward_rows(&self, rows: &[Row], t: usize) -> Result<Vec<f64>> {
        let b = rows.len();
        let mut x = vec![self.eos; b * t];
        let mut y = vec![0u32; b * t];
        for (k, r) in rows.iter().enumerate() {
            x[k * t..k * t + r.input.len()].copy_from_slice(&r.input);
            y[k * t..k * t + r.target.len()].copy_from_slice(&r.target);
        }
        let dev = self.device();
        let xt = Tensor::from_vec(x, (b, t), dev)?;
        let yt = Tensor::from_vec(y, (b, t), dev)?;
        let logits = self.model.forward(&self.weights, &xt, None)?.to_dtype(DType::F32)?;
        // nll = logsumexp(logits) - logits[target], without materialising log-probs.
        let m = logits.max_keepdim(D::Minus1)?;
        let lse = logits.broadcast_sub(&m)?.exp()?.sum_keepdim(D::Minus1)?.log()?.add(&m)?;
        let picked = logits.gather(&yt.unsqueeze(2)?, 2)?;
        let nll = (lse - picked)?.squeeze(2)?.to_vec2::<f32>()?;
        Ok(rows.iter().zip(nll).map(|(r, v)| v[r.first..r.target.len()].iter().map(|&x| x as f64).sum()).collect())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use sluice_train::model::{ModelConfig, Params};

    /// A tiny random model with a byte-level BPE trained on a few sentences.
    pub fn tiny_scorer(opts: ScoreOptions) -> PplScorer {
        let docs: Vec<String> =
            (0..200).map(|i| format!("The river {i} flows into the sea. Die Katze schläft. 猫在睡觉 {}", i * 7)).collect();
        let tk = sluice_train::refdata::train_bpe(&docs, 400).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tokenizer.json");
        tk.save(&p, false).unwrap();
        let tok = Tok::load(&p).unwrap();
        let eos = tok.token_to_id(sluice_train::refdata::EOS_TOKEN).unwrap();
        let mut cfg = ModelConfig::preset("tiny", tok.vocab_size()).unwrap();
        cfg.max_seq_len = 64;
        let dev = Device::Cpu;
        let params = Params::init(&cfg, 7, DType::F32, &dev).unwrap();
        let model = Transformer::new(&cfg, DType::F32, &dev).unwrap();
        PplScorer::from_parts(model, params.detached(), tok, eos, opts).unwrap()
    }

    /// Reference: score one window the simplest way (no padding, batch of one).
    fn naive(s: &PplScorer, ids: &[u32]) -> f64 {
        s.windows(0, ids)
            .iter()
            .map(|r| {
                let x = Tensor::new(r.input.as_slice(), s.device()).unwrap().unsqueeze(0).unwrap();
                let l = s.model.forward(&s.weights, &x, None).unwrap();
                let lp = sluice_train::model::log_softmax_last(&l).unwrap().squeeze(0).unwrap().to_vec2::<f32>().unwrap();
                (r.first..r.target.len()).map(|p| -(lp[p][r.target[p] as usize] as f64)).sum::<f64>()
            })
            .sum()
    }

    #[test]
    fn windows_count_every_target_once() {
        let s = tiny_scorer(ScoreOptions { window: Some(16), stride: Some(6), max_batch_tokens: 256 });
        for n in [1usize, 2, 15, 16, 17, 40, 63] {
            let ids: Vec<u32> = (0..n as u32).collect();
            let rows = s.windows(0, &ids);
            let mut seen = vec![0; n.saturating_sub(1)];
            for r in &rows {
                assert!(r.input.len() <= 16);
                let begin = r.input[0] as usize;
                for p in r.first..r.target.len() {
                    assert_eq!(r.target[p] as usize, begin + p + 1);
                    seen[begin + p] += 1;
                    // every counted target after the first window has >= window - stride context
                    if begin > 0 {
                        assert!(p + 1 >= 16 - 6, "n={n} begin={begin} p={p}");
                    }
                }
            }
            assert!(seen.iter().all(|&c| c == 1), "n={n}: {seen:?}");
        }
        assert!(s.windows(0, &[5]).is_empty());
    }

    #[test]
    fn batched_scores_match_the_naive_reference() {
        let s = tiny_scorer(ScoreOptions { window: Some(24), stride: Some(10), max_batch_tokens: 200 });
        let texts = ["The river 3 flows.", "Die Katze schläft in der Sonne, und der Hund bellt laut.", "猫在睡觉", "x"];
        let scores = s.score_texts(&texts).unwrap();
        for (t, sc) in texts.iter().zip(&scores) {
            let ids = s.tokens(t).unwrap();
            let want = naive(&s, &ids);
            assert!((sc.nll - want).abs() < 1e-4 * want.max(1.0), "{t}: {} vs {want}", sc.nll);
            assert_eq!(sc.tokens, ids.len() - 1);
            assert_eq!(sc.bytes, t.len());
        }
        // an untrained model is near uniform: bpb is far above a trained model's
        assert!(scores[1].bpb() > 2.0);
        let e = s.score_texts(&[""]).unwrap()[0];
        assert_eq!(e.tokens, 0);
        assert!(e.bpb().is_nan());
    }

    #[test]
    fn padding_does_not_leak() {
        // Stability: a document's score alone equals its score inside any
        // batch, whatever its neighbours' lengths, to 1e-5 (CPU).
        let mut s = tiny_scorer(ScoreOptions { window: Some(64), stride: Some(32), max_batch_tokens: 1 << 20 });
        let texts: Vec<String> = (0..12)
            .map(|i| {
                let w = ["river", "Katze", "睡觉", "sea", "flows"];
                (0..(1 + i * i)).map(|k| w[(k * 3 + i) % w.len()]).collect::<Vec<_>>().join(" ")
            })
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let alone: Vec<Score> = refs.iter().map(|t| s.score_texts(&[*t]).unwrap()[0]).collect();
        assert!(alone.iter().any(|a| a.tokens > 64), "some document must need several windows");
        let mut worst = 0.0f64;
        for batch_tokens in [64, 200, 1 << 20] {
            s.max_batch_tokens = batch_tokens;
            let all = s.score_texts(&refs).unwrap();
            for (a, b) in alone.iter().zip(&all) {
                worst = worst.max((a.mean_nll() - b.mean_nll()).abs());
            }
            // reversed order and a subset
            let rev: Vec<&str> = refs.iter().rev().copied().collect();
            let r = s.score_texts(&rev).unwrap();
            for (a, b) in alone.iter().rev().zip(&r) {
                worst = worst.max((a.mean_nll() - b.mean_nll()).abs());
            }
        }
        assert!(worst < 1e-5, "padding leaks: {worst}");
    }
}
