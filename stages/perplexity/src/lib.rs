//! sluice-perplexity: score documents with a reference language model that
//! `sluice train` trained on high-quality text, and bucket them CCNet-style.
//!
//! - [`scorer`]: tokenise, window, batch by padded length, sum token NLLs;
//!   `ppl_nll`, `ppl` and the tokenizer-independent `ppl_bpb`;
//! - [`buckets`]: per-language percentile cut-offs (head / middle / tail);
//! - [`stage`]: the `perplexity` recipe stage (a stream stage: each engine
//!   batch is scored in one call);
//! - [`cli`]: `sluice ppl calibrate|score|auc|bench`.
//!
//! Scores of a document do not depend on the documents it is batched with
//! (see [`scorer`]), so the stage's output is the same whatever `--tasks`.

pub mod buckets;
pub mod cli;
pub mod scorer;
pub mod stage;

pub use buckets::{Bucket, Cutoffs, Metric};
pub use scorer::{DeviceChoice, PplScorer, Score, ScoreOptions};
pub use stage::{PerplexityConfig, PerplexityFactory};
