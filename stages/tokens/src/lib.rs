//! sluice tokens: from clean documents to token shards a trainer reads.
//!
//! - [`bpe`]: byte-level BPE tokenizers (HF `tokenizers`): the pre-tokenizer,
//!   training from an iterator of texts, loading, hashing;
//! - [`train_stage`]: `tokenizer_train`, a global stage that samples the stream
//!   by a byte budget per source and trains a tokenizer inside the run;
//! - [`tokenize`]: `tokenize`, a document stage that stores token ids on the
//!   document (see [`codec`]);
//! - [`mix`]: `mix`, a global stage that samples sources to token weights
//!   under a token budget with per-source epoch caps;
//! - [`pack`]: `pack`, a global stage that packs documents into fixed-length
//!   sequences, shuffles them, splits train/val by document and writes
//!   llm.c (or Megatron) shards with a `manifest.json`;
//! - [`shard`]: the shard file formats (`sluice-format`'s, re-exported);
//! - [`cli`]: `sluice tokenizer train|eval` and `sluice inspect`.

pub mod bpe;
pub mod cli;
pub mod codec;
pub mod fast;
pub mod mix;
pub mod pack;
pub mod tokenize;
pub mod train_stage;
pub mod util;

pub use sluice_format::shard;

pub use bpe::{BpeSpec, Normalization};
pub use mix::{MixConfig, MixStage};
pub use pack::{PackConfig, PackStage};
pub use tokenize::{Tokenize, TokenizeConfig};
pub use train_stage::{TokenizerTrainConfig, TokenizerTrainStage};
