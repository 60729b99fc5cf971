//! fastText's dictionary, tokeniser and feature hashing.
//!
//! Everything here reproduces fastText's `Dictionary` (dictionary.cc):
//! - tokens are split on `' ' '\n' '\t' '\v' '\f' '\r' '\0'`, and a `'\n'`
//!   yields the end-of-sentence token `</s>` and ends the line;
//! - tokens and n-grams are hashed with 32-bit FNV-1a over bytes, where each
//!   byte is sign-extended first (fastText xors `uint32_t(int8_t(c))`);
//! - character n-grams of `<word>` respect UTF-8 boundaries; word n-grams
//!   chain the word hashes with `h = h * 116049371 + hash` in 64 bits, the
//!   32-bit hashes sign-extended as fastText's `std::vector<int32_t>` does;
//! - quantized (pruned) models remap n-gram buckets through `pruneidx`.

use std::collections::HashMap;

use crate::io::{Dst, Src};
use crate::Error;

/// The end-of-sentence token fastText emits for each `'\n'`.
pub const EOS: &[u8] = b"</s>";

const FNV_OFFSET: u32 = 2166136261;
const FNV_PRIME: u32 = 16777619;

#[inline]
fn fnv_step(h: u32, b: u8) -> u32 {
    // fastText: h = h ^ uint32_t(int8_t(c)); bytes >= 0x80 are sign-extended.
    (h ^ (b as i8 as i32 as u32)).wrapping_mul(FNV_PRIME)
}

/// fastText's word hash (`Dictionary::hash`).
pub fn hash(bytes: &[u8]) -> u32 {
    bytes.iter().fold(FNV_OFFSET, |h, &b| fnv_step(h, b))
}

/// fastText's whitespace (`Dictionary::readWord`).
#[inline]
pub fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c | 0)
}

/// A hash-table slot: the word's hash, its id + 1 (0: empty), and the word
/// itself when it fits (else its place in the arena), so that looking up a
/// short word touches one cache line.
#[derive(Clone, Copy, Debug, Default)]
#[repr(align(32))]
struct Slot {
    hash: u32,
    id1: u32,
    len: u32,
    start: u32,
    /// The word's precomputed features: `subwords[sub_start..sub_start + sub_len]`.
    sub_start: u32,
    sub_len: u32,
    inline: [u8; INLINE],
}

const INLINE: usize = 8;

/// Longest line (in tokens) whose known words are scored from their summed
/// rows. Summing a word's rows before adding them to the line's total
/// changes the float32 addition order; the difference from fastText's order
/// grows with the line (measured: 1.4e-5 in a probability at 5,000 words,
/// under 1e-6 for lines of a few hundred). Longer lines add every row in
/// fastText's order.
pub(crate) const COLLAPSE_MAX_TOKENS: usize = 1024;

/// Most precomputed word features (4 bytes each) kept in memory.
const MAX_SUBWORDS: u64 = 1 << 26;

/// Slice equality without a `memcmp` call for the short words that dominate text.
#[inline]
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if a.len() > 32 {
        return a == b;
    }
    a.iter().zip(b).all(|(x, y)| x == y)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EntryType {
    Word,
    Label,
}

#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) word: Vec<u8>,
    pub(crate) count: i64,
    pub(crate) kind: EntryType,
}

/// The features and labels of one line, reused between lines.
#[derive(Default, Debug)]
pub(crate) struct LineBuf {
    /// Input-matrix rows: word ids, char n-gram and word n-gram buckets.
    pub(crate) ids: Vec<i32>,
    /// Label indices (0-based among labels) of known labels on the line.
    pub(crate) labels: Vec<i32>,
    word_hashes: Vec<i32>,
    bracketed: Vec<u8>,
    /// Tokens of the line: (start, end, hash); `</s>` from a '\n' has start == end.
    toks: Vec<(usize, usize, u32)>,
    /// Per token: entry id (-1: unknown), start and length of its precomputed features.
    found: Vec<(i32, u32, u32)>,
    /// Set by the scorer when the model caches each known word's summed
    /// feature rows: a known word with precomputed features then goes to
    /// `words` (its id) instead of `ids` (its features), and `collapsed`
    /// counts the features it stands for. Words with an id below
    /// `collapse_below` have such a sum (0: none).
    pub(crate) collapse_below: i32,
    pub(crate) words: Vec<i32>,
    pub(crate) collapsed: usize,
}

/// How a call to [`Dictionary::line`] went.
pub(crate) struct LineInfo {
    /// Tokens read (words, labels and `</s>`), as fastText counts them.
    pub(crate) ntokens: u64,
    /// Bytes of the text consumed (through the `'\n'` that ended the line).
    pub(crate) consumed: usize,
}

#[derive(Clone, Debug)]
pub(crate) struct Dictionary {
    pub(crate) entries: Vec<Entry>,
    pub(crate) nwords: i32,
    pub(crate) nlabels: i32,
    pub(crate) ntokens: i64,
    pub(crate) pruneidx_size: i64,
    /// Pairs as stored, to write them back in the same order.
    pruneidx_pairs: Vec<(i32, i32)>,
    pruneidx: HashMap<i32, i32>,
    /// Open addressing, one cache line or less per probe.
    table: Vec<Slot>,
    /// All words, concatenated; word i is `arena[starts[i]..starts[i + 1]]`.
    arena: Vec<u8>,
    starts: Vec<usize>,
    label: Vec<u8>,
    minn: i32,
    maxn: i32,
    bucket: u32,
    /// Word i's features are `subwords[sub_starts[i]..sub_starts[i + 1]]`
    /// (empty when the model has no char n-grams or they were not precomputed).
    subwords: Vec<i32>,
    sub_starts: Vec<usize>,
    /// Lemire's fastmod constant for `bucket`.
    bucket_m: u64,
    word_ngrams: i32,
}

/// The fastmod constant of `d` (> 1; 0 for 1, which [`fastmod`] special-cases).
fn fastmod_m(d: u32) -> u64 {
    (u64::MAX / d as u64).wrapping_add(1)
}

/// `a % d` by multiplications (Lemire, Kaser & Kurz, "Faster remainder by
/// direct computation"), exact for all 32-bit `a` and `d > 0`; `m = u64::MAX / d + 1`.
#[inline]
fn fastmod(a: u32, m: u64, d: u32) -> u32 {
    if d == 1 {
        return 0;
    }
    let low = m.wrapping_mul(a as u64);
    ((low as u128 * d as u128) >> 64) as u32
}

#[inline]
fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching has no effect on memory; `p` is a valid reference.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p as *const T as *const i8, std::arch::x86_64::_MM_HINT_T0)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

impl Dictionary {
    /// A dictionary from entries already sorted as fastText sorts them
    /// (words first, then labels).
    pub(crate) fn new(entries: Vec<Entry>, ntokens: i64, args: &crate::Args) -> Dictionary {
        Self::with_pruneidx(entries, ntokens, args, -1, Vec::new())
    }

    fn with_pruneidx(entries: Vec<Entry>, ntokens: i64, args: &crate::Args, pruneidx_size: i64, pairs: Vec<(i32, i32)>) -> Dictionary {
        let nwords = entries.iter().filter(|e| e.kind == EntryType::Word).count() as i32;
        let nlabels = entries.len() as i32 - nwords;
        let mut d = Dictionary {
            entries,
            nwords,
            nlabels,
            ntokens,
            pruneidx_size,
            pruneidx: pairs.iter().copied().collect(),
            pruneidx_pairs: pairs,
            table: Vec::new(),
            subwords: Vec::new(),
            sub_starts: Vec::new(),
            arena: Vec::new(),
            starts: Vec::new(),
            label: args.label.as_bytes().to_vec(),
            minn: args.minn,
            maxn: args.maxn,
            bucket: args.bucket.max(0) as u32,
            bucket_m: if args.bucket > 0 { fastmod_m(args.bucket as u32) } else { 0 },
            word_ngrams: args.word_ngrams,
        };
        d.build_table();
        d.init_subwords();
        d
    }

    /// Precomputes each word's features (its id, then its char n-grams), as
    /// fastText's `initNgrams` does, unless they would take more than
    /// `MAX_SUBWORDS` entries (then they are computed per token).
    fn init_subwords(&mut self) {
        if self.maxn <= 0 {
            return;
        }
        let span = (self.maxn as i64 - self.minn.max(1) as i64 + 1).max(0) as u64;
        let estimate: u64 = self.entries[..self.nwords as usize].iter().map(|e| 1 + (e.word.len() as u64 + 2) * span).sum();
        if estimate > MAX_SUBWORDS {
            return;
        }
        let mut subwords = Vec::with_capacity(estimate as usize);
        let mut starts = Vec::with_capacity(self.nwords as usize + 1);
        let mut buf = Vec::new();
        for i in 0..self.nwords as usize {
            starts.push(subwords.len());
            subwords.push(i as i32);
            if self.entries[i].word != EOS {
                self.char_ngrams(&self.entries[i].word, &mut buf, &mut subwords);
            }
        }
        starts.push(subwords.len());
        for slot in self.table.iter_mut().filter(|t| t.id1 != 0 && t.id1 <= self.nwords as u32) {
            let w = (slot.id1 - 1) as usize;
            slot.sub_start = starts[w] as u32;
            slot.sub_len = (starts[w + 1] - starts[w]) as u32;
        }
        self.subwords = subwords;
        self.sub_starts = starts;
    }

    /// Word `w`'s precomputed features (its id and char n-gram rows), when
    /// the dictionary has them.
    pub(crate) fn word_features(&self, w: usize) -> Option<&[i32]> {
        (w + 1 < self.sub_starts.len()).then(|| &self.subwords[self.sub_starts[w]..self.sub_starts[w + 1]])
    }

    fn build_table(&mut self) {
        let n = self.entries.len();
        self.arena = Vec::with_capacity(self.entries.iter().map(|e| e.word.len()).sum());
        self.starts = Vec::with_capacity(n + 1);
        for e in &self.entries {
            self.starts.push(self.arena.len());
            self.arena.extend_from_slice(&e.word);
        }
        self.starts.push(self.arena.len());
        let size = (n * 2).max(16).next_power_of_two();
        self.table = vec![Slot::default(); size];
        let mask = size - 1;
        for i in 0..n {
            let w = &self.entries[i].word;
            let h = hash(w);
            let mut slot = Slot {
                hash: h,
                id1: i as u32 + 1,
                len: w.len() as u32,
                start: self.starts[i] as u32,
                sub_start: 0,
                sub_len: 0,
                inline: [0; INLINE],
            };
            if w.len() <= INLINE {
                slot.inline[..w.len()].copy_from_slice(w);
            }
            let mut s = Self::slot(h, mask);
            loop {
                let t = self.table[s];
                if t.id1 == 0 {
                    self.table[s] = slot;
                    break;
                }
                if t.hash == h && self.word((t.id1 - 1) as usize) == &w[..] {
                    // A duplicate word: fastText's table keeps the last one.
                    self.table[s] = slot;
                    break;
                }
                s = (s + 1) & mask;
            }
        }
    }

    #[inline]
    fn word(&self, i: usize) -> &[u8] {
        &self.arena[self.starts[i]..self.starts[i + 1]]
    }

    #[inline]
    fn slot(h: u32, mask: usize) -> usize {
        ((h as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & mask
    }

    /// The table slot of `word` (hash `h`), if in the dictionary.
    #[inline]
    fn find_slot(&self, word: &[u8], h: u32) -> Option<&Slot> {
        let mask = self.table.len() - 1;
        let mut s = Self::slot(h, mask);
        loop {
            let t = &self.table[s];
            if t.id1 == 0 {
                return None;
            }
            if t.hash == h && t.len as usize == word.len() {
                let same = if word.len() <= INLINE {
                    bytes_eq(&t.inline[..word.len()], word)
                } else {
                    let st = t.start as usize;
                    self.arena[st..st + word.len()] == *word
                };
                if same {
                    return Some(t);
                }
            }
            s = (s + 1) & mask;
        }
    }

    pub(crate) fn set_label_prefix(&mut self, label: &str) {
        self.label = label.as_bytes().to_vec();
    }

    pub(crate) fn label_entries(&self) -> &[Entry] {
        &self.entries[self.nwords as usize..]
    }

    pub(crate) fn read(src: &mut Src, args: &crate::Args) -> Result<Dictionary, Error> {
        let size = src.i32("dictionary size")?;
        let nwords = src.i32("dictionary nwords")?;
        let nlabels = src.i32("dictionary nlabels")?;
        let ntokens = src.i64("dictionary ntokens")?;
        let pruneidx_size = src.i64("dictionary pruneidx_size")?;
        if size < 0 || nwords < 0 || nlabels < 0 || size as i64 != nwords as i64 + nlabels as i64 {
            return Err(src.format(format!("dictionary sizes are inconsistent: size {size}, nwords {nwords}, nlabels {nlabels}")));
        }
        // Each entry takes at least 10 bytes: a NUL, an i64 count and a type byte.
        src.need(size as u64 * 10, "dictionary entries")?;
        // Grown as entries arrive: a stream's length is not known in advance.
        let mut entries = Vec::with_capacity((size as usize).min(1 << 16));
        let mut word = Vec::new();
        for i in 0..size {
            src.cstring(&mut word, "dictionary word")?;
            let count = src.i64("dictionary word count")?;
            let kind = match src.u8("dictionary entry type")? {
                0 => EntryType::Word,
                1 => EntryType::Label,
                t => return Err(src.format(format!("dictionary entry {i} has type {t} (not 0 = word or 1 = label)"))),
            };
            let expect = if i < nwords { EntryType::Word } else { EntryType::Label };
            if kind != expect {
                return Err(src.format(format!(
                    "dictionary entry {i} is a {kind:?} but fastText stores {nwords} words first, then {nlabels} labels"
                )));
            }
            entries.push(Entry { word: word.clone(), count, kind });
        }
        if entries.iter().map(|e: &Entry| e.word.len() as u64).sum::<u64>() > u32::MAX as u64 {
            return Err(src.format("dictionary words take more than 4 GiB"));
        }
        let mut pairs = Vec::new();
        if pruneidx_size > 0 {
            let n = pruneidx_size as u64;
            src.need(n.saturating_mul(8), "dictionary pruneidx")?;
            if n > i32::MAX as u64 {
                return Err(src.format(format!("pruneidx_size {pruneidx_size} is too large")));
            }
            pairs.reserve((n as usize).min(1 << 16));
            for _ in 0..n {
                let a = src.i32("pruneidx key")?;
                let b = src.i32("pruneidx value")?;
                if b < 0 {
                    return Err(src.format(format!("pruneidx maps {a} to negative row {b}")));
                }
                pairs.push((a, b));
            }
        }
        Ok(Dictionary::with_pruneidx(entries, ntokens, args, pruneidx_size, pairs))
    }

    pub(crate) fn write(&self, d: &mut Dst) -> Result<(), Error> {
        d.i32(self.entries.len() as i32)?;
        d.i32(self.nwords)?;
        d.i32(self.nlabels)?;
        d.i64(self.ntokens)?;
        d.i64(self.pruneidx_size)?;
        for e in &self.entries {
            d.raw(&e.word)?;
            d.u8(0)?;
            d.i64(e.count)?;
            d.u8(match e.kind {
                EntryType::Word => 0,
                EntryType::Label => 1,
            })?;
        }
        for &(a, b) in &self.pruneidx_pairs {
            d.i32(a)?;
            d.i32(b)?;
        }
        Ok(())
    }

    /// The largest input-matrix row a feature can name, plus one.
    pub(crate) fn rows_needed(&self, args: &crate::Args) -> i64 {
        let hashed = if !args.hashes_ngrams() || self.pruneidx_size == 0 {
            0
        } else if self.pruneidx_size > 0 {
            self.pruneidx_pairs.iter().map(|&(_, b)| b as i64 + 1).max().unwrap_or(0)
        } else {
            self.bucket as i64
        };
        self.nwords as i64 + hashed
    }

    #[inline]
    fn push_hash(&self, ids: &mut Vec<i32>, id: i32) {
        if self.pruneidx_size == 0 || id < 0 {
            return;
        }
        let id = if self.pruneidx_size > 0 {
            match self.pruneidx.get(&id) {
                Some(&v) => v,
                None => return,
            }
        } else {
            id
        };
        ids.push(self.nwords + id);
    }

    /// Character n-grams of `<token>` (fastText's `computeSubwords`).
    fn char_ngrams(&self, token: &[u8], buf: &mut Vec<u8>, ids: &mut Vec<i32>) {
        if self.maxn <= 0 {
            return;
        }
        buf.clear();
        buf.push(b'<');
        buf.extend_from_slice(token);
        buf.push(b'>');
        let w = &buf[..];
        let len = w.len();
        let maxn = self.maxn as usize;
        for i in 0..len {
            if w[i] & 0xC0 == 0x80 {
                continue;
            }
            let mut h = FNV_OFFSET;
            let mut j = i;
            let mut n = 1usize;
            while j < len && n <= maxn {
                h = fnv_step(h, w[j]);
                j += 1;
                while j < len && w[j] & 0xC0 == 0x80 {
                    h = fnv_step(h, w[j]);
                    j += 1;
                }
                if n as i64 >= self.minn as i64 && !(n == 1 && (i == 0 || j == len)) {
                    self.push_hash(ids, fastmod(h, self.bucket_m, self.bucket) as i32);
                }
                n += 1;
            }
        }
    }

    /// Reads one line of `text` as fastText's `Dictionary::getLine` does:
    /// tokens up to and including the first `</s>` (a `'\n'`, or a literal
    /// `</s>` token), or to the end of the text. Fills `lb.ids` with the
    /// features and `lb.labels` with the known labels.
    pub(crate) fn line(&self, text: &[u8], lb: &mut LineBuf) -> LineInfo {
        self.read_line(text, lb, false)
    }

    /// A whole document as one line: '\n' is whitespace and a `</s>` ends
    /// the text, i.e. fastText's view of `text.replace('\n', ' ') + '\n'`.
    pub(crate) fn document(&self, text: &[u8], lb: &mut LineBuf) -> LineInfo {
        self.read_line(text, lb, true)
    }

    fn read_line(&self, text: &[u8], lb: &mut LineBuf, document: bool) -> LineInfo {
        lb.ids.clear();
        lb.words.clear();
        lb.collapsed = 0;
        lb.labels.clear();
        lb.word_hashes.clear();
        lb.toks.clear();
        // Pass 1: split and hash, and ask for each token's table slot early so
        // that the lookups' cache misses overlap.
        let n = text.len();
        let mut i = 0;
        let mask = self.table.len() - 1;
        loop {
            while i < n && (document || text[i] != b'\n') && is_space(text[i]) {
                i += 1;
            }
            if i >= n {
                if document {
                    lb.toks.push((i, i, hash(EOS)));
                }
                break;
            }
            if text[i] == b'\n' {
                i += 1;
                let h = hash(EOS);
                lb.toks.push((i, i, h));
                break;
            }
            let start = i;
            let mut h = FNV_OFFSET;
            while i < n && !is_space(text[i]) {
                h = fnv_step(h, text[i]);
                i += 1;
            }
            lb.toks.push((start, i, h));
            prefetch(&self.table[Self::slot(h, mask)]);
            if &text[start..i] == EOS {
                break;
            }
        }
        // Pass 2: look up, and ask for the words' precomputed features early.
        lb.found.clear();
        for &(start, end, h) in &lb.toks {
            let token: &[u8] = if start == end { EOS } else { &text[start..end] };
            match self.find_slot(token, h) {
                Some(t) => {
                    if t.sub_len > 0 {
                        prefetch(&self.subwords[t.sub_start as usize]);
                    }
                    lb.found.push((t.id1 as i32 - 1, t.sub_start, t.sub_len));
                }
                None => lb.found.push((-1, 0, 0)),
            }
        }
        // Pass 3: the features, as getLine computes them. Known words are
        // collapsed only on lines short enough that summing each word's
        // rows first stays within 1e-5 of fastText's order (see
        // `COLLAPSE_MAX_TOKENS`).
        let collapse_below = if lb.toks.len() <= COLLAPSE_MAX_TOKENS { lb.collapse_below } else { 0 };
        for k in 0..lb.toks.len() {
            let (start, end, h) = lb.toks[k];
            let token: &[u8] = if start == end { EOS } else { &text[start..end] };
            let (id, sub_start, sub_len) = lb.found[k];
            let wid = (id >= 0).then_some(id);
            let kind = match wid {
                // Words come first, then labels (checked when reading).
                Some(w) if w < self.nwords => EntryType::Word,
                Some(_) => EntryType::Label,
                None if token.starts_with(&self.label) => EntryType::Label,
                None => EntryType::Word,
            };
            match kind {
                EntryType::Word => {
                    match wid {
                        Some(w) if !self.sub_starts.is_empty() && w < collapse_below => {
                            lb.words.push(w);
                            lb.collapsed += sub_len as usize;
                        }
                        Some(_) if !self.sub_starts.is_empty() => {
                            let sub = &self.subwords[sub_start as usize..(sub_start + sub_len) as usize];
                            lb.ids.reserve(sub.len());
                            // Element by element: short slices, where a memmove call costs more than it copies.
                            for &x in sub {
                                lb.ids.push(x);
                            }
                        }
                        Some(w) => {
                            lb.ids.push(w);
                            if token != EOS {
                                self.char_ngrams(token, &mut lb.bracketed, &mut lb.ids);
                            }
                        }
                        None if token != EOS => self.char_ngrams(token, &mut lb.bracketed, &mut lb.ids),
                        None => {}
                    }
                    lb.word_hashes.push(h as i32);
                }
                EntryType::Label => {
                    if let Some(w) = wid {
                        lb.labels.push(w - self.nwords);
                    }
                }
            }
        }
        self.word_ngrams(lb);
        LineInfo { ntokens: lb.toks.len() as u64, consumed: i }
    }

    /// Hashed word n-grams (fastText's `addWordNgrams`).
    fn word_ngrams(&self, lb: &mut LineBuf) {
        let n = self.word_ngrams as i64;
        if n <= 1 {
            return;
        }
        let hs = &lb.word_hashes;
        let bucket = self.bucket as u64;
        for i in 0..hs.len() {
            let mut h = hs[i] as i64 as u64;
            let end = (i as i64 + n).min(hs.len() as i64) as usize;
            for &hj in &hs[i + 1..end] {
                h = h.wrapping_mul(116049371).wrapping_add(hj as i64 as u64);
                self.push_hash(&mut lb.ids, (h % bucket) as i32);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_fasttext_values() {
        // FNV-1a 32-bit of ASCII equals the published FNV-1a values.
        assert_eq!(hash(b""), 2166136261);
        assert_eq!(hash(b"a"), 0xe40c292c);
        assert_eq!(hash(b"foobar"), 0xbf9cf968);
        // Non-ASCII: fastText sign-extends each byte before xoring, so the
        // hash differs from textbook FNV-1a. "é" = C3 A9:
        // h = (2166136261 ^ 0xFFFFFFC3) * 16777619; h = (h ^ 0xFFFFFFA9) * 16777619.
        let mut h: u32 = 2166136261;
        h = (h ^ 0xFFFF_FFC3).wrapping_mul(16777619);
        h = (h ^ 0xFFFF_FFA9).wrapping_mul(16777619);
        assert_eq!(hash("é".as_bytes()), h);
        let textbook = "é".as_bytes().iter().fold(2166136261u32, |h, &b| (h ^ b as u32).wrapping_mul(16777619));
        assert_ne!(hash("é".as_bytes()), textbook);
    }

    #[test]
    fn ngram_buckets_match_fasttext() {
        // Bucket rows (id - nwords) that Python fastText 0.9.2's `get_subwords`
        // reported for these n-grams of a model with bucket = 100000.
        let known = [
            ("<h", 65417),
            ("<hé", 74101),
            ("<hél", 53051),
            ("hé", 72015),
            ("hél", 13657),
            ("héll", 24047),
            ("<日", 52687),
            ("<日本", 58587),
            ("<日本語", 4581),
            ("日本", 87409),
            ("日本語", 35559),
            ("<zz", 77867),
            ("zzqx", 57820),
        ];
        for (gram, bucket) in known {
            assert_eq!(hash(gram.as_bytes()) % 100_000, bucket, "{gram}");
        }
    }

    fn args(minn: i32, maxn: i32, word_ngrams: i32, bucket: i32) -> crate::Args {
        let mut a = crate::TrainArgs::default().to_file_args();
        a.minn = minn;
        a.maxn = maxn;
        a.word_ngrams = word_ngrams;
        a.bucket = bucket;
        a
    }

    fn dict(words: &[&str], labels: &[&str], a: &crate::Args) -> Dictionary {
        let mut e: Vec<Entry> = words.iter().map(|w| Entry { word: w.as_bytes().to_vec(), count: 1, kind: EntryType::Word }).collect();
        e.extend(labels.iter().map(|w| Entry { word: w.as_bytes().to_vec(), count: 1, kind: EntryType::Label }));
        Dictionary::new(e, 0, a)
    }

    #[test]
    fn tokenisation_follows_read_word() {
        let a = args(0, 0, 1, 0);
        let d = dict(&["a", "b", "</s>", "c"], &["__label__x"], &a);
        let mut lb = LineBuf::default();
        // Whitespace of every kind separates; '\n' yields </s> and ends the line.
        let text = b"__label__x a\tb\x0bc\x0c\r\0 __label__unknown zzz\nb c\n";
        let info = d.line(text, &mut lb);
        assert_eq!(lb.ids, vec![0, 1, 3, 2]); // a b c </s>; zzz unknown, labels not features
        assert_eq!(lb.labels, vec![0]);
        assert_eq!(info.ntokens, 7);
        assert_eq!(&text[info.consumed..], b"b c\n");
        // No trailing newline: no </s>.
        let info = d.line(b"  b  ", &mut lb);
        assert_eq!(lb.ids, vec![1]);
        assert_eq!(info.ntokens, 1);
        // A literal </s> token ends the line too.
        let info = d.line(b"a </s> b", &mut lb);
        assert_eq!(lb.ids, vec![0, 2]);
        assert_eq!(info.consumed, 6);
        // An empty line is just </s>.
        d.line(b"\n", &mut lb);
        assert_eq!(lb.ids, vec![2]);
    }

    #[test]
    fn a_document_reads_as_one_line_with_newlines_as_spaces() {
        let a = args(0, 0, 2, 1000);
        let d = dict(&["a", "b", "</s>", "c"], &["__label__x"], &a);
        let (mut x, mut y) = (LineBuf::default(), LineBuf::default());
        for text in ["a b\nc\n\nb a", "a", "", "\n\n", "a </s> b\nc", "c\t\nb\n"] {
            let info = d.document(text.as_bytes(), &mut x);
            let mut flat = text.replace('\n', " ");
            flat.push('\n');
            let reference = d.line(flat.as_bytes(), &mut y);
            assert_eq!((&x.ids, &x.labels, info.ntokens), (&y.ids, &y.labels, reference.ntokens), "{text:?}");
        }
    }

    #[test]
    fn char_ngrams_follow_compute_subwords() {
        let a = args(2, 3, 1, 1000);
        let d = dict(&["ab"], &["__label__x"], &a);
        let mut lb = LineBuf::default();
        d.line(b"ab", &mut lb);
        // <ab>: n-grams of 2..3 chars: "<a" "<ab" "ab" "ab>" "b>"
        let expect: Vec<i32> = ["<a", "<ab", "ab", "ab>", "b>"].iter().map(|g| 1 + (hash(g.as_bytes()) % 1000) as i32).collect();
        let mut got = lb.ids.clone();
        assert_eq!(got.remove(0), 0);
        let mut e = expect.clone();
        e.sort();
        got.sort();
        assert_eq!(got, e);
        // UTF-8: "é" is one char; n-grams never split it. 1-grams exclude "<" and ">".
        let a = args(1, 1, 1, 1000);
        let d = dict(&[], &["__label__x"], &a);
        d.line("é".as_bytes(), &mut lb);
        assert_eq!(lb.ids, vec![(hash("é".as_bytes()) % 1000) as i32]);
    }

    #[test]
    fn fastmod_is_exact() {
        for d in [1u32, 2, 3, 7, 1000, 100_000, 2_000_000, i32::MAX as u32] {
            let m = fastmod_m(d);
            for a in [0u32, 1, 2, 999, 1000, 1001, 123_456_789, u32::MAX - 1, u32::MAX, hash(b"abc"), hash(b"<ab")] {
                assert_eq!(fastmod(a, m, d), a % d, "{a} % {d}");
            }
        }
    }

    #[test]
    fn word_ngrams_sign_extend_hashes() {
        let a = args(0, 0, 2, 2_000_000);
        let d = dict(&["x", "y"], &["__label__x"], &a);
        let mut lb = LineBuf::default();
        d.line(b"x y", &mut lb);
        let (hx, hy) = (hash(b"x") as i32, hash(b"y") as i32);
        let h = (hx as i64 as u64).wrapping_mul(116049371).wrapping_add(hy as i64 as u64);
        assert_eq!(lb.ids, vec![0, 1, 2 + (h % 2_000_000) as i32]);
        // hash("x") has its top bit set, so the sign extension matters here.
        assert!(hx < 0 || hy < 0);
    }
}
