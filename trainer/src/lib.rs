//! sluice-train: pretraining on sluice token shards, checkpoints, export to
//! Hugging Face Llama format, and log-likelihood evaluation.
//!
//! The pieces, in the order data flows through them:
//! - [`shards`]: llm.c-format shards, `manifest.json`, the seeded data loader;
//! - [`model`]: the Llama-style transformer (candle) and its presets;
//! - [`optim`]: AdamW, the warmup + cosine schedule, global-norm clipping;
//! - [`train`]: the loop, metrics JSONL, validation and the loss plot;
//! - [`checkpoint`]: atomic, exactly resumable checkpoints;
//! - [`export`]: `config.json` + `model.safetensors` + `tokenizer.json` for HF;
//! - [`eval`]: one batched log-likelihood scorer and the benchmark tasks;
//! - [`refdata`]: builds real shards (BPE on the reference texts) for tests and benches;
//! - [`cli`]: clap arguments and entry points for `sluice train|eval|export`.
//!
//! The model in a few lines (the loss is differentiable end to end):
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use sluice_train::model::{ModelConfig, Params, Transformer};
//!
//! let dev = Device::Cpu;
//! let cfg = ModelConfig::preset("tiny", 256)?;
//! let params = Params::init(&cfg, 0, DType::F32, &dev)?;
//! let model = Transformer::new(&cfg, DType::F32, &dev)?;
//! let x = Tensor::new(&[[1u32, 2, 3, 4]], &dev)?;
//! let y = Tensor::new(&[[2u32, 3, 4, 5]], &dev)?;
//! let loss = model.loss(&params.tensors(), &x, &y, None)?;
//! // An untrained model is close to uniform: loss ~ ln(256).
//! assert!((loss.to_scalar::<f32>()? - 256f32.ln()).abs() < 0.5);
//! let grads = loss.backward()?;
//! assert!(grads.get(params.vars["model.norm.weight"].as_tensor()).is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod checkpoint;
pub mod cli;
pub mod error;
pub mod eval;
pub mod export;
pub mod model;
pub mod optim;
pub mod plot;
pub mod refdata;
pub mod shards;
pub mod tokenizer;
pub mod train;

pub use error::{Result, TrainError};
