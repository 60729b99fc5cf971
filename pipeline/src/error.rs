//! Error types. Library errors name the file, the record and the reason;
//! the binary wraps them with `anyhow` and prints the whole chain.

use std::fmt;
use std::path::PathBuf;

use crate::recipe::Diagnostic;

/// Where in an input file a record sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Locator {
    /// The whole file (it could not be opened or listed).
    File,
    /// 1-based line number (JSONL).
    Line(u64),
    /// Byte offset in the (uncompressed) stream (WARC).
    Offset(u64),
    /// 0-based row number (Parquet).
    Row(u64),
}

impl fmt::Display for Locator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Locator::File => f.write_str("file"),
            Locator::Line(n) => write!(f, "line {n}"),
            Locator::Offset(n) => write!(f, "byte offset {n}"),
            Locator::Row(n) => write!(f, "row {n}"),
        }
    }
}

/// A malformed or unreadable input record. Counted, reported and skipped
/// (or fatal with `--strict`).
#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize)]
#[error("{file}: {location}: {reason}")]
pub struct RecordError {
    pub file: String,
    pub location: Locator,
    /// A short, stable category used as the stats key (`invalid_json`,
    /// `truncated`, `invalid_utf8`, ...).
    pub kind: &'static str,
    /// The human explanation.
    pub reason: String,
}

impl RecordError {
    pub fn new(file: impl Into<String>, location: Locator, kind: &'static str, reason: impl Into<String>) -> Self {
        RecordError { file: file.into(), location, kind, reason: reason.into() }
    }
}

/// The engine's error type.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Displays the path; the I/O error is the source, so an error chain
    /// reads `path: reason`.
    #[error("{}", path.display())]
    Io { path: PathBuf, source: std::io::Error },

    #[error("the recipe has {} error(s):\n{}", .0.len(), DiagList(.0))]
    Recipe(Vec<Diagnostic>),

    #[error("malformed input (--strict): {0}")]
    Record(#[from] RecordError),

    #[error("stage `{node}`: {message}")]
    Stage { node: String, message: String },

    #[error("output directory {}: {message}", dir.display())]
    Output { dir: PathBuf, message: String },

    /// Another node failed; this one stopped early. Never the error shown to
    /// the user when a real one exists.
    #[error("run aborted")]
    Aborted,

    #[error("internal error (this is a bug in sluice): {0}")]
    Internal(String),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    pub fn stage(node: impl Into<String>, message: impl fmt::Display) -> Self {
        Error::Stage { node: node.into(), message: message.to_string() }
    }
}

struct DiagList<'a>(&'a [Diagnostic]);

impl fmt::Display for DiagList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  {d}")?;
        }
        Ok(())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
