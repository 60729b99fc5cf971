//! Text normalisation and shingling of the dedup stages (`sluice-dedup`
//! re-exports this module as `sluice_dedup::text`).
//!
//! [`simplify`] follows datatrove's `simplify_text` (the normaliser of its
//! MinHash and exact dedup): lowercase, every number becomes `0`,
//! punctuation (datatrove's set) becomes a space, whitespace runs collapse
//! to one space, and the text is NFD-decomposed with combining marks
//! (accents) dropped. The unit tests pin outputs printed by datatrove.
//!
//! [`words`] splits simplified text into words: on whitespace, and runs of
//! Han characters are segmented with jieba (the segmenter datatrove uses
//! for Chinese), so a Chinese document yields real word shingles instead of
//! one "word" per sentence.

use crate::{split_words, Segmenter};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// datatrove's `PUNCTUATION` set (its `simplify_text` turns these into
/// spaces), besides the control characters.
fn is_dt_punctuation(c: char) -> bool {
    matches!(
        c,
        '!' | '/'
            | '—'
            | '”'
            | ':'
            | '％'
            | '１'
            | '〈'
            | '&'
            | '('
            | '、'
            | '━'
            | '\\'
            | '【'
            | '#'
            | '%'
            | '「'
            | '」'
            | '，'
            | '】'
            | '；'
            | '+'
            | '^'
            | ']'
            | '~'
            | '“'
            | '《'
            | '„'
            | '\''
            | ';'
            | '’'
            | '{'
            | '|'
            | '∶'
            | '´'
            | '['
            | '='
            | '-'
            | '`'
            | '*'
            | '．'
            | '（'
            | '–'
            | '？'
            | '！'
            | '：'
            | '$'
            | '～'
            | '«'
            | '〉'
            | ','
            | '>'
            | '<'
            | '》'
            | ')'
            | '?'
            | '）'
            | '。'
            | '…'
            | '@'
            | '_'
            | '.'
            | '"'
            | '}'
            | '►'
            | '»'
    ) || matches!(c as u32, 0..=8 | 11..=31 | 127..=159)
}

fn is_number_separator(c: char) -> bool {
    matches!(c, '.' | ',' | '،' | '٫' | '⎖' | '⎗' | '⎘')
}

/// datatrove's `simplify_text` with its default `TextNormConfig`:
/// lowercase; every number (`\p{Nd}+`, with at most one decimal part)
/// becomes `0`; punctuation becomes a space; whitespace runs become one
/// space; NFD, then combining marks are dropped; trimmed.
pub fn simplify(text: &str) -> String {
    // lowercase and numbers
    let lower = text.to_lowercase();
    let mut numbered = String::with_capacity(lower.len());
    let mut it = lower.chars().peekable();
    while let Some(c) = it.next() {
        if !is_unicode_digit(c) {
            numbered.push(c);
            continue;
        }
        while it.peek().is_some_and(|&d| is_unicode_digit(d)) {
            it.next();
        }
        numbered.push('0');
        // one optional decimal part: a separator followed by a digit
        if let Some(&sep) = it.peek() {
            if is_number_separator(sep) {
                let mut look = it.clone();
                look.next();
                if look.peek().is_some_and(|&d| is_unicode_digit(d)) {
                    it.next();
                    while it.peek().is_some_and(|&d| is_unicode_digit(d)) {
                        it.next();
                    }
                }
            }
        }
    }
    // punctuation to spaces, whitespace collapsed, accents stripped
    let mut out = String::with_capacity(numbered.len());
    let mut pending_space = false;
    for c in numbered.chars() {
        if is_dt_punctuation(c) || c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    if out.is_ascii() {
        return out;
    }
    out.nfd().filter(|&c| !is_combining_mark(c)).collect()
}

/// Decimal digits of other scripts (Arabic-Indic, Devanagari, full-width,
/// ...): Python's `\d` matches them, so datatrove maps them to 0 too.
fn is_unicode_digit(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    // Every Unicode Nd block starts at a code point ending in 0 or 6 and
    // spans ten; the common ones are listed.
    let u = c as u32;
    const STARTS: &[u32] = &[
        0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66, 0x0DE6, 0x0E50, 0x0ED0, 0x0F20,
        0x1040, 0x1090, 0x17E0, 0x1810, 0xFF10,
    ];
    STARTS.iter().any(|&s| (s..s + 10).contains(&u))
}

fn is_han(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// Words of simplified text: whitespace-separated, with Han runs segmented
/// by jieba.
pub fn words(simplified: &str) -> Vec<&str> {
    let mut out = Vec::with_capacity(simplified.len() / 5 + 1);
    for tok in simplified.split(' ') {
        if tok.is_empty() {
            continue;
        }
        if !tok.chars().any(is_han) {
            out.push(tok);
            continue;
        }
        // Split the token into Han and non-Han runs; jieba cuts the Han ones.
        let mut start = 0;
        let mut han = None;
        for (i, c) in tok.char_indices() {
            let h = is_han(c);
            match han {
                Some(prev) if prev != h => {
                    push_run(&tok[start..i], prev, &mut out);
                    start = i;
                }
                _ => {}
            }
            han = Some(h);
        }
        if let Some(h) = han {
            push_run(&tok[start..], h, &mut out);
        }
    }
    out
}

fn push_run<'a>(run: &'a str, han: bool, out: &mut Vec<&'a str>) {
    if han {
        out.extend(split_words(run, Segmenter::Jieba));
    } else {
        out.push(run);
    }
}

/// 64-bit hashes of the word `n`-grams of `words` (a text shorter than `n`
/// words gives one shingle of all its words; an empty text gives none).
/// Words are joined with a space, so the hash of a shingle is the hash of
/// its text.
pub fn shingle_hashes(words: &[&str], n: usize, seed: u64, out: &mut Vec<u64>) {
    out.clear();
    if words.is_empty() {
        return;
    }
    let n = n.min(words.len());
    let mut buf = String::new();
    for w in words.windows(n) {
        buf.clear();
        for (i, x) in w.iter().enumerate() {
            if i > 0 {
                buf.push(' ');
            }
            buf.push_str(x);
        }
        out.push(xxhash_rust::xxh3::xxh3_64_with_seed(buf.as_bytes(), seed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simplify_matches_datatrove_rules() {
        // expected values printed by datatrove 0.10.1's simplify_text
        assert_eq!(simplify("Héllo, WORLD!  It's 2024.\n\tÉcole"), "hello world it s 0 ecole");
        assert_eq!(simplify("  «Ça va?» — oui… ١٢٣ ４５ 3.14 1,000,000"), "ca va oui 0 0 0 0 0");
        assert_eq!(simplify("a/b_c-d e\x07f"), "a b c d e f");
        assert_eq!(simplify("Ünïcödé: naïve café — 50% off!"), "unicode naive cafe 0 off");
        assert_eq!(simplify("我们今天去北京大学看看，hello世界。"), "我们今天去北京大学看看 hello世界");
        assert_eq!(simplify(""), "");
        assert_eq!(simplify("!!!"), "");
    }

    #[test]
    fn chinese_is_segmented_into_words() {
        let s = simplify("我们今天去北京大学看看，hello世界。");
        let w = words(&s);
        assert!(w.contains(&"北京大学") || w.contains(&"北京"), "{w:?}");
        assert!(w.contains(&"hello"), "{w:?}");
        assert!(w.len() >= 6, "{w:?}");
    }

    #[test]
    fn shingles_are_seeded_and_windowed() {
        let w = ["a", "b", "c", "d"];
        let mut h = Vec::new();
        shingle_hashes(&w, 2, 1, &mut h);
        assert_eq!(h.len(), 3);
        let mut h2 = Vec::new();
        shingle_hashes(&w, 2, 2, &mut h2);
        assert_ne!(h, h2);
        shingle_hashes(&w, 9, 1, &mut h2);
        assert_eq!(h2.len(), 1);
        shingle_hashes(&[], 5, 1, &mut h2);
        assert!(h2.is_empty());
    }
}
