//! Quality signals after a run: quantiles of every numeric attribute per
//! source and language (`sluice stats OUT --signals`), and what a changed
//! threshold would keep or drop (`sluice stats OUT --what-if
//! 'gopher_quality.min_doc_words=80'`), from the recorded attributes,
//! without running the pipeline again.
//!
//! Both read the run's output with bounded memory through
//! `sluice_format::rows`: Parquet shards with only the columns they need, or
//! JSONL shards line by line, one file at a time. Quantiles come from a mergeable [`sketch::Summary`] per signal
//! and group (exact while a signal has at most 4,096 distinct values, 0.5 %
//! relative error after), so memory grows with the number of sources,
//! languages and attributes, never with the number of documents.

pub mod sketch;
mod whatif;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sluice_format::rows;

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
    rows::is_row_file(p)
}

/// The rows of one data file, read by `sluice_format::rows` (the one reader
/// of sluice's own output): the text is read for its length only.
fn read_file(path: &Path, f: &mut impl FnMut(Record)) -> Result<()> {
    rows::for_each_row(path, rows::Columns { id: false, text: true }, None, &mut |r| {
        f(Record {
            source: r.source.to_string(),
            language: r.meta.language,
            bytes: r.text.map_or(0, |t| t.len() as u64),
            attributes: r.attributes,
            dropped: match (r.meta.dropped_by, r.meta.drop_reason) {
                (Some(by), Some(reason)) => Some((by, reason)),
                _ => None,
            },
        });
        true
    })
    .map(|_| ())
    .map_err(|e| SignalsError(e.to_string()))
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
                m.entry(k.clone()).or_default().add(*v);
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
    if !(1e-3..1e6).contains(&a) {
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
