//! The runtime side of components: readers, stages and sinks.
//!
//! Each recipe component has a serde *config* type (in its own crate) that
//! builds one of these runtime types. The engine owns the loop, the
//! parallelism, the stats and the exclusion writer; a component only answers
//! the question specific to it.
//!
//! Prefer [`DocStage`]: one document in, kept or dropped with a reason. The
//! executor runs it on rayon over each batch and keeps input order. Only
//! stages that need the whole stream (dedup, tokenizer training, mixing,
//! packing) implement [`StreamStage`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::doc::{Batch, Document, Dropped, Reason};
use crate::error::{Locator, RecordError, Result};
use crate::scratch::Scratch;

/// One input file of a reader.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InputFile {
    /// Absolute or recipe-relative path used to open the file.
    pub path: PathBuf,
    /// Path relative to the root it was found under; stable across machines
    /// that mount the data elsewhere, so it is used in document ids.
    pub rel: String,
    /// Size in bytes when listed (drives the task plan's balancing).
    pub size: u64,
}

impl InputFile {
    pub fn display(&self) -> String {
        self.path.display().to_string()
    }
}

/// What a reader's file iterator yields before decoding.
pub enum Payload {
    /// Raw bytes that [`Reader::decode`] turns into a document. Decoding runs
    /// in parallel on rayon, so expensive work (JSON parsing, HTML
    /// extraction) belongs there rather than in the iterator.
    Bytes(Vec<u8>),
    /// A document the iterator already built (columnar formats).
    Doc(Document),
    /// A reader-specific raw record (a parsed WARC record, say), decoded by
    /// the same reader's [`Reader::decode`], which downcasts it.
    /// `bytes` approximates its size, which bounds how much a reader
    /// buffers before decoding.
    Custom { value: Box<dyn std::any::Any + Send>, bytes: usize },
}

/// A record located in its file.
pub struct RawRecord {
    pub loc: Locator,
    pub payload: Payload,
}

/// The outcome of decoding one raw record.
#[derive(Debug)]
pub enum Decoded {
    Doc(Document),
    /// Not an error, but not a document either (a WARC request record, a
    /// non-HTML response). Counted by reason.
    Skip(Reason),
}

/// Iterator over one file's records. It yields `Err` for a record it could
/// not frame (truncation, corrupt compression) and decides itself whether it
/// can go on after one.
pub type RecordIter<'a> = Box<dyn Iterator<Item = Result<RawRecord, RecordError>> + Send + 'a>;

/// A source of documents.
pub trait Reader: Send + Sync {
    /// Every file this reader will read, in a deterministic order. The task
    /// planner splits this list between tasks.
    fn files(&self) -> Result<Vec<InputFile>>;

    /// Open one file.
    fn open<'a>(&'a self, file: &'a InputFile) -> Result<RecordIter<'a>, RecordError>;

    /// Turn a raw record into a document. Runs in parallel; must be pure.
    fn decode(&self, file: &InputFile, raw: RawRecord) -> Result<Decoded, RecordError> {
        let _ = file;
        match raw.payload {
            Payload::Doc(d) => Ok(Decoded::Doc(d)),
            Payload::Bytes(_) | Payload::Custom { .. } => {
                Err(RecordError::new(file.display(), raw.loc, "internal", "reader produced raw records but has no decoder"))
            }
        }
    }
}

/// The verdict of a document-wise stage.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Keep,
    Drop(Reason),
}

/// A document-wise stage: annotate, rewrite or drop one document. It must be
/// a pure function of the document (and of its configuration), because the
/// executor calls it from several threads in any order.
pub trait DocStage: Send + Sync {
    fn process(&self, doc: &mut Document) -> Verdict;

    /// [`DocStage::process`] with the document's [`Scratch`]: what earlier
    /// stages of the same fused chain derived from the text (the word
    /// split, say) and what this stage derives for the later ones. The
    /// executor always calls this one; a stage that shares derived values
    /// implements it, and its `process` calls it with a fresh scratch.
    fn process_with(&self, doc: &mut Document, scratch: &mut Scratch) -> Verdict {
        let _ = scratch;
        self.process(doc)
    }

    /// Called once per task before its first document, with the run's
    /// output directory: a stage that saves something it built when the
    /// recipe was compiled (decontaminate's `save_index`) writes it here,
    /// inside `ctx.output`, so that `validate` writes nothing. Default:
    /// nothing.
    fn prepare(&self, ctx: &TaskContext) -> Result<()> {
        let _ = ctx;
        Ok(())
    }

    /// Attributes this stage writes that are counts worth totalling (PII
    /// found per kind, benchmark n-gram hits): the engine sums them over every
    /// document the stage saw into [`crate::stats::NodeStats::sums`].
    fn counted_attributes(&self) -> Vec<String> {
        Vec::new()
    }
}

/// What a [`StreamStage`] emits for one call.
#[derive(Debug, Default)]
pub struct StageOutput {
    pub kept: Vec<Document>,
    pub dropped: Vec<Dropped>,
}

impl StageOutput {
    pub fn keep(&mut self, doc: Document) {
        self.kept.push(doc);
    }

    pub fn drop(&mut self, doc: Document, reason: impl Into<Reason>) {
        self.dropped.push(Dropped { doc, reason: reason.into() });
    }
}

/// A stage that sees the whole stream of one task.
///
/// The executor turns every `process` call into exactly one downstream batch
/// (possibly empty) and sends whatever `finish` emits at the end. That
/// one-batch-per-batch rhythm is what keeps fan-in merges deterministic and
/// free of deadlock on diamond-shaped graphs: a stage that must see
/// everything first (a barrier) emits empty batches while it buffers, then
/// everything from `finish`.
pub trait StreamStage: Send {
    fn process(&mut self, batch: Batch, out: &mut StageOutput) -> Result<()>;
    fn finish(&mut self, out: &mut StageOutput) -> Result<()>;
}

/// Builds a fresh [`StreamStage`] for each task.
pub trait StreamStageFactory: Send + Sync {
    fn create(&self, ctx: &TaskContext) -> Result<Box<dyn StreamStage>>;
}

/// The shapes a stage can take.
#[derive(Clone)]
pub enum StageImpl {
    Doc(Arc<dyn DocStage>),
    Stream(Arc<dyn StreamStageFactory>),
    Global(Arc<dyn GlobalStage>),
}

/// A stage that must see every task's documents before it can decide on any
/// one of them: fuzzy and exact dedup, line dedup, tokenizer training,
/// token-weighted mixing, global shuffling.
///
/// The engine splits a run into phases at each global stage, so that each
/// phase can run as N independent processes (a Slurm array) with files in
/// between:
/// 1. **observe** (one unit per task): every document reaching the stage is
///    shown, in stream order, to that task's [`Observer`], and the engine
///    keeps the task's documents on disk;
/// 2. **steps**: the stage's own steps from [`GlobalStage::steps`], in order,
///    each split into independent units (bands, shards, ...). A unit reads
///    what the observers and earlier steps wrote under [`GlobalContext::dir`]
///    and writes its results there;
/// 3. **decide** (one unit per task): the engine replays each task's kept
///    documents, in the order they were observed, through the stream stage
///    from [`GlobalStage::decider`]; what it keeps flows downstream, what it
///    drops goes to the stage's exclusions with its reason.
///
/// Every call runs inside the run's rayon pool, so rayon's parallel
/// iterators use `--threads` workers. Results must not depend on the thread
/// count nor on `--tasks`: use [`crate::doc::DocPos`] (the input position)
/// rather than task numbers to break ties.
///
/// Files: an observer or a unit writes only files whose names start with its
/// own number as `{n:05}-` (see [`crate::stage::file_belongs_to_task`]),
/// atomically (write to a temporary name and rename, e.g. with
/// [`crate::output::AtomicFile`]). A re-run of a killed unit first deletes
/// that unit's files, so a unit must be idempotent.
pub trait GlobalStage: Send + Sync {
    /// The observer of one task (`cx.unit` is the task).
    fn observer(&self, cx: &GlobalContext) -> Result<Box<dyn Observer>>;

    /// The steps between observe and decide, given the run's task count.
    fn steps(&self, tasks: usize) -> Vec<GlobalStep>;

    /// Run unit `cx.unit` of step `step` (an index into `steps`).
    fn run_step(&self, step: usize, cx: &GlobalContext) -> Result<()>;

    /// The decider of one task (`cx.unit` is the task).
    fn decider(&self, cx: &GlobalContext) -> Result<Box<dyn StreamStage>>;
}

/// One step of a [`GlobalStage`]: a name for logs and schedulers, and how
/// many independent units it splits into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalStep {
    pub name: String,
    pub units: usize,
}

/// What a global stage's observer, step unit or decider is told.
#[derive(Debug, Clone)]
pub struct GlobalContext {
    /// The task (observe, decide) or the unit (steps).
    pub unit: usize,
    /// The run's number of tasks.
    pub tasks: usize,
    /// The recipe seed mixed with the node name.
    pub seed: u64,
    /// The stage's private state directory, `OUT/_sluice/global/<node>`,
    /// shared by every phase of this stage (on a shared filesystem when
    /// the phases run on a cluster).
    pub dir: PathBuf,
    /// Directory for the stage's human-readable reports,
    /// `OUT/reports/<node>`; `sluice report` renders the JSON files found
    /// there.
    pub reports: PathBuf,
    /// The run's output directory.
    pub output: PathBuf,
    /// The node's name in the recipe.
    pub node: String,
    /// Worker threads of the run (the rayon pool's size).
    pub threads: usize,
}

/// Sees one task's documents during a global stage's observe phase.
pub trait Observer: Send {
    fn observe(&mut self, docs: &[Document]) -> Result<()>;
    /// Trim `docs`, the batch just observed, to what the engine must keep
    /// on disk for the decide phase. The default keeps everything. A stage
    /// whose decider can restore a field from its own files, or would drop
    /// it anyway, clears it here (`pack` clears the token ids, which its
    /// shards hold, and the text wherever the ids decode back to it).
    fn trim_for_replay(&mut self, docs: &mut [Document]) -> Result<()> {
        let _ = docs;
        Ok(())
    }
    /// Publish this task's state under [`GlobalContext::dir`].
    fn finish(self: Box<Self>) -> Result<()>;
}

/// Per-task facts a component may need.
#[derive(Debug, Clone)]
pub struct TaskContext {
    pub task: usize,
    pub tasks: usize,
    /// The recipe seed mixed with the node name.
    pub seed: u64,
    /// The run's output directory.
    pub output: PathBuf,
}

/// Where a sink writes: its own directory, and the task whose files it owns.
#[derive(Debug, Clone)]
pub struct SinkContext {
    /// `OUT/<writer>` or `OUT/excluded/<stage>`.
    pub dir: PathBuf,
    pub task: usize,
    /// Node name, for error messages.
    pub node: String,
}

impl SinkContext {
    /// Final name of shard `shard` of this task: `{task:05}-{shard:05}.{ext}`.
    /// Every file a task writes starts with its task number, which is how a
    /// re-run finds and removes the leftovers of a killed attempt.
    pub fn shard_path(&self, shard: usize, ext: &str) -> PathBuf {
        self.dir.join(format!("{:05}-{:05}.{ext}", self.task, shard))
    }
}

/// A writer's runtime.
pub trait Sink: Send {
    fn write(&mut self, docs: &[Document]) -> Result<()>;
    /// Flush, close and atomically publish every file. Returns the files.
    fn finish(self: Box<Self>) -> Result<Vec<PathBuf>>;
}

/// Opens a [`Sink`] per task.
pub trait SinkFactory: Send + Sync {
    fn open(&self, ctx: &SinkContext) -> Result<Box<dyn Sink>>;
    /// File extension, used to list outputs.
    fn extension(&self) -> &str;
}

/// Does `name` belong to task `task` (by the naming rule of
/// [`SinkContext::shard_path`], including temporary files)?
pub fn file_belongs_to_task(name: &str, task: usize) -> bool {
    let prefix = format!("{task:05}-");
    name.starts_with(&prefix) || name.strip_prefix('.').is_some_and(|n| n.starts_with(&prefix))
}

/// A file path relative to `root`, with `/` separators.
pub fn relative_path(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let s = rel.to_string_lossy().replace('\\', "/");
    if s.is_empty() {
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_file_naming_round_trips() {
        let ctx = SinkContext { dir: PathBuf::from("/o/w"), task: 3, node: "w".into() };
        let p = ctx.shard_path(12, "jsonl.zst");
        assert_eq!(p, PathBuf::from("/o/w/00003-00012.jsonl.zst"));
        let name = p.file_name().unwrap().to_str().unwrap();
        assert!(file_belongs_to_task(name, 3));
        assert!(file_belongs_to_task(".00003-00012.jsonl.zst.tmp", 3));
        assert!(!file_belongs_to_task(name, 30));
        assert!(!file_belongs_to_task("00030-00000.jsonl.zst", 3));
    }

    #[test]
    fn relative_paths_use_forward_slashes() {
        assert_eq!(relative_path(Path::new("/a"), Path::new("/a/b/c.txt")), "b/c.txt");
        assert_eq!(relative_path(Path::new("/a/b.txt"), Path::new("/a/b.txt")), "b.txt");
    }
}
