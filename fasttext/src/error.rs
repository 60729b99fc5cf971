//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong reading, writing, training or predicting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model file (or stream) is not a valid fastText model.
    #[error("invalid fastText model at byte {offset}: {msg}")]
    Format { offset: u64, msg: String },
    /// The model file ends before a field it announces.
    #[error("truncated fastText model: {what} needs {need} bytes at byte {offset}, but only {have} remain")]
    Truncated { what: &'static str, offset: u64, need: u64, have: u64 },
    /// The model is valid but of a kind this crate does not handle.
    #[error("unsupported fastText model: {0}")]
    Unsupported(String),
    /// A training or test input line is unusable.
    #[error("{path}:{line}: {msg}")]
    Input { path: PathBuf, line: u64, msg: String },
    /// Bad training arguments.
    #[error("invalid training argument: {0}")]
    Args(String),
    /// An I/O error, with what was being done.
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    /// An error inside a named file.
    #[error("{}: {source}", path.display())]
    InFile { path: PathBuf, source: Box<Error> },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io { context: context.into(), source }
    }

    pub(crate) fn in_file(self, path: &std::path::Path) -> Error {
        match self {
            // Already names a file.
            e @ (Error::Input { .. } | Error::InFile { .. }) => e,
            e => Error::InFile { path: path.to_path_buf(), source: Box::new(e) },
        }
    }
}
