//! A thin wrapper over a Hugging Face `tokenizer.json`: load, encode without
//! special tokens, and know the end-of-document id.

use crate::error::{Result, TrainError};
use std::path::{Path, PathBuf};

pub struct Tok {
    pub path: PathBuf,
    pub inner: tokenizers::Tokenizer,
}

impl Tok {
    /// Load a `tokenizer.json` (a regular file of at most 256 MiB: a path from
    /// an option or a manifest may name a device or a huge file).
    pub fn load(path: &Path) -> Result<Tok> {
        let bytes = crate::error::read_file_limited(path, crate::error::MAX_OPTION_FILE)?;
        Self::from_bytes(path, &bytes)
    }

    /// Parse a `tokenizer.json` already read (and checked) from `path`.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Tok> {
        let err = |msg: String| TrainError::Tokenizer { path: path.to_path_buf(), msg };
        let text = std::str::from_utf8(bytes).map_err(|_| err("not UTF-8".into()))?;
        let inner: tokenizers::Tokenizer = text.parse().map_err(|e: tokenizers::Error| err(e.to_string()))?;
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
