//! Shared harness of the fuzz targets (`fuzz_targets/*.rs`).
//!
//! Readers read files, so a target writes its input to a scratch file and
//! drives the reader exactly as the executor does (`files`, `open`, every
//! item of the iterator, `decode` of every record, errors included). Any
//! panic, abort, hang or allocation past libFuzzer's `-rss_limit_mb` is a
//! finding; errors are the expected outcome for broken input.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sluice_pipeline::Reader;

pub mod registry;
pub mod seeds;

// The `sluice` binary's registry and the `train:` section it checks,
// compiled here unchanged (a binary crate cannot be a dependency); the
// registry refers to `crate::train_section`, so both sit at the root.
#[cfg(feature = "full")]
#[allow(dead_code, unused_imports)]
#[path = "../../src/registry.rs"]
mod builtins;
#[cfg(feature = "full")]
#[allow(dead_code, unused_imports)]
#[path = "../../src/train_section.rs"]
mod train_section;

/// A scratch directory for this process: `$SLUICE_FUZZ_TMPDIR` (set by
/// `scripts/fuzz.sh`, which removes it afterwards) or the system temp dir,
/// plus the process id, so parallel jobs (`-jobs`, `-fork`) do not collide.
pub fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = std::env::var_os("SLUICE_FUZZ_TMPDIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        let d = base.join(format!("sluice-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("create the fuzz scratch directory");
        d
    })
}

/// A fresh empty sub-directory of the scratch directory (removed and
/// re-created on every call).
pub fn fresh_dir(name: &str) -> PathBuf {
    let d = scratch_dir().join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create a fuzz scratch sub-directory");
    d
}

/// Write `data` to `name` in a fresh scratch sub-directory; returns its path.
pub fn write_input(name: &str, data: &[u8]) -> PathBuf {
    let d = fresh_dir("input");
    let p = d.join(name);
    std::fs::write(&p, data).expect("write the fuzz input file");
    p
}

/// Split `data` into at most `n` parts at [`PART_SEPARATOR`] (multi-file
/// targets: a shard and its index, a manifest and its shards). Missing
/// parts are `None`.
pub fn split_parts(data: &[u8], n: usize) -> Vec<Option<&[u8]>> {
    let mut out = Vec::with_capacity(n);
    let mut rest = Some(data);
    for i in 0..n {
        let Some(r) = rest else {
            out.push(None);
            continue;
        };
        if i + 1 == n {
            out.push(Some(r));
            rest = None;
            continue;
        }
        match memfind(r, PART_SEPARATOR) {
            Some(at) => {
                out.push(Some(&r[..at]));
                rest = Some(&r[at + PART_SEPARATOR.len()..]);
            }
            None => {
                out.push(Some(r));
                rest = None;
            }
        }
    }
    out
}

/// Separates the files of a multi-file input (the seed builder writes it
/// too; `fuzz/sluice.dict` offers it to the mutator).
pub const PART_SEPARATOR: &[u8] = b"\n--SLUICE-FUZZ-PART--\n";

fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What one pass of a reader over its files produced.
#[derive(Debug, Default)]
pub struct Drained {
    pub files: usize,
    pub docs: usize,
    pub skipped: usize,
    pub errors: usize,
}

impl Drained {
    pub fn records(&self) -> usize {
        self.docs + self.skipped + self.errors
    }
}

/// Run a reader over its files as the executor does: every item of every
/// file's iterator (the executor goes on after an error), and `decode` of
/// every raw record.
pub fn drain(reader: &dyn Reader) -> Drained {
    let mut out = Drained::default();
    let files = match reader.files() {
        Ok(f) => f,
        Err(_) => return out,
    };
    for f in &files {
        out.files += 1;
        let iter = match reader.open(f) {
            Ok(it) => it,
            Err(_) => {
                out.errors += 1;
                continue;
            }
        };
        for item in iter {
            match item.and_then(|raw| reader.decode(f, raw)) {
                Ok(sluice_pipeline::Decoded::Doc(d)) => {
                    // Touch what writers and stages read.
                    std::hint::black_box((d.id.len(), d.text.len(), d.metadata.len()));
                    out.docs += 1;
                }
                Ok(sluice_pipeline::Decoded::Skip(_)) => out.skipped += 1,
                Err(e) => {
                    std::hint::black_box(e.to_string());
                    out.errors += 1;
                }
            }
        }
    }
    out
}

/// A reader built from its JSON options, which must be valid (the harness
/// writes them); `paths` is set to the input file.
pub fn config<T: serde::de::DeserializeOwned>(path: &Path, mut options: serde_json::Value) -> T {
    options["paths"] = serde_json::json!([path.display().to_string()]);
    serde_json::from_value(options.clone()).unwrap_or_else(|e| panic!("harness options {options} do not parse: {e}"))
}

/// A reader must not produce records out of nothing: every record, skip
/// or error consumes input. `bytes` is the size of the (uncompressed) input.
pub fn check_bounded(d: &Drained, bytes: usize) {
    assert!(d.records() <= 2 * bytes + 2, "{} records from {bytes} bytes: {d:?}", d.records());
}

/// Run `sluice inspect SHARD` (from sluice-tokens, as the binary does) with
/// its default options. Its report goes to stdout (`scripts/fuzz.sh` passes
/// `-close_fd_mask=1`).
pub fn inspect(shard: &Path) -> Result<(), String> {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: sluice_tokens::cli::InspectArgs,
    }
    let cli = Cli::try_parse_from([std::ffi::OsStr::new("inspect"), shard.as_os_str()]).map_err(|e| e.to_string())?;
    sluice_tokens::cli::inspect(&cli.args, &mut std::io::stdout()).map_err(|e| format!("{e:#}"))
}
