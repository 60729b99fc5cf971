//! Writers: sharded, atomically published output files.
//!
//! Each writer writes `OUT/<writer>/{task:05}-{shard:05}.<ext>`, rolling
//! over to the next shard once a shard holds `max_shard_bytes` of text.
//! Files are written under a temporary name and renamed when complete, and
//! a task that writes no document creates no file.

pub mod jsonl;
pub mod parquet;

pub use jsonl::{JsonlWriter, JsonlWriterConfig};
pub use parquet::{ParquetWriter, ParquetWriterConfig};

/// The default shard size: 256 MB of uncompressed text.
pub const DEFAULT_SHARD_BYTES: u64 = 256_000_000;

pub(crate) fn default_shard_bytes() -> sluice_pipeline::size::ByteSize {
    sluice_pipeline::size::ByteSize(DEFAULT_SHARD_BYTES)
}

/// A document as a row of sluice's output format (`sluice_format::rows`).
pub(crate) fn row(d: &sluice_pipeline::Document) -> sluice_format::rows::RowRef<'_> {
    sluice_format::rows::RowRef { id: &d.id, text: &d.text, source: &d.source, metadata: &d.metadata, attributes: &d.attributes }
}
