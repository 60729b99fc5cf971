//! A direct encoder for the tokenizers this crate trains, with exactly HF's
//! output and several times its speed.
//!
//! HF `tokenizers` tracks alignments for every byte through normalisation,
//! splitting and byte mapping, which the pipeline never needs. For a
//! `tokenizer.json` of exactly the shape [`crate::bpe`] produces (optional
//! NFC, the regex split, byte-level, BPE without dropout or affixes), this
//! encoder does the same steps on plain strings: NFC (the same Unicode
//! tables HF uses), the same regex (same `fancy-regex` crate and pattern,
//! matches and gaps both pieces as HF's `Isolated` split), bytes mapped to
//! the byte-level alphabet, then BPE applying the lowest-ranked merge first
//! (leftmost on ties), as HF does, with a per-thread word cache.
//!
//! [`Encoder::new`] falls back to HF for any other tokenizer, and the tests
//! check both give identical ids on real text.

use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::Value;
use tokenizers::Tokenizer;

/// Fast path when possible, HF otherwise.
pub enum Encoder {
    Fast(Box<FastBpe>),
    Hf(Box<Tokenizer>),
}

impl Encoder {
    /// From a loaded tokenizer and its JSON.
    pub fn new(tokenizer: Tokenizer, json: &str) -> Encoder {
        match FastBpe::from_json(json) {
            Some(f) => Encoder::Fast(Box::new(f)),
            None => Encoder::Hf(Box::new(tokenizer)),
        }
    }

    pub fn from_tokenizer(tokenizer: Tokenizer) -> Encoder {
        match crate::bpe::to_json(&tokenizer) {
            Ok(j) => Encoder::new(tokenizer, &j),
            Err(_) => Encoder::Hf(Box::new(tokenizer)),
        }
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        match self {
            Encoder::Fast(f) => f.encode(text),
            Encoder::Hf(t) => crate::bpe::encode(t, text),
        }
    }

    pub fn is_fast(&self) -> bool {
        matches!(self, Encoder::Fast(_))
    }
}

/// The direct encoder.
pub struct FastBpe {
    nfc: bool,
    re: fancy_regex::Regex,
    /// byte -> id of its byte-level symbol
    byte_ids: [u32; 256],
    /// (left << 32 | right) -> (rank, merged id)
    merges: HashMap<u64, (u32, u32), PairHash>,
    /// distinguishes caches of different encoders on one thread
    key: u64,
}

/// Per-thread word cache: (the encoder it belongs to, piece -> ids).
type WordCache = (u64, HashMap<Box<[u8]>, Vec<u32>>);

thread_local! {
    static CACHE: RefCell<WordCache> = RefCell::new((0, HashMap::new()));
}

const CACHE_MAX: usize = 1 << 16;

/// Multiplicative hashing for pair keys: the merge table is looked up for
/// every adjacent pair of every new word, and SipHash dominated that.
#[derive(Default, Clone, Copy)]
pub struct PairHasher(u64);

impl std::hash::Hasher for PairHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, x: u64) {
        let h = (x ^ (x >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        self.0 = h ^ (h >> 32);
    }
}

type PairHash = std::hash::BuildHasherDefault<PairHasher>;

fn pair(l: u32, r: u32) -> u64 {
    (l as u64) << 32 | r as u64
}

/// GPT-2's byte-level alphabet: printable Latin-1 bytes stand for
/// themselves, the others map to U+0100 onwards in byte order.
pub fn byte_chars() -> [char; 256] {
    let printable = |b: u32| (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b);
    let mut out = ['\0'; 256];
    let mut extra = 0;
    for b in 0..256u32 {
        out[b as usize] = if printable(b) {
            char::from_u32(b).expect("latin-1")
        } else {
            extra += 1;
            char::from_u32(255 + extra).expect("valid")
        };
    }
    out
}

impl FastBpe {
    /// `None` unless the JSON is a tokenizer of the shape this crate trains.
    pub fn from_json(json: &str) -> Option<FastBpe> {
        let j: Value = serde_json::from_str(json).ok()?;
        let nfc = match &j["normalizer"] {
            Value::Null => false,
            n if n["type"] == "NFC" => true,
            _ => return None,
        };
        let pre = &j["pre_tokenizer"];
        let ps = pre["pretokenizers"].as_array()?;
        if pre["type"] != "Sequence" || ps.len() != 2 {
            return None;
        }
        let (split, bl) = (&ps[0], &ps[1]);
        if split["type"] != "Split" || split["behavior"] != "Isolated" || split["invert"] != false {
            return None;
        }
        let pattern = split["pattern"]["Regex"].as_str()?;
        if bl["type"] != "ByteLevel" || bl["add_prefix_space"] != false || bl["use_regex"] != false {
            return None;
        }
        if !j["post_processor"].is_null() {
            return None;
        }
        let m = &j["model"];
        let plain = |k: &str| m[k].is_null() || m[k] == "";
        if m["type"] != "BPE"
            || !plain("dropout")
            || !plain("unk_token")
            || !plain("continuing_subword_prefix")
            || !plain("end_of_word_suffix")
            || m["byte_fallback"] == true
            || m["ignore_merges"] == true
        {
            return None;
        }
        let vocab: HashMap<&str, u32> =
            m["vocab"].as_object()?.iter().map(|(k, v)| Some((k.as_str(), v.as_u64()? as u32))).collect::<Option<_>>()?;
        let chars = byte_chars();
        let mut byte_ids = [0u32; 256];
        for (b, c) in chars.iter().enumerate() {
            byte_ids[b] = *vocab.get(c.to_string().as_str())?;
        }
        let mut merges: HashMap<u64, (u32, u32), PairHash> = HashMap::default();
        for (rank, mv) in m["merges"].as_array()?.iter().enumerate() {
            let (l, r) = match mv {
                Value::Array(p) if p.len() == 2 => (p[0].as_str()?.to_string(), p[1].as_str()?.to_string()),
                Value::String(s) => {
                    let (l, r) = s.split_once(' ')?;
                    (l.to_string(), r.to_string())
                }
                _ => return None,
            };
            let id = *vocab.get(format!("{l}{r}").as_str())?;
            merges.insert(pair(*vocab.get(l.as_str())?, *vocab.get(r.as_str())?), (rank as u32, id));
        }
        let re = fancy_regex::Regex::new(pattern).ok()?;
        Some(FastBpe { nfc, re, byte_ids, merges, key: xxhash_rust::xxh3::xxh3_64(json.as_bytes()) })
    }

    fn rank(&self, l: u32, r: u32) -> (u32, u32) {
        self.merges.get(&pair(l, r)).copied().unwrap_or((u32::MAX, 0))
    }

    /// BPE on one piece: merge the lowest-ranked adjacent pair (leftmost on
    /// ties) until none is in the table. `ranks[i]` caches the pair
    /// (ids[i], ids[i+1]), so a merge looks up two pairs, not all of them.
    fn word(&self, piece: &[u8], out: &mut Vec<u32>) {
        let mut ids: Vec<u32> = piece.iter().map(|&b| self.byte_ids[b as usize]).collect();
        let mut ranks: Vec<(u32, u32)> = ids.windows(2).map(|w| self.rank(w[0], w[1])).collect();
        loop {
            let mut best = (u32::MAX, usize::MAX);
            for (i, &(r, _)) in ranks.iter().enumerate() {
                if r < best.0 {
                    best = (r, i);
                }
            }
            if best.0 == u32::MAX {
                break;
            }
            let i = best.1;
            ids[i] = ranks[i].1;
            ids.remove(i + 1);
            ranks.remove(i);
            if i < ranks.len() {
                ranks[i] = self.rank(ids[i], ids[i + 1]);
            }
            if i > 0 {
                ranks[i - 1] = self.rank(ids[i - 1], ids[i]);
            }
        }
        out.extend_from_slice(&ids);
    }

    fn piece(&self, piece: &str, out: &mut Vec<u32>) {
        if piece.is_empty() {
            return;
        }
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if c.0 != self.key {
                *c = (self.key, HashMap::new());
            }
            if let Some(ids) = c.1.get(piece.as_bytes()) {
                out.extend_from_slice(ids);
                return;
            }
            let at = out.len();
            self.word(piece.as_bytes(), out);
            if c.1.len() >= CACHE_MAX {
                c.1.clear();
            }
            c.1.insert(piece.as_bytes().into(), out[at..].to_vec());
        })
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        let normalized;
        let text = if self.nfc && !unicode_normalization_alignments::is_nfc(text) {
            use unicode_normalization_alignments::UnicodeNormalization;
            normalized = text.nfc().map(|(c, _)| c).collect::<String>();
            normalized.as_str()
        } else {
            text
        };
        let mut out = Vec::with_capacity(text.len() / 3);
        let mut last = 0;
        for m in self.re.find_iter(text) {
            let m = m.map_err(|e| format!("pre-tokenizer regex: {e}"))?;
            self.piece(&text[last..m.start()], &mut out);
            self.piece(m.as_str(), &mut out);
            last = m.end();
        }
        self.piece(&text[last..], &mut out);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpe::{self, BpeSpec, Normalization};

    #[test]
    fn matches_hf_on_mixed_text() {
        let corpus: Vec<String> = (0..300)
            .map(|i| format!("The {i} quick brown foxes jumped; 我们今天去北京大学学习中文。 fn main() {{ x += {i}; }}\n\n\tcafé e\u{301} 😀 aaaaaaa"))
            .collect();
        for norm in [Normalization::Nfc, Normalization::None] {
            let t = BpeSpec { vocab_size: 600, normalization: norm, ..Default::default() }.train(corpus.iter()).unwrap();
            let e = Encoder::from_tokenizer(t.clone());
            assert!(e.is_fast());
            for s in corpus.iter().map(String::as_str).chain([
                "",
                " ",
                "  x  ",
                "aaaa",
                "\u{feff}\u{200d}\u{fffd}",
                "<|endoftext|>",
                "Python编程 2024年",
            ]) {
                assert_eq!(e.encode(s).unwrap(), bpe::encode(&t, s).unwrap(), "{s:?}");
            }
        }
    }

    #[test]
    fn other_tokenizers_fall_back_to_hf() {
        assert!(FastBpe::from_json("{}").is_none());
        assert!(FastBpe::from_json(r#"{"normalizer":{"type":"NFKC"}}"#).is_none());
    }
}
