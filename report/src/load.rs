//! Reading what a run left in its output directory, within fixed budgets:
//! the stats and recipe whole (they are small), the writers' documents and
//! the exclusion sinks sampled (a bounded number of rows, spread over the
//! files), the reports, shard manifests and training runs whole.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;
use sluice_format::rows::{self, Columns, Row};
use sluice_format::shard::Manifest;
use sluice_pipeline::output::OutputDir;
use sluice_pipeline::stats::RunStats;

/// Sampling budgets.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Documents read per writer for the signal histograms and the mixes.
    pub docs_per_writer: usize,
    /// Records read per exclusion sink when looking for examples.
    pub rows_per_exclusion: usize,
    /// Examples kept per drop reason.
    pub examples_per_reason: usize,
    /// Characters of text kept per example.
    pub snippet_chars: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget { docs_per_writer: 100_000, rows_per_exclusion: 50_000, examples_per_reason: 3, snippet_chars: 400 }
    }
}

/// A writer's documents, sampled: one per distinct document set (see
/// [`writer_groups`]).
#[derive(Debug, Default)]
pub struct WriterSample {
    pub name: String,
    pub kind: String,
    /// Every writer holding these documents (this one among them), in
    /// recipe order.
    pub covers: Vec<String>,
    /// The nodes feeding them.
    pub inputs: Vec<String>,
    pub files: usize,
    pub files_read: usize,
    pub docs_read: u64,
    pub attributes: BTreeMap<String, Vec<f64>>,
    pub languages: BTreeMap<String, u64>,
    pub sources: BTreeMap<String, u64>,
}

/// A dropped document, cut short.
#[derive(Debug, Clone)]
pub struct Example {
    pub id: String,
    pub source: String,
    pub url: Option<String>,
    pub text: String,
    pub chars: usize,
    /// Its attributes: the signals measured up to the rule that dropped it.
    pub attributes: Vec<(String, f64)>,
}

/// Examples of one stage's drops, by reason.
#[derive(Debug, Default)]
pub struct StageDrops {
    pub stage: String,
    pub rows_read: u64,
    pub by_reason: BTreeMap<String, Vec<Example>>,
}

/// A training run directory (`metrics.jsonl`, optionally `eval.json`).
#[derive(Debug, Default)]
pub struct TrainingRun {
    pub dir: String,
    /// (step, loss, lr) of `kind == train` lines.
    pub train: Vec<(f64, f64, Option<f64>)>,
    /// (step, loss) of `kind == val` lines.
    pub val: Vec<(f64, f64)>,
    pub tokens: Option<u64>,
    pub eval: Option<Value>,
}

/// Everything the report shows.
#[derive(Debug, Default)]
pub struct RunData {
    pub root: PathBuf,
    pub recipe: Value,
    pub stats: RunStats,
    pub writers: Vec<WriterSample>,
    pub drops: Vec<StageDrops>,
    /// (node, file name, JSON) of `reports/<node>/*.json`.
    pub reports: Vec<(String, String, Value)>,
    /// (directory relative to the output, manifest) of token shard directories.
    pub shards: Vec<(String, Manifest)>,
    pub training: Vec<TrainingRun>,
    /// Files that could not be read, with why; shown on the page.
    pub warnings: Vec<String>,
}

fn read_json(path: &Path) -> Result<Value> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not valid JSON", path.display()))
}

/// Plain files of `dir` whose names do not start with `.` (temporaries), sorted.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.path())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

fn is_doc_file(p: &Path) -> bool {
    rows::is_row_file(p)
}

/// At most `max` of `files`, evenly spaced.
fn spread(files: Vec<PathBuf>, max: usize) -> Vec<PathBuf> {
    if files.len() <= max {
        return files;
    }
    (0..max).map(|i| files[i * files.len() / max].clone()).collect()
}

/// Call `f` on up to `limit` rows of a writer's file (Parquet or JSONL),
/// read by `sluice_format::rows`. `with_text` reads the text and id too.
fn for_rows(path: &Path, limit: usize, with_text: bool, f: &mut dyn FnMut(Row<'_>) -> bool) -> Result<u64> {
    let cols = Columns { id: with_text, text: with_text };
    Ok(rows::for_each_row(path, cols, Some(limit as u64), f)?)
}

/// Sample a writer's output directory.
pub fn sample_writer(name: &str, kind: &str, dir: &Path, budget: usize) -> (WriterSample, Vec<String>) {
    let files: Vec<PathBuf> = files_in(dir).into_iter().filter(|p| is_doc_file(p)).collect();
    let mut s = WriterSample { name: name.into(), kind: kind.into(), files: files.len(), ..Default::default() };
    let mut warnings = Vec::new();
    let chosen = spread(files, 64.min(budget.max(1)));
    let quota = (budget / chosen.len().max(1)).max(1);
    for p in &chosen {
        let r = for_rows(p, quota, false, &mut |row| {
            for (k, v) in row.attributes {
                s.attributes.entry(k).or_default().push(v);
            }
            if let Some(l) = row.meta.language {
                *s.languages.entry(l).or_default() += 1;
            }
            *s.sources.entry(row.source.to_string()).or_default() += 1;
            true
        });
        match r {
            Ok(n) => {
                s.docs_read += n;
                s.files_read += 1;
            }
            Err(e) => warnings.push(format!("{e:#}")),
        }
    }
    (s, warnings)
}

/// Find examples of each drop reason in a stage's exclusion sink.
pub fn sample_drops(stage: &str, dir: &Path, b: &Budget) -> (StageDrops, Vec<String>) {
    let files: Vec<PathBuf> = files_in(dir).into_iter().filter(|p| is_doc_file(p)).collect();
    let mut d = StageDrops { stage: stage.into(), ..Default::default() };
    let mut warnings = Vec::new();
    let chosen = spread(files, 64.min(b.rows_per_exclusion.max(1)));
    let quota = (b.rows_per_exclusion / chosen.len().max(1)).max(1);
    for p in &chosen {
        let r = for_rows(p, quota, true, &mut |row| {
            let reason = row.meta.drop_reason.unwrap_or_else(|| "(none)".to_string());
            let list = d.by_reason.entry(reason).or_default();
            if list.len() < b.examples_per_reason {
                let text = row.text.unwrap_or_default();
                list.push(Example {
                    id: row.id.unwrap_or_default().to_string(),
                    source: row.source.to_string(),
                    url: row.meta.url,
                    chars: text.chars().count(),
                    text: crate::html::truncate(text, b.snippet_chars),
                    attributes: row.attributes,
                });
            }
            true
        });
        match r {
            Ok(n) => d.rows_read += n,
            Err(e) => warnings.push(format!("{e:#}")),
        }
    }
    (d, warnings)
}

/// Directories under `root` (depth-limited, not into `_sluice`) holding `file`.
fn dirs_with(root: &Path, file: &str, depth: usize, out: &mut Vec<PathBuf>) {
    if root.join(file).is_file() {
        out.push(root.to_path_buf());
    }
    if depth == 0 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(root) else { return };
    let mut subs: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false) && e.file_name() != "_sluice")
        .map(|e| e.path())
        .collect();
    subs.sort();
    for s in subs {
        dirs_with(&s, file, depth - 1, out);
    }
}

/// Writers that hold the same documents: those fed by the same nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct WriterGroup {
    /// The nodes feeding them, sorted.
    pub inputs: Vec<String>,
    /// (name, kind) of each writer, in recipe order.
    pub writers: Vec<(String, String)>,
}

/// The recipe's writers grouped by their inputs: writers fed by the same
/// upstream nodes receive the same documents (a writer only serialises
/// them), so one sample and one set of histograms stands for them all.
/// Groups are in the order of their first writer in the recipe.
pub fn writer_groups(recipe: &Value) -> Vec<WriterGroup> {
    let mut groups: Vec<WriterGroup> = Vec::new();
    for (name, w) in recipe.get("writers").and_then(Value::as_object).into_iter().flatten() {
        let kind = w.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
        let mut inputs: Vec<String> =
            w.get("inputs").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(String::from).collect();
        inputs.sort();
        inputs.dedup();
        // A writer whose inputs are unknown is a set of its own.
        match groups.iter_mut().find(|g| !inputs.is_empty() && g.inputs == inputs) {
            Some(g) => g.writers.push((name.clone(), kind)),
            None => groups.push(WriterGroup { inputs, writers: vec![(name.clone(), kind)] }),
        }
    }
    groups
}

/// Read a training run directory.
pub fn load_training(dir: &Path, shown_as: String) -> Result<TrainingRun> {
    let path = dir.join("metrics.jsonl");
    let f = File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut t = TrainingRun { dir: shown_as, ..Default::default() };
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("{} line {}", path.display(), i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line).with_context(|| format!("{} line {}: not JSON", path.display(), i + 1))?;
        let (Some(step), Some(loss)) = (v.get("step").and_then(Value::as_f64), v.get("loss").and_then(Value::as_f64)) else {
            anyhow::bail!("{} line {}: no step or loss", path.display(), i + 1);
        };
        match v.get("kind").and_then(Value::as_str) {
            Some("val") => t.val.push((step, loss)),
            _ => {
                t.train.push((step, loss, v.get("lr").and_then(Value::as_f64)));
                if let Some(tok) = v.get("tokens").and_then(Value::as_u64) {
                    t.tokens = Some(tok);
                }
            }
        }
    }
    let ev = dir.join("eval.json");
    if ev.is_file() {
        t.eval = Some(read_json(&ev)?);
    }
    Ok(t)
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).to_string_lossy().into_owned()
}

/// Load everything from an output directory. `extra_training` are training
/// run directories outside it to show too.
pub fn load(root: &Path, budget: &Budget, extra_training: &[PathBuf]) -> Result<RunData> {
    let out = OutputDir::new(root);
    let stats = RunStats::load(&out).with_context(|| format!("cannot read the stats of {}", root.display()))?;
    let recipe = read_json(&out.meta().join("recipe.json")).unwrap_or(Value::Null);
    let mut d = RunData { root: root.to_path_buf(), recipe, stats, ..Default::default() };

    for group in writer_groups(&d.recipe) {
        // The first writer of the group that has documents stands for all.
        let mut chosen: Option<WriterSample> = None;
        for (name, kind) in &group.writers {
            let (s, w) = sample_writer(name, kind, &out.writer_dir(name), budget.docs_per_writer);
            d.warnings.extend(w);
            let found = s.docs_read > 0;
            if chosen.is_none() || found {
                chosen = Some(s);
            }
            if found {
                break;
            }
        }
        if let Some(mut s) = chosen {
            s.covers = group.writers.iter().map(|(n, _)| n.clone()).collect();
            s.inputs = group.inputs;
            d.writers.push(s);
        }
    }

    let excl = root.join("excluded");
    if let Ok(rd) = std::fs::read_dir(&excl) {
        let mut stages: Vec<String> =
            rd.filter_map(|e| e.ok()).filter(|e| e.path().is_dir()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        stages.sort();
        for st in stages {
            let (s, w) = sample_drops(&st, &out.exclusion_dir(&st), budget);
            d.drops.push(s);
            d.warnings.extend(w);
        }
    }

    let reports = root.join("reports");
    if let Ok(rd) = std::fs::read_dir(&reports) {
        let mut nodes: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect();
        nodes.sort();
        for n in nodes {
            for f in files_in(&n).into_iter().filter(|p| p.extension().is_some_and(|e| e == "json")) {
                let node = n.file_name().map(|x| x.to_string_lossy().into_owned()).unwrap_or_default();
                let fname = f.file_name().map(|x| x.to_string_lossy().into_owned()).unwrap_or_default();
                match read_json(&f) {
                    Ok(v) => d.reports.push((node, fname, v)),
                    Err(e) => d.warnings.push(format!("{e:#}")),
                }
            }
        }
    }

    let mut mdirs = Vec::new();
    dirs_with(root, "manifest.json", 3, &mut mdirs);
    for m in mdirs {
        // Another tool's manifest.json is not ours to show; a sluice one that
        // does not read is a warning.
        let path = m.join("manifest.json");
        match read_json(&path) {
            Ok(v) if v.get("format").and_then(Value::as_str).is_some_and(|f| f.starts_with("sluice-shards/")) => {
                match Manifest::read(&path) {
                    Ok(manifest) => d.shards.push((rel(root, &m), manifest)),
                    Err(e) => d.warnings.push(e.to_string()),
                }
            }
            Ok(_) => {}
            Err(e) => d.warnings.push(format!("{e:#}")),
        }
    }

    let mut tdirs = Vec::new();
    dirs_with(root, "metrics.jsonl", 3, &mut tdirs);
    let mut all: Vec<(PathBuf, String)> = tdirs.into_iter().map(|p| (p.clone(), rel(root, &p))).collect();
    all.extend(extra_training.iter().map(|p| (p.clone(), p.display().to_string())));
    for (p, shown) in all {
        match load_training(&p, shown) {
            Ok(t) => d.training.push(t),
            Err(e) => d.warnings.push(format!("{e:#}")),
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writers fed by the same nodes (in any order) form one document set;
    /// other inputs, or none known, another. Groups keep the recipe's order.
    #[test]
    fn writers_with_the_same_inputs_share_a_set() {
        let recipe = serde_json::json!({"writers": {
            "jsonl": {"kind": "jsonl", "inputs": ["a", "b"]},
            "early": {"kind": "jsonl", "inputs": ["a"]},
            "parquet": {"kind": "parquet", "inputs": ["b", "a", "a"]},
            "x": {"kind": "jsonl"},
            "y": {"kind": "jsonl"},
        }});
        let g = writer_groups(&recipe);
        let names: Vec<Vec<&str>> = g.iter().map(|g| g.writers.iter().map(|(n, _)| n.as_str()).collect()).collect();
        assert_eq!(names, vec![vec!["jsonl", "parquet"], vec!["early"], vec!["x"], vec!["y"]]);
        assert_eq!(g[0].inputs, ["a", "b"]);
        assert_eq!(g[0].writers[1], ("parquet".to_string(), "parquet".to_string()));
        assert!(writer_groups(&serde_json::Value::Null).is_empty());
    }
}
