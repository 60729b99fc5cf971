//! `pack`: documents → fixed-length sequences → shuffled shards.
//!
//! A global stage, so the result is independent of `--tasks`:
//! 1. **observe** (per task): each document's token ids are appended to the
//!    task's `{task:05}-tokens.bin` and a 40-byte entry (input position, mix
//!    copy, id hash, source, offset, length, split) to `{task:05}-index.bin`.
//!    Memory: one batch.
//! 2. **pack** (one unit): read every index (40 bytes a document), sort by
//!    input position, lay documents out into sequences of `seq_len` tokens
//!    (`+1` with `plus_one`), shuffle the sequences of each split with the
//!    seed, and write shards in parallel, streaming each sequence's tokens
//!    from the task files. Memory: the index and the layout (a few dozen
//!    bytes per document and per sequence), never the tokens.
//! 3. **decide**: documents pass on without their ids (the shards hold them),
//!    with the metadata `split`: `"train"` or `"val"`.
//!
//! What the engine keeps between observe and decide: the documents without
//! their ids (the task's token file holds them) and, wherever the ids decode
//! back to the exact text (byte-level BPE: almost always), without the text
//! either; the decider decodes it again from the token file. The observer
//! checks each document byte for byte, and keeps the text of any that does
//! not round-trip, so the output is the same.
//!
//! Layouts (`mode`):
//! - `split`: documents joined with EOS after each, cut every `seq_len`
//!   tokens; a document may continue into the next sequence. Nothing is
//!   lost; the last, shorter sequence of a split goes last (unshuffled) or is
//!   dropped with `drop_remainder`.
//! - `bos`: every sequence starts at a document, each document is the BOS
//!   token then its ids, cut to `max_doc_tokens`; a document that does not
//!   fit the rest of a sequence starts the next one, and the rest is padded
//!   with EOS. Truncated and padding tokens are counted in the report.
//!
//! The train/validation split is by document (a seeded hash of its input
//! position, so every mix copy of a document lands in the same split), never
//! by sequence. `<shard>.bounds` lists where each document segment starts in
//! the shard (a continuation at a sequence start counts as a start: the
//! tokens before it in the file belong to an unrelated sequence).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use sluice_pipeline::output::{write_atomic, AtomicFile};
use sluice_pipeline::{Batch, Document, Error, GlobalContext, GlobalStage, GlobalStep, Observer, Result, StageOutput, StreamStage, Tokens};

use crate::bpe;
use crate::codec;
use crate::shard::{self, Manifest, ShardEntry, TokenDtype};
use crate::util::{pos_hash, stage_err, unit, Rng, Sha256};

/// Packing layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PackMode {
    /// EOS-separated documents cut every sequence length; documents may
    /// span sequences. Loses nothing.
    #[default]
    Split,
    /// Every sequence starts with BOS at a document start; documents longer
    /// than `max_doc_tokens` are cut, short tails padded with EOS.
    Bos,
}

/// Shard container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ShardFormat {
    /// llm.c `.bin` (1024-byte header, uint16/uint32) with `.bounds`;
    /// readable by `sluice train`.
    #[default]
    Llmc,
    /// Megatron-LM `MMapIndexedDataset` `.bin` + `.idx`, one sequence per entry.
    Megatron,
}

/// Options of the `pack` stage.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackConfig {
    /// The `tokenizer.json` the documents were tokenized with.
    #[serde(default)]
    pub tokenizer: Option<PathBuf>,
    /// Or: the name of the `tokenizer_train` stage of this recipe whose
    /// tokenizer (`OUT/<name>/tokenizer.json`) to use.
    #[serde(default)]
    pub tokenizer_from: Option<String>,
    /// Tokens per training sequence.
    #[serde(default = "default_seq_len")]
    #[schemars(range(min = 2, max = 1048576))]
    pub seq_len: usize,
    /// Store `seq_len + 1` tokens per sequence (inputs and shifted targets
    /// of one sample, the Megatron convention). With `false` sequences are
    /// `seq_len` long and a loader reads one token past each (llm.c, `sluice
    /// train`).
    #[serde(default)]
    pub plus_one: bool,
    /// `split` or `bos`.
    #[serde(default)]
    pub mode: PackMode,
    /// `bos` mode: longest document in tokens, BOS included (default and
    /// maximum: the sequence length).
    #[serde(default)]
    #[schemars(range(min = 2, max = 1048577))]
    pub max_doc_tokens: Option<usize>,
    /// `split` mode: drop the last, shorter sequence of each split.
    #[serde(default)]
    pub drop_remainder: bool,
    /// End-of-document token.
    #[serde(default = "default_eos")]
    pub eos_token: String,
    /// `bos` mode: the token that starts each document (default: the EOS
    /// token, GPT-2 style).
    #[serde(default)]
    pub bos_token: Option<String>,
    /// Fraction of documents held out for validation.
    #[serde(default = "default_val")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub val_fraction: f64,
    /// Tokens per shard (whole sequences; llm.c uses 100M).
    #[serde(default = "default_shard_tokens")]
    #[schemars(range(min = 2, max = 2147483647))]
    pub shard_tokens: u64,
    /// `llmc` or `megatron`.
    #[serde(default)]
    pub format: ShardFormat,
    /// Shuffle sequences (within each split) with the seed.
    #[serde(default = "yes")]
    pub shuffle: bool,
    /// Output directory under the run's output (default: the node name).
    #[serde(default)]
    pub dir: Option<String>,
}

/// Longest sequence `pack` writes.
pub const MAX_SEQ_LEN: usize = 1 << 20;

fn default_seq_len() -> usize {
    1024
}
fn default_eos() -> String {
    bpe::EOT.into()
}
fn default_val() -> f64 {
    0.01
}
fn default_shard_tokens() -> u64 {
    100_000_000
}
fn yes() -> bool {
    true
}

impl PackConfig {
    /// A config with every default and the given tokenizer.
    pub fn with_tokenizer(path: PathBuf) -> PackConfig {
        serde_json::from_value(serde_json::json!({ "tokenizer": path })).expect("defaults parse")
    }

    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        match (&self.tokenizer, &self.tokenizer_from) {
            (None, None) | (Some(_), Some(_)) => e.push((
                "tokenizer".into(),
                "set exactly one of `tokenizer` (a path) and `tokenizer_from` (a tokenizer_train stage)".into(),
            )),
            (Some(p), None) => {
                if let Err(m) = bpe::load(p) {
                    e.push(("tokenizer".into(), m));
                }
            }
            _ => {}
        }
        if !(2..=MAX_SEQ_LEN).contains(&self.seq_len) {
            e.push(("seq_len".into(), format!("{} is out of range: must be in 2..={MAX_SEQ_LEN}", self.seq_len)));
            return e;
        }
        if !(0.0..1.0).contains(&self.val_fraction) {
            e.push(("val_fraction".into(), "must be in [0, 1)".into()));
        }
        let l = self.seq_len + self.plus_one as usize;
        if self.shard_tokens < l as u64 {
            e.push(("shard_tokens".into(), format!("must hold at least one sequence ({l} tokens)")));
        }
        if self.shard_tokens > i32::MAX as u64 {
            e.push(("shard_tokens".into(), "llm.c headers count tokens in int32".into()));
        }
        if let Some(m) = self.max_doc_tokens {
            if self.mode != PackMode::Bos {
                e.push(("max_doc_tokens".into(), "only applies to mode: bos".into()));
            } else if m < 2 || m > l {
                e.push(("max_doc_tokens".into(), format!("must be in [2, {l}] (the sequence length)")));
            }
        }
        if self.bos_token.is_some() && self.mode != PackMode::Bos {
            e.push(("bos_token".into(), "only applies to mode: bos".into()));
        }
        if let Some(d) = &self.dir {
            if d.is_empty() || d.contains('/') || d.contains("..") || d.starts_with('_') {
                e.push(("dir".into(), "must be a plain directory name".into()));
            }
        }
        e
    }

    pub fn build(&self, node: &str) -> PackStage {
        PackStage { cfg: self.clone(), node: node.to_string() }
    }

    fn seq_tokens(&self) -> usize {
        self.seq_len + self.plus_one as usize
    }
}

/// The runtime of `pack`.
pub struct PackStage {
    cfg: PackConfig,
    node: String,
}

const SALT_SPLIT: u64 = 0x5b1e_7e57;

/// Whether a document goes to the validation split: a seeded hash of its
/// input position, so the observer (which routes its tokens) and the decider
/// (which labels it) agree, whatever the task count.
fn is_val(seed: u64, pos: &sluice_pipeline::DocPos, val_fraction: f64) -> bool {
    val_fraction > 0.0 && unit(pos_hash(seed, pos, SALT_SPLIT)) < val_fraction
}
const ENTRY: usize = 40;

/// One document as the observer recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    pos: u128,
    copy: u32,
    id_hash: u64,
    source: u32,
    offset: u64,
    len: u32,
    val: bool,
    /// The text was left out of the replay: the decider decodes it from the ids.
    restored: bool,
    task: u32,
}

/// Index entry bits above the task-local source number.
const VAL_BIT: u32 = 1 << 31;
const RESTORED_BIT: u32 = 1 << 30;

impl Entry {
    fn to_bytes(self) -> [u8; ENTRY] {
        let mut b = [0u8; ENTRY];
        b[0..16].copy_from_slice(&self.pos.to_le_bytes());
        b[16..20].copy_from_slice(&self.copy.to_le_bytes());
        b[20..28].copy_from_slice(&self.id_hash.to_le_bytes());
        // source: 30 bits, then the restored and val flags
        let flags = if self.val { VAL_BIT } else { 0 } | if self.restored { RESTORED_BIT } else { 0 };
        b[28..32].copy_from_slice(&(self.source | flags).to_le_bytes());
        b[32..36].copy_from_slice(&(self.offset as u32).to_le_bytes());
        b[36..40].copy_from_slice(&self.len.to_le_bytes());
        b
    }
}

struct PackObserver {
    node: String,
    seed: u64,
    val_fraction: f64,
    tokens: AtomicFile,
    index: AtomicFile,
    sources: Vec<String>,
    offset: u64,
    /// How ids decode to bytes, when the tokenizer could be read.
    table: Option<Arc<ByteTable>>,
    /// For each document of the batch just observed: its text is restored
    /// from its ids at decide time, so the replay need not hold it.
    restored: Vec<bool>,
}

/// The bytes of every token id, for tokenizers whose ids concatenate back
/// to the text (byte-level BPE: each character of a token stands for one
/// byte). Ids without such bytes are `None`.
struct ByteTable {
    bytes: Vec<Option<Box<[u8]>>>,
}

impl ByteTable {
    fn new(tok: &tokenizers::Tokenizer) -> ByteTable {
        let mut inverse = std::collections::HashMap::new();
        for (b, c) in crate::fast::byte_chars().into_iter().enumerate() {
            inverse.insert(c, b as u8);
        }
        let bytes = (0..bpe::vocab_size(tok) as u32)
            .map(|id| {
                let s = tok.id_to_token(id)?;
                s.chars().map(|c| inverse.get(&c).copied()).collect::<Option<Vec<u8>>>().map(Vec::into_boxed_slice)
            })
            .collect();
        ByteTable { bytes }
    }

    fn get(&self, id: u32) -> Option<&[u8]> {
        self.bytes.get(id as usize)?.as_deref()
    }

    /// Whether `ids` decode to exactly `text`; compared as it goes, without
    /// building the decoded text.
    fn round_trips(&self, ids: &Tokens, text: &str) -> bool {
        let mut rest = text.as_bytes();
        for id in ids.iter() {
            match self.get(id).and_then(|b| rest.strip_prefix(b)) {
                Some(r) => rest = r,
                None => return false,
            }
        }
        rest.is_empty()
    }
}

impl Observer for PackObserver {
    fn observe(&mut self, docs: &[Document]) -> Result<()> {
        // Typed ids are shared, not copied; ids read back from metadata
        // text are decoded here, in parallel.
        let table = self.table.clone();
        let decoded: Vec<std::result::Result<(Tokens, bool), String>> = docs
            .par_iter()
            .map(|d| {
                let t = codec::tokens(d)?;
                let restored = table.as_ref().is_some_and(|tb| tb.round_trips(&t, &d.text));
                Ok((t, restored))
            })
            .collect();
        self.restored.clear();
        for (d, ids) in docs.iter().zip(decoded) {
            let (ids, restored) = ids.map_err(|m| stage_err(&self.node, m))?;
            self.restored.push(restored);
            let source = match self.sources.iter().position(|s| **s == *d.source) {
                Some(i) => i,
                None => {
                    self.sources.push(d.source.to_string());
                    self.sources.len() - 1
                }
            } as u32;
            if source >= RESTORED_BIT {
                return Err(stage_err(&self.node, "more than 2^30 sources in one task"));
            }
            let p = self.tokens.path().to_path_buf();
            let offset = self.offset;
            let mut written = 0u64;
            let mut buf = Vec::new();
            let tokens = &mut self.tokens;
            ids.for_each_chunk(|ids: &[u32]| -> std::result::Result<(), String> {
                written += ids.len() as u64;
                if offset + written > u32::MAX as u64 {
                    return Err("one task holds more than 4G tokens; run with more --tasks".into());
                }
                buf.clear();
                for t in ids {
                    buf.extend_from_slice(&t.to_le_bytes());
                }
                tokens.write_all(&buf).map_err(|e| format!("{}: {e}", p.display()))
            })
            .map_err(|m| stage_err(&self.node, m))?;
            let copy = d.metadata.get(crate::mix::COPY_KEY).and_then(|v| v.as_u64()).unwrap_or(0) as u32;
            let e = Entry {
                pos: d.pos.key(),
                copy,
                id_hash: xxhash_rust::xxh3::xxh3_64(d.id.as_bytes()),
                source,
                offset: self.offset,
                len: u32::try_from(written).map_err(|_| stage_err(&self.node, format!("document {} has over 4G tokens", d.id)))?,
                val: is_val(self.seed, &d.pos, self.val_fraction),
                restored,
                task: 0,
            };
            let p = self.index.path().to_path_buf();
            self.index.write_all(&e.to_bytes()).map_err(|e| Error::io(p, e))?;
            self.offset += written;
        }
        Ok(())
    }

    fn trim_for_replay(&mut self, docs: &mut [Document]) -> Result<()> {
        if docs.len() != self.restored.len() {
            return Err(Error::Internal(format!("pack `{}`: trim_for_replay got another batch than observe", self.node)));
        }
        for (d, &restored) in docs.iter_mut().zip(&self.restored) {
            strip_tokens(d);
            if restored {
                d.text = String::new();
            }
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<()> {
        let this = *self;
        let sources_path = this
            .index
            .path()
            .with_file_name(this.index.path().file_name().unwrap().to_string_lossy().replace("-index.bin", "-sources.json"));
        this.tokens.commit()?;
        write_atomic(&sources_path, &serde_json::to_vec(&this.sources).expect("json"))?;
        this.index.commit()
    }
}

fn task_file(dir: &Path, task: usize, what: &str) -> PathBuf {
    dir.join(format!("{task:05}-{what}"))
}

/// A run of one document's unit (its tokens plus EOS, or BOS plus its
/// tokens) inside a sequence; `doc == PAD` is padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seg {
    doc: u32,
    start: u32,
    len: u32,
}

const PAD: u32 = u32::MAX;

/// The sequences of one split: `segs[offsets[i]..offsets[i+1]]` is sequence `i`.
#[derive(Debug, Default)]
struct Layout {
    segs: Vec<Seg>,
    offsets: Vec<usize>,
    truncated: u64,
    padding: u64,
}

impl Layout {
    fn seq(&self, i: usize) -> &[Seg] {
        &self.segs[self.offsets[i]..self.offsets[i + 1]]
    }
    fn count(&self) -> usize {
        self.offsets.len() - 1
    }
    fn seq_len(&self, i: usize) -> usize {
        self.seq(i).iter().map(|s| s.len as usize).sum()
    }
}

/// Lay out documents (given as unit lengths: tokens + 1) into sequences.
fn layout(units: &[(u32, u32)], l: usize, mode: PackMode, max_doc: usize, drop_remainder: bool) -> Layout {
    let mut out = Layout { offsets: vec![0], ..Default::default() };
    let mut fill = 0usize;
    match mode {
        PackMode::Split => {
            for &(doc, ulen) in units {
                let mut start = 0u32;
                while start < ulen {
                    let take = (ulen - start).min((l - fill) as u32);
                    out.segs.push(Seg { doc, start, len: take });
                    start += take;
                    fill += take as usize;
                    if fill == l {
                        out.offsets.push(out.segs.len());
                        fill = 0;
                    }
                }
            }
            if fill > 0 {
                if drop_remainder {
                    out.segs.truncate(*out.offsets.last().unwrap());
                } else {
                    out.offsets.push(out.segs.len());
                }
            }
        }
        PackMode::Bos => {
            for &(doc, ulen) in units {
                let take = (ulen as usize).min(max_doc);
                out.truncated += (ulen as usize - take) as u64;
                if fill + take > l {
                    out.segs.push(Seg { doc: PAD, start: 0, len: (l - fill) as u32 });
                    out.padding += (l - fill) as u64;
                    out.offsets.push(out.segs.len());
                    fill = 0;
                }
                out.segs.push(Seg { doc, start: 0, len: take as u32 });
                fill += take;
                if fill == l {
                    out.offsets.push(out.segs.len());
                    fill = 0;
                }
            }
            if fill > 0 {
                out.segs.push(Seg { doc: PAD, start: 0, len: (l - fill) as u32 });
                out.padding += (l - fill) as u64;
                out.offsets.push(out.segs.len());
            }
        }
    }
    out
}

/// What the pack step needs to write tokens.
struct Writer<'a> {
    docs: &'a [Entry],
    files: Vec<File>,
    mode: PackMode,
    eos: u32,
    bos: u32,
    dtype: TokenDtype,
}

impl Writer<'_> {
    /// Append the tokens of `seg` to `out`.
    fn tokens(&self, seg: &Seg, out: &mut Vec<u32>, scratch: &mut Vec<u8>, files: &[PathBuf]) -> Result<()> {
        if seg.doc == PAD {
            out.extend(std::iter::repeat_n(self.eos, seg.len as usize));
            return Ok(());
        }
        let e = &self.docs[seg.doc as usize];
        // unit offsets [start, start+len) of the doc's unit
        let (doc_from, doc_to, sep_before, sep_after) = match self.mode {
            PackMode::Split => {
                let from = seg.start as u64;
                let to = (seg.start + seg.len) as u64;
                let to_doc = to.min(e.len as u64);
                (from.min(e.len as u64), to_doc, false, to > e.len as u64)
            }
            PackMode::Bos => {
                let to = (seg.start + seg.len) as u64;
                (seg.start.saturating_sub(1) as u64, to - 1, seg.start == 0, false)
            }
        };
        if sep_before {
            out.push(self.bos);
        }
        let n = (doc_to - doc_from) as usize;
        if n > 0 {
            scratch.resize(n * 4, 0);
            let at = (e.offset + doc_from) * 4;
            self.files[e.task as usize].read_exact_at(scratch, at).map_err(|err| Error::io(&files[e.task as usize], err))?;
            out.extend(scratch.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])));
        }
        if sep_after {
            out.push(self.eos);
        }
        Ok(())
    }
}

/// A written shard, for the manifest.
#[derive(Debug, Clone)]
struct Written {
    entry: ShardEntry,
}

impl PackStage {
    fn out_dir(&self, cx: &GlobalContext) -> PathBuf {
        cx.output.join(self.cfg.dir.as_deref().unwrap_or(&self.node))
    }

    fn tokenizer_path(&self, cx: &GlobalContext) -> PathBuf {
        match (&self.cfg.tokenizer, &self.cfg.tokenizer_from) {
            (Some(p), _) => p.clone(),
            (None, Some(n)) => cx.output.join(n).join("tokenizer.json"),
            (None, None) => PathBuf::from("tokenizer.json"),
        }
    }

    #[allow(clippy::needless_range_loop)] // `t` is the task number as well as an index
    fn pack(&self, cx: &GlobalContext) -> Result<()> {
        let err = |m: String| stage_err(&self.node, m);
        let tpath = self.tokenizer_path(cx);
        let tjson = sluice_pipeline::limits::read_file_limited(&tpath, sluice_pipeline::limits::MAX_OPTION_FILE)?;
        let tok = bpe::from_json(std::str::from_utf8(&tjson).map_err(|_| err(format!("{}: not UTF-8", tpath.display())))?).map_err(err)?;
        let vocab = bpe::vocab_size(&tok);
        let eos = bpe::special_id(&tok, &self.cfg.eos_token).map_err(err)?;
        let bos = match self.cfg.mode {
            PackMode::Bos => Some(bpe::special_id(&tok, self.cfg.bos_token.as_deref().unwrap_or(&self.cfg.eos_token)).map_err(err)?),
            PackMode::Split => None,
        };
        let dtype = TokenDtype::for_vocab(vocab);

        // Every task's index, with global source ids (sorted names).
        let mut entries = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut per_task_sources = Vec::new();
        let mut token_files = Vec::new();
        for t in 0..cx.tasks {
            let sp = task_file(&cx.dir, t, "sources.json");
            let s: Vec<String> = serde_json::from_slice(&std::fs::read(&sp).map_err(|e| Error::io(&sp, e))?)
                .map_err(|e| err(format!("{}: {e}", sp.display())))?;
            names.extend(s.iter().cloned());
            per_task_sources.push(s);
            token_files.push(task_file(&cx.dir, t, "tokens.bin"));
        }
        names.sort();
        names.dedup();
        for t in 0..cx.tasks {
            let ip = task_file(&cx.dir, t, "index.bin");
            let mut bytes = Vec::new();
            File::open(&ip).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(|e| Error::io(&ip, e))?;
            if bytes.len() % ENTRY != 0 {
                return Err(err(format!("{}: truncated index", ip.display())));
            }
            for b in bytes.chunks_exact(ENTRY) {
                let sv = u32::from_le_bytes(b[28..32].try_into().unwrap());
                let local = (sv & !(VAL_BIT | RESTORED_BIT)) as usize;
                let name = per_task_sources[t].get(local).ok_or_else(|| err(format!("{}: bad source index", ip.display())))?;
                entries.push(Entry {
                    pos: u128::from_le_bytes(b[0..16].try_into().unwrap()),
                    copy: u32::from_le_bytes(b[16..20].try_into().unwrap()),
                    id_hash: u64::from_le_bytes(b[20..28].try_into().unwrap()),
                    source: names.binary_search(name).expect("collected") as u32,
                    offset: u32::from_le_bytes(b[32..36].try_into().unwrap()) as u64,
                    len: u32::from_le_bytes(b[36..40].try_into().unwrap()),
                    val: sv & VAL_BIT != 0,
                    restored: sv & RESTORED_BIT != 0,
                    task: t as u32,
                });
            }
        }
        // Input order, whatever the task split.
        entries.par_sort_unstable_by_key(|e| (e.pos, e.copy, e.id_hash, e.len));

        let mut tokens_per_source: BTreeMap<String, u64> = BTreeMap::new();
        let mut documents: BTreeMap<String, u64> = BTreeMap::new();
        for e in &entries {
            *tokens_per_source.entry(names[e.source as usize].clone()).or_default() += e.len as u64;
            *documents.entry(if e.val { "val" } else { "train" }.into()).or_default() += 1;
        }

        let l = self.cfg.seq_tokens();
        let max_doc = self.cfg.max_doc_tokens.unwrap_or(l);
        let files: Vec<File> = token_files.iter().map(|p| File::open(p).map_err(|e| Error::io(p, e))).collect::<Result<_>>()?;
        let w = Writer { docs: &entries, files, mode: self.cfg.mode, eos, bos: bos.unwrap_or(eos), dtype };
        let out_dir = self.out_dir(cx);
        // Inside the output directory, reached without following links.
        sluice_pipeline::output::create_dir_beneath(&cx.output, &out_dir)?;

        let mut written: Vec<Written> = Vec::new();
        let mut report_splits = serde_json::Map::new();
        for (split, is_val) in [("train", false), ("val", true)] {
            let units: Vec<(u32, u32)> =
                entries.iter().enumerate().filter(|(_, e)| e.val == is_val).map(|(i, e)| (i as u32, e.len + 1)).collect();
            if units.is_empty() {
                continue;
            }
            let lay = layout(&units, l, self.cfg.mode, max_doc, self.cfg.drop_remainder);
            let n = lay.count();
            let full = (0..n).filter(|&i| lay.seq_len(i) == l).count();
            let mut order: Vec<u32> = (0..n as u32).collect();
            if self.cfg.shuffle {
                // full sequences only: a short remainder stays last
                Rng::new(cx.seed ^ if is_val { 0x7a1 } else { 0x7e4 }).shuffle(&mut order[..full]);
            }
            let per_shard = ((self.cfg.shard_tokens as usize) / l).max(1);
            let shards: Vec<&[u32]> = order.chunks(per_shard).collect();
            let res: Vec<Result<Written>> = shards
                .par_iter()
                .enumerate()
                .map(|(k, seqs)| self.write_shard(&w, &lay, seqs, &out_dir, &format!("{split}-{k:05}"), split, &token_files))
                .collect();
            for r in res {
                written.push(r?);
            }
            report_splits.insert(
                split.into(),
                serde_json::json!({
                    "documents": units.len(),
                    "sequences": n,
                    "shards": shards.len(),
                    "tokens": lay.segs.iter().map(|s| s.len as u64).sum::<u64>(),
                    "padding_tokens": lay.padding,
                    "truncated_tokens": lay.truncated,
                }),
            );
        }
        if written.iter().all(|w| w.entry.split != "train") {
            return Err(err("no training documents reached the packer (every document was empty, dropped or held out)".into()));
        }

        // The tokenizer travels with the shards.
        let tok_sha = crate::util::sha256_hex(&tjson);
        write_atomic(&out_dir.join("tokenizer.json"), &tjson)?;
        let recipe_hash = std::fs::read(cx.output.join("_sluice").join("run.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v.get("recipe_hash").map(|h| h.to_string().trim_matches('"').to_string()));
        let packing = serde_json::json!({
            "mode": self.cfg.mode,
            "plus_one": self.cfg.plus_one,
            "sequence_tokens": l,
            "shuffle": self.cfg.shuffle,
            "seed": cx.seed,
            "val_fraction": self.cfg.val_fraction,
            "format": self.cfg.format,
        });
        let manifest = Manifest {
            format: shard::MANIFEST_FORMAT.into(),
            vocab_size: vocab,
            eos_id: eos,
            bos_id: bos,
            dtype,
            tokenizer: Some("tokenizer.json".into()),
            seq_len: Some(self.cfg.seq_len),
            shards: written.iter().map(|w| w.entry.clone()).collect(),
            tokenizer_sha256: Some(tok_sha),
            recipe_hash,
            tokens_per_source: tokens_per_source.clone(),
            documents,
            packing: Some(packing.clone()),
        };
        write_atomic(&out_dir.join("manifest.json"), &serde_json::to_vec_pretty(&manifest).expect("json"))?;
        let report = serde_json::json!({
            "kind": "packing",
            "directory": self.cfg.dir.as_deref().unwrap_or(&self.node),
            "vocab_size": vocab,
            "tokens_per_source": tokens_per_source,
            "splits": report_splits,
            "packing": packing,
        });
        write_atomic(&cx.reports.join("packing.json"), &serde_json::to_vec_pretty(&report).expect("json"))?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn write_shard(
        &self,
        w: &Writer,
        lay: &Layout,
        seqs: &[u32],
        dir: &Path,
        name: &str,
        split: &str,
        token_files: &[PathBuf],
    ) -> Result<Written> {
        let total: usize = seqs.iter().map(|&s| lay.seq_len(s as usize)).sum();
        let (bin, idx) = match self.cfg.format {
            ShardFormat::Llmc => (dir.join(format!("{name}.bin")), None),
            ShardFormat::Megatron => (dir.join(format!("{name}.bin")), Some(dir.join(format!("{name}.idx")))),
        };
        let mut f = AtomicFile::create(&bin)?;
        let mut sha = Sha256::default();
        let mut put = |b: &[u8], f: &mut AtomicFile| -> Result<()> {
            sha.update(b);
            f.write_all(b).map_err(|e| Error::io(&bin, e))
        };
        if self.cfg.format == ShardFormat::Llmc {
            let h = shard::llmc_header(total, w.dtype).map_err(|m| stage_err(&self.node, m))?;
            put(&h, &mut f)?;
        }
        let mut bounds: Vec<u8> = Vec::new();
        let mut lengths = Vec::with_capacity(seqs.len());
        let (mut ids, mut scratch, mut bytes) = (Vec::new(), Vec::new(), Vec::new());
        let mut at = 0u64;
        for &s in seqs {
            ids.clear();
            for seg in lay.seq(s as usize) {
                if seg.doc != PAD {
                    bounds.extend_from_slice(&(at + ids.len() as u64).to_le_bytes());
                }
                w.tokens(seg, &mut ids, &mut scratch, token_files)?;
            }
            lengths.push(ids.len() as u32);
            at += ids.len() as u64;
            bytes.clear();
            shard::push_tokens(&mut bytes, &ids, w.dtype);
            put(&bytes, &mut f)?;
        }
        f.commit()?;
        let file = bin.file_name().unwrap().to_string_lossy().into_owned();
        match idx {
            None => write_atomic(&crate::pack::bounds_path(&bin), &bounds)?,
            Some(p) => write_atomic(&p, &shard::megatron_idx(&lengths, w.dtype))?,
        }
        Ok(Written { entry: ShardEntry { file, split: split.into(), tokens: total as u64, sha256: Some(sha.hex()) } })
    }
}

/// `<shard>.bounds`.
pub use crate::shard::bounds_path;

/// Metadata key the stage sets on every document it passes on: `"train"` or
/// `"val"`, the split its tokens went to.
pub const SPLIT_KEY: &str = "split";

/// Drop a document's ids (the shards hold them). The metadata ends up as
/// when the ids were `metadata.tokens` and were removed with
/// `serde_json::Map::remove`: the last key moves into their place.
fn strip_tokens(d: &mut Document) {
    match d.tokens.take() {
        Some(t) => {
            let slot = t.slot();
            if slot < d.metadata.len() {
                let last = d.metadata.keys().next_back().cloned().expect("not empty");
                let v = d.metadata.shift_remove(&last).expect("present");
                d.metadata.shift_insert(slot, last, v);
            }
        }
        None => {
            d.metadata.remove(codec::TOKENS_KEY);
        }
    }
}

/// The decide step: gives back the text the replay left out (decoded from
/// the task's token file) and records each document's split. The ids are
/// gone already ([`strip_tokens`], before the replay).
struct Decide {
    node: String,
    seed: u64,
    val_fraction: f64,
    /// The task's index, read in step with the replay, and its token file.
    index: std::io::BufReader<File>,
    index_path: PathBuf,
    tokens: File,
    tokens_path: PathBuf,
    /// Loaded at the first document whose text is to be restored.
    table: Option<ByteTable>,
    tokenizer: PathBuf,
}

impl Decide {
    fn next_entry(&mut self) -> Result<(u64, u64, u32, bool)> {
        let mut b = [0u8; ENTRY];
        self.index.read_exact(&mut b).map_err(|e| Error::io(&self.index_path, e))?;
        let id_hash = u64::from_le_bytes(b[20..28].try_into().expect("8 bytes"));
        let sv = u32::from_le_bytes(b[28..32].try_into().expect("4 bytes"));
        let offset = u32::from_le_bytes(b[32..36].try_into().expect("4 bytes")) as u64;
        let len = u32::from_le_bytes(b[36..40].try_into().expect("4 bytes"));
        Ok((id_hash, offset, len, sv & RESTORED_BIT != 0))
    }

    /// The text of `len` ids at `offset` of the token file.
    fn restore(&mut self, offset: u64, len: u32) -> Result<String> {
        let err = |m: String| stage_err(&self.node, m);
        if self.table.is_none() {
            let tok = bpe::load(&self.tokenizer).map_err(err)?;
            self.table = Some(ByteTable::new(&tok));
        }
        let table = self.table.as_ref().expect("loaded above");
        const CHUNK: u64 = 1 << 16;
        let mut text = Vec::new();
        let mut scratch = Vec::new();
        let mut at = 0u64;
        while at < len as u64 {
            let n = CHUNK.min(len as u64 - at);
            scratch.resize(n as usize * 4, 0);
            self.tokens.read_exact_at(&mut scratch, (offset + at) * 4).map_err(|e| Error::io(&self.tokens_path, e))?;
            for c in scratch.chunks_exact(4) {
                let id = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                let b = table.get(id).ok_or_else(|| err(format!("{}: token id {id} has no bytes", self.tokens_path.display())))?;
                text.extend_from_slice(b);
            }
            at += n;
        }
        String::from_utf8(text).map_err(|_| err(format!("{}: restored text is not UTF-8", self.tokens_path.display())))
    }
}

impl StreamStage for Decide {
    fn process(&mut self, batch: Batch, out: &mut StageOutput) -> Result<()> {
        for mut d in batch.docs {
            let (id_hash, offset, len, restored) = self.next_entry()?;
            if id_hash != xxhash_rust::xxh3::xxh3_64(d.id.as_bytes()) {
                return Err(stage_err(
                    &self.node,
                    format!("{}: the kept documents and the index disagree at document {}", self.index_path.display(), d.id),
                ));
            }
            if restored {
                d.text = self.restore(offset, len)?;
            }
            // the split the observer put the document in (same hash), so a
            // writer after the stage can tell held-out documents apart
            let val = is_val(self.seed, &d.pos, self.val_fraction);
            d.metadata.insert(SPLIT_KEY.into(), serde_json::Value::from(if val { "val" } else { "train" }));
            out.keep(d);
        }
        Ok(())
    }
    fn finish(&mut self, _out: &mut StageOutput) -> Result<()> {
        Ok(())
    }
}

impl GlobalStage for PackStage {
    fn observer(&self, cx: &GlobalContext) -> Result<Box<dyn Observer>> {
        Ok(Box::new(PackObserver {
            node: self.node.clone(),
            seed: cx.seed,
            val_fraction: self.cfg.val_fraction,
            tokens: AtomicFile::create(&task_file(&cx.dir, cx.unit, "tokens.bin"))?,
            index: AtomicFile::create(&task_file(&cx.dir, cx.unit, "index.bin"))?,
            sources: Vec::new(),
            offset: 0,
            // Without a readable tokenizer every text stays in the replay
            // (the pack step reports the tokenizer's problem).
            table: bpe::load(&self.tokenizer_path(cx)).ok().map(|t| Arc::new(ByteTable::new(&t))),
            restored: Vec::new(),
        }))
    }

    fn steps(&self, _tasks: usize) -> Vec<GlobalStep> {
        vec![GlobalStep { name: "pack".into(), units: 1 }]
    }

    fn run_step(&self, step: usize, cx: &GlobalContext) -> Result<()> {
        match step {
            0 => self.pack(cx),
            _ => Err(Error::Internal(format!("pack has no step {step}"))),
        }
    }

    fn decider(&self, cx: &GlobalContext) -> Result<Box<dyn StreamStage>> {
        let index_path = task_file(&cx.dir, cx.unit, "index.bin");
        let tokens_path = task_file(&cx.dir, cx.unit, "tokens.bin");
        let index = std::io::BufReader::new(File::open(&index_path).map_err(|e| Error::io(&index_path, e))?);
        let tokens = File::open(&tokens_path).map_err(|e| Error::io(&tokens_path, e))?;
        Ok(Box::new(Decide {
            node: self.node.clone(),
            seed: cx.seed,
            val_fraction: self.cfg.val_fraction,
            index,
            index_path,
            tokens,
            tokens_path,
            table: None,
            tokenizer: self.tokenizer_path(cx),
        }))
    }
}

impl sluice_pipeline::component::Component for PackConfig {
    const KIND: &'static str = "pack";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Stage;
    const ABOUT: &'static str = "Global: packs tokenized documents into seq_len sequences, shuffles, splits train/val by document, writes llm.c or Megatron shards + manifest.json";

    fn validate(&self) -> Vec<(String, String)> {
        PackConfig::validate(self)
    }

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        let stage = PackConfig::build(self, cx.name);
        // Shards go to OUT/<dir>, by default OUT/<node>: another pack, a
        // writer, another node's folder or sluice's own folders must not
        // share it (`compile` reports collisions).
        cx.claim_output("dir", self.dir.as_deref().unwrap_or(cx.name)).map_err(|d| vec![d])?;
        Ok(sluice_pipeline::component::Built::global(stage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_layout_keeps_every_unit_token_once() {
        let units = [(0, 5), (1, 3), (2, 9), (3, 1)];
        let lay = layout(&units, 4, PackMode::Split, 4, false);
        assert_eq!(lay.count(), 5); // 18 tokens: 4 full + 2
        let mut got: Vec<(u32, u32)> = Vec::new();
        for i in 0..lay.count() {
            for s in lay.seq(i) {
                got.extend((s.start..s.start + s.len).map(|k| (s.doc, k)));
            }
        }
        let want: Vec<(u32, u32)> = units.iter().flat_map(|&(d, n)| (0..n).map(move |k| (d, k))).collect();
        assert_eq!(got, want);
        assert_eq!(layout(&units, 4, PackMode::Split, 4, true).count(), 4);
    }

    #[test]
    fn bos_layout_starts_sequences_at_documents() {
        let units = [(0, 3), (1, 3), (2, 10), (3, 2)];
        let lay = layout(&units, 4, PackMode::Bos, 4, false);
        for i in 0..lay.count() {
            assert_eq!(lay.seq_len(i), 4);
            assert_eq!(lay.seq(i)[0].start, 0);
            assert_ne!(lay.seq(i)[0].doc, PAD);
        }
        assert_eq!(lay.truncated, 6);
        assert_eq!(lay.padding, (1 + 1) + 2);
    }
}
