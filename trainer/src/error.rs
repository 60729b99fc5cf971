//! Typed errors for the trainer library. Every variant names the file, step or
//! field that went wrong so a failed run can be diagnosed from its message alone.

use std::path::PathBuf;

/// Errors raised by the trainer, the shard reader, checkpoints, export and eval.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("shard {path}: {msg}")]
    Shard { path: PathBuf, msg: String },
    #[error("manifest {path}: {msg}")]
    Manifest { path: PathBuf, msg: String },
    #[error("checkpoint {path}: {msg}")]
    Checkpoint { path: PathBuf, msg: String },
    #[error("tokenizer {path}: {msg}")]
    Tokenizer { path: PathBuf, msg: String },
    #[error("eval data {path}: {msg}")]
    EvalData { path: PathBuf, msg: String },
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Training diverged: the loss or the gradient norm stopped being finite.
    #[error("training diverged at step {step}: {what} is {value}")]
    NonFinite { step: usize, what: &'static str, value: f64 },
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A condition that should be impossible: a bug in sluice, not in the input.
    #[error("internal error (this is a bug): {0}")]
    Internal(String),
}

pub type Result<T, E = TrainError> = std::result::Result<T, E>;

impl TrainError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io { path: path.into(), source }
    }
}

/// Largest JSON file (manifest, checkpoint state, run config) the trainer reads.
pub const MAX_JSON_FILE: u64 = 64 << 20;
/// Largest tokenizer, eval data or other small file named by an option or a manifest.
pub const MAX_OPTION_FILE: u64 = 256 << 20;

/// Read a whole regular file of at most `max` bytes, naming it in the error.
/// Devices (`/dev/zero`), FIFOs and directories are refused before any read,
/// and a file that grows while it is read stops at `max + 1` bytes and fails.
pub(crate) fn read_file_limited(path: &std::path::Path, max: u64) -> Result<Vec<u8>> {
    sluice_format::read_file_limited(path, max).map_err(|e| match e {
        sluice_format::FormatError::Io { path, source } => TrainError::Io { path, source },
        other => TrainError::io(path, std::io::Error::other(other.reason())),
    })
}

/// Read a whole regular file of at most [`MAX_OPTION_FILE`] bytes (eval data, reference texts).
pub(crate) fn read_file(path: &std::path::Path) -> Result<Vec<u8>> {
    read_file_limited(path, MAX_OPTION_FILE)
}

/// Read and parse a JSON file (at most [`MAX_JSON_FILE`] bytes), naming it in the error.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T> {
    let bytes = read_file_limited(path, MAX_JSON_FILE)?;
    serde_json::from_slice(&bytes).map_err(|source| TrainError::Json { path: path.to_path_buf(), source })
}

/// Write a file atomically: write a temporary sibling, then rename over the target,
/// so a reader (or a resumed run after a crash) never sees a half-written file.
pub(crate) fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_sibling(path);
    std::fs::write(&tmp, bytes).map_err(|e| TrainError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| TrainError::io(path, e))
}

pub(crate) fn tmp_sibling(path: &std::path::Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

/// Save named tensors as safetensors (the format orders tensors itself, so the
/// HashMap's order does not leak into the file).
pub(crate) fn save_safetensors(ts: &std::collections::BTreeMap<String, candle_core::Tensor>, path: &std::path::Path) -> Result<()> {
    let map: std::collections::HashMap<&str, candle_core::Tensor> = ts.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    candle_core::safetensors::save(&map, path)?;
    Ok(())
}
