//! Deduplication stages: MinHash LSH fuzzy dedup, exact dedup (with a
//! seeded Bloom filter to dedup a new dump against earlier ones) and
//! line/paragraph dedup. All three are [`sluice_pipeline::GlobalStage`]s:
//! observers write per-task files, steps sort and merge them on disk under
//! a memory budget, deciders drop documents with a reason. Decisions use
//! input positions (`DocPos`), never task numbers, so the output does not
//! depend on `--tasks` or `--threads`.

pub mod bloom;
pub mod exact;
pub mod lines;
pub mod minhash;
pub mod store;
pub mod testing;
/// Text normalisation and shingles ([`sluice_text::normalize`]).
pub use sluice_text::normalize as text;

pub use bloom::BloomFilter;
pub use exact::{ExactConfig, ExactDedup, KeepRule};
pub use lines::{LineDedup, LineDedupConfig};
pub use minhash::{s_curve, MinHashConfig, MinHashDedup};

/// An error with its chain of causes, `path: reason`, for option checks
/// whose message is shown without the chain.
pub(crate) use sluice_text::error_text;
