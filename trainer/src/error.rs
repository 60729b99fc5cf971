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

/// A file that appears under its final name only when [`commit`] is called:
/// it is written under a temporary sibling name (`.NAME.tmp-PID-N`), synced
/// and renamed into place, so a reader (or a run resumed after a crash)
/// never sees half of it. Every file the trainer writes goes through here.
///
/// The temporary is created like any other file, with mode 0666 less the
/// process's umask (`create_new`, which also refuses to open a link planted
/// under its name): checkpoints and exports get the permissions the user's
/// umask gives, not a temporary file's private 0600.
///
/// [`commit`]: AtomicWriter::commit
pub(crate) struct AtomicWriter {
    path: PathBuf,
    tmp: PathBuf,
    out: Option<std::io::BufWriter<std::fs::File>>,
}

impl AtomicWriter {
    pub(crate) fn create(path: &std::path::Path) -> Result<Self> {
        let tmp = tmp_sibling(path);
        let open = || std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp);
        let f = match open() {
            // A leftover of a killed process that had our pid: ours to replace.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                std::fs::remove_file(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
                open()
            }
            r => r,
        }
        .map_err(|e| TrainError::io(&tmp, e))?;
        Ok(AtomicWriter { path: path.to_path_buf(), tmp, out: Some(std::io::BufWriter::with_capacity(1 << 20, f)) })
    }

    /// Flush, fsync and rename into place.
    pub(crate) fn commit(mut self) -> Result<()> {
        let out = self.out.take().expect("committed once");
        let f = out.into_inner().map_err(|e| TrainError::io(&self.tmp, e.into_error()))?;
        f.sync_all().map_err(|e| TrainError::io(&self.tmp, e))?;
        drop(f);
        if let Err(e) = std::fs::rename(&self.tmp, &self.path) {
            let _ = std::fs::remove_file(&self.tmp);
            return Err(TrainError::io(&self.path, e));
        }
        // Persist the rename too (best effort: not every filesystem syncs directories).
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl std::io::Write for AtomicWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.as_mut().expect("not committed").write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.as_mut().expect("not committed").flush()
    }
}

impl Drop for AtomicWriter {
    fn drop(&mut self) {
        // Dropped without commit (an error path): leave no temporary behind.
        if self.out.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Write a file atomically ([`AtomicWriter`]).
pub(crate) fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = AtomicWriter::create(path)?;
    f.write_all(bytes).map_err(|e| TrainError::io(path, e))?;
    f.commit()
}

/// `.NAME.tmp-PID-N` beside `path`: hidden, and unique within the process.
fn tmp_sibling(path: &std::path::Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".tmp-{}-{n}", std::process::id()));
    path.with_file_name(name)
}

/// Save named fp32 tensors as safetensors, atomically ([`AtomicWriter`]),
/// streaming one tensor at a time.
///
/// The bytes are those of the `safetensors` crate's own writer (which
/// `candle_core::safetensors::save` calls): an 8-byte little-endian header
/// length, the JSON header (tensors ordered by name, since they share one
/// dtype; `dtype`, `shape`, `data_offsets` each), padded with spaces to a
/// multiple of 8, then the data. That writer is not used because it writes
/// through a `tempfile` temporary, whose mode 0600 the file keeps.
pub(crate) fn save_safetensors(ts: &std::collections::BTreeMap<String, candle_core::Tensor>, path: &std::path::Path) -> Result<()> {
    use std::io::Write;
    let mut header = String::from("{");
    let mut offset = 0usize;
    for (i, (name, t)) in ts.iter().enumerate() {
        if t.dtype() != candle_core::DType::F32 {
            return Err(TrainError::Internal(format!("{}: tensor {name} is {:?}; only fp32 tensors are saved", path.display(), t.dtype())));
        }
        let len = t.elem_count() * 4;
        let name_json = serde_json::to_string(name).map_err(|e| TrainError::Internal(e.to_string()))?;
        let shape: Vec<String> = t.dims().iter().map(usize::to_string).collect();
        if i > 0 {
            header.push(',');
        }
        header.push_str(&format!(
            "{name_json}:{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[{offset},{}]}}",
            shape.join(","),
            offset + len
        ));
        offset += len;
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut f = AtomicWriter::create(path)?;
    let io = |e| TrainError::io(path, e);
    f.write_all(&(header.len() as u64).to_le_bytes()).map_err(io)?;
    f.write_all(header.as_bytes()).map_err(io)?;
    for t in ts.values() {
        let data = t.flatten_all()?.to_vec1::<f32>()?;
        let mut bytes = Vec::with_capacity(data.len() * 4);
        for x in data {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        f.write_all(&bytes).map_err(io)?;
    }
    f.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    /// The streaming writer gives the bytes of the `safetensors` crate's own
    /// (through candle), leaves no temporary, and refuses other dtypes.
    #[test]
    fn safetensors_bytes_match_candles_writer() {
        let d = tempfile::tempdir().unwrap();
        let mut ts = std::collections::BTreeMap::new();
        let v: Vec<f32> = (0..60).map(|i| i as f32 * 0.25 - 3.0).collect();
        ts.insert("model.layers.0.w".to_string(), Tensor::from_vec(v[..12].to_vec(), (3, 4), &Device::Cpu).unwrap());
        ts.insert("a\"quoted\\name".to_string(), Tensor::from_vec(v[12..13].to_vec(), (1,), &Device::Cpu).unwrap());
        ts.insert("lm_head.weight".to_string(), Tensor::from_vec(v[13..].to_vec(), (47,), &Device::Cpu).unwrap());
        let ours = d.path().join("ours.safetensors");
        save_safetensors(&ts, &ours).unwrap();
        let theirs = d.path().join("theirs.safetensors");
        let map: std::collections::HashMap<&str, Tensor> = ts.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        candle_core::safetensors::save(&map, &theirs).unwrap();
        assert_eq!(std::fs::read(&ours).unwrap(), std::fs::read(&theirs).unwrap());
        let back = candle_core::safetensors::load(&ours, &Device::Cpu).unwrap();
        assert_eq!(back["lm_head.weight"].to_vec1::<f32>().unwrap(), v[13..].to_vec());

        let half = std::collections::BTreeMap::from([("x".to_string(), ts["lm_head.weight"].to_dtype(candle_core::DType::F16).unwrap())]);
        assert!(save_safetensors(&half, &d.path().join("h.safetensors")).is_err());
        let mut left: Vec<String> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, vec!["ours.safetensors", "theirs.safetensors"]);
    }
}
