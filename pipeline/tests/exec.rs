//! Executor tests on in-memory components: ordering, fan-in/fan-out,
//! stream stages, backpressure and failure.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use sluice_pipeline::stage::{InputFile, RecordIter};
use sluice_pipeline::*;

/// `files` files of `per_file` records each; record text is "f{file}-r{i}".
struct Gen {
    files: usize,
    per_file: usize,
    source: Arc<str>,
    fail_at: Option<usize>,
}

impl Reader for Gen {
    fn files(&self) -> Result<Vec<InputFile>> {
        Ok((0..self.files).map(|f| InputFile { path: format!("mem/{f}").into(), rel: format!("{f}"), size: 100 }).collect())
    }
    fn open<'a>(&'a self, file: &'a InputFile) -> Result<RecordIter<'a>, RecordError> {
        let f: usize = file.rel.parse().unwrap();
        let fail_at = self.fail_at;
        let source = self.source.clone();
        Ok(Box::new((0..self.per_file).map(move |i| {
            if fail_at == Some(i) {
                return Err(RecordError::new(file.display(), Locator::Line(i as u64 + 1), "invalid_json", "bad"));
            }
            let d = Document::new(format!("{source}-f{f}-r{i}"), format!("f{f}-r{i}"), source.clone());
            Ok(RawRecord { loc: Locator::Line(i as u64 + 1), payload: Payload::Doc(d) })
        })))
    }
}

/// Keeps documents whose record number is even.
struct Even;
impl DocStage for Even {
    fn process(&self, d: &mut Document) -> Verdict {
        let n: usize = d.text.rsplit('r').next().unwrap().parse().unwrap();
        if n % 2 == 0 {
            d.attributes.insert("n".into(), n as f64);
            Verdict::Keep
        } else {
            Verdict::Drop("odd".into())
        }
    }
}

/// A barrier: buffers everything, emits it reversed at the end.
struct Reverse;
struct ReverseState(Vec<Document>);
impl StreamStageFactory for Reverse {
    fn create(&self, _: &TaskContext) -> Result<Box<dyn StreamStage>> {
        Ok(Box::new(ReverseState(Vec::new())))
    }
}
impl StreamStage for ReverseState {
    fn process(&mut self, batch: Batch, _: &mut StageOutput) -> Result<()> {
        self.0.extend(batch.docs);
        Ok(())
    }
    fn finish(&mut self, out: &mut StageOutput) -> Result<()> {
        while let Some(d) = self.0.pop() {
            out.keep(d);
        }
        Ok(())
    }
}

/// Collects written ids in memory, optionally slowly, optionally failing.
#[derive(Clone, Default)]
struct Collect {
    ids: Arc<Mutex<Vec<String>>>,
    slow: bool,
    fail_after: Option<usize>,
}
struct CollectSink(Collect, usize);
impl SinkFactory for Collect {
    fn open(&self, _: &SinkContext) -> Result<Box<dyn Sink>> {
        Ok(Box::new(CollectSink(self.clone(), 0)))
    }
    fn extension(&self) -> &str {
        "mem"
    }
}
impl Sink for CollectSink {
    fn write(&mut self, docs: &[Document]) -> Result<()> {
        self.1 += docs.len();
        if self.0.fail_after.is_some_and(|n| self.1 > n) {
            return Err(Error::stage("sink", "disk full"));
        }
        if self.0.slow {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        self.0.ids.lock().unwrap().extend(docs.iter().map(|d| d.id.clone()));
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<Vec<std::path::PathBuf>> {
        Ok(vec![])
    }
}

struct Reg {
    sinks: Mutex<std::collections::HashMap<String, Collect>>,
    fail_at: Option<usize>,
}

impl Registry for Reg {
    fn kinds(&self, role: Role) -> Vec<&'static str> {
        match role {
            Role::Reader => vec!["gen"],
            Role::Stage => vec!["even", "reverse"],
            Role::Writer => vec!["collect"],
        }
    }
    fn build_reader(&self, _: &str, v: &Value, cx: &BuildContext) -> Result<Arc<dyn Reader>, Vec<Diagnostic>> {
        Ok(Arc::new(Gen {
            files: v["files"].as_u64().unwrap_or(3) as usize,
            per_file: v["per_file"].as_u64().unwrap_or(100) as usize,
            source: Arc::from(cx.source),
            fail_at: self.fail_at,
        }))
    }
    fn build_stage(&self, kind: &str, _: &Value, _: &BuildContext) -> Result<StageImpl, Vec<Diagnostic>> {
        Ok(match kind {
            "even" => StageImpl::Doc(Arc::new(Even)),
            _ => StageImpl::Stream(Arc::new(Reverse)),
        })
    }
    fn build_writer(&self, _: &str, v: &Value, cx: &BuildContext) -> Result<Arc<dyn SinkFactory>, Vec<Diagnostic>> {
        let c = Collect {
            slow: v["slow"].as_bool().unwrap_or(false),
            fail_after: v["fail_after"].as_u64().map(|n| n as usize),
            ..Default::default()
        };
        self.sinks.lock().unwrap().insert(cx.name.to_string(), c.clone());
        Ok(Arc::new(c))
    }
}

fn run_recipe(text: &str, threads: usize, fail_at: Option<usize>) -> (Result<RunSummary>, std::collections::HashMap<String, Vec<String>>) {
    let reg = Reg { sinks: Mutex::new(Default::default()), fail_at };
    let dir = tempfile::tempdir().unwrap();
    let recipe = compile(text, &reg).unwrap();
    let opts = RunOptions { threads, output: Some(dir.path().join("out")), ..Default::default() };
    let r = run(&recipe, &opts);
    let ids = reg.sinks.lock().unwrap().iter().map(|(k, c)| (k.clone(), c.ids.lock().unwrap().clone())).collect();
    (r, ids)
}

const DIAMOND: &str = "
output: unused
batch_size: 7
channel_capacity: 1
readers:
  a: {kind: gen, files: 4, per_file: 300}
  b: {kind: gen, files: 2, per_file: 50}
stages:
  even: {kind: even, inputs: [a, b]}
  rev: {kind: reverse, inputs: [a]}
writers:
  merged: {kind: collect, inputs: [even, rev]}
  evens: {kind: collect, inputs: [even], slow: true}
";

#[test]
fn diamond_with_a_barrier_completes_deterministically() {
    let (r, ids) = run_recipe(DIAMOND, 1, None);
    let summary = r.unwrap();
    assert!(summary.complete);
    let evens = &ids["evens"];
    // a's 600 even records + b's 50 even records
    assert_eq!(evens.len(), 4 * 150 + 2 * 25);
    // rev passes all 1200 records of `a`, last one first
    let merged = &ids["merged"];
    assert_eq!(merged.len(), evens.len() + 1200);
    // The barrier's output is `a` reversed, as one run in the merged stream.
    let last = merged.iter().position(|id| id == "a-f3-r299").unwrap();
    assert_eq!(merged[last + 1], "a-f3-r298");
    for threads in [2, 4] {
        let (_, again) = run_recipe(DIAMOND, threads, None);
        assert_eq!(again, ids, "threads={threads}");
    }
    // With a tiny buffer the merge spills to disk: same result.
    let (r, spilled) = run_recipe(&DIAMOND.replace("batch_size: 7", "batch_size: 7\nmerge_buffer: 1kB"), 2, None);
    r.unwrap();
    assert_eq!(spilled, ids);
    let node = |n: &str| summary.stats.nodes.iter().find(|s| s.name == n).unwrap().clone();
    assert_eq!(node("even").dropped["odd"], 650);
    assert_eq!(node("a").docs_out, 1200);
    assert_eq!(node("rev").docs_out, 1200);
}

#[test]
fn fan_in_takes_inputs_in_turn_and_keeps_file_order() {
    let (r, ids) = run_recipe(
        "output: x\nbatch_size: 10\nreaders:\n  a: {kind: gen, files: 1, per_file: 30}\n  b: {kind: gen, files: 1, per_file: 20}\nwriters:\n  w: {kind: collect, inputs: [a, b]}\n",
        3,
        None,
    );
    r.unwrap();
    let w = &ids["w"];
    let expect: Vec<String> = (0..10)
        .map(|i| format!("a-f0-r{i}"))
        .chain((0..10).map(|i| format!("b-f0-r{i}")))
        .chain((10..20).map(|i| format!("a-f0-r{i}")))
        .chain((10..20).map(|i| format!("b-f0-r{i}")))
        .chain((20..30).map(|i| format!("a-f0-r{i}")))
        .collect();
    assert_eq!(w, &expect);
}

#[test]
fn a_failing_sink_fails_the_run_without_hanging() {
    let (r, _) = run_recipe(
        "output: x\nbatch_size: 5\nchannel_capacity: 1\nreaders:\n  a: {kind: gen, files: 5, per_file: 1000}\nstages:\n  e: {kind: even, inputs: [a]}\nwriters:\n  ok: {kind: collect, inputs: [e]}\n  bad: {kind: collect, inputs: [e], fail_after: 100}\n",
        2,
        None,
    );
    let e = r.unwrap_err().to_string();
    assert!(e.contains("disk full"), "{e}");
}

#[test]
fn malformed_records_are_counted_not_fatal() {
    let (r, ids) = run_recipe(
        "output: x\nreaders:\n  a: {kind: gen, files: 3, per_file: 10}\nwriters:\n  w: {kind: collect, inputs: [a]}\n",
        2,
        Some(4),
    );
    let s = r.unwrap();
    assert_eq!(ids["w"].len(), 27);
    let a = s.stats.nodes.iter().find(|n| n.name == "a").unwrap();
    assert_eq!(a.malformed["invalid_json"], 3);
    assert_eq!(a.docs_in, 30);
}
