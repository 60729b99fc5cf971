//! The output directory: atomic files, completion markers and the cleanup
//! that makes a killed task safe to run again.
//!
//! ```text
//! OUT/
//!   <writer>/00000-00000.parquet        kept documents, task 0, shard 0
//!   excluded/<stage>/00000-00000.jsonl.zst  dropped documents with reasons
//!   stats.json                          merged stats, once every task is done
//!   _sluice/run.json                    recipe hash, task count, plan hash
//!   _sluice/recipe.json                 the recipe after ${ENV} expansion
//!   _sluice/stats/00000-stats.json      per-task stats
//!   _sluice/errors/00000-errors.jsonl   malformed records of task 0
//!   _sluice/tasks/00000.done            completion marker of task 0
//! ```
//!
//! Every file is written under a temporary name and renamed when complete.
//! A task's files all start with its number, so a re-run of an unfinished
//! task first deletes whatever a killed attempt left, then writes the same
//! files again: the result equals an uninterrupted run.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::stage::file_belongs_to_task;

/// Write `bytes` to `path` atomically (temporary file, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes).map_err(|e| Error::io(path, e))?;
    f.commit()
}

/// A file that appears under its final name only when [`commit`] is called.
///
/// [`commit`]: AtomicFile::commit
pub struct AtomicFile {
    tmp: PathBuf,
    path: PathBuf,
    out: Option<BufWriter<File>>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> Result<Self> {
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        // The process id keeps concurrent writers of one name (the
        // processes of one run all writing recipe.json) apart.
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        Ok(AtomicFile { tmp, path: path.to_path_buf(), out: Some(BufWriter::with_capacity(1 << 20, f)) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flush, fsync and rename into place.
    pub fn commit(mut self) -> Result<()> {
        let out = self.out.take().expect("committed once");
        let f = out.into_inner().map_err(|e| Error::io(&self.tmp, e.into_error()))?;
        f.sync_all().map_err(|e| Error::io(&self.tmp, e))?;
        drop(f);
        fs::rename(&self.tmp, &self.path).map_err(|e| Error::io(&self.path, e))?;
        if let Some(dir) = self.path.parent() {
            // Persist the rename itself. Best effort: some filesystems
            // refuse to open directories.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.as_mut().expect("not committed").write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.as_mut().expect("not committed").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // Dropped without commit: an error path. Leave no temporary behind.
        if self.out.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Identity of a run, checked on every re-run into the same directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    pub recipe_hash: String,
    pub tasks: usize,
    pub plan_hash: String,
}

/// What a finished task leaves behind.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskMarker {
    pub task: usize,
    pub recipe_hash: String,
    /// Files written, relative to the output directory.
    pub files: Vec<String>,
    pub documents_written: u64,
}

/// The run's output directory.
#[derive(Debug, Clone)]
pub struct OutputDir {
    root: PathBuf,
}

impl OutputDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        OutputDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn meta(&self) -> PathBuf {
        self.root.join("_sluice")
    }

    pub fn writer_dir(&self, writer: &str) -> PathBuf {
        self.root.join(writer)
    }

    pub fn exclusion_dir(&self, stage: &str) -> PathBuf {
        self.root.join("excluded").join(stage)
    }

    pub fn stats_dir(&self) -> PathBuf {
        self.meta().join("stats")
    }

    pub fn errors_path(&self, task: usize) -> PathBuf {
        self.meta().join("errors").join(format!("{task:05}-errors.jsonl"))
    }

    pub fn task_stats_path(&self, task: usize) -> PathBuf {
        self.stats_dir().join(format!("{task:05}-stats.json"))
    }

    pub fn marker_path(&self, task: usize) -> PathBuf {
        self.meta().join("tasks").join(format!("{task:05}.done"))
    }

    /// Marker of unit `unit` of phase `phase` (`s0` keeps the single-phase
    /// layout: `_sluice/tasks/00003.done`).
    pub fn unit_marker_path(&self, phase: &str, unit: usize) -> PathBuf {
        if phase == "s0" {
            self.marker_path(unit)
        } else {
            self.meta().join("tasks").join(phase).join(format!("{unit:05}.done"))
        }
    }

    pub fn unit_stats_dir(&self, phase: &str) -> PathBuf {
        if phase == "s0" {
            self.stats_dir()
        } else {
            self.stats_dir().join(phase)
        }
    }

    pub fn unit_errors_dir(&self, phase: &str) -> PathBuf {
        if phase == "s0" {
            self.meta().join("errors")
        } else {
            self.meta().join("errors").join(phase)
        }
    }

    /// A global stage's private state directory.
    pub fn global_dir(&self, node: &str) -> PathBuf {
        self.meta().join("global").join(node)
    }

    /// Where the engine keeps a global stage's documents between its observe
    /// and decide phases.
    pub fn replay_dir(&self, node: &str) -> PathBuf {
        self.meta().join("replay").join(node)
    }

    /// A stage's human-readable reports.
    pub fn reports_dir(&self, node: &str) -> PathBuf {
        self.root.join("reports").join(node)
    }

    pub fn is_unit_done(&self, phase: &str, unit: usize) -> bool {
        self.unit_marker_path(phase, unit).is_file()
    }

    pub fn write_unit_marker(&self, phase: &str, marker: &TaskMarker) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(marker).expect("serialises");
        write_atomic(&self.unit_marker_path(phase, marker.task), &bytes)
    }

    pub fn merged_stats_path(&self) -> PathBuf {
        self.root.join("stats.json")
    }

    /// Create the directory, or check that an existing one belongs to the
    /// same recipe, task count and input files.
    pub fn prepare(&self, info: &RunInfo, resolved_recipe: &serde_json::Value) -> Result<()> {
        // Several processes (`--task I` of one run) may start at once, so
        // every step tolerates the others: run.json is published with a
        // hard link, which fails if another process won the race, and the
        // loser then checks what the winner wrote.
        let run_json = self.meta().join("run.json");
        for _attempt in 0..2 {
            match fs::read(&run_json) {
                Ok(bytes) => return self.check_same(info, &bytes, &run_json),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(run_json, e)),
            }
            let foreign = match fs::read_dir(&self.root) {
                Ok(entries) => entries.filter_map(|e| e.ok()).any(|e| e.file_name() != "_sluice"),
                Err(_) => false,
            };
            if foreign {
                if run_json.exists() {
                    continue; // another process just published it
                }
                return Err(self.err("exists, is not empty and is not a sluice output directory; refusing to write into it"));
            }
            fs::create_dir_all(self.meta()).map_err(|e| Error::io(self.meta(), e))?;
            let pretty = serde_json::to_vec_pretty(resolved_recipe).expect("JSON serialises");
            write_atomic(&self.meta().join("recipe.json"), &pretty)?;
            let tmp = self.meta().join(format!(".run.json.{}.tmp", std::process::id()));
            fs::write(&tmp, serde_json::to_vec_pretty(info).expect("serialises")).map_err(|e| Error::io(&tmp, e))?;
            let linked = fs::hard_link(&tmp, &run_json);
            let _ = fs::remove_file(&tmp);
            match linked {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io(run_json, e)),
            }
        }
        let bytes = fs::read(&run_json).map_err(|e| Error::io(&run_json, e))?;
        self.check_same(info, &bytes, &run_json)
    }

    fn check_same(&self, info: &RunInfo, bytes: &[u8], run_json: &Path) -> Result<()> {
        let prev: RunInfo = serde_json::from_slice(bytes).map_err(|e| self.err(format!("corrupt {}: {e}", run_json.display())))?;
        if prev.recipe_hash != info.recipe_hash {
            return Err(
                self.err("holds a run of a different recipe (or different settings); use a new output directory or delete this one")
            );
        }
        if prev.tasks != info.tasks {
            return Err(
                self.err(format!("was started with --tasks {}; re-run with the same task count or use a new output directory", prev.tasks))
            );
        }
        if prev.plan_hash != info.plan_hash {
            return Err(self.err("the input files changed since this run started (their list or sizes differ); use a new output directory"));
        }
        Ok(())
    }

    pub fn is_done(&self, task: usize) -> bool {
        self.marker_path(task).is_file()
    }

    pub fn read_marker(&self, task: usize) -> Result<TaskMarker> {
        let p = self.marker_path(task);
        let bytes = fs::read(&p).map_err(|e| Error::io(&p, e))?;
        serde_json::from_slice(&bytes).map_err(|e| self.err(format!("corrupt marker {}: {e}", p.display())))
    }

    pub fn write_marker(&self, marker: &TaskMarker) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(marker).expect("serialises");
        write_atomic(&self.marker_path(marker.task), &bytes)
    }

    /// Remove everything an unfinished attempt of `task` may have left in
    /// `dirs` (writer and exclusion directories) and in sluice's own
    /// per-task directories.
    pub fn clean_task(&self, task: usize, dirs: &[PathBuf]) -> Result<()> {
        let mut all: Vec<PathBuf> = dirs.to_vec();
        all.push(self.stats_dir());
        all.push(self.meta().join("errors"));
        self.clean_unit(task, &all)
    }

    /// Remove the files of `unit` (by the `{unit:05}-` naming rule) from
    /// exactly `dirs`, not recursing.
    pub fn clean_unit(&self, task: usize, dirs: &[PathBuf]) -> Result<()> {
        for dir in dirs.iter().cloned() {
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(&dir, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| Error::io(&dir, e))?;
                let name = entry.file_name();
                if file_belongs_to_task(&name.to_string_lossy(), task) {
                    let p = entry.path();
                    fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
                }
            }
        }
        Ok(())
    }

    fn err(&self, message: impl Into<String>) -> Error {
        Error::Output { dir: self.root.clone(), message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_file_appears_only_on_commit() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b.txt");
        let mut f = AtomicFile::create(&p).unwrap();
        f.write_all(b"hi").unwrap();
        assert!(!p.exists());
        f.commit().unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"hi");
        let f = AtomicFile::create(&d.path().join("c.txt")).unwrap();
        drop(f);
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1, "uncommitted temp removed");
    }

    #[test]
    fn prepare_refuses_foreign_dirs_and_changed_recipes() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("precious.txt"), "x").unwrap();
        let info = RunInfo { recipe_hash: "a".into(), tasks: 2, plan_hash: "p".into() };
        let err = OutputDir::new(d.path()).prepare(&info, &serde_json::Value::Null).unwrap_err();
        assert!(err.to_string().contains("not a sluice output directory"), "{err}");

        let out = OutputDir::new(d.path().join("o"));
        out.prepare(&info, &serde_json::Value::Null).unwrap();
        out.prepare(&info, &serde_json::Value::Null).unwrap();
        let other = RunInfo { recipe_hash: "b".into(), ..info.clone() };
        assert!(out.prepare(&other, &serde_json::Value::Null).unwrap_err().to_string().contains("different recipe"));
        let other = RunInfo { tasks: 3, ..info.clone() };
        assert!(out.prepare(&other, &serde_json::Value::Null).unwrap_err().to_string().contains("--tasks 2"));
    }

    #[test]
    fn clean_task_removes_only_that_task() {
        let d = tempfile::tempdir().unwrap();
        let out = OutputDir::new(d.path());
        let w = out.writer_dir("w");
        fs::create_dir_all(&w).unwrap();
        for n in ["00001-00000.jsonl.zst", ".00001-00001.jsonl.zst.tmp", "00002-00000.jsonl.zst", "00011-00000.jsonl.zst"] {
            fs::write(w.join(n), "x").unwrap();
        }
        out.clean_task(1, &[w.clone()]).unwrap();
        let mut left: Vec<String> = fs::read_dir(&w).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, vec!["00002-00000.jsonl.zst", "00011-00000.jsonl.zst"]);
    }
}
