//! Byte-level BPE tokenizers built on HF `tokenizers`.
//!
//! The pipeline is: NFC normalisation (optional), a regex split, byte-level
//! mapping, BPE, a byte-level decoder. No post-processor: encoding adds no
//! special tokens, the packer places EOS/BOS itself.
//!
//! The split pattern ([`PATTERN`]) is the GPT-4 pattern with three changes:
//! - every digit is its own piece, so numbers tokenize digit by digit
//!   (Llama, Qwen): arithmetic sees aligned digits and no vocabulary is spent
//!   on `1987`;
//! - runs of Han, Hiragana, Katakana and Hangul are their own pieces, apart
//!   from Latin letters, so `Python编程` splits into `Python` and `编程` and
//!   BPE learns Chinese words inside a run rather than across scripts;
//! - whitespace stays as in GPT-4: `\s+(?!\S)` keeps indentation runs whole,
//!   which is what code needs, and punctuation runs (`::`, `->`, `});`) are
//!   one piece with an optional leading space.
//!
//! The pattern only uses constructs that both `fancy-regex` (Rust) and
//! Oniguruma (Python `tokenizers`) accept, so a saved `tokenizer.json`
//! encodes identically in both (tested by `scripts/test_interop.py`).

use std::path::Path;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::normalizers::unicode::NFC;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{
    AddedToken, DecoderWrapper, NormalizerWrapper, PostProcessorWrapper, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer,
    TokenizerBuilder, TokenizerImpl,
};

/// The pre-tokenizer's split pattern (see the module docs).
pub const PATTERN: &str = concat!(
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)",
    r"|[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]+",
    r"|[^\r\n\p{L}\p{N}]?[^\s\p{N}\p{P}\p{S}\p{Z}\p{C}\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]+",
    r"|\p{N}",
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*",
    r"|\s*[\r\n]+",
    r"|\s+(?!\S)",
    r"|\s+",
);

pub const EOT: &str = "<|endoftext|>";

/// Unicode normalisation applied before splitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Normalization {
    /// NFC: composed characters (`é` as one code point). decode(encode(x))
    /// then equals NFC(x), not x, for text in other forms.
    #[default]
    Nfc,
    /// None: decode(encode(x)) == x for every string.
    None,
}

/// Largest vocabulary (the trainer's tables and every model's embedding grow with it).
pub const MAX_VOCAB: usize = 1 << 21;
/// Most special plus reserved tokens.
pub const MAX_RESERVED: usize = 1 << 16;
/// Longest token, in characters.
pub const MAX_TOKEN_LENGTH: usize = 1 << 16;
/// Largest `min_frequency`.
pub const MAX_MIN_FREQUENCY: u64 = 1 << 40;

/// What to train.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BpeSpec {
    /// Vocabulary size, special tokens included.
    #[serde(default = "default_vocab")]
    #[schemars(range(min = 258, max = 2097152))]
    pub vocab_size: usize,
    /// A pair must occur at least this often in the sample to be merged.
    #[serde(default = "default_min_frequency")]
    #[schemars(range(min = 0, max = 1099511627776u64))]
    pub min_frequency: u64,
    /// Special tokens, given the first ids in this order. The first is the
    /// end-of-text token the packer puts between documents.
    #[serde(default = "default_specials")]
    pub special_tokens: Vec<String>,
    /// Extra reserved special tokens `<|reserved_0|>`, ... after
    /// `special_tokens` (room for chat or tool tokens later without changing
    /// ids).
    #[serde(default = "default_reserved")]
    #[schemars(range(min = 0, max = 65536))]
    pub reserved_tokens: usize,
    /// Unicode normalisation: `nfc` or `none`.
    #[serde(default)]
    pub normalization: Normalization,
    /// Longest token, in characters (none: unbounded). Keeps runs like
    /// `=======` from eating vocabulary.
    #[serde(default = "default_max_token_length")]
    #[schemars(range(min = 1, max = 65536))]
    pub max_token_length: Option<usize>,
}

fn default_vocab() -> usize {
    32768
}
fn default_min_frequency() -> u64 {
    2
}
fn default_specials() -> Vec<String> {
    vec![EOT.to_string()]
}
fn default_reserved() -> usize {
    7
}
fn default_max_token_length() -> Option<usize> {
    Some(24)
}

impl Default for BpeSpec {
    fn default() -> Self {
        BpeSpec {
            vocab_size: default_vocab(),
            min_frequency: default_min_frequency(),
            special_tokens: default_specials(),
            reserved_tokens: default_reserved(),
            normalization: Normalization::Nfc,
            max_token_length: default_max_token_length(),
        }
    }
}

type Impl = TokenizerImpl<BPE, NormalizerWrapper, PreTokenizerWrapper, PostProcessorWrapper, DecoderWrapper>;

impl BpeSpec {
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if self.reserved_tokens > MAX_RESERVED {
            // checked first: the special-token list below would hold them all
            return vec![("reserved_tokens".into(), format!("{} is over the limit of {MAX_RESERVED}", self.reserved_tokens))];
        }
        if self.special_tokens.len() > MAX_RESERVED {
            return vec![("special_tokens".into(), format!("{} tokens, over the limit of {MAX_RESERVED}", self.special_tokens.len()))];
        }
        let specials = self.special_tokens.len() + self.reserved_tokens;
        if self.vocab_size < 256 + specials + 1 {
            e.push(("vocab_size".into(), format!("must be more than 256 bytes + {specials} special tokens")));
        }
        if self.vocab_size > MAX_VOCAB {
            e.push(("vocab_size".into(), format!("{} is over the limit of {MAX_VOCAB}", self.vocab_size)));
        }
        if self.min_frequency > MAX_MIN_FREQUENCY {
            e.push(("min_frequency".into(), format!("{} is over the limit of {MAX_MIN_FREQUENCY}", self.min_frequency)));
        }
        if self.max_token_length.is_some_and(|m| m > MAX_TOKEN_LENGTH) {
            e.push(("max_token_length".into(), format!("is over the limit of {MAX_TOKEN_LENGTH} characters")));
        }
        if self.special_tokens.is_empty() {
            e.push(("special_tokens".into(), format!("needs at least the end-of-text token, e.g. [\"{EOT}\"]")));
        }
        let mut seen = std::collections::HashSet::new();
        for t in self.all_specials() {
            if t.is_empty() || !seen.insert(t.clone()) {
                e.push(("special_tokens".into(), format!("empty or repeated special token {t:?}")));
            }
        }
        if self.max_token_length == Some(0) {
            e.push(("max_token_length".into(), "must be at least 1".into()));
        }
        e
    }

    /// Special tokens with the reserved ones, in id order.
    pub fn all_specials(&self) -> Vec<String> {
        let mut v = self.special_tokens.clone();
        v.extend((0..self.reserved_tokens).map(|i| format!("<|reserved_{i}|>")));
        v
    }

    fn untrained(&self) -> Result<Impl, String> {
        let split = Split::new(SplitPattern::Regex(PATTERN.into()), SplitDelimiterBehavior::Isolated, false)
            .map_err(|e| format!("split pattern: {e}"))?;
        let pre = Sequence::new(vec![split.into(), ByteLevel::new(false, false, false).into()]);
        let mut b = TokenizerBuilder::new()
            .with_model(BPE::default())
            .with_pre_tokenizer(Some(pre.into()))
            .with_decoder(Some(ByteLevelDecoder::default().into()));
        if self.normalization == Normalization::Nfc {
            b = b.with_normalizer(Some(NFC.into()));
        }
        b.build().map_err(|e| format!("building the tokenizer: {e}"))
    }

    /// Train on `texts` (any iterator: nothing is written to disk). HF's
    /// trainer counts pre-tokenized words in parallel on the current rayon
    /// pool, then merges; memory is the distinct words and their pairs.
    pub fn train<I, S>(&self, texts: I) -> Result<Tokenizer, String>
    where
        I: Iterator<Item = S> + Send,
        S: AsRef<str> + Send,
    {
        let mut tok = self.untrained()?;
        let specials: Vec<AddedToken> = self.all_specials().into_iter().map(|s| AddedToken::from(s, true)).collect();
        let mut trainer = BpeTrainerBuilder::new()
            .vocab_size(self.vocab_size)
            .min_frequency(self.min_frequency)
            .special_tokens(specials.clone())
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .max_token_length(self.max_token_length)
            .show_progress(false)
            .build();
        tok.train(&mut trainer, texts).map_err(|e| format!("training: {e}"))?;
        tok.add_special_tokens(specials).map_err(|e| format!("adding special tokens: {e}"))?;
        let mut t = convert(tok)?;
        t.set_encode_special_tokens(true);
        Ok(t)
    }
}

/// Re-type a trained `TokenizerImpl<BPE, ..>` as the general [`Tokenizer`]
/// through its JSON (the documented, stable form).
fn convert(t: Impl) -> Result<Tokenizer, String> {
    let json = t.to_string(false).map_err(|e| format!("serialising: {e}"))?;
    json.parse::<Tokenizer>().map_err(|e| format!("re-reading the trained tokenizer: {e}"))
}

/// Load a `tokenizer.json`. Special tokens in the *text* are encoded as plain
/// text (`encode_special_tokens`), so a crawled page that contains
/// `<|endoftext|>` cannot inject a document boundary.
///
/// The file is read with a size limit (`limits::MAX_OPTION_FILE`) and must be
/// a regular file: a recipe's `tokenizer: /dev/zero` is an error, not an
/// endless read.
pub fn load(path: &Path) -> Result<Tokenizer, String> {
    let bytes = read_limited(path)?;
    let json = std::str::from_utf8(&bytes).map_err(|_| format!("{}: not UTF-8", path.display()))?;
    from_json(json).map_err(|e| format!("{}: {e}", path.display()))
}

/// The bytes of a tokenizer file named by an option, read with a size limit.
pub fn read_limited(path: &Path) -> Result<Vec<u8>, String> {
    sluice_pipeline::limits::read_file_limited(path, sluice_pipeline::limits::MAX_OPTION_FILE).map_err(|e| e.to_string())
}

/// Parse a tokenizer from its JSON text.
pub fn from_json(json: &str) -> Result<Tokenizer, String> {
    let mut t: Tokenizer = json.parse().map_err(|e| format!("tokenizer JSON: {e}"))?;
    t.set_encode_special_tokens(true);
    Ok(t)
}

/// The ids of `text`, no special tokens added.
pub fn encode(t: &Tokenizer, text: &str) -> Result<Vec<u32>, String> {
    t.encode_fast(text, false).map(|e| e.get_ids().to_vec()).map_err(|e| format!("encoding: {e}"))
}

pub fn decode(t: &Tokenizer, ids: &[u32]) -> Result<String, String> {
    t.decode(ids, false).map_err(|e| format!("decoding: {e}"))
}

/// The JSON a tokenizer saves as (compact), whose SHA-256 is its hash.
pub fn to_json(t: &Tokenizer) -> Result<String, String> {
    t.to_string(true).map_err(|e| format!("serialising: {e}"))
}

/// The id of a special token.
pub fn special_id(t: &Tokenizer, token: &str) -> Result<u32, String> {
    t.token_to_id(token).ok_or_else(|| format!("the tokenizer has no token {token:?}"))
}

/// Vocabulary size including added tokens.
pub fn vocab_size(t: &Tokenizer) -> usize {
    t.get_vocab_size(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Vec<String> {
        let mut v = Vec::new();
        for i in 0..200 {
            v.push(format!("The quick brown fox {i} jumps over the lazy dog. fn main() {{ println!(\"{i}\"); }}"));
            v.push("我们今天去北京大学学习中文。北京的天气很好。".to_string());
            v.push("Ünïcödé naïve café — 😀👍🏽 e\u{301} \u{200d}\u{feff}".to_string());
        }
        v
    }

    fn small() -> BpeSpec {
        BpeSpec { vocab_size: 400, ..BpeSpec::default() }
    }

    #[test]
    fn trains_with_specials_first_and_round_trips() {
        let t = small().train(corpus().iter()).unwrap();
        assert_eq!(special_id(&t, EOT).unwrap(), 0);
        assert_eq!(special_id(&t, "<|reserved_6|>").unwrap(), 7);
        assert!(vocab_size(&t) <= 400 && vocab_size(&t) > 300, "{}", vocab_size(&t));
        for s in corpus() {
            let ids = encode(&t, &s).unwrap();
            let nfc = s.replace("e\u{301}", "é");
            assert_eq!(decode(&t, &ids).unwrap(), nfc);
        }
    }

    #[test]
    fn without_normalisation_every_string_round_trips() {
        let spec = BpeSpec { normalization: Normalization::None, ..small() };
        let t = spec.train(corpus().iter()).unwrap();
        for s in corpus().iter().map(String::as_str).chain(["e\u{301}", "\u{fffd}\u{ffff}\u{10ffff}", "\t\t  \n\r\n", "ﬁ ① Ⅻ"]) {
            assert_eq!(decode(&t, &encode(&t, s).unwrap()).unwrap(), s);
        }
    }

    #[test]
    fn special_token_text_in_a_document_is_not_special() {
        let t = small().train(corpus().iter()).unwrap();
        let ids = encode(&t, "a <|endoftext|> b").unwrap();
        assert!(!ids.contains(&0), "{ids:?}");
        assert_eq!(decode(&t, &ids).unwrap(), "a <|endoftext|> b");
    }

    #[test]
    fn digits_split_and_scripts_separate() {
        let t = small().train(corpus().iter()).unwrap();
        let toks = |s: &str| t.encode(s, false).unwrap().get_tokens().to_vec();
        // every digit its own token
        assert_eq!(toks("2024").len(), 4);
        // a Latin word never merges with a following Han character
        let tk = toks("fox我们");
        assert!(tk.iter().all(|x| !(x.contains('x') && x.len() > 1 && !x.is_ascii())), "{tk:?}");
    }

    #[test]
    fn training_is_deterministic() {
        let a = to_json(&small().train(corpus().iter()).unwrap()).unwrap();
        let b = to_json(&small().train(corpus().iter()).unwrap()).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn bad_specs_are_reported() {
        let s = BpeSpec { vocab_size: 100, special_tokens: vec![], ..BpeSpec::default() };
        let e = s.validate();
        assert!(e.iter().any(|(f, _)| f == "vocab_size"));
        assert!(e.iter().any(|(f, _)| f == "special_tokens"));
    }
}
