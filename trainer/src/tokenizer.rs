//! A thin wrapper over a Hugging Face `tokenizer.json`: load, encode without
//! special tokens, and know the end-of-document id.

use crate::error::{Result, TrainError};
use std::path::{Path, PathBuf};

pub struct Tok {
    pub path: PathBuf,
    pub inner: tokenizers::Tokenizer,
}

impl Tok {
    pub fn load(path: &Path) -> Result<Tok> {
        let inner =
            tokenizers::Tokenizer::from_file(path).map_err(|e| TrainError::Tokenizer { path: path.to_path_buf(), msg: e.to_string() })?;
        Ok(Tok { path: path.to_path_buf(), inner })
    }

    /// Token ids of `text`, with no special tokens added.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| TrainError::Tokenizer { path: self.path.clone(), msg: format!("encoding failed: {e}") })?;
        Ok(enc.get_ids().to_vec())
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn token_to_id(&self, t: &str) -> Option<u32> {
        self.inner.token_to_id(t)
    }
}
