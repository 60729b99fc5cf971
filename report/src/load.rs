//! Reading what a run left in its output directory, within fixed budgets:
//! the stats and recipe whole (they are small), the writers' documents and
//! the exclusion sinks sampled (a bounded number of rows, spread over the
//! files), the reports, shard manifests and training runs whole.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use serde_json::Value;
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

/// A writer's documents, sampled.
#[derive(Debug, Default)]
pub struct WriterSample {
    pub name: String,
    pub kind: String,
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
    pub shards: Vec<(String, Value)>,
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
    let n = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    n.ends_with(".parquet") || n.ends_with(".jsonl") || n.ends_with(".jsonl.zst") || n.ends_with(".jsonl.gz")
}

/// At most `max` of `files`, evenly spaced.
fn spread(files: Vec<PathBuf>, max: usize) -> Vec<PathBuf> {
    if files.len() <= max {
        return files;
    }
    (0..max).map(|i| files[i * files.len() / max].clone()).collect()
}

/// The fields the report reads from a document.
struct Row {
    id: String,
    text: Option<String>,
    source: String,
    metadata: serde_json::Map<String, Value>,
    attributes: Vec<(String, f64)>,
}

/// Call `f` on up to `limit` rows of a writer's file (Parquet or JSONL).
/// `with_text` reads the text and id columns too.
fn for_rows(path: &Path, limit: usize, with_text: bool, f: &mut dyn FnMut(Row) -> bool) -> Result<u64> {
    let name = path.to_string_lossy();
    let mut n = 0u64;
    if name.ends_with(".parquet") {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let b =
            ParquetRecordBatchReaderBuilder::try_new(file).with_context(|| format!("{} is not a readable Parquet file", path.display()))?;
        let wanted: &[&str] =
            if with_text { &["id", "text", "source", "metadata", "attributes"] } else { &["source", "metadata", "attributes"] };
        let idx: Vec<usize> =
            b.schema().fields().iter().enumerate().filter(|(_, f)| wanted.contains(&f.name().as_str())).map(|(i, _)| i).collect();
        let mask = ProjectionMask::roots(b.parquet_schema(), idx);
        let reader = b.with_projection(mask).with_limit(limit).with_batch_size(4096).build()?;
        for batch in reader {
            let batch = batch.with_context(|| format!("reading {}", path.display()))?;
            for i in 0..batch.num_rows() {
                n += 1;
                if !f(parquet_row(&batch, i)) {
                    return Ok(n);
                }
            }
        }
    } else {
        let r = sluice_readers::files::open_decompressed(path).with_context(|| format!("cannot open {}", path.display()))?;
        for (lineno, line) in r.lines().enumerate() {
            if n as usize >= limit {
                break;
            }
            let line = line.with_context(|| format!("{} line {}", path.display(), lineno + 1))?;
            if line.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(&line).with_context(|| format!("{} line {}: not JSON", path.display(), lineno + 1))?;
            n += 1;
            let row = Row {
                id: v.get("id").map(|x| x.as_str().map(String::from).unwrap_or_else(|| x.to_string())).unwrap_or_default(),
                text: v.get("text").and_then(Value::as_str).map(String::from),
                source: v.get("source").and_then(Value::as_str).unwrap_or("").to_string(),
                metadata: v.get("metadata").and_then(Value::as_object).cloned().unwrap_or_default(),
                attributes: v
                    .get("attributes")
                    .and_then(Value::as_object)
                    .map(|m| m.iter().filter_map(|(k, x)| x.as_f64().map(|x| (k.clone(), x))).collect())
                    .unwrap_or_default(),
            };
            if !f(row) {
                break;
            }
        }
    }
    Ok(n)
}

fn col_str(b: &RecordBatch, name: &str, i: usize) -> Option<String> {
    let c = b.column_by_name(name)?;
    if c.is_null(i) {
        return None;
    }
    match c.data_type() {
        DataType::Utf8 => Some(c.as_string::<i32>().value(i).to_string()),
        DataType::LargeUtf8 => Some(c.as_string::<i64>().value(i).to_string()),
        DataType::Utf8View => Some(c.as_string_view().value(i).to_string()),
        _ => None,
    }
}

fn parquet_row(b: &RecordBatch, i: usize) -> Row {
    let mut attributes = Vec::new();
    if let Some(c) = b.column_by_name("attributes") {
        if matches!(c.data_type(), DataType::Map(..)) && !c.is_null(i) {
            let entries = c.as_map().value(i);
            let (keys, vals) = (entries.column(0), entries.column(1));
            if keys.data_type() == &DataType::Utf8 && vals.data_type() == &DataType::Float64 {
                let (keys, vals) = (keys.as_string::<i32>(), vals.as_primitive::<Float64Type>());
                for j in 0..entries.len() {
                    if !vals.is_null(j) {
                        attributes.push((keys.value(j).to_string(), vals.value(j)));
                    }
                }
            }
        }
    }
    Row {
        id: col_str(b, "id", i).unwrap_or_default(),
        text: col_str(b, "text", i),
        source: col_str(b, "source", i).unwrap_or_default(),
        metadata: col_str(b, "metadata", i).and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default(),
        attributes,
    }
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
            if let Some(l) = row.metadata.get("language").and_then(Value::as_str) {
                *s.languages.entry(l.to_string()).or_default() += 1;
            }
            *s.sources.entry(row.source).or_default() += 1;
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
            let reason = row.metadata.get("drop_reason").and_then(Value::as_str).unwrap_or("(none)").to_string();
            let list = d.by_reason.entry(reason).or_default();
            if list.len() < b.examples_per_reason {
                let text = row.text.unwrap_or_default();
                list.push(Example {
                    id: row.id,
                    source: row.source,
                    url: row.metadata.get("url").and_then(Value::as_str).map(String::from),
                    chars: text.chars().count(),
                    text: crate::html::truncate(&text, b.snippet_chars),
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

    let writers: Vec<(String, String)> = d
        .recipe
        .get("writers")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.get("kind").and_then(Value::as_str).unwrap_or("").to_string())).collect())
        .unwrap_or_default();
    for (name, kind) in writers {
        let (s, w) = sample_writer(&name, &kind, &out.writer_dir(&name), budget.docs_per_writer);
        d.writers.push(s);
        d.warnings.extend(w);
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
        match read_json(&m.join("manifest.json")) {
            Ok(v) if v.get("format").and_then(Value::as_str).is_some_and(|f| f.starts_with("sluice-shards/")) => {
                d.shards.push((rel(root, &m), v))
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
