//! The one error type of the format readers, and bounded file reads.

use std::fmt::Display;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A file of one of sluice's formats that could not be read: the message
/// names the file (and, where there is one, the line or row) and the reason.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not what its format says.
    #[error("{file}: {reason}")]
    Invalid { file: String, reason: String },
}

pub type Result<T, E = FormatError> = std::result::Result<T, E>;

impl FormatError {
    pub fn io(path: &Path, source: std::io::Error) -> FormatError {
        FormatError::Io { path: path.to_path_buf(), source }
    }

    /// `file` is how the file is named in the message (a path, or a path
    /// and a line).
    pub fn invalid(file: impl Display, reason: impl Into<String>) -> FormatError {
        FormatError::Invalid { file: file.to_string(), reason: reason.into() }
    }

    /// The reason without the file name.
    pub fn reason(&self) -> String {
        match self {
            FormatError::Io { source, .. } => source.to_string(),
            FormatError::Invalid { reason, .. } => reason.clone(),
        }
    }
}

/// Read a whole regular file of at most `max` bytes. Devices (`/dev/zero`),
/// FIFOs and directories are refused before any read, and a file that grows
/// while it is read stops at `max + 1` bytes and fails.
pub fn read_file_limited(path: &Path, max: u64) -> Result<Vec<u8>> {
    let f = std::fs::File::open(path).map_err(|e| FormatError::io(path, e))?;
    let meta = f.metadata().map_err(|e| FormatError::io(path, e))?;
    if !meta.is_file() {
        return Err(FormatError::io(path, std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file")));
    }
    let too_large = |what: String| FormatError::io(path, std::io::Error::new(std::io::ErrorKind::InvalidInput, what));
    if meta.len() > max {
        return Err(too_large(format!("{} bytes, over the limit of {max} bytes", meta.len())));
    }
    let mut out = Vec::with_capacity(meta.len() as usize);
    f.take(max.saturating_add(1)).read_to_end(&mut out).map_err(|e| FormatError::io(path, e))?;
    if out.len() as u64 > max {
        return Err(too_large(format!("grew past the limit of {max} bytes while being read")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_reads_refuse_devices_directories_and_large_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a");
        std::fs::write(&p, b"12345").unwrap();
        assert_eq!(read_file_limited(&p, 5).unwrap(), b"12345");
        let e = read_file_limited(&p, 4).unwrap_err().to_string();
        assert!(e.contains("over the limit of 4 bytes") && e.contains("/a"), "{e}");
        assert!(read_file_limited(dir.path(), 10).unwrap_err().to_string().contains("not a regular file"));
        assert!(read_file_limited(Path::new("/dev/zero"), 10).unwrap_err().to_string().contains("not a regular file"));
        assert!(read_file_limited(&dir.path().join("missing"), 10).is_err());
    }
}
