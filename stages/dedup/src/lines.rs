//! Line and paragraph deduplication across the corpus (`line_dedup`),
//! CCNet/C4 style.
//!
//! - observe (per task): each line (or paragraph: blocks separated by a
//!   blank line) is normalised ([`crate::text::simplify`]) and hashed
//!   (with the source name mixed in when `per_source`); lines that
//!   normalise to nothing are never touched (`normalize: false` compares
//!   raw lines, trailing whitespace aside). Records go to one of
//!   `partitions` files;
//! - step `count` (one unit per partition): external sort by hash; every
//!   hash seen more than `max_count` times is a duplicate, written with its
//!   first occurrence (input position, line number);
//! - step `report` (one unit): the report (most repeated lines);
//! - decide (per task): remove duplicate lines from each document (every
//!   copy, or every copy but the first with `keep_first`), rewrite the
//!   text, and drop documents left with less than `min_doc_chars` non-space
//!   characters (`line_dedup_empty`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use rayon::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};
use sluice_pipeline::size::ByteSize;
use sluice_pipeline::{Batch, Document, Error, GlobalContext, GlobalStage, GlobalStep, Observer, Result, StageOutput, StreamStage};

use crate::minhash::write_json;
use crate::store::*;
use crate::text::simplify;

/// What a "line" is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum LineUnit {
    /// Lines separated by `\n`.
    #[default]
    Line,
    /// Paragraphs separated by a blank line (`\n\n`).
    Paragraph,
}

/// Configuration of `line_dedup`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LineDedupConfig {
    /// `line` or `paragraph`.
    #[serde(default)]
    pub unit: LineUnit,
    /// A line seen more than this many times in the corpus is a duplicate.
    #[serde(default = "d_one")]
    #[schemars(default = "d_one", range(min = 1, max = 1_000_000_000_000u64))]
    pub max_count: u64,
    /// Keep the first occurrence of a duplicate line (C4) instead of
    /// removing every copy (CCNet).
    #[serde(default)]
    pub keep_first: bool,
    /// Compare normalised lines (lowercase, digits to 0, no punctuation or
    /// accents: CCNet's rule) rather than the raw lines.
    #[serde(default = "d_true")]
    #[schemars(default = "d_true")]
    pub normalize: bool,
    /// Count lines per source (a line repeated in one source only is a
    /// duplicate there only).
    #[serde(default)]
    pub per_source: bool,
    /// Documents left with fewer non-whitespace characters than this are
    /// dropped (`line_dedup_empty`).
    #[serde(default = "d_one_usize")]
    #[schemars(default = "d_one_usize", range(min = 0, max = 1_000_000_000))]
    pub min_doc_chars: usize,
    /// Units of the `count` step (hash partitions), 1 to 4096.
    #[serde(default = "d_partitions")]
    #[schemars(default = "d_partitions", range(min = 1, max = 4096))]
    pub partitions: usize,
    /// Memory one `count` unit may use to sort; past it, runs spill to
    /// disk. 4 KiB to 1 TiB.
    #[serde(default = "d_budget")]
    #[schemars(default = "d_budget_str", extend("x-min-bytes" = 4096, "x-max-bytes" = 1099511627776u64))]
    pub memory_budget: ByteSize,
    /// How many of the most repeated lines the report shows.
    #[serde(default = "d_largest")]
    #[schemars(default = "d_largest", range(max = 10_000))]
    pub report_largest: usize,
    /// Hash seed. Default: the recipe seed mixed with the node name.
    #[serde(default)]
    #[schemars(range(min = 0, max = 18_446_744_073_709_551_615u64))]
    pub seed: Option<u64>,
}

fn d_true() -> bool {
    true
}
fn d_one() -> u64 {
    1
}
fn d_one_usize() -> usize {
    1
}
fn d_partitions() -> usize {
    16
}
fn d_budget() -> ByteSize {
    ByteSize(512 << 20)
}
fn d_budget_str() -> String {
    "512MiB".into()
}
fn d_largest() -> usize {
    10
}

impl LineDedupConfig {
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if self.partitions == 0 || self.partitions > 4096 {
            e.push(("partitions".into(), "must be between 1 and 4096".into()));
        }
        if self.max_count == 0 {
            e.push(("max_count".into(), "must be at least 1 (a line seen more than max_count times is removed)".into()));
        }
        e
    }

    pub fn build(&self) -> LineDedup {
        LineDedup { cfg: self.clone() }
    }
}

/// One occurrence of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct LineRec {
    hash: u64,
    pos: u128,
    line: u32,
    task: u32,
    idx: u64,
}

impl Record for LineRec {
    const SIZE: usize = 40;
    fn put(&self, o: &mut [u8]) {
        o[0..8].copy_from_slice(&self.hash.to_le_bytes());
        o[8..24].copy_from_slice(&self.pos.to_le_bytes());
        o[24..28].copy_from_slice(&self.line.to_le_bytes());
        o[28..32].copy_from_slice(&self.task.to_le_bytes());
        o[32..40].copy_from_slice(&self.idx.to_le_bytes());
    }
    fn get(b: &[u8]) -> Self {
        LineRec { hash: u64_at(b, 0), pos: u128_at(b, 8), line: u32_at(b, 24), task: u32_at(b, 28), idx: u64_at(b, 32) }
    }
}

/// A duplicate line: its hash and first occurrence (task, index in the
/// task, line number): addresses rather than positions, so the decider
/// recognises the first occurrence by counting its documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct DupRec {
    hash: u64,
    task: u32,
    idx: u64,
    line: u32,
}

impl Record for DupRec {
    const SIZE: usize = 24;
    fn put(&self, o: &mut [u8]) {
        o[0..8].copy_from_slice(&self.hash.to_le_bytes());
        o[8..12].copy_from_slice(&self.task.to_le_bytes());
        o[12..20].copy_from_slice(&self.idx.to_le_bytes());
        o[20..24].copy_from_slice(&self.line.to_le_bytes());
    }
    fn get(b: &[u8]) -> Self {
        DupRec { hash: u64_at(b, 0), task: u32_at(b, 8), idx: u64_at(b, 12), line: u32_at(b, 20) }
    }
}

/// The `line_dedup` global stage.
#[derive(Clone)]
pub struct LineDedup {
    pub cfg: LineDedupConfig,
}

fn sep(unit: LineUnit) -> &'static str {
    match unit {
        LineUnit::Line => "\n",
        LineUnit::Paragraph => "\n\n",
    }
}

impl LineDedup {
    fn seed(&self, cx: &GlobalContext) -> u64 {
        self.cfg.seed.unwrap_or(cx.seed)
    }

    /// The hash of each line of `doc` (`None` for lines that normalise to
    /// nothing).
    fn line_hashes(&self, doc: &Document, seed: u64) -> Vec<Option<u64>> {
        let seed = if self.cfg.per_source { xxhash_rust::xxh3::xxh3_64_with_seed(doc.source.as_bytes(), seed) } else { seed };
        doc.text
            .split(sep(self.cfg.unit))
            .map(|l| {
                if self.cfg.normalize {
                    let s = simplify(l);
                    (!s.is_empty()).then(|| xxhash_rust::xxh3::xxh3_64_with_seed(s.as_bytes(), seed))
                } else {
                    let s = l.trim_end();
                    (!s.trim_start().is_empty()).then(|| xxhash_rust::xxh3::xxh3_64_with_seed(s.as_bytes(), seed))
                }
            })
            .collect()
    }

    fn part_path(cx: &GlobalContext, task: usize, part: usize) -> PathBuf {
        cx.dir.join(format!("{task:05}-part{part:03}.bin"))
    }

    fn count(&self, cx: &GlobalContext) -> Result<()> {
        let u = cx.unit;
        let mut sorter = ExtSorter::<LineRec>::new(&cx.dir, format!("{u:05}-sort"), self.cfg.memory_budget.0);
        for t in 0..cx.tasks {
            let mut r = RecReader::<LineRec>::open(&Self::part_path(cx, t, u))?;
            while let Some(x) = r.next_rec()? {
                sorter.push(x)?;
            }
        }
        let mut sorted = sorter.finish()?;
        let mut dups = RecWriter::<DupRec>::create(&cx.dir.join(format!("{u:05}-dups.bin")))?;
        let mut hist: BTreeMap<u64, u64> = BTreeMap::new();
        let mut top = TopClusters::new(self.cfg.report_largest);
        let (mut lines, mut removed) = (0u64, 0u64);
        let mut group: Vec<LineRec> = Vec::new();
        let max = self.cfg.max_count as usize;
        let keep_first = self.cfg.keep_first;
        let mut flush = |group: &mut Vec<LineRec>| -> Result<()> {
            if group.len() > max {
                let f = group[0];
                dups.push(&DupRec { hash: f.hash, task: f.task, idx: f.idx, line: f.line })?;
                removed += group.len() as u64 - keep_first as u64;
                *hist.entry(group.len() as u64).or_insert(0) += 1;
                let mut ex: Vec<(u32, u64)> = group[1..].iter().map(|x| (x.task, x.idx)).collect();
                ex.dedup();
                ex.retain(|x| *x != (f.task, f.idx));
                ex.truncate(3);
                top.offer(ClusterSummary { size: group.len() as u64, kept_pos: f.pos, kept: (f.task, f.idx), examples: ex });
            }
            group.clear();
            Ok(())
        };
        while let Some(x) = sorted.next_rec()? {
            lines += 1;
            if group.last().is_some_and(|g| g.hash != x.hash) {
                flush(&mut group)?;
            }
            group.push(x);
        }
        flush(&mut group)?;
        let spills = sorted.spills;
        let n_dups = dups.commit()?;
        let largest: Vec<Value> = top
            .into_sorted()
            .into_iter()
            .map(|c| json!({"size": c.size, "kept_pos": c.kept_pos.to_string(), "kept": [c.kept.0, c.kept.1], "examples": c.examples}))
            .collect();
        let summary = json!({"lines": lines, "removed": removed, "clusters": n_dups,
            "histogram": hist.iter().map(|(s, n)| json!([s, n])).collect::<Vec<_>>(), "largest": largest, "spill_runs": spills});
        write_json(&cx.dir.join(format!("{u:05}-summary.json")), &summary)
    }

    fn report(&self, cx: &GlobalContext) -> Result<()> {
        let tables = DocTables::load(&cx.dir, cx.tasks)?;
        let mut hist: BTreeMap<u64, u64> = BTreeMap::new();
        let (mut lines, mut removed, mut clusters, mut spills) = (0u64, 0u64, 0u64, 0u64);
        let mut top = TopClusters::new(self.cfg.report_largest);
        for u in 0..self.cfg.partitions {
            let p = cx.dir.join(format!("{u:05}-summary.json"));
            let bytes = std::fs::read(&p).map_err(|e| io_err(&p, e))?;
            let s: Value = serde_json::from_slice(&bytes)
                .map_err(|e| Error::Stage { node: cx.node.clone(), message: format!("{}: {e}", p.display()) })?;
            lines += s["lines"].as_u64().unwrap_or(0);
            removed += s["removed"].as_u64().unwrap_or(0);
            clusters += s["clusters"].as_u64().unwrap_or(0);
            spills += s["spill_runs"].as_u64().unwrap_or(0);
            for h in s["histogram"].as_array().into_iter().flatten() {
                *hist.entry(h[0].as_u64().unwrap_or(0)).or_insert(0) += h[1].as_u64().unwrap_or(0);
            }
            for c in s["largest"].as_array().into_iter().flatten() {
                let addr = |v: &Value| (v[0].as_u64().unwrap_or(0) as u32, v[1].as_u64().unwrap_or(0));
                top.offer(ClusterSummary {
                    size: c["size"].as_u64().unwrap_or(0),
                    kept_pos: c["kept_pos"].as_str().and_then(|x| x.parse().ok()).unwrap_or(0),
                    kept: addr(&c["kept"]),
                    examples: c["examples"].as_array().into_iter().flatten().map(addr).collect(),
                });
            }
        }
        let mut extra = serde_json::Map::new();
        extra.insert("unit".into(), format!("{:?}", self.cfg.unit).to_lowercase().into());
        extra.insert("lines".into(), lines.into());
        extra.insert("removed_counts".into(), "lines (or paragraphs) removed; `documents` counts documents".into());
        extra.insert("spill_runs".into(), spills.into());
        let counts = ReportCounts { method: "lines", documents: tables.total(), removed, clusters, histogram: hist };
        write_report(cx, "clusters", counts, &top.into_sorted(), &tables, extra)?;
        Ok(())
    }
}

struct LineObserver {
    stage: LineDedup,
    seed: u64,
    table: DocTableWriter,
    parts: Vec<RecWriter<LineRec>>,
    task: u32,
}

impl Observer for LineObserver {
    fn observe(&mut self, docs: &[Document]) -> Result<()> {
        let stage = &self.stage;
        let seed = self.seed;
        let hashes: Vec<Vec<Option<u64>>> = docs.par_iter().map(|d| stage.line_hashes(d, seed)).collect();
        let parts = self.parts.len() as u64;
        for (d, hs) in docs.iter().zip(hashes) {
            let idx = self.table.push(d)?;
            for (line, h) in hs.into_iter().enumerate() {
                if let Some(h) = h {
                    let rec = LineRec { hash: h, pos: d.pos.key(), line: line as u32, task: self.task, idx };
                    self.parts[((h >> 32) % parts) as usize].push(&rec)?;
                }
            }
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<()> {
        self.table.commit()?;
        for p in self.parts {
            p.commit()?;
        }
        Ok(())
    }
}

struct LineDecider {
    stage: LineDedup,
    seed: u64,
    dups: Vec<DupRec>,
    task: u32,
    /// Index (in observed order) of the next document.
    next: u64,
}

impl LineDecider {
    fn first_of(&self, h: u64) -> Option<(u32, u64, u32)> {
        let i = self.dups.partition_point(|d| d.hash < h);
        self.dups.get(i).filter(|d| d.hash == h).map(|d| (d.task, d.idx, d.line))
    }
}

impl StreamStage for LineDecider {
    fn process(&mut self, batch: Batch, out: &mut StageOutput) -> Result<()> {
        let sep = sep(self.stage.cfg.unit);
        let this = &*self;
        let results: Vec<(Document, Option<&'static str>)> = batch
            .docs
            .into_par_iter()
            .enumerate()
            .map(|(n, mut doc)| {
                let hs = this.stage.line_hashes(&doc, this.seed);
                let me = (this.task, this.next + n as u64);
                let mut removed = 0u64;
                let kept: Vec<&str> = doc
                    .text
                    .split(sep)
                    .zip(&hs)
                    .enumerate()
                    .filter_map(|(i, (l, h))| {
                        let dup = h
                            .and_then(|h| this.first_of(h))
                            .is_some_and(|first| !(this.stage.cfg.keep_first && first == (me.0, me.1, i as u32)));
                        removed += dup as u64;
                        (!dup).then_some(l)
                    })
                    .collect();
                if removed > 0 {
                    let t = kept.join(sep);
                    doc.text = t;
                    doc.attributes.insert("line_dedup_removed".into(), removed as f64);
                }
                let chars = doc.text.chars().filter(|c| !c.is_whitespace()).count();
                let reason = (chars < this.stage.cfg.min_doc_chars).then_some("line_dedup_empty");
                (doc, reason)
            })
            .collect();
        self.next += results.len() as u64;
        for (d, r) in results {
            match r {
                Some(r) => out.drop(d, r),
                None => out.keep(d),
            }
        }
        Ok(())
    }

    fn finish(&mut self, _out: &mut StageOutput) -> Result<()> {
        Ok(())
    }
}

impl GlobalStage for LineDedup {
    fn observer(&self, cx: &GlobalContext) -> Result<Box<dyn Observer>> {
        let parts = (0..self.cfg.partitions).map(|p| RecWriter::create(&Self::part_path(cx, cx.unit, p))).collect::<Result<_>>()?;
        Ok(Box::new(LineObserver {
            stage: self.clone(),
            seed: self.seed(cx),
            table: DocTableWriter::create(&cx.dir, cx.unit)?,
            parts,
            task: cx.unit as u32,
        }))
    }

    fn steps(&self, _tasks: usize) -> Vec<GlobalStep> {
        vec![GlobalStep { name: "count".into(), units: self.cfg.partitions }, GlobalStep { name: "report".into(), units: 1 }]
    }

    fn run_step(&self, step: usize, cx: &GlobalContext) -> Result<()> {
        match step {
            0 => self.count(cx),
            1 => self.report(cx),
            _ => Err(Error::Stage { node: cx.node.clone(), message: format!("internal: no step {step}") }),
        }
    }

    fn decider(&self, cx: &GlobalContext) -> Result<Box<dyn StreamStage>> {
        let mut dups = Vec::new();
        for u in 0..self.cfg.partitions {
            dups.extend(RecReader::<DupRec>::open(&cx.dir.join(format!("{u:05}-dups.bin")))?.read_all()?);
        }
        dups.sort_unstable();
        Ok(Box::new(LineDecider { stage: self.clone(), seed: self.seed(cx), dups, task: cx.unit as u32, next: 0 }))
    }
}

impl sluice_pipeline::component::Component for LineDedupConfig {
    const KIND: &'static str = "line_dedup";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Stage;
    const ABOUT: &'static str =
        "Line/paragraph dedup across the corpus (global, CCNet/C4): removes lines seen more than N times, optionally per source";

    fn validate(&self) -> Vec<(String, String)> {
        LineDedupConfig::validate(self)
    }

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        let _ = cx;
        Ok(sluice_pipeline::component::Built::global(LineDedupConfig::build(self)))
    }
}
