//! Quality signals after a run: quantiles of every numeric attribute per
//! source and language (`sluice stats OUT --signals`), and what a changed
//! threshold would keep or drop (`sluice stats OUT --what-if
//! 'gopher_quality.min_doc_words=80'`), from the recorded attributes,
//! without running the pipeline again.
//!
//! Both read the run's output with bounded memory: Parquet shards with only
//! the columns they need (arrow), or JSONL shards line by line, one file at
//! a time. Quantiles come from a mergeable [`sketch::Summary`] per signal
//! and group (exact while a signal has at most 4,096 distinct values, 0.5 %
//! relative error after), so memory grows with the number of sources,
//! languages and attributes, never with the number of documents.

pub mod sketch;
mod whatif;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::Array;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use serde::Deserialize;
use serde_json::Value;

pub use sketch::Summary;
pub use whatif::{parse_assignment, Assignment};

/// An error reading a run's output, naming the file.
#[derive(Debug)]
pub struct SignalsError(pub String);

impl std::fmt::Display for SignalsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SignalsError {}

pub type Result<T> = std::result::Result<T, SignalsError>;

fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(SignalsError(msg.into()))
}

/// What the signal commands need of one document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    pub source: String,
    pub language: Option<String>,
    /// UTF-8 bytes of the text as written.
    pub bytes: u64,
    pub attributes: Vec<(String, f64)>,
    /// For an excluded document: the stage that dropped it and its reason.
    pub dropped: Option<(String, String)>,
}

impl Record {
    pub fn attribute(&self, name: &str) -> Option<f64> {
        self.attributes.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
    }
}

/// A run's output directory and its resolved recipe (`_sluice/recipe.json`).
pub struct RunOutput {
    pub root: PathBuf,
    pub recipe: Value,
}

impl RunOutput {
    pub fn open(root: &Path) -> Result<RunOutput> {
        let path = root.join("_sluice").join("recipe.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| SignalsError(format!("{}: {e} (is {} a sluice output directory?)", path.display(), root.display())))?;
        let recipe = serde_json::from_str(&text).map_err(|e| SignalsError(format!("{}: {e}", path.display())))?;
        Ok(RunOutput { root: root.to_path_buf(), recipe })
    }

    /// The writer whose documents are read: `name`, or the first Parquet
    /// writer of the recipe, or else the first JSONL one (two writers of
    /// one run usually hold the same documents, so only one is read).
    pub fn writer(&self, name: Option<&str>) -> Result<String> {
        let writers = self.recipe["writers"].as_object().cloned().unwrap_or_default();
        if let Some(n) = name {
            return if writers.contains_key(n) {
                Ok(n.to_string())
            } else {
                err(format!("the recipe has no writer `{n}` (writers: {})", names(&writers)))
            };
        }
        for want in ["parquet", "jsonl"] {
            if let Some((n, _)) = writers.iter().find(|(_, w)| w["kind"] == want) {
                return Ok(n.clone());
            }
        }
        err(format!("the run has no parquet or jsonl writer (writers: {})", names(&writers)))
    }

    /// Every document the writer wrote, then (with `excluded`) every
    /// document an exclusion sink kept, in file order.
    pub fn scan(&self, writer: &str, excluded: bool, mut f: impl FnMut(Record)) -> Result<()> {
        for file in shard_files(&self.root.join(writer))? {
            read_file(&file, &mut f)?;
        }
        if excluded {
            let dir = self.root.join("excluded");
            if dir.is_dir() {
                for file in shard_files(&dir)? {
                    read_file(&file, &mut f)?;
                }
            }
        }
        Ok(())
    }
}

fn names(m: &serde_json::Map<String, Value>) -> String {
    m.keys().cloned().collect::<Vec<_>>().join(", ")
}

/// Data files under `dir`, recursively, sorted by path.
fn shard_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| SignalsError(format!("{}: {e}", d.display())))?;
        for e in entries {
            let p = e.map_err(|e| SignalsError(format!("{}: {e}", d.display())))?.path();
            if p.is_dir() {
                stack.push(p);
            } else if is_data_file(&p) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn is_data_file(p: &Path) -> bool {
    let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    !n.starts_with('.') && [".parquet", ".jsonl", ".jsonl.zst", ".jsonl.gz"].iter().any(|e| n.ends_with(e))
}

#[derive(Deserialize, Default)]
struct MetaFields {
    language: Option<String>,
    drop_reason: Option<String>,
    dropped_by: Option<String>,
}

#[derive(Deserialize)]
struct JsonRow {
    #[serde(default)]
    text: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    metadata: Option<MetaFields>,
    #[serde(default)]
    attributes: BTreeMap<String, f64>,
}

fn record_from_meta(source: String, bytes: u64, meta: Option<MetaFields>, attributes: Vec<(String, f64)>) -> Record {
    let meta = meta.unwrap_or_default();
    Record {
        source,
        language: meta.language,
        bytes,
        attributes,
        dropped: match (meta.dropped_by, meta.drop_reason) {
            (Some(by), Some(r)) => Some((by, r)),
            _ => None,
        },
    }
}

fn read_file(path: &Path, f: &mut impl FnMut(Record)) -> Result<()> {
    let name = path.to_string_lossy();
    if name.ends_with(".parquet") {
        return read_parquet(path, f);
    }
    let file = File::open(path).map_err(|e| SignalsError(format!("{}: {e}", path.display())))?;
    let reader: Box<dyn BufRead> = if name.ends_with(".zst") {
        Box::new(BufReader::new(zstd::Decoder::new(file).map_err(|e| SignalsError(format!("{}: {e}", path.display())))?))
    } else if name.ends_with(".gz") {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| SignalsError(format!("{} line {}: {e}", path.display(), i + 1)))?;
        if line.trim().is_empty() {
            continue;
        }
        let row: JsonRow = serde_json::from_str(&line).map_err(|e| SignalsError(format!("{} line {}: {e}", path.display(), i + 1)))?;
        f(record_from_meta(row.source, row.text.len() as u64, row.metadata, row.attributes.into_iter().collect()));
    }
    Ok(())
}

/// Parquet shards as the `parquet` writer writes them: `text`, `source`,
/// `metadata` (JSON string) and `attributes` (map of f64); only those
/// columns are decoded.
fn read_parquet(path: &Path, f: &mut impl FnMut(Record)) -> Result<()> {
    let e = |x: &dyn std::fmt::Display| SignalsError(format!("{}: {x}", path.display()));
    let file = File::open(path).map_err(|x| e(&x))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|x| e(&x))?;
    let schema = builder.schema().clone();
    let want = ["text", "source", "metadata", "attributes"];
    let mut roots = Vec::new();
    for w in want {
        match schema.index_of(w) {
            Ok(i) => roots.push(i),
            Err(_) if w == "source" || w == "text" => return Err(e(&format!("no `{w}` column"))),
            Err(_) => {}
        }
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder.with_projection(mask).with_batch_size(4096).build().map_err(|x| e(&x))?;
    for batch in reader {
        let batch = batch.map_err(|x| e(&x))?;
        let col = |n: &str| batch.column_by_name(n);
        let text = col("text").and_then(|c| c.as_string_opt::<i32>()).ok_or_else(|| e(&"`text` is not a string column"))?;
        let source = col("source").and_then(|c| c.as_string_opt::<i32>()).ok_or_else(|| e(&"`source` is not a string column"))?;
        let meta = col("metadata").and_then(|c| c.as_string_opt::<i32>());
        let attrs = col("attributes").and_then(|c| c.as_map_opt());
        let (keys, values) = match attrs {
            Some(m) => (
                Some(m.keys().as_string_opt::<i32>().ok_or_else(|| e(&"attribute keys are not strings"))?),
                Some(m.values().as_primitive_opt::<Float64Type>().ok_or_else(|| e(&"attribute values are not f64"))?),
            ),
            None => (None, None),
        };
        for i in 0..batch.num_rows() {
            let m: Option<MetaFields> = match meta {
                Some(m) if m.is_valid(i) => Some(serde_json::from_str(m.value(i)).map_err(|x| e(&format!("row metadata: {x}")))?),
                _ => None,
            };
            let mut attributes = Vec::new();
            if let (Some(map), Some(k), Some(v)) = (attrs, keys, values) {
                if map.is_valid(i) {
                    let off = map.value_offsets();
                    for j in off[i] as usize..off[i + 1] as usize {
                        attributes.push((k.value(j).to_string(), v.value(j)));
                    }
                }
            }
            f(record_from_meta(source.value(i).to_string(), text.value(i).len() as u64, m, attributes));
        }
    }
    Ok(())
}

/// The quantiles `--signals` prints.
pub const QUANTILES: &[(&str, f64)] =
    &[("p1", 0.01), ("p5", 0.05), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p95", 0.95), ("p99", 0.99)];

/// Summaries of every attribute, per group: `all`, `source=<name>` and
/// `language=<code>` (documents without a language count in
/// `language=none`).
#[derive(Debug, Default)]
pub struct SignalStats {
    pub documents: u64,
    pub groups: BTreeMap<String, BTreeMap<String, Summary>>,
}

impl SignalStats {
    pub fn add(&mut self, r: &Record) {
        self.documents += 1;
        let groups = ["all".to_string(), format!("source={}", r.source), format!("language={}", r.language.as_deref().unwrap_or("none"))];
        for g in groups {
            let m = self.groups.entry(g).or_default();
            for (k, v) in &r.attributes {
                m.entry(k.clone()).or_insert_with(Summary::new).add(*v);
            }
        }
    }

    /// Attribute names, each once.
    fn attributes(&self) -> Vec<&String> {
        self.groups.get("all").map(|m| m.keys().collect()).unwrap_or_default()
    }

    pub fn to_json(&self, writer: &str) -> Value {
        let mut groups = Vec::new();
        for (g, m) in &self.groups {
            let mut sig = serde_json::Map::new();
            for (k, s) in m {
                let mut o = serde_json::Map::new();
                o.insert("count".into(), s.count().into());
                o.insert("mean".into(), s.mean().into());
                o.insert("min".into(), s.min().into());
                for (name, q) in QUANTILES {
                    o.insert((*name).into(), s.quantile(*q).into());
                }
                o.insert("max".into(), s.max().into());
                o.insert("exact".into(), s.is_exact().into());
                sig.insert(k.clone(), o.into());
            }
            groups.push(serde_json::json!({"group": g, "signals": sig}));
        }
        serde_json::json!({"kind": "signals", "writer": writer, "documents": self.documents, "groups": groups})
    }

    pub fn table(&self, w: &mut dyn Write) -> std::io::Result<()> {
        write!(w, "{:<32} {:<24} {:>9} {:>10}", "signal", "group", "count", "mean")?;
        for (n, _) in QUANTILES {
            write!(w, " {n:>9}")?;
        }
        writeln!(w)?;
        // group order: all, then sources, then languages
        let mut order: Vec<&String> = self.groups.keys().collect();
        order.sort_by_key(|g| {
            (
                if *g == "all" {
                    0
                } else if g.starts_with("source=") {
                    1
                } else {
                    2
                },
                g.to_string(),
            )
        });
        for a in self.attributes() {
            for (i, g) in order.iter().enumerate() {
                let Some(s) = self.groups[*g].get(a) else { continue };
                let name = if i == 0 { a.as_str() } else { "" };
                write!(w, "{:<32} {:<24} {:>9} {:>10}", name, g, s.count(), num(s.mean()))?;
                for (_, q) in QUANTILES {
                    write!(w, " {:>9}", num(s.quantile(*q)))?;
                }
                writeln!(w, "{}", if s.is_exact() { "" } else { "  ~" })?;
            }
        }
        writeln!(w, "\n{} documents. Quantiles are exact, except on rows marked ~ (within 0.5 %).", self.documents)
    }
}

/// A number in at most 9 columns.
pub(crate) fn num(v: Option<f64>) -> String {
    let Some(v) = v else { return "-".into() };
    if v == v.trunc() && v.abs() < 1e9 {
        return format!("{v:.0}");
    }
    let a = v.abs();
    if a >= 1e6 || a < 1e-3 {
        format!("{v:.2e}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.4}")
    }
}

/// `sluice stats OUT --signals [--what-if A ...]`: print the quantiles of
/// every attribute and/or the what-if tables.
#[allow(clippy::too_many_arguments)]
pub fn run_cli(
    kinds: &sluice_pipeline::Kinds,
    out: &Path,
    signals: bool,
    what_if: &[String],
    writer: Option<&str>,
    json: bool,
    w: &mut dyn Write,
) -> Result<()> {
    let run = RunOutput::open(out)?;
    let writer = run.writer(writer)?;
    let io = |e: std::io::Error| SignalsError(e.to_string());
    let mut report = serde_json::Map::new();
    if signals {
        let mut st = SignalStats::default();
        run.scan(&writer, false, |r| st.add(&r))?;
        if json {
            report.insert("signals".into(), st.to_json(&writer));
        } else {
            writeln!(w, "signals of the documents written by `{writer}`:\n").map_err(io)?;
            st.table(w).map_err(io)?;
        }
    }
    if !what_if.is_empty() {
        let assignments = what_if.iter().map(|a| parse_assignment(kinds, &run.recipe, a)).collect::<Result<Vec<_>>>()?;
        let result = whatif::evaluate(&run, &writer, &assignments)?;
        if json {
            report.insert("what_if".into(), result.to_json());
        } else {
            if signals {
                writeln!(w).map_err(io)?;
            }
            result.table(w).map_err(io)?;
        }
    }
    if json {
        serde_json::to_writer_pretty(&mut *w, &Value::Object(report)).map_err(|e| SignalsError(e.to_string()))?;
        writeln!(w).map_err(io)?;
    }
    Ok(())
}
