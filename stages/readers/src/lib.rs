//! Readers: where documents come from.
//!
//! Every reader lists its files deterministically ([`files`]), frames
//! records sequentially in its iterator, and decodes them (JSON parsing,
//! HTML extraction) in parallel in `Reader::decode`.
//!
//! [`web`] is the library under the WARC/WET and HTML readers: WARC
//! parsing, HTTP payload decoding, charset detection and main-text
//! extraction.

pub mod files;
pub mod jsonl;
pub mod parquet;
pub mod text;
pub mod warc;
pub mod web;

pub use files::FilesConfig;
pub use jsonl::{JsonlReader, JsonlReaderConfig};
pub use parquet::{ParquetReader, ParquetReaderConfig};
pub use text::{TextReader, TextReaderConfig};
pub use warc::{Flavor, WarcFileReader, WarcReaderConfig, WetReaderConfig};
