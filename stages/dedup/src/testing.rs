//! Drives a [`GlobalStage`] through observe → steps → decide in one
//! process, the way the engine runs its phases: used by the tests, the
//! benches, and anywhere a corpus is small enough for a single process.

use std::path::Path;

use sluice_pipeline::{Batch, Document, GlobalContext, GlobalStage, Result, StageOutput};

/// What a simulated run kept and dropped, in task order.
#[derive(Debug, Default)]
pub struct Outcome {
    pub kept: Vec<Document>,
    /// (document, reason)
    pub dropped: Vec<(Document, String)>,
}

impl Outcome {
    /// Ids of the dropped documents, sorted.
    pub fn dropped_ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self.dropped.iter().map(|d| d.0.id.clone()).collect();
        v.sort();
        v
    }
}

/// The context of unit `unit` of a run with `tasks` tasks under `out`.
pub fn context(out: &Path, node: &str, unit: usize, tasks: usize, seed: u64) -> GlobalContext {
    GlobalContext {
        unit,
        tasks,
        seed,
        dir: out.join("_sluice/global").join(node),
        reports: out.join("reports").join(node),
        output: out.to_path_buf(),
        node: node.into(),
        threads: rayon::current_num_threads(),
    }
}

/// Run `stage` over `tasks` (each a list of documents in stream order),
/// with batches of `batch` documents. Units of a step run in parallel.
pub fn run_global(stage: &dyn GlobalStage, tasks: Vec<Vec<Document>>, out: &Path, seed: u64, batch: usize) -> Result<Outcome> {
    use rayon::prelude::*;
    let n = tasks.len();
    let node = "dedup";
    tasks.par_iter().enumerate().try_for_each(|(t, docs)| -> Result<()> {
        let mut obs = stage.observer(&context(out, node, t, n, seed))?;
        for chunk in docs.chunks(batch.max(1)) {
            obs.observe(chunk)?;
        }
        obs.finish()
    })?;
    for (i, step) in stage.steps(n).iter().enumerate() {
        (0..step.units).into_par_iter().try_for_each(|u| stage.run_step(i, &context(out, node, u, n, seed)))?;
    }
    let mut outcome = Outcome::default();
    for (t, docs) in tasks.into_iter().enumerate() {
        let mut d = stage.decider(&context(out, node, t, n, seed))?;
        let mut so = StageOutput::default();
        let mut it = docs.into_iter().peekable();
        while it.peek().is_some() {
            let b: Vec<Document> = it.by_ref().take(batch.max(1)).collect();
            d.process(Batch::new(b), &mut so)?;
        }
        d.finish(&mut so)?;
        outcome.kept.extend(so.kept);
        outcome.dropped.extend(so.dropped.into_iter().map(|x| (x.doc, x.reason.to_string())));
    }
    Ok(outcome)
}

/// Split documents (given in input order, `pos` set) into `tasks` tasks the
/// way the planner splits files: whole "files" of `per_file` documents,
/// dealt largest-first round robin, so a task's documents are not a
/// contiguous range of the input.
pub fn split_tasks(docs: Vec<Document>, tasks: usize, per_file: usize) -> Vec<Vec<Document>> {
    let mut files: Vec<Vec<Document>> = Vec::new();
    for d in docs {
        match files.last_mut() {
            Some(f) if f.len() < per_file => f.push(d),
            _ => files.push(vec![d]),
        }
    }
    let mut out: Vec<Vec<Document>> = (0..tasks).map(|_| Vec::new()).collect();
    // reverse order, so task 0 does not simply get the first files
    for (i, f) in files.into_iter().rev().enumerate() {
        out[i % tasks].extend(f);
    }
    out
}

/// Documents with positions `(0, i / per_file, i % per_file)`.
pub fn with_positions(docs: Vec<Document>, per_file: usize) -> Vec<Document> {
    docs.into_iter()
        .enumerate()
        .map(|(i, mut d)| {
            d.pos = sluice_pipeline::DocPos { reader: 0, file: (i / per_file) as u32, record: (i % per_file) as u64 };
            d
        })
        .collect()
}
