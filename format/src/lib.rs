//! sluice's file formats, one implementation each:
//!
//! - [`shard`]: llm.c token shards, Megatron `.bin`/`.idx`, the `.bounds`
//!   document starts and `manifest.json` (written by the `pack` stage, read
//!   by `sluice inspect` and the trainer);
//! - [`rows`] (feature `rows`): the document rows of sluice's own JSONL and
//!   Parquet output (column names and types, how metadata and attributes
//!   are encoded), written by the writers and read back by the readers,
//!   `sluice stats --signals/--what-if` and the report.
//!
//! Every reader here treats its input as untrusted: a truncated or corrupt
//! file is a [`FormatError`] naming the file and the reason, never a panic.
//! The crate depends on no other sluice crate.
//!
//! ```
//! use sluice_format::shard::{llmc_bytes, parse_llmc, TokenDtype};
//!
//! let bytes = llmc_bytes(&[1, 2, 3], TokenDtype::Uint16).unwrap();
//! assert_eq!(parse_llmc("a.bin", &bytes).unwrap().tokens, vec![1, 2, 3]);
//! let e = parse_llmc("a.bin", &bytes[..1029]).unwrap_err();
//! assert!(e.to_string().starts_with("a.bin: header says 3 tokens"), "{e}");
//! ```

pub mod error;
#[cfg(feature = "rows")]
pub mod rows;
pub mod shard;

pub use error::{read_file_limited, FormatError, Result};
