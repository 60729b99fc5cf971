//! `tokenize`: encode each document with a saved `tokenizer.json`.
//!
//! A document stage, so the engine runs it on rayon over each batch and
//! keeps the order: the output is the same whatever `--threads`. The ids go
//! to the document's typed `tokens` field and the count to
//! `attributes.tokens` (see [`crate::codec`]); the engine sums the counts
//! into the node's stats.

use std::path::PathBuf;

use sluice_pipeline::{DocStage, Document, Verdict};
use tokenizers::Tokenizer;

use crate::bpe;
use crate::codec;
use crate::fast::Encoder;

/// Options of the `tokenize` stage.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenizeConfig {
    /// A `tokenizer.json` (HF `tokenizers` format). To tokenize with a
    /// tokenizer trained in the same run, set `tokenize: true` on the
    /// `tokenizer_train` stage instead.
    pub tokenizer: PathBuf,
    /// Drop documents that encode to no tokens (empty text).
    #[serde(default = "yes")]
    pub drop_empty: bool,
}

fn yes() -> bool {
    true
}

impl TokenizeConfig {
    pub fn validate(&self) -> Vec<(String, String)> {
        match bpe::load(&self.tokenizer) {
            Ok(_) => vec![],
            Err(e) => vec![("tokenizer".into(), e)],
        }
    }

    pub fn build(&self) -> Result<Tokenize, Vec<(String, String)>> {
        let t = bpe::load(&self.tokenizer).map_err(|e| vec![("tokenizer".into(), e)])?;
        Ok(Tokenize::new(t, self.drop_empty))
    }
}

/// The runtime of `tokenize`.
pub struct Tokenize {
    pub encoder: Encoder,
    pub drop_empty: bool,
}

impl Tokenize {
    /// Uses the direct encoder ([`crate::fast`]) when the tokenizer has the
    /// shape this crate trains, HF otherwise; the ids are the same.
    pub fn new(tokenizer: Tokenizer, drop_empty: bool) -> Self {
        Tokenize { encoder: Encoder::from_tokenizer(tokenizer), drop_empty }
    }
}

impl DocStage for Tokenize {
    fn process(&self, doc: &mut Document) -> Verdict {
        match self.encoder.encode(&doc.text) {
            Ok(ids) if ids.is_empty() && self.drop_empty => Verdict::Drop("tokens_empty".into()),
            Ok(ids) => {
                codec::set_tokens(doc, &ids);
                Verdict::Keep
            }
            // The HF encoder fails only on internal errors (a regex engine
            // limit on a pathological input); drop with a reason, never panic.
            Err(_) => Verdict::Drop("tokenizer_error".into()),
        }
    }

    fn counted_attributes(&self) -> Vec<String> {
        vec![codec::TOKENS_KEY.into()]
    }
}

impl sluice_pipeline::component::Component for TokenizeConfig {
    const KIND: &'static str = "tokenize";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Stage;
    const ABOUT: &'static str = "Encodes each document with a tokenizer.json: typed ids on the document (writers write them as metadata.tokens with `tokens: true`), count in attributes.tokens";

    fn validate(&self) -> Vec<(String, String)> {
        TokenizeConfig::validate(self)
    }

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        TokenizeConfig::build(self).map(sluice_pipeline::component::Built::doc).map_err(|e| sluice_pipeline::component::located(cx, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn stores_ids_that_decode_back() {
        let t = bpe::BpeSpec { vocab_size: 300, ..Default::default() }.train(["hello world hello"].iter()).unwrap();
        let stage = Tokenize::new(t.clone(), true);
        let mut d = Document::new("a", "hello world, 世界", Arc::from("s"));
        assert_eq!(stage.process(&mut d), Verdict::Keep);
        let ids = codec::get_tokens(&d).unwrap();
        assert_eq!(bpe::decode(&t, &ids).unwrap(), "hello world, 世界");
        let mut e = Document::new("b", "", Arc::from("s"));
        assert_eq!(stage.process(&mut e), Verdict::Drop("tokens_empty".into()));
    }
}
