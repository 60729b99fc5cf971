//! The executor: one thread per node, bounded channels on every edge, and
//! rayon for the data-parallel work inside a node.
//!
//! Determinism comes from three rules:
//! - a reader emits its task's files in plan order and each file's records
//!   in file order;
//! - a document-wise stage maps each batch in parallel but collects results
//!   in input order, and emits exactly one batch per batch received; a
//!   chain of them runs as one node (see [`crate::fuse`]) whose tail emits
//!   one batch per batch its head received, the same batches the last stage
//!   would have sent alone;
//! - a node with several inputs takes one batch from each live input in
//!   turn, in the order the recipe lists them.
//!
//! None of these depends on timing, so `--threads 1` and `--threads N` give
//! the same bytes. Backpressure: every edge holds at most
//! `channel_capacity` batches; a slow writer blocks the stages before it,
//! which block the readers, so memory stays bounded whatever the input size.

use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use rayon::prelude::*;
use serde_json::Value;

use crate::doc::{Batch, DocPos, Document, Dropped};
use crate::error::{Error, RecordError, Result};
use crate::merge::Merge;
use crate::output::{AtomicFile, OutputDir, RunInfo, RunScope, TaskMarker};
use crate::phase::{Phase, PhaseKind};
use crate::plan::{PlannedFile, TaskPlan};
use crate::recipe::{Node, NodeImpl, Recipe, Role};
use crate::scratch::Scratch;
use crate::stage::{
    Decoded, GlobalContext, GlobalStage, Payload, RawRecord, Reader, Sink, SinkContext, SinkFactory, StageImpl, StageOutput, StreamStage,
    TaskContext, Verdict,
};
use crate::stats::{thread_cpu_ns, NodeStats, RunStats, TaskStats};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A bar on a terminal, log lines otherwise.
    Auto,
    /// Plain log lines on stderr.
    Log,
    Off,
}

/// Options of `sluice run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Run only this task (or unit of `phase`); `None` runs every
    /// unfinished one in turn.
    pub task: Option<usize>,
    /// Run only this phase (key such as `s0` or `dedup.buckets`, or its
    /// index); `None` runs every phase in order.
    pub phase: Option<String>,
    pub tasks: usize,
    /// Worker threads for data-parallel work.
    pub threads: usize,
    /// Fail on the first malformed record instead of counting it.
    pub strict: bool,
    pub progress: Progress,
    /// Override the recipe's output directory.
    pub output: Option<PathBuf>,
    /// Run each chain of document stages as one node (see [`crate::fuse`]).
    /// Off runs one thread per stage: the same output, the reference for
    /// tests. The environment variable `SLUICE_NO_FUSE=1` also turns it off.
    pub fuse: bool,
    /// The output directory is a local staging copy of this (object
    /// storage): it is told when to publish and when to catch up.
    pub mirror: Option<Arc<dyn OutputMirror>>,
}

/// A copy of the output directory kept elsewhere (an `s3://` prefix, see
/// `sluice-objstore`). The run writes into a local staging directory as
/// usual and calls [`push`](OutputMirror::push) after it prepared the
/// directory, after every unit and at the end;
/// [`pull`](OutputMirror::pull) before it decides whether the run is
/// complete (other processes may have finished units meanwhile).
pub trait OutputMirror: Send + Sync + std::fmt::Debug {
    /// Publish every file that changed since the last push, completion
    /// markers last.
    fn push(&self, out: &OutputDir) -> Result<()>;
    /// Bring in what other processes published.
    fn pull(&self, out: &OutputDir) -> Result<()>;
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            task: None,
            phase: None,
            tasks: 1,
            threads: 1,
            strict: false,
            progress: Progress::Off,
            output: None,
            fuse: true,
            mirror: None,
        }
    }
}

/// What `run` did.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub output: PathBuf,
    /// Units run now and units skipped as already complete, by name
    /// (`task 3`, `dedup.buckets unit 2`).
    pub ran: Vec<String>,
    pub skipped: Vec<String>,
    /// Stats merged over every task that has finished so far.
    pub stats: RunStats,
    /// True once every task of the run has its completion marker.
    pub complete: bool,
}

/// Run a compiled recipe: plan, prepare the output directory, run the
/// requested phases and units (skipping finished ones) and merge the stats.
pub fn run(recipe: &Recipe, opts: &RunOptions) -> Result<RunSummary> {
    let root = opts.output.clone().unwrap_or_else(|| recipe.output.clone());
    let usage = |message: String| Error::Output { dir: root.clone(), message };
    if opts.tasks == 0 {
        return Err(Error::Internal("--tasks must be at least 1".into()));
    }
    let phases = crate::phase::phases(recipe, opts.tasks);
    let keys = || phases.iter().map(|p| format!("{} ({} units)", p.key, p.units)).collect::<Vec<_>>().join(", ");
    let selected: Vec<&Phase> = match &opts.phase {
        Some(name) => vec![crate::phase::find(&phases, name)
            .ok_or_else(|| usage(format!("this run has no phase `{name}`; its phases are: {}", keys())))?],
        None => {
            if opts.task.is_some() && phases.len() > 1 {
                return Err(usage(format!("this recipe runs in {} phases ({}); with --task, also pass --phase", phases.len(), keys())));
            }
            phases.iter().collect()
        }
    };
    if let Some(t) = opts.task {
        if t >= selected[0].units {
            return Err(usage(if opts.phase.is_none() {
                format!("--task {t} is out of range for --tasks {}", opts.tasks)
            } else {
                format!("--task {t} is out of range: phase `{}` has {} units", selected[0].key, selected[0].units)
            }));
        }
    }
    // From here on, files this process writes under `root` are reached
    // without following links and their temporaries name the unit running
    // (see `output`).
    let scope = RunScope::enter(&root);
    let Prepared { out, plan, .. } = prepare(recipe, opts.tasks, &root)?;
    let mirror = opts.mirror.as_deref();
    if let Some(m) = mirror {
        m.push(&out)?;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.max(1))
        .thread_name(|i| format!("sluice-worker-{i}"))
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the thread pool: {e}")))?;
    let (mut ran, mut skipped) = (Vec::new(), Vec::new());
    for ph in selected {
        if opts.phase.is_some() {
            for before in &phases[..ph.index] {
                let missing: Vec<usize> = (0..before.units).filter(|&u| !out.is_unit_done(&before.key, u)).collect();
                if !missing.is_empty() {
                    return Err(usage(format!(
                        "phase `{}` needs phase `{}` finished first; its unit(s) {missing:?} are not done",
                        ph.key, before.key
                    )));
                }
            }
        }
        let units: Vec<usize> = match opts.task {
            Some(t) => vec![t],
            None => (0..ph.units).collect(),
        };
        for unit in units {
            if out.is_unit_done(&ph.key, unit) {
                skipped.push(ph.unit_name(unit));
                continue;
            }
            if phases.len() > 1 && opts.progress != Progress::Off {
                eprintln!("phase {} of {}: {}", ph.index + 1, phases.len(), ph.unit_name(unit));
            }
            // This unit has no marker: whatever temporary carries its tag
            // is what a killed attempt left, in whichever folder.
            let _unit = scope.unit(&ph.key, unit);
            out.remove_unit_temporaries(&ph.key, unit)?;
            match ph.kind {
                PhaseKind::Stream { segment } => {
                    run_task(recipe, &plan, segment, &ph.key, unit, &out, opts, &pool)?;
                }
                PhaseKind::Step { node, step } => run_step(recipe, node, step, &ph.key, unit, &out, opts, &pool)?,
            }
            if let Some(m) = mirror {
                m.push(&out)?;
            }
            ran.push(ph.unit_name(unit));
        }
    }
    if let Some(m) = mirror {
        m.pull(&out)?;
    }
    let stats = RunStats::load(&out)?;
    let complete = phases.iter().all(|p| (0..p.units).all(|u| out.is_unit_done(&p.key, u)));
    if complete {
        let bytes = serde_json::to_vec_pretty(&stats).expect("stats serialise");
        let path = out.merged_stats_path();
        // Several processes may finish the run at once and write the same
        // bytes; one may remove another's temporary (below), which then
        // finds the winner's file.
        if let Err(e) = out.write_atomic(&path, &bytes) {
            if std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
                return Err(e);
            }
        }
        // No unit writes any more: nothing that any process could still be
        // writing is left to protect.
        out.remove_all_temporaries()?;
        if let Some(m) = mirror {
            m.push(&out)?;
        }
    }
    Ok(RunSummary { output: root, ran, skipped, stats, complete })
}

/// A run ready to start: its plan, its output directory, its phases.
pub struct Prepared {
    pub out: OutputDir,
    pub plan: TaskPlan,
    pub phases: Vec<Phase>,
}

/// Plan the run and create its output directory (or check that an existing
/// one holds the same run). Records the phases in `_sluice/phases.json`,
/// which `sluice status` reads.
pub fn prepare(recipe: &Recipe, tasks: usize, root: &std::path::Path) -> Result<Prepared> {
    if tasks == 0 {
        return Err(Error::Internal("--tasks must be at least 1".into()));
    }
    let out = OutputDir::new(root);
    let plan = crate::plan::plan(recipe, tasks)?;
    out.prepare(&RunInfo { recipe_hash: recipe.hash.clone(), tasks, plan_hash: plan.hash.clone() }, &recipe.resolved)?;
    out.record_outputs(&recipe.outputs)?;
    let phases = crate::phase::phases(recipe, tasks);
    let list: Vec<Value> = phases
        .iter()
        .map(|p| {
            let (kind, node) = match p.kind {
                PhaseKind::Stream { .. } => ("stream", Value::Null),
                PhaseKind::Step { node, .. } => ("step", Value::String(recipe.nodes[node].name.clone())),
            };
            serde_json::json!({"index": p.index, "key": p.key, "units": p.units, "kind": kind, "node": node})
        })
        .collect();
    let doc = serde_json::json!({"tasks": tasks, "phases": list});
    // The same bytes on every start of the same run: written once.
    let path = out.meta().join("phases.json");
    let bytes = serde_json::to_vec_pretty(&doc).expect("serialises");
    if std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
        out.write_atomic(&path, &bytes)?;
    }
    Ok(Prepared { out, plan, phases })
}

/// What a node does in the segment being run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Its ordinary work.
    Normal,
    /// A global stage in the segment it observes.
    Observe,
    /// A global stage replaying its documents into the segment after it.
    Replay,
}

fn mode_in(node: &Node, segment: usize) -> Option<Mode> {
    if node.is_global() {
        if node.segment == segment {
            Some(Mode::Observe)
        } else if node.segment + 1 == segment {
            Some(Mode::Replay)
        } else {
            None
        }
    } else if node.segment == segment {
        Some(Mode::Normal)
    } else {
        None
    }
}

fn global_context(node: &Node, unit: usize, out: &OutputDir, opts: &RunOptions) -> GlobalContext {
    GlobalContext {
        unit,
        tasks: opts.tasks,
        seed: node.seed,
        dir: out.global_dir(&node.name),
        reports: out.reports_dir(&node.name),
        output: out.root().to_path_buf(),
        node: node.name.clone(),
        threads: opts.threads.max(1),
    }
}

fn global_of(node: &Node) -> Result<&dyn GlobalStage> {
    match &node.imp {
        NodeImpl::Stage { stage: StageImpl::Global(g), .. } => Ok(g.as_ref()),
        _ => Err(Error::Internal(format!("`{}` is not a global stage", node.name))),
    }
}

/// Run unit `unit` of a global stage's step and leave its marker.
#[allow(clippy::too_many_arguments)]
fn run_step(
    recipe: &Recipe,
    node: usize,
    step: usize,
    key: &str,
    unit: usize,
    out: &OutputDir,
    opts: &RunOptions,
    pool: &rayon::ThreadPool,
) -> Result<()> {
    let node = &recipe.nodes[node];
    let g = global_of(node)?;
    let cx = global_context(node, unit, out, opts);
    for d in [&cx.dir, &cx.reports] {
        crate::output::create_dir_beneath(out.root(), d)?;
    }
    // External-sort runs (`{unit:05}-*.tmp`, plain files that are not
    // `AtomicFile`s) a killed attempt of this unit left in the stage's
    // folder. Only this phase's units run now, and they use their own
    // numbers.
    let prefix = format!("{unit:05}-");
    out.clean_matching(std::slice::from_ref(&cx.dir), |n| n.starts_with(&prefix) && n.ends_with(".tmp"))?;
    let started = Instant::now();
    let cpu = AtomicU64::new(0);
    pool.install(|| {
        let t0 = thread_cpu_ns();
        let r = g.run_step(step, &cx);
        cpu.fetch_add(thread_cpu_ns().saturating_sub(t0), Ordering::Relaxed);
        r
    })?;
    let mut ns = NodeStats::new(&node.name, &node.kind, node.role);
    ns.wall_secs = started.elapsed().as_secs_f64();
    ns.cpu_secs = cpu.load(Ordering::Relaxed) as f64 / 1e9;
    let stats = TaskStats { task: unit, tasks: opts.tasks, recipe_hash: recipe.hash.clone(), wall_secs: ns.wall_secs, nodes: vec![ns] };
    let path = out.unit_stats_dir(key).join(format!("{unit:05}-stats.json"));
    out.write_atomic(&path, &serde_json::to_vec_pretty(&stats).expect("serialises"))?;
    out.write_unit_marker(key, &TaskMarker { task: unit, recipe_hash: recipe.hash.clone(), files: Vec::new(), documents_written: 0 })
}

/// Run one task of stream segment `segment` to completion and leave its
/// marker.
#[allow(clippy::too_many_arguments)]
pub fn run_task(
    recipe: &Recipe,
    plan: &TaskPlan,
    segment: usize,
    key: &str,
    task: usize,
    out: &OutputDir,
    opts: &RunOptions,
    pool: &rayon::ThreadPool,
) -> Result<TaskStats> {
    let modes: Vec<Option<Mode>> = recipe.nodes.iter().map(|n| mode_in(n, segment)).collect();
    let mut dirs = Vec::new();
    for n in &recipe.nodes {
        match (&n.imp, modes[n.id]) {
            (NodeImpl::Writer(_), Some(Mode::Normal)) => dirs.push(out.writer_dir(&n.name)),
            (NodeImpl::Stage { exclusions: Some(_), .. }, Some(Mode::Normal | Mode::Replay)) => dirs.push(out.exclusion_dir(&n.name)),
            _ => {}
        }
        if modes[n.id] == Some(Mode::Observe) {
            dirs.push(out.global_dir(&n.name));
            dirs.push(out.replay_dir(&n.name));
        }
    }
    dirs.push(out.meta().join("spill"));
    dirs.push(out.unit_stats_dir(key));
    dirs.push(out.unit_errors_dir(key));
    out.clean_unit(task, &dirs)?;
    let started = Instant::now();
    let errors = ErrorLog::new(out.unit_errors_dir(key).join(format!("{task:05}-errors.jsonl")), opts.strict);
    let shared = Shared {
        abort: AtomicBool::new(false),
        files_done_bytes: AtomicU64::new(0),
        docs_read: AtomicU64::new(0),
        docs_written: AtomicU64::new(0),
        errors: Mutex::new(errors),
    };
    let files = if segment == 0 { plan.files(task) } else { &[] };
    let task_bytes: u64 = files.iter().map(|f| f.file.size).sum();

    // Runtime nodes: a chain of document stages runs as one (see `fuse`).
    // Every group lies in one segment, so its head's mode is the group's.
    let fuse = opts.fuse && std::env::var_os("SLUICE_NO_FUSE").is_none_or(|v| v.is_empty() || v == "0");
    let groups: Vec<Vec<usize>> = crate::fuse::runtime_nodes(recipe, fuse).into_iter().filter(|g| modes[g[0]].is_some()).collect();
    // A fused node's input edge is inside its chain: no channel.
    let mut inside = vec![false; recipe.nodes.len()];
    for g in &groups {
        for &i in &g[1..] {
            inside[i] = true;
        }
    }

    // Channels: one bounded channel per edge inside this segment, except
    // those inside a chain. A replaying global stage has no inputs here; an
    // observing one has no outputs here.
    let n = recipe.nodes.len();
    let mut senders: Vec<Vec<Sender<Batch>>> = (0..n).map(|_| Vec::new()).collect();
    let mut receivers: Vec<Vec<Receiver<Batch>>> = (0..n).map(|_| Vec::new()).collect();
    for node in &recipe.nodes {
        if !matches!(modes[node.id], Some(Mode::Normal | Mode::Observe)) || inside[node.id] {
            continue;
        }
        for &inp in &node.inputs {
            if modes[inp].is_none() {
                return Err(Error::Internal(format!("`{}` reads `{}` across segments", node.name, recipe.nodes[inp].name)));
            }
            let (s, r) = bounded(recipe.channel_capacity);
            senders[inp].push(s);
            receivers[node.id].push(r);
        }
    }
    let ctx = |node: &Node| TaskContext { task, tasks: plan.tasks, seed: node.seed, output: out.root().to_path_buf() };

    let done = AtomicBool::new(false);
    let results: Vec<Result<(Vec<NodeStats>, Vec<PathBuf>)>> = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for group in &groups {
            let (head, tail) = (&recipe.nodes[group[0]], &recipe.nodes[group[group.len() - 1]]);
            let mode = modes[head.id].expect("groups are filtered on it");
            let (tx, rx) = (std::mem::take(&mut senders[tail.id]), std::mem::take(&mut receivers[head.id]));
            let shared = &shared;
            let my_files: Vec<&PlannedFile> = files.iter().filter(|f| f.reader == head.id).collect();
            let chain: Vec<&Node> = group.iter().map(|&i| &recipe.nodes[i]).collect();
            let h = std::thread::Builder::new()
                .name(format!("sluice-{}", head.name))
                .spawn_scoped(scope, move || {
                    let _guard = AbortOnPanic(&shared.abort);
                    let cxs: Vec<TaskContext> = chain.iter().map(|n| ctx(n)).collect();
                    let r = if crate::fuse::is_doc_stage(head) {
                        run_chain(&chain, recipe, &cxs, out, tx, rx, shared, pool)
                    } else {
                        run_node(head, mode, recipe, &cxs[0], out, opts, my_files, tx, rx, shared, pool).map(|(s, w)| (vec![s], w))
                    };
                    if r.is_err() {
                        shared.abort.store(true, Ordering::SeqCst);
                    }
                    r
                })
                .map_err(|e| Error::Internal(format!("cannot spawn a thread: {e}")));
            handles.push((head.name.clone(), h));
        }
        let (done, shared_ref) = (&done, &shared);
        let progress = scope.spawn(move || {
            show_progress(opts.progress, task, plan.tasks, task_bytes, shared_ref, done);
        });
        let results = handles
            .into_iter()
            .map(|(name, h)| match h {
                Err(e) => Err(e),
                Ok(h) => h.join().unwrap_or_else(|p| {
                    shared.abort.store(true, Ordering::SeqCst);
                    Err(Error::Internal(format!("node `{name}` panicked: {}", panic_message(&p))))
                }),
            })
            .collect();
        done.store(true, Ordering::SeqCst);
        let _ = progress.join();
        results
    });

    // Report the first real error (not a node that stopped because another
    // one failed).
    let mut first_err = None;
    let mut node_stats = Vec::new();
    let mut written = Vec::new();
    for r in results {
        match r {
            Ok((s, files)) => {
                node_stats.extend(s);
                written.extend(files);
            }
            Err(Error::Aborted) => {
                if first_err.is_none() {
                    first_err = Some(Error::Aborted);
                }
            }
            Err(e) => {
                if matches!(first_err, None | Some(Error::Aborted)) {
                    first_err = Some(e);
                }
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    // Recipe order, whatever the grouping.
    let order = |s: &NodeStats| recipe.nodes.iter().position(|n| n.name == s.name);
    node_stats.sort_by_key(order);
    let errors = shared.errors.into_inner().map_err(|_| Error::Internal("error log poisoned".into()))?;
    if let Some(p) = errors.finish()? {
        written.push(p);
    }
    let stats = TaskStats {
        task,
        tasks: plan.tasks,
        recipe_hash: recipe.hash.clone(),
        wall_secs: started.elapsed().as_secs_f64(),
        nodes: node_stats,
    };
    let stats_path = out.unit_stats_dir(key).join(format!("{task:05}-stats.json"));
    out.write_atomic(&stats_path, &serde_json::to_vec_pretty(&stats).expect("serialises"))?;
    let documents_written = stats.nodes.iter().filter(|n| n.role == Some(Role::Writer)).map(|n| n.docs_in).sum();
    let mut rel: Vec<String> = written.iter().map(|p| crate::stage::relative_path(out.root(), p)).collect();
    rel.sort();
    out.write_unit_marker(key, &TaskMarker { task, recipe_hash: recipe.hash.clone(), files: rel, documents_written })?;
    // The documents a global stage kept for this task have been replayed
    // and the task is recorded as done: they are no longer needed.
    for node in &recipe.nodes {
        if modes[node.id] == Some(Mode::Replay) {
            let _ = out.remove_file(&replay_path(out, node, task));
        }
    }
    Ok(stats)
}

struct Shared {
    abort: AtomicBool,
    files_done_bytes: AtomicU64,
    docs_read: AtomicU64,
    docs_written: AtomicU64,
    errors: Mutex<ErrorLog>,
}

/// Sets the abort flag if the thread unwinds, so that downstream writers
/// never mistake a panic upstream for the normal end of their input.
struct AbortOnPanic<'a>(&'a AtomicBool);

impl Drop for AbortOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}

/// Malformed records of one task: counted, logged to a JSONL file and
/// echoed (the first few) on stderr.
struct ErrorLog {
    path: PathBuf,
    file: Option<AtomicFile>,
    count: u64,
    strict: bool,
}

const ECHO_ERRORS: u64 = 10;

impl ErrorLog {
    fn new(path: PathBuf, strict: bool) -> Self {
        ErrorLog { path, file: None, count: 0, strict }
    }

    fn report(&mut self, node: &str, e: &RecordError) -> Result<()> {
        if self.strict {
            return Err(Error::Record(e.clone()));
        }
        self.count += 1;
        if self.count <= ECHO_ERRORS {
            eprintln!("warning: {node}: skipped malformed record: {e}");
        } else if self.count == ECHO_ERRORS + 1 {
            eprintln!("warning: further malformed records are logged to {}", self.path.display());
        }
        if self.file.is_none() {
            self.file = Some(AtomicFile::create(&self.path)?);
        }
        let f = self.file.as_mut().expect("just set");
        let mut line = serde_json::to_vec(&serde_json::json!({
            "node": node, "file": e.file, "location": e.location, "kind": e.kind, "reason": e.reason,
        }))
        .expect("serialises");
        line.push(b'\n');
        f.write_all(&line).map_err(|err| Error::io(&self.path, err))
    }

    fn finish(mut self) -> Result<Option<PathBuf>> {
        match self.file.take() {
            Some(f) => {
                f.commit()?;
                Ok(Some(self.path.clone()))
            }
            None => Ok(None),
        }
    }
}

/// Send a batch to every consumer (cloning for all but the last).
fn send_all(tx: &[Sender<Batch>], batch: Batch) -> Result<()> {
    if let Some((last, rest)) = tx.split_last() {
        for s in rest {
            s.send(batch.clone()).map_err(|_| Error::Aborted)?;
        }
        last.send(batch).map_err(|_| Error::Aborted)?;
    }
    Ok(())
}

/// Map `items` in parallel on `pool`, keeping order, and add the worker CPU
/// time spent to `cpu_ns`. With one thread it runs inline: the reference
/// path, and no thread hops.
fn par_map<T: Send, U: Send>(pool: &rayon::ThreadPool, items: Vec<T>, f: impl Fn(T) -> U + Sync + Send, cpu_ns: &AtomicU64) -> Vec<U> {
    par_map_with(pool, items, || (), |_, t| f(t), cpu_ns)
}

/// [`par_map`] with a per-worker state from `init`, made once per chunk of
/// items (once in all with one thread) and handed to every call of `f`.
fn par_map_with<T: Send, U: Send, S>(
    pool: &rayon::ThreadPool,
    items: Vec<T>,
    init: impl Fn() -> S + Sync + Send,
    f: impl Fn(&mut S, T) -> U + Sync + Send,
    cpu_ns: &AtomicU64,
) -> Vec<U> {
    let threads = pool.current_num_threads();
    if threads <= 1 || items.len() <= 1 {
        let mut state = init();
        return items.into_iter().map(|t| f(&mut state, t)).collect();
    }
    let per = items.len().div_ceil(threads * 4).max(1);
    let mut chunks: Vec<Vec<T>> = Vec::with_capacity(items.len().div_ceil(per));
    let mut it = items.into_iter().peekable();
    while it.peek().is_some() {
        chunks.push(it.by_ref().take(per).collect());
    }
    let parts: Vec<Vec<U>> = pool.install(|| {
        chunks
            .into_par_iter()
            .map(|c| {
                let t0 = thread_cpu_ns();
                let mut state = init();
                let r: Vec<U> = c.into_iter().map(|t| f(&mut state, t)).collect();
                cpu_ns.fetch_add(thread_cpu_ns().saturating_sub(t0), Ordering::Relaxed);
                r
            })
            .collect()
    });
    parts.into_iter().flatten().collect()
}

/// One stage of a chain as the executor runs it.
struct Link<'a> {
    stage: &'a dyn crate::stage::DocStage,
    counted: Vec<String>,
    excl: Exclusions,
    stats: NodeStats,
    /// CPU time given to this stage so far, in nanoseconds.
    cpu_ns: u64,
}

/// What happened to one document in a chain. `bytes[j]` is its size on
/// entering stage `j`; one more entry (its size on leaving the chain) when
/// every stage kept it. `nanos[j]` is the time stage `j` took on it (only
/// measured when the chain has several stages). `counted` holds the
/// counted attributes of every stage it reached, right after that stage,
/// stage after stage.
struct Trace {
    doc: Document,
    dropped: Option<crate::doc::Reason>,
    bytes: Vec<u64>,
    nanos: Vec<u64>,
    counted: Vec<Option<f64>>,
}

/// Run a chain of document stages (one or more, see [`crate::fuse`]) as one
/// node: documents from the head's inputs go through every stage in turn
/// on the rayon pool, sharing one [`Scratch`] per document, until a stage
/// drops them; the tail sends one batch per batch the head received.
///
/// Each stage keeps its own stats, exclusions and `prepare`, as if it ran
/// alone: the documents it saw and passed on, with their sizes at that
/// point; its drop reasons; the sums of its counted attributes, added in
/// document order. CPU time: the chain's worker time per batch (thread CPU
/// clock around the parallel map, as for any node) is split between the
/// stages in proportion to the monotonic time measured around each stage's
/// call on each document (two vDSO clock reads per document and stage,
/// tens of nanoseconds); a stage's exclusion writes are its own, measured
/// with the thread CPU clock; the rest of the node thread's time (merge,
/// bookkeeping, sending) goes to the head.
#[allow(clippy::too_many_arguments)]
fn run_chain(
    chain: &[&Node],
    recipe: &Recipe,
    cxs: &[TaskContext],
    out: &OutputDir,
    tx: Vec<Sender<Batch>>,
    rx: Vec<Receiver<Batch>>,
    shared: &Shared,
    pool: &rayon::ThreadPool,
) -> Result<(Vec<NodeStats>, Vec<PathBuf>)> {
    let started = Instant::now();
    let cpu0 = thread_cpu_ns();
    let pool_cpu = AtomicU64::new(0);
    let head = chain[0];
    let spill = out.meta().join("spill").join(format!("{:05}-{}", cxs[0].task, head.name));
    let mut merge = Merge::new(rx, head.reconverges, recipe.merge_buffer as usize, spill);
    let mut links = Vec::with_capacity(chain.len());
    for (node, cx) in chain.iter().zip(cxs) {
        let NodeImpl::Stage { stage: StageImpl::Doc(s), exclusions } = &node.imp else {
            return Err(Error::Internal(format!("`{}` in a chain is not a document stage", node.name)));
        };
        let excl = Exclusions::open(exclusions.as_deref(), node, cx, out)?;
        s.prepare(cx)?;
        let counted = s.counted_attributes();
        links.push(Link { stage: s.as_ref(), counted, excl, stats: NodeStats::new(&node.name, &node.kind, node.role), cpu_ns: 0 });
    }
    let n = links.len();
    let timed = n > 1;
    // What the workers need of each stage (the exclusion sinks stay here).
    let procs: Vec<(&dyn crate::stage::DocStage, Vec<String>)> = links.iter().map(|l| (l.stage, l.counted.clone())).collect();
    // Node-thread CPU spent inside the parallel maps and exclusion writes,
    // already given to a stage.
    let mut attributed = 0u64;
    let mut dropped: Vec<Vec<Dropped>> = (0..n).map(|_| Vec::new()).collect();
    let mut nanos = vec![0u64; n];
    while let Some(batch) = merge.next()? {
        let (t0, p0) = (thread_cpu_ns(), pool_cpu.load(Ordering::Relaxed));
        let stages = &procs;
        let traces = par_map_with(
            pool,
            batch.docs,
            Scratch::default,
            |scratch, mut doc| {
                scratch.clear();
                let mut bytes = Vec::with_capacity(n + 1);
                let mut spent = Vec::with_capacity(if timed { n } else { 0 });
                let mut counted = Vec::new();
                let mut dropped = None;
                let mut clock = timed.then(Instant::now);
                for (stage, names) in stages {
                    bytes.push(doc.bytes());
                    let v = stage.process_with(&mut doc, scratch);
                    if let Some(c) = clock.as_mut() {
                        let now = Instant::now();
                        spent.push(now.duration_since(*c).as_nanos() as u64);
                        *c = now;
                    }
                    counted.extend(names.iter().map(|k| doc.attributes.get(k).copied()));
                    if let Verdict::Drop(reason) = v {
                        dropped = Some(reason);
                        break;
                    }
                }
                if dropped.is_none() {
                    bytes.push(doc.bytes());
                }
                Trace { doc, dropped, bytes, nanos: spent, counted }
            },
            &pool_cpu,
        );
        let inline = thread_cpu_ns().saturating_sub(t0);
        let work = inline + pool_cpu.load(Ordering::Relaxed).saturating_sub(p0);
        attributed += inline;
        nanos.iter_mut().for_each(|x| *x = 0);
        let mut kept = Vec::with_capacity(traces.len());
        for t in traces {
            let reached = if t.dropped.is_some() { t.bytes.len() } else { n };
            let mut c = t.counted.iter();
            for (j, l) in links[..reached].iter_mut().enumerate() {
                let s = &mut l.stats;
                s.docs_in += 1;
                s.bytes_in += t.bytes[j];
                if let Some(&b) = t.bytes.get(j + 1) {
                    s.docs_out += 1;
                    s.bytes_out += b;
                }
                for k in &l.counted {
                    if let Some(Some(v)) = c.next() {
                        *s.sums.entry(k.clone()).or_default() += v;
                    }
                }
                if timed {
                    nanos[j] += t.nanos[j];
                }
            }
            match t.dropped {
                Some(reason) => {
                    let s = &mut links[reached - 1].stats;
                    *s.dropped.entry(reason.as_str().to_string()).or_default() += 1;
                    dropped[reached - 1].push(Dropped { doc: t.doc, reason });
                }
                None => kept.push(t.doc),
            }
        }
        // This batch's worker time, split by the measured time per stage.
        let total: u64 = nanos.iter().sum();
        for (j, l) in links.iter_mut().enumerate() {
            l.cpu_ns += if total == 0 {
                // One stage, or nothing measured: all of it to the head.
                if j == 0 {
                    work
                } else {
                    0
                }
            } else {
                (work as u128 * nanos[j] as u128 / total as u128) as u64
            };
        }
        for (l, d) in links.iter_mut().zip(&mut dropped) {
            if !d.is_empty() {
                let t = thread_cpu_ns();
                l.excl.write(std::mem::take(d))?;
                let spent = thread_cpu_ns().saturating_sub(t);
                l.cpu_ns += spent;
                attributed += spent;
            }
        }
        send_all(&tx, Batch::new(kept))?;
    }
    if shared.abort.load(Ordering::SeqCst) {
        return Err(Error::Aborted);
    }
    let mut written = Vec::new();
    let mut finished = Vec::with_capacity(n);
    for l in links {
        let t = thread_cpu_ns();
        written.extend(l.excl.finish()?);
        let spent = thread_cpu_ns().saturating_sub(t);
        attributed += spent;
        finished.push((l.stats, l.cpu_ns + spent));
    }
    let rest = thread_cpu_ns().saturating_sub(cpu0).saturating_sub(attributed);
    let wall = started.elapsed().as_secs_f64();
    let stats = finished
        .into_iter()
        .enumerate()
        .map(|(j, (mut s, ns))| {
            s.wall_secs = wall;
            s.cpu_secs = (ns + if j == 0 { rest } else { 0 }) as f64 / 1e9;
            s
        })
        .collect();
    Ok((stats, written))
}

#[allow(clippy::too_many_arguments)]
fn run_node(
    node: &Node,
    mode: Mode,
    recipe: &Recipe,
    cx: &TaskContext,
    out: &OutputDir,
    opts: &RunOptions,
    files: Vec<&PlannedFile>,
    tx: Vec<Sender<Batch>>,
    rx: Vec<Receiver<Batch>>,
    shared: &Shared,
    pool: &rayon::ThreadPool,
) -> Result<(NodeStats, Vec<PathBuf>)> {
    let started = Instant::now();
    let cpu0 = thread_cpu_ns();
    let pool_cpu = AtomicU64::new(0);
    let mut stats = NodeStats::new(&node.name, &node.kind, node.role);
    let spill = out.meta().join("spill").join(format!("{:05}-{}", cx.task, node.name));
    let mut merge = Merge::new(rx, node.reconverges, recipe.merge_buffer as usize, spill);
    let mut written = Vec::new();
    match &node.imp {
        NodeImpl::Reader(reader) => run_reader(node, reader.as_ref(), recipe.batch_size, &files, &tx, shared, pool, &pool_cpu, &mut stats)?,
        NodeImpl::Stage { stage, exclusions } => {
            let mut excl = Exclusions::open(exclusions.as_deref(), node, cx, out)?;
            match stage {
                crate::stage::StageImpl::Doc(_) => {
                    return Err(Error::Internal(format!("document stage `{}` must run as a chain", node.name)));
                }
                crate::stage::StageImpl::Global(g) if mode == Mode::Observe => {
                    let gcx = global_context(node, cx.task, out, opts);
                    crate::output::create_dir_beneath(out.root(), &gcx.dir)?;
                    crate::output::create_dir_beneath(out.root(), &gcx.reports)?;
                    let in_pool = |f: &mut (dyn FnMut() -> Result<()> + Send)| -> Result<()> {
                        pool.install(|| {
                            let t0 = thread_cpu_ns();
                            let r = f();
                            pool_cpu.fetch_add(thread_cpu_ns().saturating_sub(t0), Ordering::Relaxed);
                            r
                        })
                    };
                    let mut observer = None;
                    in_pool(&mut || {
                        observer = Some(g.observer(&gcx)?);
                        Ok(())
                    })?;
                    let mut observer = observer.expect("set above");
                    let mut replay = ReplayWriter::create(&replay_path(out, node, cx.task))?;
                    while let Some(mut batch) = merge.next()? {
                        stats.docs_in += batch.len() as u64;
                        stats.bytes_in += batch.bytes();
                        in_pool(&mut || observer.observe(&batch.docs))?;
                        in_pool(&mut || observer.trim_for_replay(&mut batch.docs))?;
                        replay.write(&batch)?;
                    }
                    if shared.abort.load(Ordering::SeqCst) {
                        return Err(Error::Aborted);
                    }
                    let mut observer = Some(observer);
                    in_pool(&mut || observer.take().expect("finished once").finish())?;
                    replay.commit()?;
                }
                crate::stage::StageImpl::Global(g) => {
                    let gcx = global_context(node, cx.task, out, opts);
                    let mut decider = pool.install(|| g.decider(&gcx))?;
                    let mut replay = ReplayReader::open(&replay_path(out, node, cx.task), &node.name)?;
                    while let Some(batch) = replay.next()? {
                        if shared.abort.load(Ordering::SeqCst) {
                            return Err(Error::Aborted);
                        }
                        let mut o = StageOutput::default();
                        pool.install(|| {
                            let t0 = thread_cpu_ns();
                            let r = decider.process(batch, &mut o);
                            pool_cpu.fetch_add(thread_cpu_ns().saturating_sub(t0), Ordering::Relaxed);
                            r
                        })?;
                        emit(&mut stats, &mut excl, o.kept, o.dropped, &tx)?;
                    }
                    let mut o = StageOutput::default();
                    pool.install(|| decider.finish(&mut o))?;
                    emit_final(&mut stats, &mut excl, o, recipe.batch_size, &tx)?;
                }
                crate::stage::StageImpl::Stream(factory) => {
                    let mut s: Box<dyn StreamStage> = factory.create(cx)?;
                    while let Some(batch) = merge.next()? {
                        stats.docs_in += batch.len() as u64;
                        stats.bytes_in += batch.bytes();
                        let mut o = StageOutput::default();
                        s.process(batch, &mut o)?;
                        emit(&mut stats, &mut excl, o.kept, o.dropped, &tx)?;
                    }
                    if shared.abort.load(Ordering::SeqCst) {
                        return Err(Error::Aborted);
                    }
                    let mut o = StageOutput::default();
                    s.finish(&mut o)?;
                    emit_final(&mut stats, &mut excl, o, recipe.batch_size, &tx)?;
                }
            }
            if shared.abort.load(Ordering::SeqCst) {
                return Err(Error::Aborted);
            }
            written.extend(excl.finish()?);
        }
        NodeImpl::Writer(factory) => {
            let sctx = SinkContext { dir: out.writer_dir(&node.name), task: cx.task, node: node.name.clone() };
            let mut sink: Box<dyn Sink> = factory.open(&sctx)?;
            while let Some(batch) = merge.next()? {
                stats.docs_in += batch.len() as u64;
                stats.bytes_in += batch.bytes();
                sink.write(&batch.docs)?;
                shared.docs_written.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
            // An upstream failure closes our inputs exactly like a normal
            // end would: never publish a partial task.
            if shared.abort.load(Ordering::SeqCst) {
                return Err(Error::Aborted);
            }
            let files = sink.finish()?;
            stats.files = files.len() as u64;
            stats.docs_out = stats.docs_in;
            stats.bytes_out = stats.bytes_in;
            written.extend(files);
        }
    }
    stats.wall_secs = started.elapsed().as_secs_f64();
    stats.cpu_secs = (thread_cpu_ns().saturating_sub(cpu0) + pool_cpu.load(Ordering::Relaxed)) as f64 / 1e9;
    Ok((stats, written))
}

/// Count, write exclusions and pass the kept documents on as one batch.
fn emit(stats: &mut NodeStats, excl: &mut Exclusions, kept: Vec<Document>, dropped: Vec<Dropped>, tx: &[Sender<Batch>]) -> Result<()> {
    for d in &dropped {
        *stats.dropped.entry(d.reason.as_str().to_string()).or_default() += 1;
    }
    excl.write(dropped)?;
    let batch = Batch::new(kept);
    stats.docs_out += batch.len() as u64;
    stats.bytes_out += batch.bytes();
    send_all(tx, batch)
}

/// Emit what a stream stage's `finish` produced, in batches of the usual
/// size (drops with the first).
fn emit_final(stats: &mut NodeStats, excl: &mut Exclusions, mut o: StageOutput, batch_size: usize, tx: &[Sender<Batch>]) -> Result<()> {
    let mut kept = std::mem::take(&mut o.kept);
    let mut first = true;
    while first || !kept.is_empty() {
        let rest = kept.split_off(kept.len().min(batch_size));
        let dropped = if first { std::mem::take(&mut o.dropped) } else { Vec::new() };
        emit(stats, excl, kept, dropped, tx)?;
        kept = rest;
        first = false;
    }
    Ok(())
}

fn replay_path(out: &OutputDir, node: &Node, task: usize) -> PathBuf {
    out.replay_dir(&node.name).join(format!("{task:05}-docs.bin.zst"))
}

/// A global stage's documents of one task, kept between its observe and
/// decide phases: zstd frames of length-prefixed batches, published
/// atomically.
struct ReplayWriter {
    enc: zstd::stream::write::Encoder<'static, AtomicFile>,
    path: PathBuf,
}

impl ReplayWriter {
    fn create(path: &std::path::Path) -> Result<Self> {
        let f = AtomicFile::create(path)?;
        let enc = zstd::stream::write::Encoder::new(f, 1).map_err(|e| Error::io(path, e))?;
        Ok(ReplayWriter { enc, path: path.to_path_buf() })
    }

    fn write(&mut self, b: &Batch) -> Result<()> {
        let bytes = crate::merge::encode_batch(b);
        self.enc.write_all(&(bytes.len() as u64).to_le_bytes()).map_err(|e| Error::io(&self.path, e))?;
        self.enc.write_all(&bytes).map_err(|e| Error::io(&self.path, e))
    }

    fn commit(self) -> Result<()> {
        let f = self.enc.finish().map_err(|e| Error::io(&self.path, e))?;
        f.commit()
    }
}

struct ReplayReader {
    dec: zstd::stream::read::Decoder<'static, std::io::BufReader<std::fs::File>>,
    path: PathBuf,
}

impl ReplayReader {
    fn open(path: &std::path::Path, node: &str) -> Result<Self> {
        let f = std::fs::File::open(path).map_err(|e| Error::Output {
            dir: path.to_path_buf(),
            message: format!(
                "cannot open the documents global stage `{node}` kept for this task ({e}); its observe phase must finish first"
            ),
        })?;
        let dec = zstd::stream::read::Decoder::new(f).map_err(|e| Error::io(path, e))?;
        Ok(ReplayReader { dec, path: path.to_path_buf() })
    }

    fn next(&mut self) -> Result<Option<Batch>> {
        use std::io::Read as _;
        let mut len = [0u8; 8];
        match self.dec.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(Error::io(&self.path, e)),
        }
        let mut buf = vec![0u8; u64::from_le_bytes(len) as usize];
        self.dec.read_exact(&mut buf).map_err(|e| Error::io(&self.path, e))?;
        crate::merge::decode_batch(&buf).map(Some).map_err(|m| Error::Output {
            dir: self.path.clone(),
            message: format!("cannot replay the documents kept between phases: {m}; run the recipe again into a fresh output directory"),
        })
    }
}

/// A stage's optional exclusion writer: dropped documents with the reason
/// (`metadata.drop_reason`) and the stage (`metadata.dropped_by`).
struct Exclusions {
    sink: Option<Box<dyn Sink>>,
    stage: Value,
}

impl Exclusions {
    fn open(factory: Option<&dyn SinkFactory>, node: &Node, cx: &TaskContext, out: &OutputDir) -> Result<Self> {
        let sink = match factory {
            Some(f) => Some(f.open(&SinkContext {
                dir: out.exclusion_dir(&node.name),
                task: cx.task,
                node: format!("{} (exclusions)", node.name),
            })?),
            None => None,
        };
        Ok(Exclusions { sink, stage: Value::String(node.name.clone()) })
    }

    fn write(&mut self, dropped: Vec<Dropped>) -> Result<()> {
        let Some(sink) = self.sink.as_mut() else { return Ok(()) };
        if dropped.is_empty() {
            return Ok(());
        }
        let docs: Vec<Document> = dropped
            .into_iter()
            .map(|Dropped { mut doc, reason }| {
                doc.metadata.insert("drop_reason".into(), Value::String(reason.as_str().to_string()));
                doc.metadata.insert("dropped_by".into(), self.stage.clone());
                doc
            })
            .collect();
        sink.write(&docs)
    }

    fn finish(self) -> Result<Vec<PathBuf>> {
        match self.sink {
            Some(s) => s.finish(),
            None => Ok(Vec::new()),
        }
    }
}

/// Raw bytes per decode chunk: bounds the memory a reader holds before its
/// parallel decode, independently of how large records are.
const CHUNK_BYTES: usize = 8 << 20;

#[allow(clippy::too_many_arguments)]
fn run_reader(
    node: &Node,
    reader: &dyn Reader,
    batch_size: usize,
    files: &[&PlannedFile],
    tx: &[Sender<Batch>],
    shared: &Shared,
    pool: &rayon::ThreadPool,
    pool_cpu: &AtomicU64,
    stats: &mut NodeStats,
) -> Result<()> {
    let mut pending: Vec<Document> = Vec::with_capacity(batch_size);
    let report = |stats: &mut NodeStats, e: &RecordError| -> Result<()> {
        stats.docs_in += 1;
        *stats.malformed.entry(e.kind.to_string()).or_default() += 1;
        shared.errors.lock().map_err(|_| Error::Internal("error log poisoned".into()))?.report(&node.name, e)
    };
    for pf in files {
        if shared.abort.load(Ordering::SeqCst) {
            return Err(Error::Aborted);
        }
        let file = &pf.file;
        stats.files += 1;
        let iter = match reader.open(file) {
            Ok(it) => it,
            Err(e) => {
                report(stats, &e)?;
                shared.files_done_bytes.fetch_add(file.size, Ordering::Relaxed);
                continue;
            }
        };
        let mut chunk: Vec<RawRecord> = Vec::new();
        let mut chunk_bytes = 0usize;
        // Index of the next record of this file, malformed ones included.
        let mut next_record = 0u64;
        let flush = |chunk: &mut Vec<RawRecord>, stats: &mut NodeStats, pending: &mut Vec<Document>, next_record: &mut u64| -> Result<()> {
            if chunk.is_empty() {
                return Ok(());
            }
            let raw = std::mem::take(chunk);
            let decoded = par_map(pool, raw, |r| reader.decode(file, r), pool_cpu);
            for d in decoded {
                let record = *next_record;
                *next_record += 1;
                match d {
                    Ok(Decoded::Doc(mut doc)) => {
                        doc.pos = DocPos { reader: node.id as u32, file: pf.index, record };
                        stats.docs_in += 1;
                        stats.bytes_in += doc.bytes();
                        pending.push(doc);
                        if pending.len() >= batch_size {
                            let b = Batch::new(std::mem::replace(pending, Vec::with_capacity(batch_size)));
                            stats.docs_out += b.len() as u64;
                            stats.bytes_out += b.bytes();
                            shared.docs_read.fetch_add(b.len() as u64, Ordering::Relaxed);
                            send_all(tx, b)?;
                        }
                    }
                    Ok(Decoded::Skip(reason)) => {
                        stats.docs_in += 1;
                        *stats.skipped.entry(reason.as_str().to_string()).or_default() += 1;
                    }
                    Err(e) => report(stats, &e)?,
                }
            }
            Ok(())
        };
        for item in iter {
            match item {
                Ok(raw) => {
                    chunk_bytes += match &raw.payload {
                        Payload::Bytes(b) => b.len(),
                        Payload::Doc(d) => d.text.len(),
                        Payload::Custom { bytes, .. } => *bytes,
                    };
                    chunk.push(raw);
                    if chunk.len() >= batch_size || chunk_bytes >= CHUNK_BYTES {
                        flush(&mut chunk, stats, &mut pending, &mut next_record)?;
                        chunk_bytes = 0;
                        if shared.abort.load(Ordering::SeqCst) {
                            return Err(Error::Aborted);
                        }
                    }
                }
                Err(e) => {
                    // keep error reports in record order
                    flush(&mut chunk, stats, &mut pending, &mut next_record)?;
                    chunk_bytes = 0;
                    next_record += 1;
                    report(stats, &e)?;
                }
            }
        }
        flush(&mut chunk, stats, &mut pending, &mut next_record)?;
        shared.files_done_bytes.fetch_add(file.size, Ordering::Relaxed);
    }
    if !pending.is_empty() {
        let b = Batch::new(pending);
        stats.docs_out += b.len() as u64;
        stats.bytes_out += b.bytes();
        shared.docs_read.fetch_add(b.len() as u64, Ordering::Relaxed);
        send_all(tx, b)?;
    }
    Ok(())
}

fn show_progress(mode: Progress, task: usize, tasks: usize, total: u64, shared: &Shared, done: &AtomicBool) {
    let mode = match mode {
        Progress::Auto if std::io::stderr().is_terminal() => None,
        Progress::Auto | Progress::Log => Some(Duration::from_secs(10)),
        Progress::Off => return,
    };
    let started = Instant::now();
    let bar = match mode {
        None => {
            let bar = indicatif::ProgressBar::new(total.max(1));
            bar.set_style(
                indicatif::ProgressStyle::with_template("{prefix} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} input  {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_prefix(format!("task {}/{}", task + 1, tasks));
            Some(bar)
        }
        Some(_) => None,
    };
    let mut last_log = Instant::now();
    while !done.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
        let read = shared.docs_read.load(Ordering::Relaxed);
        let written = shared.docs_written.load(Ordering::Relaxed);
        let bytes = shared.files_done_bytes.load(Ordering::Relaxed);
        if let Some(bar) = &bar {
            bar.set_position(bytes.min(total));
            bar.set_message(format!("{} docs read, {} written", crate::stats::group(read), crate::stats::group(written)));
        } else if let Some(every) = mode {
            if last_log.elapsed() >= every {
                last_log = Instant::now();
                eprintln!(
                    "task {}/{}: {:.0} s, {:.1}% of input files, {} docs read, {} written",
                    task + 1,
                    tasks,
                    started.elapsed().as_secs_f64(),
                    100.0 * bytes as f64 / total.max(1) as f64,
                    crate::stats::group(read),
                    crate::stats::group(written)
                );
            }
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let _ = std::io::stderr().flush();
}
