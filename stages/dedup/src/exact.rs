//! Exact deduplication on a normalised-text hash (`exact_dedup`).
//!
//! - observe (per task): a seeded 128-bit xxh3 of the normalised text
//!   ([`crate::text::simplify`], or the raw text with `normalize: false`),
//!   written with the keep rule's rank to one of `partitions` files;
//! - step `groups` (one unit per partition): external sort by (hash, rank,
//!   position); in each group of equal hashes the first is kept;
//! - step `report` (one unit): the cluster report, and the Bloom filter
//!   saved for the next dump (`bloom.save`);
//! - decide (per task): drop `exact_duplicate`, and with `bloom.load`,
//!   `exact_duplicate_prior` for every document whose hash an earlier dump
//!   already kept (false positives at the filter's rate).
//!
//! Keep rules: `first` (smallest input position), `longest` (most bytes of
//! original text, then first), `source_priority` (the first source in the
//! list, then first seen; unlisted sources come last).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};
use sluice_pipeline::size::ByteSize;
use sluice_pipeline::{Document, Error, GlobalContext, GlobalStage, GlobalStep, Observer, Result, StreamStage};

use crate::bloom::BloomFilter;
use crate::error_text;
use crate::minhash::write_json;
use crate::store::*;
use crate::text::simplify;

/// Which copy of a group of identical documents is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum KeepRule {
    /// The copy first seen in input order.
    #[default]
    First,
    /// The longest original text (ties: first seen).
    Longest,
    /// The copy whose source comes first in `source_priority` (ties: first seen).
    SourcePriority,
}

/// Cross-dump deduplication with a saved Bloom filter.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BloomConfig {
    /// A filter saved by an earlier run (any readable path, e.g.
    /// `../dump1/filters/cc.bloom`): documents whose hash it contains are
    /// dropped (`exact_duplicate_prior`). Its seed is used for hashing, so
    /// the hashes match. At most 16 GiB.
    #[serde(default)]
    pub load: Option<String>,
    /// Where to save the filter of everything kept so far (the loaded
    /// filter plus this run's documents): a path *relative to the output
    /// directory* (`filters/cc.bloom`), written atomically at the end of
    /// the `report` step. A recipe cannot write outside its output
    /// directory, so absolute paths and `..` are refused.
    #[serde(default)]
    pub save: Option<String>,
    /// Keys a new filter is sized for (ignored when one is loaded). The
    /// filter takes `-capacity ln(rate) / ln² 2` bits (1.8 bytes per key
    /// at the default rate), at most 16 GiB.
    #[serde(default = "d_capacity")]
    #[schemars(default = "d_capacity", range(min = 1, max = 100_000_000_000u64))]
    pub capacity: u64,
    /// False-positive rate a new filter is sized for, in (0, 0.5).
    #[serde(default = "d_fp")]
    #[schemars(default = "d_fp", range(min = 1e-12, max = 0.5))]
    pub false_positive_rate: f64,
}

fn d_capacity() -> u64 {
    100_000_000
}
fn d_fp() -> f64 {
    0.001
}

/// Configuration of `exact_dedup`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExactConfig {
    /// Which copy is kept: `first`, `longest` or `source_priority`.
    #[serde(default)]
    pub keep: KeepRule,
    /// Source names, most preferred first (with `keep: source_priority`).
    #[serde(default)]
    pub source_priority: Vec<String>,
    /// Hash the normalised text (lowercase, digits to 0, no punctuation,
    /// no accents, collapsed whitespace) rather than the raw text.
    #[serde(default = "d_true")]
    #[schemars(default = "d_true")]
    pub normalize: bool,
    /// Units of the `groups` step (hash partitions), 1 to 4096.
    #[serde(default = "d_partitions")]
    #[schemars(default = "d_partitions", range(min = 1, max = 4096))]
    pub partitions: usize,
    /// Memory one `groups` unit may use to sort; past it, runs spill to
    /// disk. 4 KiB to 1 TiB.
    #[serde(default = "d_budget")]
    #[schemars(default = "d_budget_str", extend("x-min-bytes" = 4096, "x-max-bytes" = 1099511627776u64))]
    pub memory_budget: ByteSize,
    /// How many of the largest groups the report shows (at most 10000).
    #[serde(default = "d_largest")]
    #[schemars(default = "d_largest", range(max = 10_000))]
    pub report_largest: usize,
    /// Hash seed. Default: the recipe seed mixed with the node name (or the
    /// loaded Bloom filter's seed).
    #[serde(default)]
    #[schemars(range(min = 0, max = 18_446_744_073_709_551_615u64))]
    pub seed: Option<u64>,
    /// Dedup against earlier dumps with a saved Bloom filter.
    #[serde(default)]
    pub bloom: Option<BloomConfig>,
}

fn d_true() -> bool {
    true
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

impl ExactConfig {
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if self.partitions == 0 || self.partitions > 4096 {
            e.push(("partitions".into(), "must be between 1 and 4096".into()));
        }
        if self.keep == KeepRule::SourcePriority && self.source_priority.is_empty() {
            e.push(("source_priority".into(), "`keep: source_priority` needs a list of sources".into()));
        }
        if let Some(b) = &self.bloom {
            if let Some(save) = &b.save {
                if let Err(m) = sluice_pipeline::recipe::check_relative_output(save) {
                    e.push(("bloom.save".into(), m));
                }
            }
            match &b.load {
                // Only the header is read here: the seed, which also checks
                // that it is a regular file of a sane size.
                Some(p) => match BloomFilter::read_seed(Path::new(p)) {
                    Err(Error::Stage { message, .. }) => e.push(("bloom.load".into(), message)),
                    Err(err) => e.push(("bloom.load".into(), error_text(&err))),
                    Ok(_) => {}
                },
                // The size of a new filter: checked here, so that an absurd
                // capacity fails validation instead of the allocation.
                None if b.false_positive_rate > 0.0 && b.false_positive_rate < 0.5 => {
                    if let Err(m) = BloomFilter::check_size(b.capacity, b.false_positive_rate) {
                        e.push(("bloom.capacity".into(), m));
                    }
                }
                None => {}
            }
            if !(b.false_positive_rate > 0.0 && b.false_positive_rate < 0.5) {
                e.push(("bloom.false_positive_rate".into(), "must be in (0, 0.5)".into()));
            }
        }
        e
    }

    pub fn build(&self) -> ExactDedup {
        ExactDedup { cfg: self.clone() }
    }
}

/// One document's hash, the keep rule's rank, and its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct ExactRec {
    hash: u128,
    rank: u64,
    pos: u128,
    task: u32,
    idx: u64,
}

impl Record for ExactRec {
    const SIZE: usize = 52;
    fn put(&self, o: &mut [u8]) {
        o[0..16].copy_from_slice(&self.hash.to_le_bytes());
        o[16..24].copy_from_slice(&self.rank.to_le_bytes());
        o[24..40].copy_from_slice(&self.pos.to_le_bytes());
        o[40..44].copy_from_slice(&self.task.to_le_bytes());
        o[44..52].copy_from_slice(&self.idx.to_le_bytes());
    }
    fn get(b: &[u8]) -> Self {
        ExactRec { hash: u128_at(b, 0), rank: u64_at(b, 16), pos: u128_at(b, 24), task: u32_at(b, 40), idx: u64_at(b, 44) }
    }
}

/// The `exact_dedup` global stage.
pub struct ExactDedup {
    pub cfg: ExactConfig,
}

impl ExactDedup {
    fn seed(&self, cx: &GlobalContext) -> Result<u64> {
        if let Some(p) = self.cfg.bloom.as_ref().and_then(|b| b.load.as_ref()) {
            return BloomFilter::read_seed(std::path::Path::new(p));
        }
        Ok(self.cfg.seed.unwrap_or(cx.seed))
    }

    fn part_path(cx: &GlobalContext, task: usize, part: usize) -> PathBuf {
        cx.dir.join(format!("{task:05}-part{part:03}.bin"))
    }

    fn rank(&self, doc: &Document) -> u64 {
        match self.cfg.keep {
            KeepRule::First => 0,
            KeepRule::Longest => u64::MAX - doc.text.len() as u64,
            KeepRule::SourcePriority => {
                self.cfg.source_priority.iter().position(|s| **s == *doc.source).unwrap_or(self.cfg.source_priority.len()) as u64
            }
        }
    }

    fn groups(&self, cx: &GlobalContext) -> Result<()> {
        let u = cx.unit;
        let prior = match self.cfg.bloom.as_ref().and_then(|b| b.load.as_ref()) {
            Some(p) => Some(BloomFilter::load(std::path::Path::new(p))?),
            None => None,
        };
        let mut sorter = ExtSorter::<ExactRec>::new(&cx.dir, format!("{u:05}-sort"), self.cfg.memory_budget.0);
        for t in 0..cx.tasks {
            let mut r = RecReader::<ExactRec>::open(&Self::part_path(cx, t, u))?;
            while let Some(x) = r.next_rec()? {
                sorter.push(x)?;
            }
        }
        let mut sorted = sorter.finish()?;
        let mut removed = RecWriter::<Removal>::create(&cx.dir.join(format!("{u:05}-removed.bin")))?;
        let mut prior_removed = RecWriter::<Removal>::create(&cx.dir.join(format!("{u:05}-prior.bin")))?;
        let mut hist: BTreeMap<u64, u64> = BTreeMap::new();
        let mut top = TopClusters::new(self.cfg.report_largest);
        let mut group: Vec<ExactRec> = Vec::new();
        let mut flush = |group: &mut Vec<ExactRec>| -> Result<()> {
            let Some(first) = group.first().copied() else { return Ok(()) };
            if prior.as_ref().is_some_and(|f| f.contains(first.hash)) {
                for x in group.iter() {
                    prior_removed.push(&Removal { task: x.task, idx: x.idx })?;
                }
            } else if group.len() > 1 {
                for x in &group[1..] {
                    removed.push(&Removal { task: x.task, idx: x.idx })?;
                }
                *hist.entry(group.len() as u64).or_insert(0) += 1;
                let mut others: Vec<(u128, (u32, u64))> = group[1..].iter().map(|x| (x.pos, (x.task, x.idx))).collect();
                others.sort_unstable();
                top.offer(ClusterSummary {
                    size: group.len() as u64,
                    kept_pos: first.pos,
                    kept: (first.task, first.idx),
                    examples: others.iter().take(3).map(|x| x.1).collect(),
                });
            }
            group.clear();
            Ok(())
        };
        while let Some(x) = sorted.next_rec()? {
            if group.last().is_some_and(|g| g.hash != x.hash) {
                flush(&mut group)?;
            }
            group.push(x);
        }
        flush(&mut group)?;
        let spills = sorted.spills;
        let (n_removed, n_prior) = (removed.commit()?, prior_removed.commit()?);
        let largest: Vec<Value> = top
            .into_sorted()
            .into_iter()
            .map(|c| json!({"size": c.size, "kept_pos": c.kept_pos.to_string(), "kept": [c.kept.0, c.kept.1], "examples": c.examples}))
            .collect();
        let summary = json!({
            "removed": n_removed, "prior_removed": n_prior, "clusters": hist.values().sum::<u64>(),
            "histogram": hist.iter().map(|(s, n)| json!([s, n])).collect::<Vec<_>>(), "largest": largest, "spill_runs": spills,
        });
        write_json(&cx.dir.join(format!("{u:05}-summary.json")), &summary)
    }

    fn report(&self, cx: &GlobalContext) -> Result<()> {
        let tables = DocTables::load(&cx.dir, cx.tasks)?;
        let mut hist: BTreeMap<u64, u64> = BTreeMap::new();
        let (mut removed, mut prior, mut clusters, mut spills) = (0u64, 0u64, 0u64, 0u64);
        let mut top = TopClusters::new(self.cfg.report_largest);
        for u in 0..self.cfg.partitions {
            let p = cx.dir.join(format!("{u:05}-summary.json"));
            let bytes = std::fs::read(&p).map_err(|e| io_err(&p, e))?;
            let s: Value = serde_json::from_slice(&bytes)
                .map_err(|e| Error::Stage { node: cx.node.clone(), message: format!("{}: {e}", p.display()) })?;
            removed += s["removed"].as_u64().unwrap_or(0);
            prior += s["prior_removed"].as_u64().unwrap_or(0);
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
        extra.insert("keep".into(), format!("{:?}", self.cfg.keep).to_lowercase().into());
        extra.insert("spill_runs".into(), spills.into());
        if let Some(b) = &self.cfg.bloom {
            let mut filter = match &b.load {
                Some(p) => BloomFilter::load(std::path::Path::new(p))?,
                None => BloomFilter::try_new(b.capacity, b.false_positive_rate, self.seed(cx)?)
                    .map_err(|m| Error::Stage { node: cx.node.clone(), message: format!("bloom.capacity: {m}") })?,
            };
            if let Some(save) = &b.save {
                for t in 0..cx.tasks {
                    for u in 0..self.cfg.partitions {
                        let mut r = RecReader::<ExactRec>::open(&Self::part_path(cx, t, u))?;
                        while let Some(x) = r.next_rec()? {
                            filter.insert(x.hash);
                        }
                    }
                }
                filter.save(&inside_output(cx, save)?)?;
            }
            extra.insert(
                "bloom".into(),
                json!({"prior_removed": prior, "loaded": b.load, "saved": b.save, "items": filter.items(), "bits": filter.bits(),
                       "hashes": filter.hashes(), "estimated_fp_rate": filter.estimated_fp_rate()}),
            );
        }
        let counts = ReportCounts { method: "exact", documents: tables.total(), removed: removed + prior, clusters, histogram: hist };
        write_report(cx, "clusters", counts, &top.into_sorted(), &tables, extra)?;
        Ok(())
    }
}

/// `OUT/<rel>` for a path an option names relative to the output
/// directory, checked again at run time (the recipe was checked by
/// `validate`, but a run may start from a recipe.json written by another
/// process). No existing component under OUT may be a symbolic link, so a
/// link planted in a shared output directory cannot redirect the write.
fn inside_output(cx: &GlobalContext, rel: &str) -> Result<PathBuf> {
    let rel = sluice_pipeline::recipe::check_relative_output(rel)
        .map_err(|m| Error::Stage { node: cx.node.clone(), message: format!("bloom.save: {m}") })?;
    let mut p = cx.output.clone();
    for c in rel.components() {
        p.push(c);
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Error::Stage {
                node: cx.node.clone(),
                message: format!("bloom.save: {} is a symbolic link; sluice does not write through links in its output", p.display()),
            });
        }
    }
    Ok(p)
}

struct ExactObserver {
    stage: ExactDedup,
    seed: u64,
    table: DocTableWriter,
    parts: Vec<RecWriter<ExactRec>>,
    task: u32,
}

/// The 128-bit content hash exact dedup uses.
pub fn content_hash(text: &str, normalize: bool, seed: u64) -> u128 {
    if normalize {
        xxhash_rust::xxh3::xxh3_128_with_seed(simplify(text).as_bytes(), seed)
    } else {
        xxhash_rust::xxh3::xxh3_128_with_seed(text.as_bytes(), seed)
    }
}

impl Observer for ExactObserver {
    fn observe(&mut self, docs: &[Document]) -> Result<()> {
        let (norm, seed) = (self.stage.cfg.normalize, self.seed);
        let hashes: Vec<u128> = docs.par_iter().map(|d| content_hash(&d.text, norm, seed)).collect();
        let parts = self.parts.len() as u128;
        for (d, h) in docs.iter().zip(hashes) {
            let idx = self.table.push(d)?;
            let rec = ExactRec { hash: h, rank: self.stage.rank(d), pos: d.pos.key(), task: self.task, idx };
            self.parts[((h >> 64) % parts) as usize].push(&rec)?;
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

impl GlobalStage for ExactDedup {
    fn observer(&self, cx: &GlobalContext) -> Result<Box<dyn Observer>> {
        let parts = (0..self.cfg.partitions).map(|p| RecWriter::create(&Self::part_path(cx, cx.unit, p))).collect::<Result<_>>()?;
        Ok(Box::new(ExactObserver {
            stage: ExactDedup { cfg: self.cfg.clone() },
            seed: self.seed(cx)?,
            table: DocTableWriter::create(&cx.dir, cx.unit)?,
            parts,
            task: cx.unit as u32,
        }))
    }

    fn steps(&self, _tasks: usize) -> Vec<GlobalStep> {
        vec![GlobalStep { name: "groups".into(), units: self.cfg.partitions }, GlobalStep { name: "report".into(), units: 1 }]
    }

    fn run_step(&self, step: usize, cx: &GlobalContext) -> Result<()> {
        match step {
            0 => self.groups(cx),
            1 => self.report(cx),
            _ => Err(Error::Stage { node: cx.node.clone(), message: format!("internal: no step {step}") }),
        }
    }

    fn decider(&self, cx: &GlobalContext) -> Result<Box<dyn StreamStage>> {
        let removed: Vec<PathBuf> = (0..self.cfg.partitions).map(|u| cx.dir.join(format!("{u:05}-removed.bin"))).collect();
        let prior: Vec<PathBuf> = (0..self.cfg.partitions).map(|u| cx.dir.join(format!("{u:05}-prior.bin"))).collect();
        Ok(Box::new(RemovalDecider::new(vec![
            (load_removals(&prior, cx.unit)?, "exact_duplicate_prior".into()),
            (load_removals(&removed, cx.unit)?, "exact_duplicate".into()),
        ])))
    }
}

impl sluice_pipeline::component::Component for ExactConfig {
    const KIND: &'static str = "exact_dedup";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Stage;
    const ABOUT: &'static str =
        "Exact dedup on a normalised-text hash (global): keep first/longest/by source priority; Bloom filter saved/loaded across dumps";

    fn validate(&self) -> Vec<(String, String)> {
        ExactConfig::validate(self)
    }

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        let stage = ExactConfig::build(self);
        if let Some(save) = self.bloom.as_ref().and_then(|b| b.save.as_ref()) {
            cx.claim_output("bloom.save", save).map_err(|d| vec![d])?;
        }
        Ok(sluice_pipeline::component::Built::global(stage))
    }
}
