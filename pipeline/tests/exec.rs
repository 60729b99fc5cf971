//! Executor tests on in-memory components: ordering, fan-in/fan-out,
//! stream stages, backpressure and failure.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use std::collections::BTreeMap;

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

/// Keeps documents whose record number (from the id) is even.
struct Even;
impl DocStage for Even {
    fn process(&self, d: &mut Document) -> Verdict {
        let n: usize = d.id.rsplit('r').next().unwrap().parse().unwrap();
        if n.is_multiple_of(2) {
            d.attributes.insert("n".into(), n as f64);
            Verdict::Keep
        } else {
            Verdict::Drop("odd".into())
        }
    }
}

/// How often a [`Words`] stage was prepared and computed its word count.
#[derive(Default)]
struct Calls {
    prepared: AtomicUsize,
    computed: AtomicUsize,
}

/// The word count of the text, shared through the scratch.
struct WordCount(usize);

/// Writes the word count as attribute `words` (a counted attribute), taking
/// it from the scratch when an earlier stage of its chain computed it; then
/// appends `append` to the text.
struct Words {
    calls: Arc<Calls>,
    append: String,
}
impl DocStage for Words {
    fn process(&self, d: &mut Document) -> Verdict {
        self.process_with(d, &mut Scratch::default())
    }
    fn process_with(&self, d: &mut Document, scratch: &mut Scratch) -> Verdict {
        let text = &d.text;
        let n = scratch
            .get_or_insert_with(text, || {
                self.calls.computed.fetch_add(1, Ordering::Relaxed);
                WordCount(text.split(' ').count())
            })
            .0;
        d.attributes.insert("words".into(), n as f64);
        d.text.push_str(&self.append);
        Verdict::Keep
    }
    fn prepare(&self, _: &TaskContext) -> Result<()> {
        self.calls.prepared.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    fn counted_attributes(&self) -> Vec<String> {
        vec!["words".into()]
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
    calls: Mutex<std::collections::HashMap<String, Arc<Calls>>>,
    fail_at: Option<usize>,
}

impl Registry for Reg {
    fn kinds(&self, role: Role) -> Vec<&'static str> {
        match role {
            Role::Reader => vec!["gen"],
            Role::Stage => vec!["even", "reverse", "words"],
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
    fn build_stage(&self, kind: &str, v: &Value, cx: &BuildContext) -> Result<StageImpl, Vec<Diagnostic>> {
        Ok(match kind {
            "even" => StageImpl::Doc(Arc::new(Even)),
            "words" => {
                let calls = Arc::new(Calls::default());
                self.calls.lock().unwrap().insert(cx.name.to_string(), calls.clone());
                StageImpl::Doc(Arc::new(Words { calls, append: v["append"].as_str().unwrap_or("").to_string() }))
            }
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
    let reg = Reg { sinks: Mutex::new(Default::default()), calls: Mutex::new(Default::default()), fail_at };
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

/// A chain of three document stages (the middle one drops, with
/// exclusions) whose tail fans out to a stream stage, a document stage and
/// a writer.
const CHAIN: &str = "
output: unused
batch_size: 7
channel_capacity: 1
readers:
  a: {kind: gen, files: 3, per_file: 50}
stages:
  tag: {kind: words, inputs: [a]}
  even: {kind: even, inputs: [tag], exclusions: {kind: collect}}
  up: {kind: words, inputs: [even]}
  rev: {kind: reverse, inputs: [up]}
  after: {kind: words, inputs: [up]}
writers:
  direct: {kind: collect, inputs: [up]}
  reversed: {kind: collect, inputs: [rev]}
  late: {kind: collect, inputs: [after]}
";

/// What a run of `text` gave: its stats (timings zeroed), what each sink
/// received (exclusions under the stage's name) and each `words` stage's
/// calls as (prepared, computed).
type Outcome = (Vec<sluice_pipeline::stats::NodeStats>, Ids, BTreeMap<String, (usize, usize)>);
type Ids = std::collections::HashMap<String, Vec<String>>;

fn run_chain(text: &str, threads: usize, tasks: usize, fuse: bool) -> Outcome {
    let reg = Reg { sinks: Mutex::new(Default::default()), calls: Mutex::new(Default::default()), fail_at: None };
    let dir = tempfile::tempdir().unwrap();
    let recipe = compile(text, &reg).unwrap();
    let opts = RunOptions { threads, tasks, fuse, output: Some(dir.path().join("out")), ..Default::default() };
    let summary = run(&recipe, &opts).unwrap();
    assert!(summary.complete);
    let mut stats = summary.stats.nodes;
    for s in &mut stats {
        assert!(s.cpu_secs >= 0.0 && s.wall_secs >= 0.0, "{s:?}");
        s.cpu_secs = 0.0;
        s.wall_secs = 0.0;
    }
    let ids = reg.sinks.lock().unwrap().iter().map(|(k, c)| (k.clone(), c.ids.lock().unwrap().clone())).collect();
    let calls = reg
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|(k, c)| (k.clone(), (c.prepared.load(Ordering::Relaxed), c.computed.load(Ordering::Relaxed))))
        .collect();
    (stats, ids, calls)
}

#[test]
fn a_chain_of_document_stages_runs_as_one_node_with_per_stage_stats() {
    let reg = Reg { sinks: Mutex::new(Default::default()), calls: Mutex::new(Default::default()), fail_at: None };
    let recipe = compile(CHAIN, &reg).unwrap();
    let groups = sluice_pipeline::fuse::runtime_node_names(&recipe, true);
    let chain = vec!["tag".to_string(), "even".into(), "up".into()];
    assert!(groups.contains(&chain), "{groups:?}");
    // Everything else runs alone: `after` has one input, but `up` has three
    // consumers.
    assert_eq!(groups.len(), recipe.nodes.len() - 2, "{groups:?}");
    let unfused = sluice_pipeline::fuse::runtime_node_names(&recipe, false);
    assert_eq!(unfused.len(), recipe.nodes.len());

    let (stats, ids, calls) = run_chain(CHAIN, 1, 1, false);
    let node = |n: &str| stats.iter().find(|s| s.name == n).unwrap().clone();
    assert_eq!(node("tag").docs_in, 150);
    assert_eq!(node("even").dropped["odd"], 75);
    assert_eq!(node("up").docs_in, 75);
    assert_eq!(node("up").sums["words"], 75.0);
    assert_eq!(ids["even"].len(), 75);
    assert_eq!(ids["direct"].len(), 75);
    // Unfused, every stage has a fresh scratch: `up` counts again.
    assert_eq!(calls["tag"], (1, 150));
    assert_eq!(calls["up"], (1, 75));

    for (threads, tasks) in [(1, 1), (2, 1), (4, 1), (2, 2)] {
        let (fstats, fids, fcalls) = run_chain(CHAIN, threads, tasks, true);
        let (ustats, uids, _) = run_chain(CHAIN, threads, tasks, false);
        assert_eq!(fstats, ustats, "threads={threads} tasks={tasks}");
        assert_eq!(fids, uids, "threads={threads} tasks={tasks}");
        if tasks == 1 {
            assert_eq!(fstats, stats, "threads={threads}");
            assert_eq!(fids, ids, "threads={threads}");
        }
        // Fused, `up` finds the count `tag` left in the shared scratch;
        // `after` runs on its own and counts again. Each stage is prepared
        // once per task.
        assert_eq!(fcalls["tag"], (tasks, 150), "threads={threads} tasks={tasks}");
        assert_eq!(fcalls["up"], (tasks, 0), "threads={threads} tasks={tasks}");
        assert_eq!(fcalls["after"], (tasks, 75), "threads={threads} tasks={tasks}");
    }

    // A stage that rewrites the text makes the scratch stale: the next one
    // counts again, and sees the new text.
    let rewrite = CHAIN.replace("tag: {kind: words, inputs: [a]}", "tag: {kind: words, inputs: [a], append: \" x\"}");
    let (fstats, fids, fcalls) = run_chain(&rewrite, 2, 1, true);
    let (ustats, uids, _) = run_chain(&rewrite, 2, 1, false);
    assert_eq!(fstats, ustats);
    assert_eq!(fids, uids);
    assert_eq!(fcalls["tag"], (1, 150));
    assert_eq!(fcalls["up"], (1, 75));
    let node = |n: &str| fstats.iter().find(|s| s.name == n).unwrap().clone();
    assert_eq!(node("up").sums["words"], 150.0);
    assert_eq!(node("tag").bytes_out, node("tag").bytes_in + 2 * 150);
}
