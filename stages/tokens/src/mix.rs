//! `mix`: sample sources to token weights under a token budget.
//!
//! A global stage:
//! 1. **observe**: per document, its input position, id hash, source and
//!    token count (`attributes.tokens`, from `tokenize`): 36 bytes a document
//!    to `{task:05}-docs.bin`;
//! 2. **plan** (one unit): for each source, requested = weight × target
//!    tokens, capped at `max_epochs` × available. Whole epochs repeat every
//!    document; the remaining fraction takes documents in the order of a
//!    seeded hash of their input position until the remainder is met, the
//!    last one cut to fit (`truncate_last`), so achieved tokens equal
//!    requested ones to the token. Writes `00000-plan.bin` and
//!    `reports/<node>/mix.json` (`"kind": "mix"`);
//! 3. **decide**: each document is emitted as many times as planned (copies
//!    after the first get `#<copy>` ids and `metadata.mix_copy`), or dropped
//!    with `mix_not_sampled` / `mix_unlisted_source`.
//!
//! Nothing depends on the task split: the sampling order is a hash of the
//! input position and the seed.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sluice_pipeline::output::{write_atomic, AtomicFile};
use sluice_pipeline::{Batch, Document, Error, GlobalContext, GlobalStage, GlobalStep, Observer, Result, StageOutput, StreamStage};

use crate::codec;
use crate::util::stage_err;

pub const COPY_KEY: &str = "mix_copy";
const ENTRY: usize = 36;
const SALT_MIX: u64 = 0x3a1c_e5a7;

/// One source's share of the mix.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceWeight {
    /// Relative weight in tokens (weights are normalised to sum to 1).
    #[schemars(range(min = 0.0, max = 1e12))]
    pub weight: f64,
    /// Most passes over this source (a small, good source can be repeated up
    /// to k times; fractions like 2.5 allowed).
    #[serde(default = "one")]
    #[schemars(range(min = 0.0, max = 1e6))]
    pub max_epochs: f64,
}

fn one() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}

/// Options of the `mix` stage.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MixConfig {
    /// Tokens the mix should hold in all.
    #[schemars(range(min = 1, max = 1000000000000000u64))]
    pub target_tokens: u64,
    /// Weight and epoch cap per source (the documents' `source`). Documents
    /// of sources not listed are dropped (`mix_unlisted_source`).
    pub sources: BTreeMap<String, SourceWeight>,
    /// Cut the last sampled document of a partial epoch so the source gets
    /// exactly its share (its token ids are cut; its text is kept whole and
    /// `metadata.mix_truncated_tokens` says where the cut is).
    #[serde(default = "yes")]
    pub truncate_last: bool,
}

impl MixConfig {
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if self.target_tokens == 0 || self.target_tokens > 1_000_000_000_000_000 {
            e.push(("target_tokens".into(), "must be in 1..=10^15".into()));
        }
        if self.sources.is_empty() {
            e.push(("sources".into(), "list at least one source".into()));
        }
        for (k, s) in &self.sources {
            if !(s.weight > 0.0 && s.weight <= 1e12) {
                e.push((format!("sources.{k}.weight"), "must be a positive number, at most 1e12".into()));
            }
            if !(s.max_epochs > 0.0 && s.max_epochs <= 1e6) {
                e.push((format!("sources.{k}.max_epochs"), "must be a positive number, at most 1e6".into()));
            }
        }
        e
    }

    pub fn build(&self, node: &str) -> MixStage {
        MixStage { cfg: self.clone(), node: node.into() }
    }
}

/// The runtime of `mix`.
pub struct MixStage {
    cfg: MixConfig,
    node: String,
}

fn task_file(dir: &Path, task: usize, what: &str) -> PathBuf {
    dir.join(format!("{task:05}-{what}"))
}

struct MixObserver {
    node: String,
    out: AtomicFile,
    sources: Vec<String>,
}

impl Observer for MixObserver {
    fn observe(&mut self, docs: &[Document]) -> Result<()> {
        let mut buf = Vec::with_capacity(docs.len() * ENTRY);
        for d in docs {
            let n = codec::token_count(d).map_err(|m| stage_err(&self.node, m))?;
            let s = match self.sources.iter().position(|s| **s == *d.source) {
                Some(i) => i,
                None => {
                    self.sources.push(d.source.to_string());
                    self.sources.len() - 1
                }
            } as u32;
            buf.extend_from_slice(&d.pos.key().to_le_bytes());
            buf.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(d.id.as_bytes()).to_le_bytes());
            buf.extend_from_slice(&n.to_le_bytes());
            buf.extend_from_slice(&s.to_le_bytes());
        }
        let p = self.out.path().to_path_buf();
        self.out.write_all(&buf).map_err(|e| Error::io(p, e))
    }

    fn finish(self: Box<Self>) -> Result<()> {
        let sp =
            self.out.path().with_file_name(self.out.path().file_name().unwrap().to_string_lossy().replace("-docs.bin", "-sources.json"));
        write_atomic(&sp, &serde_json::to_vec(&self.sources).expect("json"))?;
        self.out.commit()
    }
}

/// A document's plan: copies, and the token length of the last copy when cut.
type Plan = HashMap<(u128, u64), (u32, Option<u64>)>;

const PLAN_ENTRY: usize = 16 + 8 + 4 + 8;

impl MixStage {
    fn plan(&self, cx: &GlobalContext) -> Result<()> {
        let err = |m: String| stage_err(&self.node, m);
        // per source: (hash, pos, id_hash, tokens)
        let mut by_source: BTreeMap<String, Vec<(u64, u128, u64, u64)>> = BTreeMap::new();
        for t in 0..cx.tasks {
            let sp = task_file(&cx.dir, t, "sources.json");
            let names: Vec<String> = serde_json::from_slice(&std::fs::read(&sp).map_err(|e| Error::io(&sp, e))?)
                .map_err(|e| err(format!("{}: {e}", sp.display())))?;
            let dp = task_file(&cx.dir, t, "docs.bin");
            let mut b = Vec::new();
            File::open(&dp).and_then(|mut f| f.read_to_end(&mut b)).map_err(|e| Error::io(&dp, e))?;
            for c in b.chunks_exact(ENTRY) {
                let pos = u128::from_le_bytes(c[0..16].try_into().unwrap());
                let idh = u64::from_le_bytes(c[16..24].try_into().unwrap());
                let n = u64::from_le_bytes(c[24..32].try_into().unwrap());
                let s = u32::from_le_bytes(c[32..36].try_into().unwrap()) as usize;
                let name = names.get(s).ok_or_else(|| err(format!("{}: bad source index", dp.display())))?;
                if self.cfg.sources.contains_key(name) {
                    let mut key = [0u8; 24];
                    key[..16].copy_from_slice(&pos.to_le_bytes());
                    key[16..].copy_from_slice(&idh.to_le_bytes());
                    let h = xxhash_rust::xxh3::xxh3_64_with_seed(&key, cx.seed ^ SALT_MIX);
                    by_source.entry(name.clone()).or_default().push((h, pos, idh, n));
                }
            }
        }
        let wsum: f64 = self.cfg.sources.values().map(|s| s.weight).sum();
        let mut plan_bytes = Vec::new();
        let mut report = Vec::new();
        for (name, sw) in &self.cfg.sources {
            let mut docs = by_source.remove(name).unwrap_or_default();
            docs.sort_unstable();
            let available: u64 = docs.iter().map(|d| d.3).sum();
            let requested = (sw.weight / wsum * self.cfg.target_tokens as f64).round() as u64;
            let cap = (sw.max_epochs * available as f64).floor() as u64;
            let goal = requested.min(cap);
            let (epochs, rem) = goal.checked_div(available).map_or((0, 0), |e| (e, goal % available));
            let mut achieved = epochs * available;
            let mut taken = 0u64;
            for &(_, pos, idh, n) in &docs {
                let mut copies = epochs as u32;
                let mut last = None;
                if taken < rem && n > 0 {
                    let want = rem - taken;
                    if n <= want {
                        copies += 1;
                        taken += n;
                    } else if self.cfg.truncate_last {
                        copies += 1;
                        last = Some(want);
                        taken += want;
                    } else {
                        // skip: a later, shorter document may fit
                    }
                }
                if copies > 0 {
                    plan_bytes.extend_from_slice(&pos.to_le_bytes());
                    plan_bytes.extend_from_slice(&idh.to_le_bytes());
                    plan_bytes.extend_from_slice(&copies.to_le_bytes());
                    plan_bytes.extend_from_slice(&last.unwrap_or(u64::MAX).to_le_bytes());
                }
            }
            achieved += taken;
            report.push(serde_json::json!({
                "source": name,
                "weight": sw.weight / wsum,
                "max_epochs": sw.max_epochs,
                "documents": docs.len(),
                "available_tokens": available,
                "requested_tokens": requested,
                "achieved_tokens": achieved,
                "epochs": if available == 0 { 0.0 } else { achieved as f64 / available as f64 },
                "capped": goal < requested,
            }));
        }
        write_atomic(&cx.dir.join("00000-plan.bin"), &plan_bytes)?;
        let achieved: u64 = report.iter().map(|r| r["achieved_tokens"].as_u64().unwrap_or(0)).sum();
        let rep = serde_json::json!({
            "kind": "mix",
            "target_tokens": self.cfg.target_tokens,
            "achieved_tokens": achieved,
            "sources": report,
        });
        write_atomic(&cx.reports.join("mix.json"), &serde_json::to_vec_pretty(&rep).expect("json"))
    }

    fn load_plan(&self, cx: &GlobalContext) -> Result<Plan> {
        let p = cx.dir.join("00000-plan.bin");
        let b = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
        let mut plan = Plan::with_capacity(b.len() / PLAN_ENTRY);
        for c in b.chunks_exact(PLAN_ENTRY) {
            let pos = u128::from_le_bytes(c[0..16].try_into().unwrap());
            let idh = u64::from_le_bytes(c[16..24].try_into().unwrap());
            let copies = u32::from_le_bytes(c[24..28].try_into().unwrap());
            let last = u64::from_le_bytes(c[28..36].try_into().unwrap());
            plan.insert((pos, idh), (copies, (last != u64::MAX).then_some(last)));
        }
        Ok(plan)
    }
}

struct MixDecider {
    node: String,
    plan: Plan,
    listed: Vec<String>,
}

impl StreamStage for MixDecider {
    fn process(&mut self, batch: Batch, out: &mut StageOutput) -> Result<()> {
        for d in batch.docs {
            if !self.listed.iter().any(|s| **s == *d.source) {
                out.drop(d, "mix_unlisted_source");
                continue;
            }
            let key = (d.pos.key(), xxhash_rust::xxh3::xxh3_64(d.id.as_bytes()));
            let Some(&(copies, last)) = self.plan.get(&key) else {
                out.drop(d, "mix_not_sampled");
                continue;
            };
            for c in 0..copies {
                let mut x = d.clone();
                if c > 0 {
                    x.id = format!("{}#{c}", d.id);
                    x.metadata.insert(COPY_KEY.into(), c.into());
                }
                if let (true, Some(n)) = (c + 1 == copies, last) {
                    let ids = codec::tokens(&x).map_err(|m| stage_err(&self.node, m))?;
                    x.set_tokens(ids.prefix(n as usize));
                    x.metadata.insert("mix_truncated_tokens".into(), n.into());
                }
                out.keep(x);
            }
        }
        Ok(())
    }
    fn finish(&mut self, _out: &mut StageOutput) -> Result<()> {
        Ok(())
    }
}

impl GlobalStage for MixStage {
    fn observer(&self, cx: &GlobalContext) -> Result<Box<dyn Observer>> {
        Ok(Box::new(MixObserver {
            node: self.node.clone(),
            out: AtomicFile::create(&task_file(&cx.dir, cx.unit, "docs.bin"))?,
            sources: vec![],
        }))
    }

    fn steps(&self, _tasks: usize) -> Vec<GlobalStep> {
        vec![GlobalStep { name: "plan".into(), units: 1 }]
    }

    fn run_step(&self, step: usize, cx: &GlobalContext) -> Result<()> {
        match step {
            0 => self.plan(cx),
            _ => Err(Error::Internal(format!("mix has no step {step}"))),
        }
    }

    fn decider(&self, cx: &GlobalContext) -> Result<Box<dyn StreamStage>> {
        Ok(Box::new(MixDecider { node: self.node.clone(), plan: self.load_plan(cx)?, listed: self.cfg.sources.keys().cloned().collect() }))
    }
}

/// Drive a global stage through observe → steps → decide over `tasks` task
/// streams, as the executor does, in one process. Used by the tests and by
/// the CLI-free benches.
pub fn drive(stage: &dyn GlobalStage, base: &GlobalContext, tasks: &[Vec<Document>], batch: usize) -> Result<Vec<Vec<Document>>> {
    std::fs::create_dir_all(&base.dir).map_err(|e| Error::io(&base.dir, e))?;
    std::fs::create_dir_all(&base.reports).map_err(|e| Error::io(&base.reports, e))?;
    let cx = |unit: usize| GlobalContext { unit, tasks: tasks.len(), ..base.clone() };
    // what the engine keeps for decide: each observed batch, trimmed
    let mut replay = Vec::new();
    for (t, docs) in tasks.iter().enumerate() {
        let mut o = stage.observer(&cx(t))?;
        let mut kept = Vec::new();
        for b in docs.chunks(batch.max(1)) {
            o.observe(b)?;
            let mut b = b.to_vec();
            o.trim_for_replay(&mut b)?;
            kept.push(b);
        }
        o.finish()?;
        replay.push(kept);
    }
    for (i, s) in stage.steps(tasks.len()).iter().enumerate() {
        for u in 0..s.units {
            stage.run_step(i, &cx(u))?;
        }
    }
    let mut outs = Vec::new();
    for (t, batches) in replay.into_iter().enumerate() {
        let mut d = stage.decider(&cx(t))?;
        let mut kept = Vec::new();
        for b in batches {
            let mut o = StageOutput::default();
            d.process(Batch::new(b), &mut o)?;
            kept.extend(o.kept);
        }
        let mut o = StageOutput::default();
        d.finish(&mut o)?;
        kept.extend(o.kept);
        outs.push(kept);
    }
    Ok(outs)
}

impl sluice_pipeline::component::Component for MixConfig {
    const KIND: &'static str = "mix";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Stage;
    const ABOUT: &'static str =
        "Global: samples sources to token weights under a token budget with per-source epoch caps; writes reports/<node>/mix.json";

    fn validate(&self) -> Vec<(String, String)> {
        MixConfig::validate(self)
    }

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        Ok(sluice_pipeline::component::Built::global(MixConfig::build(self, cx.name)))
    }
}
