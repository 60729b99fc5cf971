//! On-disk plumbing shared by the dedup stages: fixed-size record files,
//! an external sorter bounded by a memory budget, the per-task document
//! table, removal lists, the removal decider and the cluster report.
//!
//! Every file a task or unit writes starts with its number as `{n:05}-`
//! and is published atomically ([`AtomicFile`]); spill runs are temporary
//! files with the same prefix, deleted once merged, so a re-run of a killed
//! unit (which first deletes that unit's files) starts clean.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sluice_pipeline::output::AtomicFile;
use sluice_pipeline::{Batch, Document, Error, GlobalContext, Reason, Result, StageOutput, StreamStage};

/// A fixed-size binary record, ordered for sorting.
pub trait Record: Sized + Ord + Send + Copy {
    const SIZE: usize;
    fn put(&self, out: &mut [u8]);
    fn get(b: &[u8]) -> Self;
}

pub fn u128_at(b: &[u8], at: usize) -> u128 {
    u128::from_le_bytes(b[at..at + 16].try_into().unwrap())
}
pub fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}
pub fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

pub fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::Io { path: path.to_path_buf(), source: e }
}

/// Writes records to a file published atomically on [`RecWriter::commit`].
pub struct RecWriter<R: Record> {
    file: AtomicFile,
    buf: Vec<u8>,
    count: u64,
    _r: std::marker::PhantomData<R>,
}

impl<R: Record> RecWriter<R> {
    pub fn create(path: &Path) -> Result<Self> {
        Ok(RecWriter { file: AtomicFile::create(path)?, buf: vec![0; R::SIZE], count: 0, _r: Default::default() })
    }

    pub fn push(&mut self, r: &R) -> Result<()> {
        r.put(&mut self.buf);
        self.count += 1;
        let path = self.file.path().to_path_buf();
        self.file.write_all(&self.buf).map_err(|e| io_err(&path, e))
    }

    pub fn commit(self) -> Result<u64> {
        self.file.commit()?;
        Ok(self.count)
    }
}

/// Reads a record file written by [`RecWriter`] (or a spill run).
pub struct RecReader<R: Record> {
    path: PathBuf,
    inner: BufReader<File>,
    buf: Vec<u8>,
    _r: std::marker::PhantomData<R>,
}

impl<R: Record> RecReader<R> {
    pub fn open(path: &Path) -> Result<Self> {
        let f = File::open(path).map_err(|e| io_err(path, e))?;
        let len = f.metadata().map_err(|e| io_err(path, e))?.len();
        if len % R::SIZE as u64 != 0 {
            return Err(Error::Stage {
                node: "dedup".into(),
                message: format!(
                    "{}: {len} bytes is not a whole number of {}-byte records (truncated state file?)",
                    path.display(),
                    R::SIZE
                ),
            });
        }
        Ok(RecReader {
            path: path.to_path_buf(),
            inner: BufReader::with_capacity(1 << 20, f),
            buf: vec![0; R::SIZE],
            _r: Default::default(),
        })
    }

    /// The next record, `None` at the end.
    pub fn next_rec(&mut self) -> Result<Option<R>> {
        match self.inner.read_exact(&mut self.buf) {
            Ok(()) => Ok(Some(R::get(&self.buf))),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(io_err(&self.path, e)),
        }
    }

    pub fn read_all(mut self) -> Result<Vec<R>> {
        let mut v = Vec::new();
        while let Some(r) = self.next_rec()? {
            v.push(r);
        }
        Ok(v)
    }
}

/// Sorts records under a memory budget: records accumulate in memory and,
/// each time they exceed the budget, are sorted and written to a spill run
/// on disk; [`ExtSorter::finish`] k-way merges the runs. The output order is
/// the records' `Ord`, so it does not depend on the budget.
pub struct ExtSorter<R: Record> {
    budget: usize,
    buf: Vec<R>,
    dir: PathBuf,
    prefix: String,
    runs: Vec<PathBuf>,
    spilled_records: u64,
}

impl<R: Record> ExtSorter<R> {
    /// `prefix` names the spill files (`{dir}/{prefix}-run{k}.tmp`); it must
    /// start with the unit's `{n:05}-`.
    pub fn new(dir: &Path, prefix: String, budget_bytes: u64) -> Self {
        // Budget in records (the Vec holds R, at least SIZE bytes each);
        // never less than a few thousand, so tiny budgets still make progress.
        let per = std::mem::size_of::<R>().max(R::SIZE);
        let budget = ((budget_bytes as usize) / per).max(1024);
        ExtSorter { budget, buf: Vec::new(), dir: dir.to_path_buf(), prefix, runs: Vec::new(), spilled_records: 0 }
    }

    pub fn push(&mut self, r: R) -> Result<()> {
        self.buf.push(r);
        if self.buf.len() >= self.budget {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> Result<()> {
        use rayon::slice::ParallelSliceMut;
        self.buf.par_sort_unstable();
        let path = self.dir.join(format!("{}-run{}.tmp", self.prefix, self.runs.len()));
        let f = File::create(&path).map_err(|e| io_err(&path, e))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        let mut b = vec![0u8; R::SIZE];
        for r in &self.buf {
            r.put(&mut b);
            w.write_all(&b).map_err(|e| io_err(&path, e))?;
        }
        w.flush().map_err(|e| io_err(&path, e))?;
        self.spilled_records += self.buf.len() as u64;
        self.buf.clear();
        self.runs.push(path);
        Ok(())
    }

    /// How many runs went to disk so far.
    pub fn spills(&self) -> usize {
        self.runs.len()
    }

    /// Sorted records, merged from memory and the spill runs.
    pub fn finish(mut self) -> Result<Sorted<R>> {
        use rayon::slice::ParallelSliceMut;
        let spills = self.runs.len();
        if !self.runs.is_empty() && !self.buf.is_empty() {
            self.spill()?;
        }
        let mut s = Sorted { mem: Vec::new().into_iter(), readers: Vec::new(), heap: BinaryHeap::new(), runs: self.runs, spills };
        if s.runs.is_empty() {
            self.buf.par_sort_unstable();
            s.mem = std::mem::take(&mut self.buf).into_iter();
        } else {
            for (i, p) in s.runs.iter().enumerate() {
                let mut r = RecReader::<R>::open(p)?;
                if let Some(x) = r.next_rec()? {
                    s.heap.push(Reverse((x, i)));
                }
                s.readers.push(r);
            }
        }
        Ok(s)
    }
}

/// The sorted output of an [`ExtSorter`].
pub struct Sorted<R: Record> {
    mem: std::vec::IntoIter<R>,
    readers: Vec<RecReader<R>>,
    heap: BinaryHeap<Reverse<(R, usize)>>,
    runs: Vec<PathBuf>,
    /// Spill runs written (0 when everything fitted in the budget).
    pub spills: usize,
}

impl<R: Record> Sorted<R> {
    pub fn next_rec(&mut self) -> Result<Option<R>> {
        if self.readers.is_empty() {
            return Ok(self.mem.next());
        }
        match self.heap.pop() {
            None => Ok(None),
            Some(Reverse((x, i))) => {
                if let Some(y) = self.readers[i].next_rec()? {
                    self.heap.push(Reverse((y, i)));
                }
                Ok(Some(x))
            }
        }
    }
}

impl<R: Record> Drop for Sorted<R> {
    fn drop(&mut self) {
        for p in &self.runs {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// One document as the observers saw it: input position (orders "first
/// seen"), text length, and where its report preview sits in the meta file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DocInfo {
    pub pos: u128,
    pub len: u64,
    pub meta_off: u64,
}

impl Record for DocInfo {
    const SIZE: usize = 32;
    fn put(&self, o: &mut [u8]) {
        o[0..16].copy_from_slice(&self.pos.to_le_bytes());
        o[16..24].copy_from_slice(&self.len.to_le_bytes());
        o[24..32].copy_from_slice(&self.meta_off.to_le_bytes());
    }
    fn get(b: &[u8]) -> Self {
        DocInfo { pos: u128_at(b, 0), len: u64_at(b, 16), meta_off: u64_at(b, 24) }
    }
}

/// How many characters of a document the cluster report shows.
pub const PREVIEW_CHARS: usize = 500;

/// Writes a task's document table (`{task:05}-docs.bin`) and report
/// previews (`{task:05}-meta.jsonl`: id, source, url, first 500 chars).
pub struct DocTableWriter {
    docs: RecWriter<DocInfo>,
    meta: AtomicFile,
    meta_off: u64,
    line: Vec<u8>,
}

pub fn docs_path(dir: &Path, task: usize) -> PathBuf {
    dir.join(format!("{task:05}-docs.bin"))
}
fn meta_path(dir: &Path, task: usize) -> PathBuf {
    dir.join(format!("{task:05}-meta.jsonl"))
}

impl DocTableWriter {
    pub fn create(dir: &Path, task: usize) -> Result<Self> {
        Ok(DocTableWriter {
            docs: RecWriter::create(&docs_path(dir, task))?,
            meta: AtomicFile::create(&meta_path(dir, task))?,
            meta_off: 0,
            line: Vec::new(),
        })
    }

    /// Record `doc`; returns its index in the task.
    pub fn push(&mut self, doc: &Document) -> Result<u64> {
        let idx = self.docs.count;
        self.docs.push(&DocInfo { pos: doc.pos.key(), len: doc.text.len() as u64, meta_off: self.meta_off })?;
        self.line.clear();
        serde_json::to_writer(&mut self.line, &preview(doc)).expect("json to memory");
        self.line.push(b'\n');
        let p = self.meta.path().to_path_buf();
        self.meta.write_all(&self.line).map_err(|e| io_err(&p, e))?;
        self.meta_off += self.line.len() as u64;
        Ok(idx)
    }

    pub fn commit(self) -> Result<()> {
        self.docs.commit()?;
        self.meta.commit()
    }
}

/// The report's view of a document.
pub fn preview(doc: &Document) -> Value {
    let text: String = doc.text.chars().take(PREVIEW_CHARS).collect();
    json!({"id": doc.id, "source": &*doc.source, "url": doc.meta_str("url"), "text": text})
}

/// Random access to the observers' document tables.
pub struct DocTables {
    dir: PathBuf,
    /// Per task, every document's info, in observed order.
    pub tasks: Vec<Vec<DocInfo>>,
}

impl DocTables {
    pub fn load(dir: &Path, tasks: usize) -> Result<Self> {
        let mut v = Vec::with_capacity(tasks);
        for t in 0..tasks {
            v.push(RecReader::<DocInfo>::open(&docs_path(dir, t))?.read_all()?);
        }
        Ok(DocTables { dir: dir.to_path_buf(), tasks: v })
    }

    pub fn total(&self) -> u64 {
        self.tasks.iter().map(|t| t.len() as u64).sum()
    }

    /// The report preview of document `idx` of `task`.
    pub fn preview(&self, task: u32, idx: u64) -> Result<Value> {
        let info = self.tasks[task as usize][idx as usize];
        let p = meta_path(&self.dir, task as usize);
        let mut f = BufReader::new(File::open(&p).map_err(|e| io_err(&p, e))?);
        f.seek(SeekFrom::Start(info.meta_off)).map_err(|e| io_err(&p, e))?;
        let mut line = String::new();
        f.read_line(&mut line).map_err(|e| io_err(&p, e))?;
        serde_json::from_str(&line)
            .map_err(|e| Error::Stage { node: "dedup".into(), message: format!("{}: bad preview record: {e}", p.display()) })
    }
}

/// A document a step decided to remove: its task and index in the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Removal {
    pub task: u32,
    pub idx: u64,
}

impl Record for Removal {
    const SIZE: usize = 12;
    fn put(&self, o: &mut [u8]) {
        o[0..4].copy_from_slice(&self.task.to_le_bytes());
        o[4..12].copy_from_slice(&self.idx.to_le_bytes());
    }
    fn get(b: &[u8]) -> Self {
        Removal { task: u32_at(b, 0), idx: u64_at(b, 4) }
    }
}

/// The sorted indices that `task` must remove, from every removal file.
pub fn load_removals(files: &[PathBuf], task: usize) -> Result<Vec<u64>> {
    let mut v = Vec::new();
    for f in files {
        if !f.exists() {
            continue;
        }
        let mut r = RecReader::<Removal>::open(f)?;
        while let Some(x) = r.next_rec()? {
            if x.task as usize == task {
                v.push(x.idx);
            }
        }
    }
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

/// Drops the documents whose index (in observed order) is listed, each
/// with its list's reason.
pub struct RemovalDecider {
    /// (index, reason number), sorted.
    removed: Vec<(u64, usize)>,
    reasons: Vec<Reason>,
    next: usize,
    idx: u64,
}

impl RemovalDecider {
    /// One sorted index list per reason; an index in several lists takes
    /// the first list's reason.
    pub fn new(lists: Vec<(Vec<u64>, Reason)>) -> Self {
        let mut removed = Vec::new();
        let mut reasons = Vec::new();
        for (i, (l, r)) in lists.into_iter().enumerate() {
            removed.extend(l.into_iter().map(|x| (x, i)));
            reasons.push(r);
        }
        removed.sort_unstable();
        removed.dedup_by_key(|x| x.0);
        RemovalDecider { removed, reasons, next: 0, idx: 0 }
    }
}

impl StreamStage for RemovalDecider {
    fn process(&mut self, batch: Batch, out: &mut StageOutput) -> Result<()> {
        for doc in batch.docs {
            while self.next < self.removed.len() && self.removed[self.next].0 < self.idx {
                self.next += 1;
            }
            match self.removed.get(self.next) {
                Some(&(i, r)) if i == self.idx => out.drop(doc, self.reasons[r].clone()),
                _ => out.keep(doc),
            }
            self.idx += 1;
        }
        Ok(())
    }

    fn finish(&mut self, _out: &mut StageOutput) -> Result<()> {
        Ok(())
    }
}

/// A cluster as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClusterSummary {
    /// Ordered by size descending, then by the kept document's position.
    pub size: u64,
    pub kept_pos: u128,
    pub kept: (u32, u64),
    pub examples: Vec<(u32, u64)>,
}

/// A cluster in [`TopClusters`]: size, first position (reversed), representative, members.
type ClusterEntry = (u64, Reverse<u128>, (u32, u64), Vec<(u32, u64)>);

/// Keeps the `k` largest clusters, deterministically (size, then position).
pub struct TopClusters {
    k: usize,
    heap: BinaryHeap<Reverse<ClusterEntry>>,
}

impl TopClusters {
    pub fn new(k: usize) -> Self {
        TopClusters { k, heap: BinaryHeap::new() }
    }

    pub fn offer(&mut self, c: ClusterSummary) {
        if self.k == 0 {
            return;
        }
        let item = Reverse((c.size, Reverse(c.kept_pos), c.kept, c.examples));
        if self.heap.len() < self.k {
            self.heap.push(item);
        } else if let Some(min) = self.heap.peek() {
            if item < *min {
                self.heap.pop();
                self.heap.push(item);
            }
        }
    }

    pub fn into_sorted(self) -> Vec<ClusterSummary> {
        let mut v: Vec<ClusterSummary> = self
            .heap
            .into_iter()
            .map(|Reverse((size, Reverse(kept_pos), kept, examples))| ClusterSummary { size, kept_pos, kept, examples })
            .collect();
        v.sort_by(|a, b| b.size.cmp(&a.size).then(a.kept_pos.cmp(&b.kept_pos)));
        v
    }
}

/// Everything a `dedup_clusters` report holds besides the examples.
pub struct ReportCounts {
    pub method: &'static str,
    pub documents: u64,
    pub removed: u64,
    pub clusters: u64,
    pub histogram: BTreeMap<u64, u64>,
}

/// Write `reports/<node>/<name>.json` in the report contract's shape
/// (`kind: dedup_clusters`), plus `extra` keys.
pub fn write_report(
    cx: &GlobalContext,
    name: &str,
    counts: ReportCounts,
    largest: &[ClusterSummary],
    tables: &DocTables,
    extra: serde_json::Map<String, Value>,
) -> Result<PathBuf> {
    let mut big = Vec::new();
    for c in largest {
        let mut ex = Vec::new();
        for &(t, i) in &c.examples {
            ex.push(tables.preview(t, i)?);
        }
        big.push(json!({"size": c.size, "kept": tables.preview(c.kept.0, c.kept.1)?, "examples": ex}));
    }
    let mut v = serde_json::Map::new();
    v.insert("kind".into(), "dedup_clusters".into());
    v.insert("method".into(), counts.method.into());
    v.insert("node".into(), cx.node.clone().into());
    v.insert("documents".into(), counts.documents.into());
    v.insert("removed".into(), counts.removed.into());
    v.insert("clusters".into(), counts.clusters.into());
    v.insert("size_histogram".into(), counts.histogram.iter().map(|(s, n)| json!([s, n])).collect::<Vec<_>>().into());
    v.insert("largest".into(), big.into());
    for (k, x) in extra {
        v.insert(k, x);
    }
    let path = cx.reports.join(format!("{name}.json"));
    let mut f = AtomicFile::create(&path)?;
    let s = serde_json::to_vec_pretty(&Value::Object(v)).expect("json");
    f.write_all(&s).map_err(|e| io_err(&path, e))?;
    f.commit()?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    struct K(u64);
    impl Record for K {
        const SIZE: usize = 8;
        fn put(&self, o: &mut [u8]) {
            o.copy_from_slice(&self.0.to_le_bytes())
        }
        fn get(b: &[u8]) -> Self {
            K(u64_at(b, 0))
        }
    }

    #[test]
    fn external_sort_spills_and_merges_in_order() {
        let dir = tempfile::tempdir().unwrap();
        for budget in [1u64, 1 << 30] {
            let mut s = ExtSorter::<K>::new(dir.path(), "00000-t".into(), budget);
            let mut x = 12345u64;
            let mut all = Vec::new();
            for _ in 0..10_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                s.push(K(x >> 20)).unwrap();
                all.push(x >> 20);
            }
            let spilled = s.spills();
            let mut out = s.finish().unwrap();
            assert_eq!(out.spills > 0, budget == 1, "spills {spilled}");
            let mut got = Vec::new();
            while let Some(k) = out.next_rec().unwrap() {
                got.push(k.0);
            }
            all.sort_unstable();
            assert_eq!(got, all);
            drop(out);
            // spill runs are removed once merged
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        }
    }

    #[test]
    fn truncated_record_files_are_named_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("00000-x.bin");
        std::fs::write(&p, [0u8; 13]).unwrap();
        let e = RecReader::<K>::open(&p).err().unwrap().to_string();
        assert!(e.contains("00000-x.bin") && e.contains("13 bytes"), "{e}");
    }
}
