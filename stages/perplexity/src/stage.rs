//! The `perplexity` stage.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_pipeline::{Batch, Document, Error, StageOutput, StreamStage, StreamStageFactory, TaskContext};

use crate::buckets::{Bucket, Cutoffs, Metric};
use crate::scorer::{DeviceChoice, PplScorer, Score, ScoreOptions};

/// Configuration of the `perplexity` stage. It scores every document with a
/// reference LM trained by `sluice train` and writes the attributes
/// `ppl_nll` (mean NLL per token, nats), `ppl` (per-token perplexity),
/// `ppl_bpb` (bits per UTF-8 byte, independent of the tokenizer) and
/// `ppl_tokens`; with `cutoffs`, also `ppl_bucket` (0 head, 1 middle,
/// 2 tail) and the metadata `ppl_bucket` (`head`, `middle`, `tail`).
/// Documents with no text get no score.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PerplexityConfig {
    /// The reference model: a `sluice train` run directory (its latest
    /// checkpoint) or one checkpoint directory.
    pub model: String,
    /// `tokenizer.json` to use. Default: the run's (beside its checkpoints
    /// or in its shards' manifest).
    #[serde(default)]
    pub tokenizer: Option<String>,
    /// Tokens per scoring window. Default: the model's `max_seq_len`.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1_048_576))]
    pub window: Option<usize>,
    /// Tokens between the starts of successive windows of a long
    /// document; each target is counted once, with at least
    /// `window - stride` tokens of context after the first window.
    /// Default: half the window.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1_048_576))]
    pub stride: Option<usize>,
    /// Padded tokens per forward pass: windows of equal padded length are
    /// batched up to this. Bounds memory (logits take 4 x vocabulary bytes
    /// per token). 1 to 1048576; default 4096.
    #[serde(default = "d_batch_tokens")]
    #[schemars(range(min = 1, max = 1_048_576))]
    pub max_batch_tokens: usize,
    /// `auto` (CUDA when built with `--features cuda` and a GPU is present,
    /// else CPU), `cpu` or `cuda`. Default `auto`.
    #[serde(default)]
    pub device: DeviceChoice,
    /// A cut-offs file from `sluice ppl calibrate`: label each document
    /// head, middle or tail for its language.
    #[serde(default)]
    pub cutoffs: Option<String>,
    /// Keep only documents in these buckets (needs `cutoffs`); the others
    /// are dropped as `ppl_bucket_<bucket>`. Default: keep every bucket.
    #[serde(default)]
    pub keep_buckets: Option<Vec<Bucket>>,
    /// Drop documents above this many bits per byte (`ppl_above_max_bpb`).
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1000.0))]
    pub max_bpb: Option<f64>,
    /// Drop documents above this per-token perplexity (`ppl_above_max_ppl`).
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1e15))]
    pub max_ppl: Option<f64>,
    /// Metadata key holding the document's language (written by the
    /// `language` stage). Default `language`.
    #[serde(default = "d_language_key")]
    pub language_key: String,
}

fn d_batch_tokens() -> usize {
    4096
}
fn d_language_key() -> String {
    "language".into()
}

impl PerplexityConfig {
    // `!(v > 0.0)` also refuses NaN, on purpose.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let model = Path::new(&self.model);
        if !model.exists() {
            e.push((
                "model".into(),
                format!("{} does not exist (train one with `sluice train`, see recipes/reference-lm.yaml)", self.model),
            ));
        }
        if let Some(t) = &self.tokenizer {
            if let Err(m) = crate::scorer::check_tokenizer_file(Path::new(t)) {
                e.push(("tokenizer".into(), m));
            }
        }
        if self.window == Some(0) {
            e.push(("window".into(), "must be at least 1".into()));
        }
        match (self.stride, self.window) {
            (Some(0), _) => e.push(("stride".into(), "must be at least 1".into())),
            (Some(s), Some(w)) if s > w => e.push(("stride".into(), format!("{s} exceeds the window {w}"))),
            _ => {}
        }
        if self.max_batch_tokens == 0 {
            e.push(("max_batch_tokens".into(), "must be at least 1".into()));
        }
        if let Some(c) = &self.cutoffs {
            if let Err(m) = Cutoffs::load(Path::new(c)) {
                e.push(("cutoffs".into(), m));
            }
        }
        if let Some(k) = &self.keep_buckets {
            if self.cutoffs.is_none() {
                e.push(("keep_buckets".into(), "needs `cutoffs` (make them with `sluice ppl calibrate`)".into()));
            }
            if k.is_empty() {
                e.push(("keep_buckets".into(), "keeps nothing; leave it out to keep every bucket".into()));
            }
        }
        for (f, v) in [("max_bpb", self.max_bpb), ("max_ppl", self.max_ppl)] {
            if v.is_some_and(|v| !(v > 0.0)) {
                e.push((f.into(), "must be positive".into()));
            }
        }
        e
    }

    pub fn options(&self) -> ScoreOptions {
        ScoreOptions { window: self.window, stride: self.stride, max_batch_tokens: self.max_batch_tokens }
    }

    /// The stage factory. The model loads on first use (once per process,
    /// shared by every task), so `sluice validate` stays cheap.
    pub fn build(&self) -> Result<PerplexityFactory, Vec<(String, String)>> {
        let cutoffs = match &self.cutoffs {
            Some(c) => Some(Cutoffs::load(Path::new(c)).map_err(|m| vec![("cutoffs".to_string(), m)])?),
            None => None,
        };
        Ok(PerplexityFactory { cfg: self.clone(), cutoffs: cutoffs.map(Arc::new), scorer: Arc::new(OnceLock::new()) })
    }
}

/// Builds one [`Perplexity`] stream stage per task, sharing the model.
pub struct PerplexityFactory {
    cfg: PerplexityConfig,
    cutoffs: Option<Arc<Cutoffs>>,
    scorer: Arc<OnceLock<Result<Arc<PplScorer>, String>>>,
}

impl PerplexityFactory {
    fn scorer(&self) -> Result<Arc<PplScorer>, String> {
        self.scorer
            .get_or_init(|| {
                PplScorer::load(
                    &PathBuf::from(&self.cfg.model),
                    self.cfg.tokenizer.as_deref().map(Path::new),
                    self.cfg.device,
                    self.cfg.options(),
                )
                .map(Arc::new)
                .map_err(|e| format!("loading the reference model {}: {e}", self.cfg.model))
            })
            .clone()
    }
}

impl StreamStageFactory for PerplexityFactory {
    fn create(&self, _ctx: &TaskContext) -> sluice_pipeline::Result<Box<dyn StreamStage>> {
        let scorer = self.scorer().map_err(|message| Error::Stage { node: "perplexity".into(), message })?;
        Ok(Box::new(Perplexity { judge: Judge { cfg: self.cfg.clone(), cutoffs: self.cutoffs.clone() }, scorer }))
    }
}

/// Turns a score into attributes and a verdict.
pub struct Judge {
    pub cfg: PerplexityConfig,
    pub cutoffs: Option<Arc<Cutoffs>>,
}

impl Judge {
    /// Annotate `doc` with `s`; `Some(reason)` to drop it.
    pub fn apply(&self, doc: &mut Document, s: &Score) -> Option<&'static str> {
        let filtering = self.cfg.keep_buckets.is_some() || self.cfg.max_bpb.is_some() || self.cfg.max_ppl.is_some();
        if s.tokens == 0 {
            return filtering.then_some("ppl_empty");
        }
        let (nll, ppl, bpb) = (s.mean_nll(), s.ppl(), s.bpb());
        doc.attributes.insert("ppl_nll".into(), nll);
        doc.attributes.insert("ppl".into(), ppl);
        doc.attributes.insert("ppl_bpb".into(), bpb);
        doc.attributes.insert("ppl_tokens".into(), s.tokens as f64);
        let mut reason = None;
        if let Some(c) = &self.cutoffs {
            let lang = doc.meta_str(&self.cfg.language_key);
            let v = match c.metric {
                Metric::Bpb => bpb,
                Metric::Ppl => ppl,
            };
            let b = c.for_language(lang).bucket(v);
            doc.attributes.insert("ppl_bucket".into(), b.index());
            doc.metadata.insert("ppl_bucket".into(), b.name().into());
            if self.cfg.keep_buckets.as_ref().is_some_and(|k| !k.contains(&b)) {
                reason = Some(b.reason());
            }
        }
        if reason.is_none() && self.cfg.max_bpb.is_some_and(|m| bpb > m) {
            reason = Some("ppl_above_max_bpb");
        }
        if reason.is_none() && self.cfg.max_ppl.is_some_and(|m| ppl > m) {
            reason = Some("ppl_above_max_ppl");
        }
        reason
    }
}

/// The `perplexity` stage of one task: each engine batch is scored in one
/// call, its windows batched by length.
pub struct Perplexity {
    pub judge: Judge,
    pub scorer: Arc<PplScorer>,
}

impl StreamStage for Perplexity {
    fn process(&mut self, batch: Batch, out: &mut StageOutput) -> sluice_pipeline::Result<()> {
        let texts: Vec<&str> = batch.docs.iter().map(|d| d.text.as_str()).collect();
        let scores = self.scorer.score_texts(&texts).map_err(|e| Error::Stage { node: "perplexity".into(), message: e.to_string() })?;
        for (mut doc, s) in batch.docs.into_iter().zip(scores) {
            match self.judge.apply(&mut doc, &s) {
                None => out.keep(doc),
                Some(r) => out.drop(doc, r),
            }
        }
        Ok(())
    }

    fn finish(&mut self, _out: &mut StageOutput) -> sluice_pipeline::Result<()> {
        Ok(())
    }
}

impl sluice_pipeline::component::Component for PerplexityConfig {
    const KIND: &'static str = "perplexity";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Stage;
    const ABOUT: &'static str = "Scores documents with a reference LM from `sluice train`: ppl, ppl_nll, bits per byte; CCNet head/middle/tail buckets (`sluice ppl calibrate`)";

    fn validate(&self) -> Vec<(String, String)> {
        PerplexityConfig::validate(self)
    }

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        PerplexityConfig::build(self).map(sluice_pipeline::component::Built::stream).map_err(|e| sluice_pipeline::component::located(cx, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buckets::LangCutoffs;
    use std::collections::BTreeMap;

    fn cfg(extra: serde_json::Value) -> PerplexityConfig {
        let mut v = serde_json::json!({"model": "/nonexistent/run"});
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn validation_names_fields() {
        let c = cfg(serde_json::json!({"window": 8, "stride": 9, "keep_buckets": ["head"], "max_bpb": -1.0}));
        let fields: Vec<String> = c.validate().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["model", "stride", "keep_buckets", "max_bpb"]);
        let bad: Result<PerplexityConfig, _> = serde_json::from_value(serde_json::json!({"model": "m", "keep_buckets": ["top"]}));
        assert!(bad.is_err());
    }

    /// Issue 21, hole 8: files named by options are checked before they
    /// are read; `/dev/zero` fails at once with the file named.
    #[test]
    fn device_files_are_refused_at_once() {
        let t0 = std::time::Instant::now();
        let c = cfg(serde_json::json!({"tokenizer": "/dev/zero", "cutoffs": "/dev/zero"}));
        let e = c.validate();
        let get = |f: &str| e.iter().find(|(x, _)| x == f).map(|(_, m)| m.clone()).unwrap_or_default();
        assert!(get("tokenizer").contains("/dev/zero: not a regular file"), "{e:?}");
        assert!(get("cutoffs").contains("/dev/zero") && get("cutoffs").contains("not a regular file"), "{e:?}");
        assert!(c.build().is_err());
        assert!(t0.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn judge_labels_and_filters() {
        let mut languages = BTreeMap::new();
        languages.insert("*".to_string(), LangCutoffs { documents: 10, head: 1.0, tail: 2.0 });
        languages.insert("zh".to_string(), LangCutoffs { documents: 10, head: 3.0, tail: 4.0 });
        let cut = Cutoffs {
            format: crate::buckets::CUTOFFS_FORMAT.into(),
            metric: Metric::Bpb,
            percentiles: [30.0, 60.0],
            model: "m".into(),
            languages,
        };
        let j = Judge { cfg: cfg(serde_json::json!({"keep_buckets": ["head", "middle"]})), cutoffs: Some(Arc::new(cut)) };
        // 1.5 bits per byte: middle for the default, head for zh
        let s = Score { nll: 1.5 * std::f64::consts::LN_2 * 100.0, tokens: 30, bytes: 100 };
        let mut d = Document::new("a", "x", Arc::from("s"));
        assert_eq!(j.apply(&mut d, &s), None);
        assert_eq!(d.meta_str("ppl_bucket"), Some("middle"));
        assert!((d.attributes["ppl_bpb"] - 1.5).abs() < 1e-12);
        assert!((d.attributes["ppl_nll"] - s.nll / 30.0).abs() < 1e-12);
        assert!((d.attributes["ppl"] - (s.nll / 30.0).exp()).abs() < 1e-9);
        d.metadata.insert("language".into(), "zh".into());
        assert_eq!(j.apply(&mut d, &s), None);
        assert_eq!(d.attributes["ppl_bucket"], 0.0);
        let t = Score { nll: 5.0 * std::f64::consts::LN_2 * 100.0, ..s };
        assert_eq!(j.apply(&mut d, &t), Some("ppl_bucket_tail"));
        assert_eq!(j.apply(&mut d, &Score::default()), Some("ppl_empty"));
        let j2 = Judge { cfg: cfg(serde_json::json!({"max_bpb": 1.2})), cutoffs: None };
        let mut d2 = Document::new("b", "x", Arc::from("s"));
        assert_eq!(j2.apply(&mut d2, &s), Some("ppl_above_max_bpb"));
        assert!(!d2.attributes.contains_key("ppl_bucket"));
        let j3 = Judge { cfg: cfg(serde_json::json!({})), cutoffs: None };
        assert_eq!(j3.apply(&mut d2, &Score::default()), None);
    }
}
