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
    pub vocab_size: usize,
    /// Least count of a pair to be merged.
    #[serde(default = "d_minf")]
    pub min_frequency: u64,
    /// Special tokens (ids 0..); the first is end-of-text.
    #[serde(default = "d_specials")]
    pub special_tokens: Vec<String>,
    /// Reserved special tokens `<|reserved_i|>` after `special_tokens`.
    #[serde(default = "d_reserved")]
    pub reserved_tokens: usize,
    /// `nfc` or `none`.
    #[serde(default)]
    pub normalization: Normalization,
    /// Longest token in characters (null: unbounded).
    #[serde(default = "d_maxlen")]
    pub max_token_length: Option<usize>,
    /// Training sample budget per source (bytes of text, e.g. `200MB`).
    #[serde(default = "d_budget")]
    pub sample_bytes_per_source: ByteSize,
    /// Budgets for named sources, overriding `sample_bytes_per_source`.
    #[serde(default)]
    pub sample_bytes: BTreeMap<String, ByteSize>,
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
        if self.sample_bytes_per_source.0 == 0 {
            e.push(("sample_bytes_per_source".into(), "must be positive".into()));
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
}

struct Heap {
    heap: BinaryHeap<(u64, u128, usize)>,
    texts: BTreeMap<(u64, u128), String>,
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
            heap.heap.push((h, d.pos.key(), d.text.len()));
            heap.texts.insert(k, d.text.clone());
            heap.bytes += d.text.len() as u64;
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
                for ((h, pos), text) in heap.texts {
                    let line = serde_json::to_string(&Sampled { h, pos, source: source.clone(), text }).expect("json");
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
        for (source, mut docs) in all {
            docs.sort_unstable_by_key(|s| (s.h, s.pos));
            let budget = self.cfg.budget(&source);
            let (mut bytes, mut n) = (0u64, 0usize);
            for s in docs {
                if bytes >= budget {
                    break;
                }
                bytes += s.text.len() as u64;
                n += 1;
                texts.push(s.text);
            }
            sources.push(serde_json::json!({"source": source, "documents": n, "bytes": bytes, "budget": budget}));
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
