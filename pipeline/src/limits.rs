//! Bounded reads of files that a recipe or a command line names.
//!
//! A recipe is untrusted input: `tokenizer: /dev/zero` or a 40 GB "word
//! list" must fail with a clear error, not read forever or exhaust memory.
//! Every file an option names goes through [`read_file_limited`], which
//! accepts only regular files no larger than a stated limit, and reads at
//! most that many bytes even if the file grows while it is read.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::error::{Error, Result};

/// Default limit for files named by options: word lists, blocklists,
/// tokenizers, JSON indexes and reports read back.
pub const MAX_OPTION_FILE: u64 = 256 << 20;

/// Read a whole regular file of at most `max_bytes` bytes.
///
/// Refuses directories, devices (`/dev/zero`), FIFOs and sockets before
/// opening them for reading, and files whose size exceeds `max_bytes`. The
/// error names the file and the limit.
pub fn read_file_limited(path: &Path, max_bytes: u64) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::io(path, io::Error::new(io::ErrorKind::InvalidInput, "not a regular file")));
    }
    if meta.len() > max_bytes {
        return Err(too_large(path, max_bytes));
    }
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    // The metadata check can race with the file being replaced or grown:
    // also bound the read itself.
    let mut buf = Vec::with_capacity(meta.len() as usize);
    f.take(max_bytes.saturating_add(1)).read_to_end(&mut buf).map_err(|e| Error::io(path, e))?;
    if buf.len() as u64 > max_bytes {
        return Err(too_large(path, max_bytes));
    }
    Ok(buf)
}

/// [`read_file_limited`], decoded as UTF-8 (an error names the file).
pub fn read_to_string_limited(path: &Path, max_bytes: u64) -> Result<String> {
    let bytes = read_file_limited(path, max_bytes)?;
    String::from_utf8(bytes).map_err(|e| {
        Error::io(path, io::Error::new(io::ErrorKind::InvalidData, format!("not UTF-8 (at byte {})", e.utf8_error().valid_up_to())))
    })
}

fn too_large(path: &Path, max_bytes: u64) -> Error {
    Error::io(path, io::Error::new(io::ErrorKind::InvalidInput, format!("larger than the limit of {max_bytes} bytes for this file")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_small_files_and_refuses_devices_dirs_and_large_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.txt");
        std::fs::write(&p, "hello").unwrap();
        assert_eq!(read_file_limited(&p, 5).unwrap(), b"hello");
        assert_eq!(read_to_string_limited(&p, 100).unwrap(), "hello");

        let e = read_file_limited(&p, 4).unwrap_err();
        assert!(format!("{e}: {}", std::error::Error::source(&e).unwrap()).contains("limit of 4 bytes"), "{e}");

        let e = read_file_limited(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        let msg = format!("{e}: {}", std::error::Error::source(&e).unwrap());
        assert!(msg.contains("/dev/zero") && msg.contains("not a regular file"), "{msg}");

        let e = read_file_limited(d.path(), 1 << 20).unwrap_err();
        assert!(std::error::Error::source(&e).unwrap().to_string().contains("not a regular file"));

        std::fs::write(&p, b"\xff\xfe").unwrap();
        let e = read_to_string_limited(&p, 100).unwrap_err();
        assert!(std::error::Error::source(&e).unwrap().to_string().contains("not UTF-8"));
    }
}
