//! Splitting a run's input files between tasks.
//!
//! `--task I --tasks N` runs one slice of the input files. Every process
//! computes the same plan independently (the file lists are sorted and the
//! split is a pure function of names and sizes), so N processes on N
//! machines need no coordinator. Files are balanced by size: largest first,
//! each to the least-loaded task (ties to the lowest task number).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::error::{Error, Result};
use crate::recipe::Recipe;
use crate::stage::InputFile;

/// One input file and the reader node that reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    pub reader: usize,
    /// Index of the file in its reader's sorted file list (for [`crate::doc::DocPos`]).
    pub index: u32,
    pub file: InputFile,
}

/// Which files each task reads.
#[derive(Debug, Clone)]
pub struct TaskPlan {
    pub tasks: usize,
    pub per_task: Vec<Vec<PlannedFile>>,
    /// Hash of every (reader, file, size): detects inputs that changed
    /// between the attempts of one run.
    pub hash: String,
    pub total_files: usize,
    pub total_bytes: u64,
}

impl TaskPlan {
    /// Files of `task`, sorted by reader then path.
    pub fn files(&self, task: usize) -> &[PlannedFile] {
        &self.per_task[task]
    }
}

/// List every reader's files and split them between `tasks` tasks.
pub fn plan(recipe: &Recipe, tasks: usize) -> Result<TaskPlan> {
    if tasks == 0 {
        return Err(Error::Internal("--tasks must be at least 1".into()));
    }
    let mut all = Vec::new();
    for node in recipe.readers() {
        let crate::recipe::NodeImpl::Reader(r) = &node.imp else { continue };
        for (index, file) in r.files()?.into_iter().enumerate() {
            all.push(PlannedFile { reader: node.id, index: index as u32, file });
        }
    }
    Ok(split(all, tasks, recipe))
}

fn split(mut all: Vec<PlannedFile>, tasks: usize, recipe: &Recipe) -> TaskPlan {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut keyed: Vec<&PlannedFile> = all.iter().collect();
    keyed.sort_by(|a, b| (a.reader, &a.file.rel, &a.file.path).cmp(&(b.reader, &b.file.rel, &b.file.path)));
    for f in &keyed {
        h.update(recipe.nodes[f.reader].name.as_bytes());
        h.update(&[0]);
        h.update(f.file.rel.as_bytes());
        h.update(&[0]);
        h.update(&f.file.size.to_le_bytes());
    }
    let hash = format!("{:032x}", h.digest128());
    let total_files = all.len();
    let total_bytes = all.iter().map(|f| f.file.size).sum();

    // Largest first; ties broken by (reader, path) so the order is total.
    all.sort_by(|a, b| b.file.size.cmp(&a.file.size).then_with(|| (a.reader, &a.file.rel).cmp(&(b.reader, &b.file.rel))));
    let mut heap: BinaryHeap<Reverse<(u64, usize)>> = (0..tasks).map(|t| Reverse((0u64, t))).collect();
    let mut per_task: Vec<Vec<PlannedFile>> = vec![Vec::new(); tasks];
    for f in all {
        let Reverse((load, t)) = heap.pop().expect("tasks >= 1");
        // Count every file as at least one byte so empty files spread too.
        heap.push(Reverse((load + f.file.size.max(1), t)));
        per_task[t].push(f);
    }
    for files in &mut per_task {
        files.sort_by(|a, b| (a.reader, &a.file.rel).cmp(&(b.reader, &b.file.rel)));
    }
    TaskPlan { tasks, per_task, hash, total_files, total_bytes }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pf(reader: usize, rel: &str, size: u64) -> PlannedFile {
        PlannedFile { reader, index: 0, file: InputFile { path: rel.into(), rel: rel.into(), size } }
    }

    fn recipe() -> Recipe {
        // Only `nodes[i].name` is read by `split`.
        Recipe {
            slurm: Default::default(),
            train: None,
            outputs: Vec::new(),
            description: None,
            seed: 0,
            output: "o".into(),
            batch_size: 1,
            channel_capacity: 1,
            merge_buffer: 0,
            nodes: Vec::new(),
            hash: String::new(),
            resolved: serde_json::Value::Null,
        }
    }

    fn split_named(files: Vec<PlannedFile>, tasks: usize) -> TaskPlan {
        let mut r = recipe();
        for i in 0..2 {
            r.nodes.push(crate::recipe::Node {
                id: i,
                name: format!("r{i}"),
                kind: "k".into(),
                role: crate::recipe::Role::Reader,
                source: "s".into(),
                inputs: vec![],
                outputs: vec![],
                seed: 0,
                reconverges: false,
                segment: 0,
                imp: crate::recipe::NodeImpl::Writer(std::sync::Arc::new(NullSink)),
            });
        }
        split(files, tasks, &r)
    }

    struct NullSink;
    impl crate::stage::SinkFactory for NullSink {
        fn open(&self, _: &crate::stage::SinkContext) -> Result<Box<dyn crate::stage::Sink>> {
            Err(Error::Internal("unused".into()))
        }
        fn extension(&self) -> &str {
            ""
        }
    }

    #[test]
    fn every_file_lands_in_exactly_one_task_and_balances() {
        let files: Vec<_> = (0..20).map(|i| pf(i % 2, &format!("f{i:02}"), 100 + i as u64)).collect();
        let p = split_named(files.clone(), 3);
        let mut seen: Vec<String> = p.per_task.iter().flatten().map(|f| f.file.rel.clone()).collect();
        seen.sort();
        let mut want: Vec<String> = files.iter().map(|f| f.file.rel.clone()).collect();
        want.sort();
        assert_eq!(seen, want);
        let loads: Vec<u64> = p.per_task.iter().map(|t| t.iter().map(|f| f.file.size).sum()).collect();
        let (lo, hi) = (loads.iter().min().unwrap(), loads.iter().max().unwrap());
        assert!(hi - lo <= 119, "{loads:?}");
    }

    #[test]
    fn plan_is_independent_of_listing_order() {
        let files: Vec<_> = (0..9).map(|i| pf(0, &format!("f{i}"), 10 * (i % 3) as u64)).collect();
        let mut rev = files.clone();
        rev.reverse();
        let a = split_named(files, 4);
        let b = split_named(rev, 4);
        assert_eq!(a.per_task, b.per_task);
        assert_eq!(a.hash, b.hash);
    }

    #[test]
    fn more_tasks_than_files_leaves_empty_tasks() {
        let p = split_named(vec![pf(0, "a", 5)], 3);
        assert_eq!(p.per_task.iter().filter(|t| t.is_empty()).count(), 2);
    }
}
