//! fastText supervised models in Rust: read and write fastText's `.bin`
//! format (and read quantized `.ftz`), tokenise and hash exactly as fastText
//! does, predict with softmax, one-vs-all or hierarchical softmax, and train
//! deterministically.
//!
//! ```no_run
//! use sluice_fasttext::{Model, Scratch};
//! let model = Model::load(std::path::Path::new("model.bin"))?;
//! let mut scratch = Scratch::new();
//! let mut probs = Vec::new();
//! // A trailing '\n' scores the text as Python's `model.predict(text)` does.
//! model.predict_into("some text to classify\n", &mut scratch, &mut probs);
//! for (label, p) in model.labels().iter().zip(&probs) {
//!     println!("{label} {p}");
//! }
//! # Ok::<(), sluice_fasttext::Error>(())
//! ```

mod args;
mod dict;
mod error;
mod io;
mod matrix;
pub mod metrics;
mod model;
mod train;

pub use args::{Args, Loss, ModelKind};
pub use dict::{hash, is_space, EOS};
pub use error::Error;
pub use model::{Model, Scratch, MAGIC, VERSION};
pub use train::{train, TrainArgs, TrainReport};
