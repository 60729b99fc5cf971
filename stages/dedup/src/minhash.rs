//! MinHash LSH fuzzy deduplication (`minhash_dedup`).
//!
//! Phases (each a separate `--task/--tasks` unit, files in between):
//! 1. **observe** (per task): normalise ([`crate::text::simplify`]), split
//!    into words (jieba for Chinese), hash word n-gram shingles with a
//!    seeded 64-bit hash, take `bands × rows` minima under seeded
//!    permutations `(a·h + b) mod (2^61 − 1)` (datatrove's scheme), and
//!    write one hash per band (the band's `rows` minima hashed together)
//!    to the file of the band's group, `{task}-group{g}.bin`, plus the
//!    task's document table;
//! 2. **buckets** (one unit per band group): gather every task's records of
//!    the group's bands, sort them by (band hash, input position) with an
//!    external sort bounded by `memory_budget` (sorted runs spill to disk
//!    past it), and link every document of a bucket to the bucket's first
//!    document: `{unit}-edges.bin`;
//! 3. **clusters** (one unit): union-find over all edges; each component's
//!    root is its member with the smallest input position; every other
//!    member is removed (`00000-removed.bin`), and the cluster report is
//!    written;
//! 4. **decide** (per task): drop the removed documents with reason
//!    `minhash_duplicate`.
//!
//! Keep rule: the member first seen in input order (smallest `DocPos`:
//! reader, file, record). It is what datatrove keeps (the document of the
//! lowest file and index), it does not depend on `--tasks` or `--threads`,
//! and in a crawl it keeps the earliest copy of a page, which is usually
//! the original.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use rayon::prelude::*;
use serde::Deserialize;
use serde_json::json;
use sluice_pipeline::size::ByteSize;
use sluice_pipeline::{Document, GlobalContext, GlobalStage, GlobalStep, Observer, Result, StreamStage};

use crate::store::*;
use crate::text::{shingle_hashes, simplify, words};

const MERSENNE: u64 = (1 << 61) - 1;

/// Configuration of `minhash_dedup`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MinHashConfig {
    /// Number of LSH bands (b). Two documents become candidates when all
    /// the rows of at least one band agree.
    #[serde(default = "d_bands")]
    #[schemars(default = "d_bands", range(min = 1, max = 10_000))]
    pub bands: usize,
    /// MinHash values per band (r). The detection probability at Jaccard
    /// similarity s is 1 − (1 − s^r)^b; with 14×8 it is 50% near s = 0.68.
    #[serde(default = "d_rows")]
    #[schemars(default = "d_rows", range(min = 1, max = 64))]
    pub rows: usize,
    /// Words per shingle (word n-grams of the normalised text).
    #[serde(default = "d_ngram")]
    #[schemars(default = "d_ngram", range(min = 1, max = 64))]
    pub ngram: usize,
    /// Units of the bucket step: bands are dealt to this many groups (band
    /// `i` to group `i mod band_groups`). Default: one unit per band.
    #[serde(default)]
    #[schemars(range(min = 1, max = 10_000))]
    pub band_groups: Option<usize>,
    /// Memory one bucket unit may use to sort its records; past it, sorted
    /// runs spill to disk and are merged (external sort). 4 KiB to 1 TiB.
    #[serde(default = "d_budget")]
    #[schemars(default = "d_budget_str", extend("x-min-bytes" = 4096, "x-max-bytes" = 1099511627776u64))]
    pub memory_budget: ByteSize,
    /// How many of the largest clusters the report shows, with examples.
    #[serde(default = "d_largest")]
    #[schemars(default = "d_largest", range(max = 10_000))]
    pub report_largest: usize,
    /// Hash seed. Default: the recipe seed mixed with the node name. Set it
    /// to compare signatures between runs of different recipes.
    #[serde(default)]
    #[schemars(range(min = 0, max = 18_446_744_073_709_551_615u64))]
    pub seed: Option<u64>,
}

fn d_bands() -> usize {
    14
}
fn d_rows() -> usize {
    8
}
fn d_ngram() -> usize {
    5
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

impl Default for MinHashConfig {
    fn default() -> Self {
        serde_json::from_value(json!({})).expect("defaults")
    }
}

impl MinHashConfig {
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if self.bands == 0 || self.bands > 10_000 {
            e.push(("bands".into(), "must be between 1 and 10000".into()));
        }
        if self.rows == 0 || self.rows > 64 {
            e.push(("rows".into(), "must be between 1 and 64".into()));
        }
        if self.ngram == 0 || self.ngram > 64 {
            e.push(("ngram".into(), "must be between 1 and 64".into()));
        }
        if let Some(g) = self.band_groups {
            if g == 0 || g > self.bands {
                e.push(("band_groups".into(), format!("must be between 1 and `bands` ({})", self.bands)));
            }
        }
        e
    }

    pub fn build(&self) -> MinHashDedup {
        MinHashDedup { cfg: self.clone() }
    }
}

/// The detection probability of a pair with Jaccard similarity `s`.
pub fn s_curve(s: f64, bands: usize, rows: usize) -> f64 {
    1.0 - (1.0 - s.powi(rows as i32)).powi(bands as i32)
}

/// The S-curve as `[[jaccard, probability], ...]` for reports.
pub fn s_curve_table(bands: usize, rows: usize) -> Vec<(f64, f64)> {
    let mut js: Vec<f64> = (1..=20).map(|i| i as f64 * 0.05).collect();
    js.retain(|j| *j >= 0.3 - 1e-9);
    js.iter().map(|&j| ((j * 100.0).round() / 100.0, s_curve(j, bands, rows))).collect()
}

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Seeded MinHash signer: shingle seed and `bands × rows` permutations.
#[derive(Debug, Clone)]
pub struct Signer {
    pub bands: usize,
    pub rows: usize,
    pub ngram: usize,
    seed: u64,
    a: Vec<u64>,
    b: Vec<u64>,
}

#[inline]
fn mod_mersenne(x: u128) -> u64 {
    let lo = (x as u64) & MERSENNE;
    let hi = (x >> 61) as u64;
    let mut r = lo + (hi & MERSENNE) + ((x >> 122) as u64);
    r = (r & MERSENNE) + (r >> 61);
    if r >= MERSENNE {
        r - MERSENNE
    } else {
        r
    }
}

impl Signer {
    pub fn new(bands: usize, rows: usize, ngram: usize, seed: u64) -> Signer {
        let mut s = seed ^ 0x6D69_6E68_6173_6821;
        let n = bands * rows;
        let mut a = Vec::with_capacity(n);
        let mut b = Vec::with_capacity(n);
        for _ in 0..n {
            a.push(splitmix(&mut s) % (MERSENNE - 1) + 1);
            b.push(splitmix(&mut s) % MERSENNE);
        }
        Signer { bands, rows, ngram, seed: splitmix(&mut s), a, b }
    }

    /// The `bands × rows` MinHash signature of `text`, or `None` when it
    /// has no words after normalisation.
    // The index loop over the permutations is the hot loop; it vectorises as is.
    #[allow(clippy::needless_range_loop)]
    pub fn signature(&self, text: &str, shingles: &mut Vec<u64>) -> Option<Vec<u64>> {
        let simple = simplify(text);
        let w = words(&simple);
        shingle_hashes(&w, self.ngram, self.seed, shingles);
        if shingles.is_empty() {
            return None;
        }
        shingles.sort_unstable();
        shingles.dedup();
        let n = self.a.len();
        let mut sig = vec![u64::MAX; n];
        for &h in shingles.iter() {
            let h = (h & MERSENNE) as u128;
            for i in 0..n {
                let v = mod_mersenne(self.a[i] as u128 * h + self.b[i] as u128);
                if v < sig[i] {
                    sig[i] = v;
                }
            }
        }
        Some(sig)
    }

    /// One hash per band: the band's `rows` minima hashed together (the
    /// band index is mixed in so equal rows in different bands differ).
    pub fn band_hashes(&self, sig: &[u64]) -> Vec<u64> {
        let mut buf = Vec::with_capacity(self.rows * 8);
        (0..self.bands)
            .map(|band| {
                buf.clear();
                for v in &sig[band * self.rows..(band + 1) * self.rows] {
                    buf.extend_from_slice(&v.to_le_bytes());
                }
                xxhash_rust::xxh3::xxh3_64_with_seed(&buf, self.seed ^ band as u64)
            })
            .collect()
    }
}

/// A document's hash in one band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct BandRec {
    band: u32,
    hash: u64,
    pos: u128,
    task: u32,
    idx: u64,
}

impl Record for BandRec {
    const SIZE: usize = 40;
    fn put(&self, o: &mut [u8]) {
        o[0..4].copy_from_slice(&self.band.to_le_bytes());
        o[4..12].copy_from_slice(&self.hash.to_le_bytes());
        o[12..28].copy_from_slice(&self.pos.to_le_bytes());
        o[28..32].copy_from_slice(&self.task.to_le_bytes());
        o[32..40].copy_from_slice(&self.idx.to_le_bytes());
    }
    fn get(b: &[u8]) -> Self {
        BandRec { band: u32_at(b, 0), hash: u64_at(b, 4), pos: u128_at(b, 12), task: u32_at(b, 28), idx: u64_at(b, 32) }
    }
}

/// Two documents in one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Edge {
    a: (u32, u64),
    b: (u32, u64),
}

impl Record for Edge {
    const SIZE: usize = 24;
    fn put(&self, o: &mut [u8]) {
        o[0..4].copy_from_slice(&self.a.0.to_le_bytes());
        o[4..12].copy_from_slice(&self.a.1.to_le_bytes());
        o[12..16].copy_from_slice(&self.b.0.to_le_bytes());
        o[16..24].copy_from_slice(&self.b.1.to_le_bytes());
    }
    fn get(b: &[u8]) -> Self {
        Edge { a: (u32_at(b, 0), u64_at(b, 4)), b: (u32_at(b, 12), u64_at(b, 16)) }
    }
}

/// The `minhash_dedup` global stage.
pub struct MinHashDedup {
    pub cfg: MinHashConfig,
}

impl MinHashDedup {
    fn groups(&self) -> usize {
        self.cfg.band_groups.unwrap_or(self.cfg.bands).clamp(1, self.cfg.bands)
    }

    pub fn signer(&self, cx: &GlobalContext) -> Signer {
        Signer::new(self.cfg.bands, self.cfg.rows, self.cfg.ngram, self.cfg.seed.unwrap_or(cx.seed))
    }

    fn group_path(cx: &GlobalContext, task: usize, group: usize) -> PathBuf {
        cx.dir.join(format!("{task:05}-group{group:04}.bin"))
    }

    fn buckets(&self, cx: &GlobalContext) -> Result<()> {
        let u = cx.unit;
        let mut edges = RecWriter::<Edge>::create(&cx.dir.join(format!("{u:05}-edges.bin")))?;
        let mut spills = 0;
        let mut records = 0u64;
        // One sort for the group's bands: by (band, hash, position).
        let mut sorter = ExtSorter::<BandRec>::new(&cx.dir, format!("{u:05}-sort"), self.cfg.memory_budget.0);
        for t in 0..cx.tasks {
            let mut r = RecReader::<BandRec>::open(&Self::group_path(cx, t, u))?;
            while let Some(x) = r.next_rec()? {
                sorter.push(x)?;
                records += 1;
            }
        }
        let mut sorted = sorter.finish()?;
        spills += sorted.spills;
        let mut anchor: Option<BandRec> = None;
        while let Some(x) = sorted.next_rec()? {
            match anchor {
                Some(a) if a.hash == x.hash && a.band == x.band => edges.push(&Edge { a: (a.task, a.idx), b: (x.task, x.idx) })?,
                _ => anchor = Some(x),
            }
        }
        let n = edges.commit()?;
        let stats = json!({"records": records, "edges": n, "spill_runs": spills});
        write_json(&cx.dir.join(format!("{u:05}-buckets.json")), &stats)
    }

    fn clusters(&self, cx: &GlobalContext) -> Result<()> {
        let tables = DocTables::load(&cx.dir, cx.tasks)?;
        let mut offsets = Vec::with_capacity(cx.tasks + 1);
        let mut pos = Vec::with_capacity(tables.total() as usize);
        for t in &tables.tasks {
            offsets.push(pos.len() as u64);
            pos.extend(t.iter().map(|d| d.pos));
        }
        let n = pos.len();
        let gid = |(t, i): (u32, u64)| (offsets[t as usize] + i) as usize;
        let mut parent: Vec<usize> = (0..n).collect();
        fn find(p: &mut [usize], mut x: usize) -> usize {
            while p[x] != x {
                p[x] = p[p[x]];
                x = p[x];
            }
            x
        }
        let mut stats = Vec::new();
        for u in 0..self.groups() {
            let mut r = RecReader::<Edge>::open(&cx.dir.join(format!("{u:05}-edges.bin")))?;
            while let Some(e) = r.next_rec()? {
                let (ra, rb) = (find(&mut parent, gid(e.a)), find(&mut parent, gid(e.b)));
                if ra != rb {
                    // the root is always the member first seen in input
                    // order, whatever order the edges come in
                    let (lo, hi) = if (pos[ra], ra) < (pos[rb], rb) { (ra, rb) } else { (rb, ra) };
                    parent[hi] = lo;
                }
            }
            let s = std::fs::read(cx.dir.join(format!("{u:05}-buckets.json"))).ok();
            stats.push(s.and_then(|s| serde_json::from_slice::<serde_json::Value>(&s).ok()).unwrap_or_default());
        }
        let mut size: HashMap<usize, u64> = HashMap::new();
        let mut removals = RecWriter::<Removal>::create(&cx.dir.join("00000-removed.bin"))?;
        let mut removed = 0u64;
        for (t, table) in tables.tasks.iter().enumerate() {
            for i in 0..table.len() {
                let g = offsets[t] as usize + i;
                let r = find(&mut parent, g);
                if r != g {
                    *size.entry(r).or_insert(1) += 1;
                    removals.push(&Removal { task: t as u32, idx: i as u64 })?;
                    removed += 1;
                }
            }
        }
        removals.commit()?;
        let mut hist = BTreeMap::new();
        for s in size.values() {
            *hist.entry(*s).or_insert(0u64) += 1;
        }
        // The largest clusters, with up to three removed members each (the
        // first seen), for the report.
        let mut roots: Vec<(u64, u128, usize)> = size.iter().map(|(&r, &s)| (s, pos[r], r)).collect();
        roots.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        roots.truncate(self.cfg.report_largest);
        let wanted: HashSet<usize> = roots.iter().map(|r| r.2).collect();
        let mut members: HashMap<usize, Vec<(u128, usize)>> = HashMap::new();
        #[allow(clippy::needless_range_loop)] // `find` mutates `parent` while `g` indexes `pos`
        for g in 0..n {
            let r = find(&mut parent, g);
            if r != g && wanted.contains(&r) {
                members.entry(r).or_default().push((pos[g], g));
            }
        }
        let addr = |g: usize| {
            let t = offsets.partition_point(|&o| o <= g as u64) - 1;
            (t as u32, g as u64 - offsets[t])
        };
        let largest: Vec<ClusterSummary> = roots
            .iter()
            .map(|&(s, p, r)| {
                let mut m = members.remove(&r).unwrap_or_default();
                m.sort_unstable();
                ClusterSummary { size: s, kept_pos: p, kept: addr(r), examples: m.iter().take(3).map(|x| addr(x.1)).collect() }
            })
            .collect();
        let (b, r) = (self.cfg.bands, self.cfg.rows);
        let mut extra = serde_json::Map::new();
        extra.insert(
            "parameters".into(),
            json!({"bands": b, "rows": r, "ngram": self.cfg.ngram, "threshold": (1.0 / b as f64).powf(1.0 / r as f64), "band_groups": self.groups()}),
        );
        extra.insert("s_curve".into(), s_curve_table(b, r).into_iter().map(|(j, p)| json!([j, p])).collect::<Vec<_>>().into());
        extra.insert("buckets".into(), stats.into());
        let counts = ReportCounts { method: "minhash", documents: n as u64, removed, clusters: size.len() as u64, histogram: hist };
        write_report(cx, "clusters", counts, &largest, &tables, extra)?;
        Ok(())
    }
}

pub(crate) fn write_json(path: &std::path::Path, v: &serde_json::Value) -> Result<()> {
    use std::io::Write;
    let mut f = sluice_pipeline::output::AtomicFile::create(path)?;
    f.write_all(&serde_json::to_vec_pretty(v).expect("json")).map_err(|e| io_err(path, e))?;
    f.commit()
}

struct MinHashObserver {
    signer: Arc<Signer>,
    table: DocTableWriter,
    groups: Vec<RecWriter<BandRec>>,
    task: u32,
}

impl Observer for MinHashObserver {
    fn observe(&mut self, docs: &[Document]) -> Result<()> {
        let signer = &self.signer;
        let bands: Vec<Option<Vec<u64>>> =
            docs.par_iter().map_init(Vec::new, |buf, d| signer.signature(&d.text, buf).map(|s| signer.band_hashes(&s))).collect();
        for (d, bh) in docs.iter().zip(bands) {
            let idx = self.table.push(d)?;
            if let Some(bh) = bh {
                let groups = self.groups.len();
                for (band, h) in bh.into_iter().enumerate() {
                    self.groups[band % groups].push(&BandRec { band: band as u32, hash: h, pos: d.pos.key(), task: self.task, idx })?;
                }
            }
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<()> {
        self.table.commit()?;
        for w in self.groups {
            w.commit()?;
        }
        Ok(())
    }
}

impl GlobalStage for MinHashDedup {
    fn observer(&self, cx: &GlobalContext) -> Result<Box<dyn Observer>> {
        let groups = (0..self.groups()).map(|g| RecWriter::create(&Self::group_path(cx, cx.unit, g))).collect::<Result<_>>()?;
        Ok(Box::new(MinHashObserver {
            signer: Arc::new(self.signer(cx)),
            table: DocTableWriter::create(&cx.dir, cx.unit)?,
            groups,
            task: cx.unit as u32,
        }))
    }

    fn steps(&self, _tasks: usize) -> Vec<GlobalStep> {
        vec![GlobalStep { name: "buckets".into(), units: self.groups() }, GlobalStep { name: "clusters".into(), units: 1 }]
    }

    fn run_step(&self, step: usize, cx: &GlobalContext) -> Result<()> {
        match step {
            0 => self.buckets(cx),
            1 => self.clusters(cx),
            _ => Err(sluice_pipeline::Error::Stage { node: cx.node.clone(), message: format!("internal: no step {step}") }),
        }
    }

    fn decider(&self, cx: &GlobalContext) -> Result<Box<dyn StreamStage>> {
        let removed = load_removals(&[cx.dir.join("00000-removed.bin")], cx.unit)?;
        Ok(Box::new(RemovalDecider::new(vec![(removed, "minhash_duplicate".into())])))
    }
}

impl sluice_pipeline::component::Component for MinHashConfig {
    const KIND: &'static str = "minhash_dedup";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Stage;
    const ABOUT: &'static str =
        "MinHash LSH fuzzy dedup (global): word 5-gram shingles, 14 bands x 8 rows, keeps the first seen of each cluster; cluster report";

    fn validate(&self) -> Vec<(String, String)> {
        MinHashConfig::validate(self)
    }

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        let _ = cx;
        Ok(sluice_pipeline::component::Built::global(MinHashConfig::build(self)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mersenne_reduction_is_exact() {
        let mut s = 7u64;
        for _ in 0..10_000 {
            let x = (splitmix(&mut s) as u128) * (splitmix(&mut s) as u128 >> 3);
            assert_eq!(mod_mersenne(x) as u128, x % MERSENNE as u128);
        }
        assert_eq!(mod_mersenne(MERSENNE as u128), 0);
    }

    #[test]
    fn signature_agreement_estimates_jaccard() {
        let signer = Signer::new(32, 8, 1, 3);
        // digits normalise to 0, so words are spelled in letters
        let word = |i: usize| {
            format!("w{}{}{}", (b'a' + (i / 676) as u8) as char, (b'a' + (i / 26 % 26) as u8) as char, (b'a' + (i % 26) as u8) as char)
        };
        let a: Vec<String> = (0..400).map(word).collect();
        // B shares 300 of A's 400 words and adds 100: J = 300/500 = 0.6
        let b: Vec<String> = (100..500).map(word).collect();
        let mut buf = Vec::new();
        let sa = signer.signature(&a.join(" "), &mut buf).unwrap();
        let sb = signer.signature(&b.join(" "), &mut buf).unwrap();
        let agree = sa.iter().zip(&sb).filter(|(x, y)| x == y).count() as f64 / sa.len() as f64;
        assert!((agree - 0.6).abs() < 0.08, "{agree}");
        assert!(signer.signature("  ,,, ", &mut buf).is_none());
    }

    #[test]
    fn s_curve_has_the_expected_shape() {
        assert!(s_curve(0.65, 14, 8) < 0.5 && s_curve(0.7, 14, 8) > 0.5);
        assert!(s_curve(0.9, 14, 8) > 0.99);
        assert!(s_curve(0.3, 14, 8) < 0.001);
        let t = s_curve_table(14, 8);
        assert_eq!(t.first().unwrap().0, 0.3);
        assert_eq!(t.last().unwrap().0, 1.0);
    }

    #[test]
    fn config_defaults_and_validation() {
        let c = MinHashConfig::default();
        assert_eq!((c.bands, c.rows, c.ngram), (14, 8, 5));
        assert!(c.validate().is_empty());
        let bad: MinHashConfig = serde_json::from_value(json!({"bands": 0, "band_groups": 3})).unwrap();
        assert_eq!(bad.validate().len(), 2);
        assert!(serde_json::from_value::<MinHashConfig>(json!({"bandz": 1})).is_err());
        let c: MinHashConfig = serde_json::from_value(json!({"memory_budget": "1MiB"})).unwrap();
        assert_eq!(c.memory_budget.0, 1 << 20);
    }
}
