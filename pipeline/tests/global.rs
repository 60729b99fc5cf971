//! Global stages across phases: observe in every task, steps split into
//! units, decide by replaying each task's documents. The result must not
//! depend on the task count, the thread count or how the units are run.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use sluice_pipeline::output::AtomicFile;
use sluice_pipeline::stage::{InputFile, RecordIter};
use sluice_pipeline::*;

/// `files` files of `per_file` records; the text repeats every `period`
/// records across the whole input, so most documents are duplicates of one
/// that an earlier file holds.
struct Gen {
    files: usize,
    per_file: usize,
    period: usize,
    source: Arc<str>,
}

impl Reader for Gen {
    fn files(&self) -> Result<Vec<InputFile>> {
        // uneven sizes so that the task split does not follow file order
        Ok((0..self.files)
            .map(|f| InputFile { path: format!("mem/{f:02}").into(), rel: format!("{f:02}"), size: 100 + (f as u64 * 37) % 101 })
            .collect())
    }
    fn open<'a>(&'a self, file: &'a InputFile) -> Result<RecordIter<'a>, RecordError> {
        let f: usize = file.rel.parse().unwrap();
        let (per_file, period, source) = (self.per_file, self.period, self.source.clone());
        Ok(Box::new((0..per_file).map(move |i| {
            let n = f * per_file + i;
            let d = Document::new(format!("f{f}-r{i}"), format!("text {}", n % period), source.clone());
            Ok(RawRecord { loc: Locator::Line(i as u64 + 1), payload: Payload::Doc(d) })
        })))
    }
}

fn hash(s: &str) -> u64 {
    xxhash(s.as_bytes())
}

fn xxhash(b: &[u8]) -> u64 {
    // FNV-1a: enough for a test, no dependency
    b.iter().fold(0xcbf29ce484222325u64, |h, &x| (h ^ x as u64).wrapping_mul(0x100000001b3))
}

/// Keeps the first copy (in input order) of each text.
struct FirstSeen {
    units: usize,
}

struct SeenObserver {
    path: PathBuf,
    min: BTreeMap<u64, u128>,
}

impl Observer for SeenObserver {
    fn observe(&mut self, docs: &[Document]) -> Result<()> {
        for d in docs {
            let e = self.min.entry(hash(&d.text)).or_insert(u128::MAX);
            *e = (*e).min(d.pos.key());
        }
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<()> {
        write_map(&self.path, &self.min)
    }
}

fn write_map(path: &Path, m: &BTreeMap<u64, u128>) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    for (k, v) in m {
        writeln!(f, "{k} {v}").unwrap();
    }
    f.commit()
}

fn read_map(path: &Path, into: &mut BTreeMap<u64, u128>) {
    for line in fs::read_to_string(path).unwrap().lines() {
        let (k, v) = line.split_once(' ').unwrap();
        let e = into.entry(k.parse().unwrap()).or_insert(u128::MAX);
        *e = (*e).min(v.parse().unwrap());
    }
}

struct Decide(BTreeMap<u64, u128>);

impl StreamStage for Decide {
    fn process(&mut self, batch: Batch, out: &mut StageOutput) -> Result<()> {
        for d in batch.docs {
            if self.0[&hash(&d.text)] == d.pos.key() {
                out.keep(d);
            } else {
                out.drop(d, "duplicate");
            }
        }
        Ok(())
    }
    fn finish(&mut self, _: &mut StageOutput) -> Result<()> {
        Ok(())
    }
}

impl GlobalStage for FirstSeen {
    fn observer(&self, cx: &GlobalContext) -> Result<Box<dyn Observer>> {
        Ok(Box::new(SeenObserver { path: cx.dir.join(format!("{:05}-seen.txt", cx.unit)), min: BTreeMap::new() }))
    }
    fn steps(&self, _tasks: usize) -> Vec<GlobalStep> {
        vec![GlobalStep { name: "merge".into(), units: self.units }]
    }
    fn run_step(&self, step: usize, cx: &GlobalContext) -> Result<()> {
        assert_eq!(step, 0);
        let mut all = BTreeMap::new();
        for t in 0..cx.tasks {
            read_map(&cx.dir.join(format!("{t:05}-seen.txt")), &mut all);
        }
        all.retain(|k, _| (*k as usize) % self.units == cx.unit);
        write_map(&cx.dir.join("merge").join(format!("{:05}-min.txt", cx.unit)), &all)?;
        fs::write(cx.reports.join(format!("unit-{}.json", cx.unit)), "{\"kind\":\"test\"}").unwrap();
        Ok(())
    }
    fn decider(&self, cx: &GlobalContext) -> Result<Box<dyn StreamStage>> {
        let mut all = BTreeMap::new();
        for u in 0..self.units {
            read_map(&cx.dir.join("merge").join(format!("{u:05}-min.txt")), &mut all);
        }
        Ok(Box::new(Decide(all)))
    }
}

/// Upper-cases the text (a document-wise stage after the global one).
struct Upper;
impl DocStage for Upper {
    fn process(&self, d: &mut Document) -> Verdict {
        d.text = d.text.to_uppercase();
        Verdict::Keep
    }
}

/// Writes `{task:05}-00000.txt` files: one "id\ttext" line per document.
struct Lines;
struct LinesSink(AtomicFile, PathBuf);
impl SinkFactory for Lines {
    fn open(&self, cx: &SinkContext) -> Result<Box<dyn Sink>> {
        let p = cx.shard_path(0, "txt");
        Ok(Box::new(LinesSink(AtomicFile::create(&p)?, p)))
    }
    fn extension(&self) -> &str {
        "txt"
    }
}
impl Sink for LinesSink {
    fn write(&mut self, docs: &[Document]) -> Result<()> {
        for d in docs {
            writeln!(self.0, "{}\t{}", d.id, d.text).unwrap();
        }
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<Vec<PathBuf>> {
        self.0.commit()?;
        Ok(vec![self.1])
    }
}

struct Reg;
impl Registry for Reg {
    fn kinds(&self, role: Role) -> Vec<&'static str> {
        match role {
            Role::Reader => vec!["gen"],
            Role::Stage => vec!["first_seen", "upper"],
            Role::Writer => vec!["lines"],
        }
    }
    fn build_reader(&self, _: &str, v: &Value, cx: &BuildContext) -> Result<Arc<dyn Reader>, Vec<Diagnostic>> {
        Ok(Arc::new(Gen {
            files: v["files"].as_u64().unwrap_or(7) as usize,
            per_file: v["per_file"].as_u64().unwrap_or(300) as usize,
            period: v["period"].as_u64().unwrap_or(500) as usize,
            source: Arc::from(cx.source),
        }))
    }
    fn build_stage(&self, kind: &str, v: &Value, _: &BuildContext) -> Result<StageImpl, Vec<Diagnostic>> {
        Ok(match kind {
            "first_seen" => StageImpl::Global(Arc::new(FirstSeen { units: v["units"].as_u64().unwrap_or(3) as usize })),
            _ => StageImpl::Doc(Arc::new(Upper)),
        })
    }
    fn build_writer(&self, _: &str, _: &Value, _: &BuildContext) -> Result<Arc<dyn SinkFactory>, Vec<Diagnostic>> {
        Ok(Arc::new(Lines))
    }
}

fn recipe(out: &Path) -> Recipe {
    let yaml = format!(
        r#"
output: {}
batch_size: 64
readers:
  gen: {{kind: gen}}
stages:
  dedup: {{kind: first_seen, inputs: [gen], exclusions: {{kind: lines}}}}
  upper: {{kind: upper, inputs: [dedup]}}
writers:
  kept: {{kind: lines, inputs: [upper]}}
  raw: {{kind: lines, inputs: [gen]}}
"#,
        out.display()
    );
    compile(&yaml, &Reg).unwrap()
}

/// Every line written under `dir`, sorted.
fn lines(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "txt") {
            out.extend(fs::read_to_string(p).unwrap().lines().map(String::from));
        }
    }
    out
}

fn opts(tasks: usize, threads: usize) -> RunOptions {
    RunOptions { tasks, threads, ..Default::default() }
}

#[test]
fn phases_follow_the_global_stage() {
    let d = tempfile::tempdir().unwrap();
    let r = recipe(&d.path().join("o"));
    let keys: Vec<(String, usize)> = phase::phases(&r, 4).into_iter().map(|p| (p.key, p.units)).collect();
    assert_eq!(keys, vec![("s0".into(), 4), ("dedup.merge".into(), 3), ("s1".into(), 4)]);
    assert_eq!(r.node("raw").unwrap().segment, 0);
    assert_eq!(r.node("dedup").unwrap().segment, 0);
    assert_eq!(r.node("upper").unwrap().segment, 1);
    assert_eq!(r.node("kept").unwrap().segment, 1);
}

#[test]
fn result_is_independent_of_tasks_and_threads() {
    let d = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    for (tasks, threads) in [(1, 1), (3, 2), (5, 1)] {
        let out = d.path().join(format!("o{tasks}-{threads}"));
        let s = run(&recipe(&out), &opts(tasks, threads)).unwrap();
        assert!(s.complete);
        let kept = lines(&out.join("kept"));
        let excluded = lines(&out.join("excluded/dedup"));
        // 7 files x 300 records, 500 distinct texts: the first 500 records
        // in input order are kept, upper-cased.
        assert_eq!(kept.len(), 500, "tasks {tasks}");
        assert!(kept.contains("f0-r0\tTEXT 0") && kept.contains("f1-r199\tTEXT 499"));
        assert_eq!(excluded.len(), 2100 - 500);
        assert_eq!(lines(&out.join("raw")).len(), 2100);
        let dedup = s.stats.nodes.iter().find(|n| n.name == "dedup").unwrap();
        assert_eq!((dedup.docs_in, dedup.docs_out, dedup.dropped["duplicate"]), (2100, 500, 1600));
        // replayed documents are removed once their task is done
        assert_eq!(fs::read_dir(out.join("_sluice/replay/dedup")).unwrap().count(), 0);
        assert!(out.join("reports/dedup/unit-0.json").is_file());
        seen.push((kept, excluded));
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn phases_run_unit_by_unit_in_any_order_and_in_order_only() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("o");
    let r = recipe(&out);
    let unit = |phase: &str, task: usize| RunOptions { phase: Some(phase.into()), task: Some(task), tasks: 4, ..Default::default() };
    // without --phase, --task is ambiguous for a multi-phase recipe
    let e = run(&r, &RunOptions { task: Some(0), tasks: 4, ..Default::default() }).unwrap_err().to_string();
    assert!(e.contains("3 phases") && e.contains("--phase"), "{e}");
    for t in [2, 0, 3] {
        run(&r, &unit("s0", t)).unwrap();
    }
    let e = run(&r, &unit("dedup.merge", 0)).unwrap_err().to_string();
    assert!(e.contains("needs phase `s0`") && e.contains("[1]"), "{e}");
    run(&r, &unit("s0", 1)).unwrap();
    let e = run(&r, &unit("dedup.merge", 3)).unwrap_err().to_string();
    assert!(e.contains("has 3 units"), "{e}");
    for u in [2, 1, 0] {
        run(&r, &unit("dedup.merge", u)).unwrap();
    }
    let mut last = None;
    for t in [3, 1, 0, 2] {
        last = Some(run(&r, &unit("2", t)).unwrap()); // by index
    }
    assert!(last.unwrap().complete);
    // a re-run skips everything
    let again = run(&r, &opts(4, 1)).unwrap();
    assert!(again.ran.is_empty() && again.skipped.len() == 4 + 3 + 4);

    let reference = d.path().join("ref");
    run(&recipe(&reference), &opts(1, 1)).unwrap();
    assert_eq!(lines(&out.join("kept")), lines(&reference.join("kept")));
}

#[test]
fn a_node_cannot_mix_segments() {
    let yaml = r#"
output: /tmp/never
readers:
  gen: {kind: gen}
stages:
  dedup: {kind: first_seen, inputs: [gen]}
writers:
  both: {kind: lines, inputs: [dedup, gen]}
"#;
    let e = compile(yaml, &Reg).err().unwrap().to_string();
    assert!(e.contains("writers.both.inputs") && e.contains("mixes documents from before and after a global stage"), "{e}");
}
