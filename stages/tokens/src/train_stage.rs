//! `tokenizer_train`: train a BPE tokenizer on a sample of the run's own
//! stream, inside the recipe.
//!
//! 1. **observe** (per task): keep, per source, the documents with the
//!    smallest seeded hash of their input position whose running byte total
//!    stays under the source's budget (a max-heap; memory: the budget per
//!    source). Write them, zstd-compressed, to `{task:05}-sample.jsonl.zst`.
//!    A document that the global sample takes is always in its task's
//!    sample, so the union of the task samples contains the global one.
//! 2. **train** (one unit): merge the task samples, take per source the
//!    smallest hashes up to the budget (so the sample is the same whatever
//!    `--tasks`, and each source contributes at most its budget: the mix is
//!    respected), stream them into HF's BPE trainer (no text files), and
//!    save `OUT/<node>/tokenizer.json` plus `reports/<node>/tokenizer.json`.
//! 3. **decide**: documents pass on, tokenized when `tokenize: true`
//!    (parallel on rayon, order kept).

use std::collections::{BTreeMap, BinaryHeap};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::fast::Encoder;
use rayon::prelude::*;
use sluice_pipeline::output::{write_atomic, AtomicFile};
use sluice_pipeline::size::ByteSize;
use sluice_pipeline::{Batch, Document, Error, GlobalContext, GlobalStage, GlobalStep, Observer, Result, StageOutput, StreamStage};

use crate::bpe::{self, BpeSpec, Normalization};
use crate::codec;
use crate::util::{pos_hash, stage_err};

const SALT_SAMPLE: u64 = 0x7013_e412;

/// Options of `tokenizer_train`.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenizerTrainConfig {
    /// Vocabulary size, special tokens included.
    #[serde(default = "d_vocab")]
    #[schemars(range(min = 258, max = 2097152))]
    pub vocab_size: usize,
    /// Least count of a pair to be merged.
    #[serde(default = "d_minf")]
    #[schemars(range(min = 0, max = 1099511627776u64))]
    pub min_frequency: u64,
    /// Special tokens (ids 0..); the first is end-of-text.
    #[serde(default = "d_specials")]
    pub special_tokens: Vec<String>,
    /// Reserved special tokens `<|reserved_i|>` after `special_tokens`.
    #[serde(default = "d_reserved")]
    #[schemars(range(min = 0, max = 65536))]
    pub reserved_tokens: usize,
    /// `nfc` or `none`.
    #[serde(default)]
    pub normalization: Normalization,
    /// Longest token in characters (null: unbounded).
    #[serde(default = "d_maxlen")]
    #[schemars(range(min = 1, max = 65536))]
    pub max_token_length: Option<usize>,
    /// Training sample budget per source (bytes of text, e.g. `200MB`).
    /// The sample is held in memory, per task and when training.
    #[serde(default = "d_budget")]
    #[schemars(extend("x-min-bytes" = 1, "x-max-bytes" = 68719476736u64))]
    pub sample_bytes_per_source: ByteSize,
    /// Budgets for named sources, overriding `sample_bytes_per_source`
    /// (each at most 64GiB).
    #[serde(default)]
    #[schemars(schema_with = "sample_bytes_schema")]
    pub sample_bytes: BTreeMap<String, ByteSize>,
    /// Longest document text the sample takes, in bytes: a longer document
    /// is cut to this size (at a character boundary) before it is sampled,
    /// so one huge document cannot take the trainer's memory; the report
    /// counts the documents cut (`documents_cut`).
    #[serde(default = "d_max_doc")]
    #[schemars(extend("x-min-bytes" = 1024, "x-max-bytes" = 1073741824u64))]
    pub max_document_bytes: ByteSize,
    /// Tokenize the documents that pass on with the trained tokenizer
    /// (what the `tokenize` stage does with a saved one).
    #[serde(default)]
    pub tokenize: bool,
}

fn d_vocab() -> usize {
    BpeSpec::default().vocab_size
}
fn d_minf() -> u64 {
    BpeSpec::default().min_frequency
}
fn d_specials() -> Vec<String> {
    BpeSpec::default().special_tokens
}
fn d_reserved() -> usize {
    BpeSpec::default().reserved_tokens
}
fn d_maxlen() -> Option<usize> {
    BpeSpec::default().max_token_length
}
fn d_budget() -> ByteSize {
    ByteSize(100 << 20)
}
fn d_max_doc() -> ByteSize {
    ByteSize(DEFAULT_MAX_DOCUMENT_BYTES)
}

/// Default `max_document_bytes`: 1 MiB, far above a typical web page, and
/// small enough that the BPE trainer's per-document work stays in megabytes.
pub const DEFAULT_MAX_DOCUMENT_BYTES: u64 = 1 << 20;
/// Largest sample budget per source.
pub const MAX_SAMPLE_BYTES: u64 = 64 << 30;

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut_text(text: &str, max: u64) -> &str {
    if text.len() as u64 <= max {
        return text;
    }
    let mut end = max as usize;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The schema of `sample_bytes`: a map whose every value is a byte size of
/// at most 64 GiB (the bound sits on the values, where `validate` and the
/// strictness test look for it).
fn sample_bytes_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut size = g.subschema_for::<ByteSize>();
    size.insert("x-min-bytes".into(), 1.into());
    size.insert("x-max-bytes".into(), 68719476736u64.into());
    schemars::json_schema!({ "type": "object", "additionalProperties": size })
}

impl TokenizerTrainConfig {
    pub fn spec(&self) -> BpeSpec {
        BpeSpec {
            vocab_size: self.vocab_size,
            min_frequency: self.min_frequency,
            special_tokens: self.special_tokens.clone(),
            reserved_tokens: self.reserved_tokens,
            normalization: self.normalization,
            max_token_length: self.max_token_length,
        }
    }

    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e = self.spec().validate();
        let budgets = std::iter::once(("sample_bytes_per_source".to_string(), self.sample_bytes_per_source))
            .chain(self.sample_bytes.iter().map(|(k, v)| (format!("sample_bytes.{k}"), *v)));
        for (k, b) in budgets {
            if b.0 == 0 || b.0 > MAX_SAMPLE_BYTES {
                e.push((k, format!("{} bytes is out of range: must be in 1..={MAX_SAMPLE_BYTES}", b.0)));
            }
        }
        if !(1024..=1 << 30).contains(&self.max_document_bytes.0) {
            e.push(("max_document_bytes".into(), format!("{} bytes is out of range: must be in 1024..=1GiB", self.max_document_bytes.0)));
        }
        e
    }

    pub fn build(&self, node: &str) -> TokenizerTrainStage {
        TokenizerTrainStage { cfg: self.clone(), node: node.into() }
    }

    fn budget(&self, source: &str) -> u64 {
        self.sample_bytes.get(source).unwrap_or(&self.sample_bytes_per_source).0
    }
}

/// The runtime of `tokenizer_train`.
pub struct TokenizerTrainStage {
    cfg: TokenizerTrainConfig,
    node: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Sampled {
    h: u64,
    pos: u128,
    source: String,
    text: String,
    /// The document's full length in bytes when `text` is cut from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cut_from: Option<u64>,
}

struct Heap {
    heap: BinaryHeap<(u64, u128, usize)>,
    /// The sampled text (cut to `max_document_bytes`) and the full length when cut.
    texts: BTreeMap<(u64, u128), (String, Option<u64>)>,
    bytes: u64,
}

struct TrainObserver {
    seed: u64,
    cfg: TokenizerTrainConfig,
    path: PathBuf,
    by_source: BTreeMap<String, Heap>,
}

impl Observer for TrainObserver {
    fn observe(&mut self, docs: &[Document]) -> Result<()> {
        for d in docs {
            let budget = self.cfg.budget(&d.source);
            let h = pos_hash(self.seed, &d.pos, SALT_SAMPLE);
            let heap = self.by_source.entry(d.source.to_string()).or_insert_with(|| Heap {
                heap: BinaryHeap::new(),
                texts: BTreeMap::new(),
                bytes: 0,
            });
            let k = (h, d.pos.key());
            if heap.bytes >= budget && heap.heap.peek().is_some_and(|top| (top.0, top.1) < k) {
                continue; // cannot be in the sample
            }
            let text = cut_text(&d.text, self.cfg.max_document_bytes.0);
            let cut_from = (text.len() < d.text.len()).then_some(d.text.len() as u64);
            heap.heap.push((h, d.pos.key(), text.len()));
            heap.texts.insert(k, (text.to_string(), cut_from));
            heap.bytes += text.len() as u64;
            // keep only documents whose smaller-hash predecessors are under budget
            while let Some(&(th, tp, tl)) = heap.heap.peek() {
                if heap.bytes - tl as u64 >= budget {
                    heap.heap.pop();
                    heap.texts.remove(&(th, tp));
                    heap.bytes -= tl as u64;
                } else {
                    break;
                }
            }
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<()> {
        let mut f = AtomicFile::create(&self.path)?;
        {
            let mut z = zstd::Encoder::new(&mut f, 3).map_err(|e| Error::io(&self.path, e))?;
            for (source, heap) in self.by_source {
                for ((h, pos), (text, cut_from)) in heap.texts {
                    let line = serde_json::to_string(&Sampled { h, pos, source: source.clone(), text, cut_from }).expect("json");
                    z.write_all(line.as_bytes()).and_then(|_| z.write_all(b"\n")).map_err(|e| Error::io(&self.path, e))?;
                }
            }
            z.finish().map_err(|e| Error::io(&self.path, e))?;
        }
        f.commit()
    }
}

fn sample_path(dir: &Path, task: usize) -> PathBuf {
    dir.join(format!("{task:05}-sample.jsonl.zst"))
}

impl TokenizerTrainStage {
    /// Where the trained tokenizer goes.
    pub fn tokenizer_path(&self, cx: &GlobalContext) -> PathBuf {
        cx.output.join(&self.node).join("tokenizer.json")
    }

    fn train(&self, cx: &GlobalContext) -> Result<()> {
        let err = |m: String| stage_err(&self.node, m);
        let mut all: BTreeMap<String, Vec<Sampled>> = BTreeMap::new();
        for t in 0..cx.tasks {
            let p = sample_path(&cx.dir, t);
            let f = std::fs::File::open(&p).map_err(|e| Error::io(&p, e))?;
            let z = std::io::BufReader::new(zstd::Decoder::new(f).map_err(|e| Error::io(&p, e))?);
            for line in z.lines() {
                let line = line.map_err(|e| Error::io(&p, e))?;
                let s: Sampled = serde_json::from_str(&line).map_err(|e| err(format!("{}: {e}", p.display())))?;
                all.entry(s.source.clone()).or_default().push(s);
            }
        }
        let mut texts = Vec::new();
        let mut sources = Vec::new();
        let mut cut_total = 0u64;
        for (source, mut docs) in all {
            docs.sort_unstable_by_key(|s| (s.h, s.pos));
            let budget = self.cfg.budget(&source);
            let (mut bytes, mut n, mut cut, mut cut_bytes) = (0u64, 0usize, 0u64, 0u64);
            for s in docs {
                if bytes >= budget {
                    break;
                }
                bytes += s.text.len() as u64;
                n += 1;
                if let Some(full) = s.cut_from {
                    cut += 1;
                    cut_bytes += full.saturating_sub(s.text.len() as u64);
                }
                texts.push(s.text);
            }
            cut_total += cut;
            sources.push(serde_json::json!({
                "source": source, "documents": n, "bytes": bytes, "budget": budget,
                "documents_cut": cut, "bytes_cut": cut_bytes,
            }));
        }
        if texts.is_empty() {
            return Err(err("no documents reached the tokenizer trainer".into()));
        }
        let t0 = Instant::now();
        let tok = self.cfg.spec().train(texts.iter()).map_err(err)?;
        let secs = t0.elapsed().as_secs_f64();
        let json = bpe::to_json(&tok).map_err(err)?;
        write_atomic(&self.tokenizer_path(cx), json.as_bytes())?;
        let report = serde_json::json!({
            "kind": "tokenizer",
            "vocab_size": bpe::vocab_size(&tok),
            "sha256": crate::util::sha256_hex(json.as_bytes()),
            "train_seconds": secs,
            "sample": sources,
            "max_document_bytes": self.cfg.max_document_bytes.0,
            "documents_cut": cut_total,
            "spec": self.cfg.spec(),
        });
        write_atomic(&cx.reports.join("tokenizer.json"), &serde_json::to_vec_pretty(&report).expect("json"))
    }
}

struct TrainDecider {
    tokenizer: Option<Encoder>,
}

impl StreamStage for TrainDecider {
    fn process(&mut self, batch: Batch, out: &mut StageOutput) -> Result<()> {
        let Some(t) = &self.tokenizer else {
            out.kept.extend(batch.docs);
            return Ok(());
        };
        let encoded: Vec<std::result::Result<Vec<u32>, String>> = batch.docs.par_iter().map(|d| t.encode(&d.text)).collect();
        for (mut d, ids) in batch.docs.into_iter().zip(encoded) {
            match ids {
                Ok(ids) if ids.is_empty() => out.drop(d, "tokens_empty"),
                Ok(ids) => {
                    codec::set_tokens(&mut d, &ids);
                    out.keep(d);
                }
                Err(_) => out.drop(d, "tokenizer_error"),
            }
        }
        Ok(())
    }
    fn finish(&mut self, _out: &mut StageOutput) -> Result<()> {
        Ok(())
    }
}

impl GlobalStage for TokenizerTrainStage {
    fn observer(&self, cx: &GlobalContext) -> Result<Box<dyn Observer>> {
        Ok(Box::new(TrainObserver {
            seed: cx.seed,
            cfg: self.cfg.clone(),
            path: sample_path(&cx.dir, cx.unit),
            by_source: BTreeMap::new(),
        }))
    }

    fn steps(&self, _tasks: usize) -> Vec<GlobalStep> {
        vec![GlobalStep { name: "train".into(), units: 1 }]
    }

    fn run_step(&self, step: usize, cx: &GlobalContext) -> Result<()> {
        match step {
            0 => self.train(cx),
            _ => Err(Error::Internal(format!("tokenizer_train has no step {step}"))),
        }
    }

    fn decider(&self, cx: &GlobalContext) -> Result<Box<dyn StreamStage>> {
        let tokenizer = if self.cfg.tokenize {
            Some(Encoder::from_tokenizer(bpe::load(&self.tokenizer_path(cx)).map_err(|m| stage_err(&self.node, m))?))
        } else {
            None
        };
        Ok(Box::new(TrainDecider { tokenizer }))
    }
}

impl sluice_pipeline::component::Component for TokenizerTrainConfig {
    const KIND: &'static str = "tokenizer_train";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Stage;
    const ABOUT: &'static str = "Global: trains a byte-level BPE tokenizer on a per-source byte-budget sample of the stream (OUT/<node>/tokenizer.json); can tokenize what passes on";

    fn validate(&self) -> Vec<(String, String)> {
        TokenizerTrainConfig::validate(self)
    }

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        let stage = TokenizerTrainConfig::build(self, cx.name);
        // It writes OUT/<node>/tokenizer.json.
        cx.claim_output("folder", cx.name).map_err(|d| vec![d])?;
        Ok(sluice_pipeline::component::Built::global(stage))
    }
}
