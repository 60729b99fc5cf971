//! Language-aware text splitting shared by the quality filters, dedup and
//! the safety stages, with the Python string semantics and punctuation
//! sets the datatrove rules are written in.
//!
//! The rules of Gopher, C4 and FineWeb count *words*. datatrove 0.10 gets
//! them from spaCy's blank tokenizer for English (prefix, suffix and infix
//! punctuation split off, contractions split as `do` + `n't`), from jieba
//! for Chinese and from Sudachi for Japanese. [`split_words`] reproduces the
//! English behaviour closely enough that keep/drop decisions agree on real
//! web text (see `stages/quality/README.md` for the measured agreement), segments
//! Chinese with jieba-rs, and splits Japanese by script runs (a kanji, kana
//! or latin run is one word): not morphological, but it gives word counts
//! and n-grams of the right order of magnitude instead of "one word per
//! line".

use std::sync::{Arc, OnceLock};

use sluice_pipeline::Scratch;

/// How a language's text is split into words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segmenter {
    /// Whitespace, then spaCy-style punctuation, clitic and infix rules.
    Spacy,
    /// jieba (Chinese).
    Jieba,
    /// Runs of one script (Japanese, and any other CJK fallback).
    ScriptRuns,
}

impl Segmenter {
    /// The segmenter for a `language` code as written by the `language`
    /// stage (`zh`, `zh-Hant`, `ja`, `en`, ...). Unknown codes use spaCy rules.
    pub fn for_language(lang: Option<&str>) -> Segmenter {
        match lang.map(|l| l.split(['-', '_']).next().unwrap_or(l)) {
            Some("zh") | Some("cmn") | Some("yue") | Some("wuu") => Segmenter::Jieba,
            Some("ja") | Some("jpn") => Segmenter::ScriptRuns,
            _ => Segmenter::Spacy,
        }
    }
}

/// Split `text` into words (punctuation tokens included, whitespace not),
/// as datatrove's `split_into_words` does for the language.
pub fn split_words(text: &str, seg: Segmenter) -> Vec<&str> {
    let mut out = Vec::with_capacity(text.len() / 5 + 1);
    match seg {
        Segmenter::Spacy => spacy_words(text, &mut out),
        Segmenter::Jieba => {
            for w in jieba().cut(text, true) {
                let w = w.trim();
                if !w.is_empty() {
                    out.push(w);
                }
            }
        }
        Segmenter::ScriptRuns => script_runs(text, &mut out),
    }
    out
}

// ---------------------------------------------------------------------------
// The word split, shared by the filters of a chain
// ---------------------------------------------------------------------------

/// Word boundaries as byte ranges of the text they were split from.
pub type Spans = Arc<[(u32, u32)]>;

/// The word split of a document's text, kept in the document's
/// [`Scratch`] so that the filters of a fused chain (Gopher repetition,
/// Gopher quality, C4, FineWeb) split it once. The scratch ties it to the
/// text it was made from: a stage that rewrites the text makes it stale.
struct WordSplit {
    seg: Segmenter,
    spans: Spans,
}

/// Byte ranges of `words`, which are slices of `text`.
fn spans_of(text: &str, words: &[&str]) -> Spans {
    let base = text.as_ptr() as usize;
    words
        .iter()
        .map(|w| {
            let s = w.as_ptr() as usize - base;
            (s as u32, (s + w.len()) as u32)
        })
        .collect()
}

/// The word split of `text` ([`split_words`]) as byte ranges, from the
/// scratch when an earlier stage of the chain split the same text with the
/// same segmenter.
pub fn word_spans(scratch: &mut Scratch, text: &str, seg: Segmenter) -> Spans {
    let entry = scratch.get_or_insert_with(text, || WordSplit { seg, spans: spans_of(text, &split_words(text, seg)) });
    if entry.seg != seg {
        *entry = WordSplit { seg, spans: spans_of(text, &split_words(text, seg)) };
    }
    entry.spans.clone()
}

/// Record the word split of a text a filter built (C4 assembles its output
/// from lines it has already split), for the next stage of the chain.
/// `spans` must equal the split of `text`; debug builds check it.
pub fn offer_word_spans(scratch: &mut Scratch, text: &str, seg: Segmenter, spans: Vec<(u32, u32)>) {
    debug_assert_eq!(*spans, *spans_of(text, &split_words(text, seg)), "offered split differs: {text:?}");
    let mut spans = Some(Spans::from(spans));
    let entry = scratch.get_or_insert_with(text, || WordSplit { seg, spans: spans.take().expect("taken once") });
    if let Some(spans) = spans {
        *entry = WordSplit { seg, spans };
    }
}

/// Call `f` with the words of `text` ([`split_words`]), shared with the
/// other stages of the chain through the scratch (see [`word_spans`]).
pub fn with_words<R>(scratch: &mut Scratch, text: &str, seg: Segmenter, f: impl FnOnce(&[&str]) -> R) -> R {
    let spans = word_spans(scratch, text, seg);
    let words: Vec<&str> = spans.iter().map(|&(a, b)| &text[a as usize..b as usize]).collect();
    f(&words)
}

impl Segmenter {
    /// Whether splitting a whitespace-delimited piece of a text gives the
    /// words of the whole text that fall in that piece (true for the
    /// whitespace-first splitters, not for jieba).
    pub fn splits_on_whitespace(self) -> bool {
        !matches!(self, Segmenter::Jieba)
    }
}

fn jieba() -> &'static jieba_rs::Jieba {
    static J: OnceLock<jieba_rs::Jieba> = OnceLock::new();
    J.get_or_init(jieba_rs::Jieba::new)
}

/// Load the Chinese dictionary now rather than in the first document that
/// needs it (keeps the first batch's timing honest).
pub fn warm_up_jieba() {
    let _ = jieba();
}

/// Python's `str.isspace` characters that `str.split()` splits on.
#[inline]
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// Python's `str.strip()`.
#[inline]
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// Python's `str.splitlines()` (without keepends).
pub fn py_splitlines(text: &str) -> Vec<&str> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len() / 40 + 1);
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        // every line boundary starts with one of these bytes
        let brk_len = match c {
            b'\n' | b'\x0b' | b'\x0c' | b'\x1c' | b'\x1d' | b'\x1e' => 1,
            b'\r' => {
                if b.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                }
            }
            0xC2 if b.get(i + 1) == Some(&0x85) => 2,
            0xE2 if b.get(i + 1) == Some(&0x80) && matches!(b.get(i + 2), Some(0xA8 | 0xA9)) => 3,
            _ => 0,
        };
        if brk_len > 0 {
            out.push(&text[start..i]);
            i += brk_len;
            start = i;
        } else {
            i += 1;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// datatrove's punctuation set (ASCII punctuation, control characters, the
/// common CJK and typographic marks, and terminal punctuation of all
/// scripts). A word made only of these is a "symbol word".
pub fn is_punctuation(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation() || (c as u32) < 9 || (11..32).contains(&(c as u32)) || c == '\x7f';
    }
    matches!(
        c,
        '\u{80}'
            ..='\u{9f}'
                | '—'
                | '–'
                | '”'
                | '“'
                | '„'
                | '’'
                | '´'
                | '«'
                | '»'
                | '…'
                | '►'
                | '━'
                | '∶'
                | '％'
                | '１'
                | '〈'
                | '〉'
                | '、'
                | '【'
                | '】'
                | '「'
                | '」'
                | '，'
                | '；'
                | '《'
                | '》'
                | '．'
                | '（'
                | '）'
                | '？'
                | '！'
                | '：'
                | '～'
                | '。'
    ) || is_terminal_punctuation(c)
}

/// Sentence-final punctuation across scripts (FineWeb's `stop_chars`).
pub fn is_terminal_punctuation(c: char) -> bool {
    matches!(
        c,
        '.' | '!'
            | '?'
            | '。'
            | '！'
            | '？'
            | '．'
            | '｡'
            | '‼'
            | '‽'
            | '⁇'
            | '⁈'
            | '⁉'
            | '⸮'
            | '⸼'
            | '﹒'
            | '﹖'
            | '﹗'
            | '।'
            | '॥'
            | '۔'
            | '؟'
            | '\u{61d}'
            | '܀'
            | '܁'
            | '܂'
            | '։'
            | '።'
            | '፧'
            | '፨'
            | '၊'
            | '။'
            | '។'
            | '៕'
            | '៖'
            | '៙'
            | '៚'
            | '᙮'
            | '᠃'
            | '᠉'
            | '᥄'
            | '᥅'
            | '᪨'
            | '᪩'
            | '᪪'
            | '᪫'
            | '᭚'
            | '᭛'
            | '᭞'
            | '᭟'
            | '᰻'
            | '᰼'
            | '᱾'
            | '᱿'
            | '꓿'
            | '꘎'
            | '꘏'
            | '꛳'
            | '꛷'
            | '꡶'
            | '꡷'
            | '꣎'
            | '꣏'
            | '꤯'
            | '꧈'
            | '꧉'
            | '꩝'
            | '꩞'
            | '꩟'
            | '꫰'
            | '꫱'
            | '꯫'
            | '߹'
            | '࠷'
            | '࠹'
            | '࠽'
            | '࠾'
            | '᜵'
            | '᜶'
            | '\u{1b7d}'
            | '\u{1b7e}'
            | '\u{2e53}'
            | '\u{2e54}'
    ) || matches!(c as u32, 0x11000..=0x1FFFF if is_supplementary_terminal(c))
}

fn is_supplementary_terminal(c: char) -> bool {
    matches!(
        c,
        '𑁇' | '𑁈'
            | '𑂾'
            | '𑂿'
            | '𑃀'
            | '𑃁'
            | '𑅁'
            | '𑅂'
            | '𑅃'
            | '𑇅'
            | '𑇆'
            | '𑇍'
            | '𑇞'
            | '𑇟'
            | '𑈸'
            | '𑈹'
            | '𑈻'
            | '𑈼'
            | '𑊩'
            | '𑑋'
            | '𑑌'
            | '𑗂'
            | '𑗃'
            | '𑗉'
            | '𑗊'
            | '𑗋'
            | '𑗌'
            | '𑗍'
            | '𑗎'
            | '𑗏'
            | '𑗐'
            | '𑗑'
            | '𑗒'
            | '𑗓'
            | '𑗔'
            | '𑗕'
            | '𑗖'
            | '𑗗'
            | '𑙁'
            | '𑙂'
            | '𑜼'
            | '𑜽'
            | '𑜾'
            | '𑥄'
            | '𑥆'
            | '𑩂'
            | '𑩃'
            | '𑪛'
            | '𑪜'
            | '𑱁'
            | '𑱂'
            | '𑻷'
            | '𑻸'
            | '𖩮'
            | '𖩯'
            | '𖫵'
            | '𖬷'
            | '𖬸'
            | '𖭄'
            | '𖺘'
            | '𛲟'
            | '𝪈'
    )
}

// ---------------------------------------------------------------------------
// spaCy-style English tokenization
// ---------------------------------------------------------------------------

/// Characters spaCy splits off the front of a token.
fn is_prefix_char(c: char) -> bool {
    matches!(
        c,
        '§' | '%'
            | '='
            | '—'
            | '–'
            | '('
            | ')'
            | '['
            | ']'
            | '{'
            | '}'
            | '<'
            | '>'
            | '_'
            | '#'
            | '*'
            | '&'
            | ','
            | ':'
            | ';'
            | '!'
            | '?'
            | '¿'
            | '¡'
            | '"'
            | '\''
            | '`'
            | '“'
            | '”'
            | '‘'
            | '’'
            | '´'
            | '‚'
            | '„'
            | '«'
            | '»'
            | '$'
            | '£'
            | '€'
            | '¥'
            | '฿'
            | '…'
            | '。'
            | '？'
            | '！'
            | '，'
            | '、'
            | '；'
            | '：'
            | '～'
            | '·'
            | '「'
            | '」'
            | '『'
            | '』'
            | '（'
            | '）'
            | '〔'
            | '〕'
            | '【'
            | '】'
            | '《'
            | '》'
            | '〈'
            | '〉'
    ) || is_icon(c)
}

/// Characters spaCy splits off the end of a token (`.` has its own rule).
fn is_suffix_char(c: char) -> bool {
    matches!(
        c,
        '—' | '–'
            | '('
            | ')'
            | '['
            | ']'
            | '{'
            | '}'
            | '<'
            | '>'
            | '_'
            | '#'
            | '*'
            | '&'
            | ','
            | ':'
            | ';'
            | '!'
            | '?'
            | '¿'
            | '¡'
            | '"'
            | '\''
            | '`'
            | '“'
            | '”'
            | '‘'
            | '’'
            | '´'
            | '‚'
            | '„'
            | '«'
            | '»'
            | '…'
            | '。'
            | '？'
            | '！'
            | '，'
            | '、'
            | '；'
            | '：'
            | '～'
            | '·'
            | '「'
            | '」'
            | '『'
            | '』'
            | '（'
            | '）'
            | '〔'
            | '〕'
            | '【'
            | '】'
            | '《'
            | '》'
            | '〈'
            | '〉'
    ) || is_icon(c)
}

/// Symbols spaCy treats as icons (Unicode "Other symbol": ©, ®, emoji, ...).
fn is_icon(c: char) -> bool {
    let u = c as u32;
    matches!(
        c,
        '©' | '®'
            | '°'
            | '¦'
            | '™'
            | '№'
            | '℗'
            | '℠'
            | '■'
            | '□'
            | '▪'
            | '●'
            | '○'
            | '◆'
            | '★'
            | '☆'
            | '✓'
            | '✔'
            | '✗'
            | '♥'
            | '♦'
            | '♣'
            | '♠'
            | '►'
            | '▼'
            | '▲'
            | '◄'
    ) || (0x2190..=0x21ff).contains(&u)
        || (0x2300..=0x23ff).contains(&u)
        || (0x2500..=0x27bf).contains(&u)
        || (0x1f000..=0x1faff).contains(&u)
}

fn is_currency(c: char) -> bool {
    matches!(c, '$' | '£' | '€' | '¥' | '฿' | '₽' | '₹' | '₩' | '¢')
}

const UNITS: &[&str] = &[
    "km", "km²", "km³", "m", "m²", "m³", "dm", "cm", "mm", "µm", "nm", "yd", "in", "ft", "kg", "g", "mg", "µg", "t", "lb", "oz", "m/s",
    "km/h", "kmh", "mph", "hPa", "Pa", "mbar", "mb", "MB", "kb", "KB", "gb", "GB", "tb", "TB", "T", "G", "M", "K", "%", "км", "км²", "км³",
    "м", "м²", "м³", "дм", "см", "мм", "нм", "кг", "г", "мг", "м/с", "км/ч", "кПа", "Па", "мбар", "Кб", "КБ", "кб", "Мб", "МБ", "мб", "Гб",
    "ГБ", "гб", "Тб", "ТБ", "тб", "am", "pm", "a.m.", "p.m.", "st", "nd", "rd", "th", "s",
];

/// Tokens spaCy's English exceptions keep whole although the suffix rule
/// would split their final period.
const ABBREVIATIONS: &[&str] = &[
    "Mr.", "Mrs.", "Ms.", "Dr.", "St.", "Jr.", "Sr.", "Inc.", "Ltd.", "Co.", "Corp.", "vs.", "e.g.", "i.e.", "a.m.", "p.m.", "Jan.",
    "Feb.", "Mar.", "Apr.", "Jun.", "Jul.", "Aug.", "Sep.", "Sept.", "Oct.", "Nov.", "Dec.", "Mt.", "Gen.", "Gov.", "Rev.", "Sen.", "Rep.",
    "Bros.", "Messrs.", "Mme.", "Ph.D.", "E.g.", "I.e.", "Ala.", "Ariz.", "Ark.", "Calif.", "Colo.", "Conn.", "Del.", "Fla.", "Ga.",
    "Ill.", "Ind.", "Kan.", "Kans.", "Ky.", "La.", "Md.", "Mass.", "Mich.", "Minn.", "Miss.", "Mo.", "Mont.", "Neb.", "Nebr.", "Nev.",
    "N.H.", "N.J.", "N.M.", "N.Y.", "N.C.", "N.D.", "Okla.", "Ore.", "Pa.", "Tenn.", "Va.", "Wash.", "Wis.", "co.", "vs", "Adm.", "Capt.",
    "Cmdr.", "Col.", "Lt.", "Sgt.", "Prof.", "No.", "no.", "Nos.", "Op.", "Ave.", "Blvd.", "Rd.", "Dept.", "Univ.", "Est.", "est.",
    "approx.", "Fig.", "fig.", "Vol.", "vol.", "pp.", "ed.", "eds.", "al.",
];

const CLITIC_PRONOUNS: &[&str] = &[
    "i",
    "you",
    "he",
    "she",
    "it",
    "we",
    "they",
    "that",
    "there",
    "what",
    "who",
    "where",
    "how",
    "here",
    "this",
    "when",
    "why",
    "let",
    "y'all",
    "somebody",
    "someone",
    "something",
    "nobody",
    "these",
    "those",
];

fn is_exception(s: &str) -> bool {
    if s.len() > 8 {
        return false;
    }
    let first = s.as_bytes()[0];
    if s.ends_with('.') {
        if ABBREVIATIONS.contains(&s) {
            return true;
        }
    } else if first.is_ascii_alphanumeric() && !matches!(first, b'x' | b'o' | b'O') {
        return false;
    }
    // single letters with a period: "a.", "B."
    let mut it = s.chars();
    if let (Some(c), Some('.'), None) = (it.next(), it.next(), it.next()) {
        return c.is_alphabetic();
    }
    // emoticons
    matches!(
        s,
        ":)" | ":-)"
            | ":("
            | ":-("
            | ";)"
            | ";-)"
            | ":D"
            | ":P"
            | ":p"
            | ":-P"
            | ":-D"
            | "<3"
            | ":/"
            | ":'("
            | "xD"
            | "^_^"
            | "-_-"
            | ":o"
            | ":O"
            | "=)"
            | "(:"
            | "):"
            | ":]"
            | "=]"
            | ":|"
            | "o_o"
            | "O_O"
            | "(^_^)"
            | "<33"
            | "</3"
    )
}

/// Split off "n't" and other clitics; returns the pieces if `s` is one.
fn split_clitic(s: &str) -> Option<(&str, &str)> {
    let ends_ci =
        |suf: &str| s.len() > suf.len() && s.is_char_boundary(s.len() - suf.len()) && s[s.len() - suf.len()..].eq_ignore_ascii_case(suf);
    for nt in ["n't", "n’t"] {
        if ends_ci(nt) {
            let head = &s[..s.len() - nt.len()];
            if head.chars().all(char::is_alphabetic) {
                return Some((head, &s[s.len() - nt.len()..]));
            }
        }
    }
    for cl in ["'m", "'re", "'ll", "'ve", "'d", "’m", "’re", "’ll", "’ve", "’d"] {
        if ends_ci(cl) {
            let head = &s[..s.len() - cl.len()];
            if CLITIC_PRONOUNS.iter().any(|p| p.eq_ignore_ascii_case(head)) {
                return Some((head, &s[s.len() - cl.len()..]));
            }
        }
    }
    None
}

/// "cannot", "gonna", "gotta" are two words for spaCy.
fn split_fused(s: &str) -> Option<(&str, &str)> {
    if s.len() == 5 && (s.eq_ignore_ascii_case("gonna") || s.eq_ignore_ascii_case("gotta")) {
        return Some((&s[..3], &s[3..]));
    }
    if s.len() == 6 && s.eq_ignore_ascii_case("cannot") {
        return Some((&s[..3], &s[3..]));
    }
    None
}

fn looks_like_url(s: &str) -> bool {
    if !s.contains(['.', ':']) {
        return false;
    }
    if s.contains("://") || s.starts_with("www.") || s.starts_with("WWW.") {
        return true;
    }
    // bare domains (test.com, example.org/path), e-mail addresses
    let host = s.split('/').next().unwrap_or(s);
    let host = host.rsplit('@').next().unwrap_or(host);
    let Some((name, tld)) = host.rsplit_once('.') else { return false };
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !name.starts_with('.')
        && (2..=6).contains(&tld.len())
        && tld.chars().all(|c| c.is_ascii_lowercase())
        && matches!(
            tld,
            "com"
                | "org"
                | "net"
                | "edu"
                | "gov"
                | "io"
                | "co"
                | "uk"
                | "de"
                | "fr"
                | "info"
                | "biz"
                | "us"
                | "ca"
                | "au"
                | "ru"
                | "cn"
                | "jp"
                | "in"
                | "nl"
                | "it"
                | "es"
                | "eu"
                | "me"
                | "tv"
                | "ly"
                | "be"
                | "ch"
                | "se"
                | "html"
                | "htm"
                | "php"
                | "asp"
                | "aspx"
        )
}

/// Length of a prefix to split off, if any.
fn prefix_len(s: &str) -> Option<usize> {
    if s.starts_with("..") {
        return Some(s.len() - s.trim_start_matches('.').len());
    }
    let c = s.chars().next()?;
    if c == '+' {
        return match s[1..].chars().next() {
            Some(d) if d.is_ascii_digit() => None,
            _ => Some(1),
        };
    }
    is_prefix_char(c).then(|| c.len_utf8())
}

/// Length of a suffix to split off, if any.
fn suffix_len(s: &str) -> Option<usize> {
    if s.ends_with("..") {
        let n = s.len() - s.trim_end_matches('.').len();
        return (n < s.len()).then_some(n);
    }
    for cl in ["'s", "'S", "’s", "’S"] {
        if s.len() > cl.len() && s.ends_with(cl) {
            return Some(cl.len());
        }
    }
    let mut rev = s.chars().rev();
    let last = rev.next()?;
    let prev = rev.next();
    if s.len() == last.len_utf8() {
        return None;
    }
    if is_suffix_char(last) {
        return Some(last.len_utf8());
    }
    if last == '.' {
        let p = prev?;
        let prev2 = rev.next();
        if p.is_ascii_digit() || p.is_lowercase() || (p.is_alphabetic() && !p.is_uppercase()) || is_suffix_char(p) || p == '%' {
            return Some(1);
        }
        if p.is_uppercase() && prev2.is_some_and(char::is_uppercase) {
            return Some(1);
        }
        return None;
    }
    if last == '+' && prev.is_some_and(|p| p.is_ascii_digit()) {
        return Some(1);
    }
    // number followed by a unit or currency: "10km", "5pm", "100%", "20$"
    if !s.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    if let Some(i) = s.find(|c: char| !c.is_ascii_digit() && c != '.' && c != ',') {
        let (num, unit) = s.split_at(i);
        let is_unit = UNITS.contains(&unit) || (unit.chars().count() == 1 && unit.chars().next().is_some_and(is_currency));
        if !num.is_empty() && num.as_bytes()[num.len() - 1].is_ascii_digit() && is_unit {
            return Some(unit.len());
        }
    }
    None
}

/// Infix splitting of what remains after prefixes and suffixes.
fn infix_split<'a>(s: &'a str, out: &mut Vec<&'a str>) {
    if s.bytes().all(|b| b.is_ascii() && !matches!(b, b'.' | b',' | b':' | b'<' | b'>' | b'=' | b'/' | b'+' | b'*' | b'^' | b'-' | b'~')) {
        out.push(s);
        return;
    }
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let n = chars.len();
    let mut start = 0; // byte offset of the current piece
    let mut i = 0;
    let end_of = |k: usize| if k < n { chars[k].0 } else { s.len() };
    while i < n {
        let (pos, c) = chars[i];
        let prev = if i > 0 { Some(chars[i - 1].1) } else { None };
        // ellipses anywhere: "wait...what"
        if c == '.' && i + 1 < n && chars[i + 1].1 == '.' {
            let mut j = i;
            while j < n && chars[j].1 == '.' {
                j += 1;
            }
            if pos > start {
                out.push(&s[start..pos]);
            }
            out.push(&s[pos..end_of(j)]);
            start = end_of(j);
            i = j;
            continue;
        }
        if c == '…' || (is_icon(c) && n > 1) {
            if pos > start {
                out.push(&s[start..pos]);
            }
            out.push(&s[pos..end_of(i + 1)]);
            start = end_of(i + 1);
            i += 1;
            continue;
        }
        let next = chars.get(i + 1).map(|x| x.1);
        let alpha = |x: Option<char>| x.is_some_and(char::is_alphabetic);
        let alnum = |x: Option<char>| x.is_some_and(|x| x.is_alphanumeric());
        // hyphens between letters: well-known, pre--post
        if matches!(c, '-' | '–' | '—' | '~') && alnum(prev) {
            let mut j = i + 1;
            if c == '-' {
                while j < n && j < i + 3 && chars[j].1 == '-' {
                    j += 1;
                }
            }
            let after = chars.get(j).map(|x| x.1);
            if alpha(after) {
                out.push(&s[start..pos]);
                out.push(&s[pos..end_of(j)]);
                start = end_of(j);
                i = j;
                continue;
            }
        }
        let split_one = match c {
            ',' => alpha(prev) && alpha(next),
            ':' | '<' | '>' | '=' | '/' => alnum(prev) && alpha(next),
            '.' => {
                prev.is_some_and(|p| p.is_lowercase() || matches!(p, '"' | '\'' | '”' | '’'))
                    && next.is_some_and(|x| x.is_uppercase() || matches!(x, '"' | '\'' | '“' | '‘'))
            }
            '+' | '*' | '^' => prev.is_some_and(|p| p.is_ascii_digit()) && next.is_some_and(|x| x.is_ascii_digit() || x == '-'),
            '-' => prev.is_some_and(|p| p.is_ascii_digit()) && next.is_some_and(|x| x.is_ascii_digit() || x == '-'),
            _ => false,
        };
        if split_one && pos > start {
            out.push(&s[start..pos]);
            out.push(&s[pos..end_of(i + 1)]);
            start = end_of(i + 1);
        }
        i += 1;
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
}

fn spacy_chunk<'a>(chunk: &'a str, out: &mut Vec<&'a str>) {
    let mut s = chunk;
    let mut suffixes: Vec<&'a str> = Vec::new();
    loop {
        if s.is_empty() {
            break;
        }
        if s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            plain_word(s, out);
            break;
        }
        if is_exception(s) || looks_like_url(s) {
            out.push(s);
            break;
        }
        if s.contains(['\'', '’']) {
            if let Some((a, b)) = split_clitic(s) {
                out.push(a);
                out.push(b);
                break;
            }
        }
        if let Some(n) = prefix_len(s) {
            out.push(&s[..n]);
            s = &s[n..];
            continue;
        }
        if let Some(n) = suffix_len(s) {
            suffixes.push(&s[s.len() - n..]);
            s = &s[..s.len() - n];
            continue;
        }
        infix_split(s, out);
        break;
    }
    out.extend(suffixes.into_iter().rev());
}

/// A token of ASCII letters and digits: whole, unless it is a fused form
/// ("cannot") or a number with a unit ("10km").
#[inline]
fn plain_word<'a>(s: &'a str, out: &mut Vec<&'a str>) {
    if let Some((a, b)) = split_fused(s) {
        out.push(a);
        out.push(b);
    } else if let Some(i) = unit_split_point(s) {
        out.push(&s[..i]);
        out.push(&s[i..]);
    } else {
        out.push(s);
    }
}

fn spacy_words<'a>(text: &'a str, out: &mut Vec<&'a str>) {
    let b = text.as_bytes();
    let mut i = 0;
    let mut start = 0;
    let emit = |s: usize, e: usize, out: &mut Vec<&'a str>| {
        if e > s {
            let chunk = &text[s..e];
            if !fast_ascii_chunk(chunk, out) {
                spacy_chunk(chunk, out);
            }
        }
    };
    // Split on Python whitespace, decoding only non-ASCII characters.
    while i < b.len() {
        let c = b[i];
        if c < 0x80 {
            if matches!(c, b' ' | b'\t'..=b'\r' | 0x1c..=0x1f) {
                emit(start, i, out);
                start = i + 1;
            }
            i += 1;
        } else {
            let ch = text[i..].chars().next().expect("char boundary");
            let l = ch.len_utf8();
            if ch.is_whitespace() {
                emit(start, i, out);
                start = i + l;
            }
            i += l;
        }
    }
    emit(start, b.len(), out);
}

/// ASCII punctuation that spaCy splits off either end of a token
/// unconditionally.
#[inline]
fn is_simple_affix(b: u8) -> bool {
    matches!(b, b',' | b';' | b':' | b'!' | b'?' | b'"' | b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'*' | b'&' | b'#' | b'_' | b'<' | b'>')
}

/// The common case, without the general machinery: ASCII letters and
/// digits wrapped in simple punctuation (`(word),` `end.` `"quote"`).
/// Returns false, having pushed nothing, for anything else.
#[inline]
fn fast_ascii_chunk<'a>(chunk: &'a str, out: &mut Vec<&'a str>) -> bool {
    let b = chunk.as_bytes();
    if b.len() <= 5 && !b[0].is_ascii_alphanumeric() && is_exception(chunk) {
        return false; // emoticons
    }
    let mut start = 0;
    while start < b.len() && is_simple_affix(b[start]) {
        start += 1;
    }
    let mut end = b.len();
    let mut whole_core = false; // "Mr." kept whole
    while end > start {
        let c = b[end - 1];
        if is_simple_affix(c) {
            end -= 1;
        } else if c == b'.' {
            let core = &chunk[start..end];
            if is_exception(core) {
                whole_core = true;
                break;
            }
            let p = if end - 1 > start { b[end - 2] } else { return false };
            let after_lower = p.is_ascii_lowercase() || p.is_ascii_digit() || is_simple_affix(p);
            let after_two_upper = p.is_ascii_uppercase() && end - 2 > start && b[end - 3].is_ascii_uppercase();
            if after_lower || after_two_upper {
                end -= 1;
            } else {
                return false;
            }
        } else {
            break;
        }
    }
    let core = &chunk[start..end];
    if core.is_empty() || !(whole_core || core.bytes().all(|c| c.is_ascii_alphanumeric())) {
        return false;
    }
    if whole_core && !core[..core.len() - 1].bytes().all(|c| c.is_ascii_alphanumeric() || c == b'.') {
        return false;
    }
    for i in 0..start {
        out.push(&chunk[i..i + 1]);
    }
    if whole_core {
        out.push(core);
    } else {
        plain_word(core, out);
    }
    for i in end..b.len() {
        out.push(&chunk[i..i + 1]);
    }
    true
}

fn unit_split_point(chunk: &str) -> Option<usize> {
    let b = chunk.as_bytes();
    if !b[0].is_ascii_digit() {
        return None;
    }
    let i = b.iter().position(|c| !c.is_ascii_digit())?;
    UNITS.contains(&&chunk[i..]).then_some(i)
}

/// Split Japanese (or any CJK) text into runs of one script; punctuation
/// characters are words of their own.
fn script_runs<'a>(text: &'a str, out: &mut Vec<&'a str>) {
    #[derive(PartialEq, Clone, Copy)]
    enum K {
        Space,
        Han,
        Hira,
        Kata,
        Other,
        Punct,
    }
    fn kind(c: char) -> K {
        if is_py_space(c) {
            K::Space
        } else if ('\u{3040}'..='\u{309f}').contains(&c) {
            K::Hira
        } else if ('\u{30a0}'..='\u{30ff}').contains(&c) || ('\u{ff66}'..='\u{ff9f}').contains(&c) {
            K::Kata
        } else if ('\u{4e00}'..='\u{9fff}').contains(&c) || ('\u{3400}'..='\u{4dbf}').contains(&c) || c == '々' {
            K::Han
        } else if is_punctuation(c) || (!c.is_alphanumeric()) {
            K::Punct
        } else {
            K::Other
        }
    }
    let mut start = 0;
    let mut cur = K::Space;
    for (i, c) in text.char_indices() {
        let k = kind(c);
        if k != cur || k == K::Punct {
            if cur != K::Space && i > start {
                out.push(&text[start..i]);
            }
            start = i;
            cur = k;
        }
    }
    if cur != K::Space && start < text.len() {
        out.push(&text[start..]);
    }
}

/// Count sentences as spaCy's rule-based `sentencizer` does on top of the
/// word tokens: a sentence ends after a run of sentence-final punctuation,
/// at the next token that is not punctuation.
pub fn count_sentences(words: &[&str]) -> usize {
    if words.is_empty() {
        return 0;
    }
    let mut n = 1;
    let mut seen_end = false;
    for w in words {
        let mut cs = w.chars();
        let is_end = matches!((cs.next(), cs.next()), (Some(c), None) if is_sentence_end(c));
        if seen_end && !is_end && !is_all_unicode_punct(w) {
            n += 1;
            seen_end = false;
        } else if is_end {
            seen_end = true;
        }
    }
    n
}

fn is_sentence_end(c: char) -> bool {
    is_terminal_punctuation(c)
}

/// spaCy's `is_punct`: every character is Unicode punctuation (P*).
fn is_all_unicode_punct(w: &str) -> bool {
    w.chars().all(|c| {
        c.is_ascii_punctuation() && !matches!(c, '$' | '+' | '<' | '=' | '>' | '^' | '`' | '|' | '~')
            || matches!(
                c,
                '“' | '”'
                    | '‘'
                    | '’'
                    | '«'
                    | '»'
                    | '—'
                    | '–'
                    | '…'
                    | '。'
                    | '、'
                    | '，'
                    | '「'
                    | '」'
                    | '『'
                    | '』'
                    | '（'
                    | '）'
                    | '【'
                    | '】'
                    | '《'
                    | '》'
                    | '！'
                    | '？'
                    | '：'
                    | '；'
                    | '·'
                    | '¡'
                    | '¿'
                    | '„'
                    | '‚'
            )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_tokens_match_spacy_rules() {
        let cases: &[(&str, &[&str])] = &[
            (
                "Hello, world! It's a test... don't you think?",
                &["Hello", ",", "world", "!", "It", "'s", "a", "test", "...", "do", "n't", "you", "think", "?"],
            ),
            ("well-known co-op 5-6 pre--post", &["well", "-", "known", "co", "-", "op", "5", "-", "6", "pre", "--", "post"]),
            ("end.Next word. U.S. Mr. Smith e.g. etc.", &["end", ".", "Next", "word", ".", "U.S.", "Mr.", "Smith", "e.g.", "etc", "."]),
            ("(hello) \"q\" $5 10km 5pm 100%", &["(", "hello", ")", "\"", "q", "\"", "$", "5", "10", "km", "5", "pm", "100", "%"]),
            (
                "a,b 1,000 a:b http://x.y/a?b a/b a/1 wait...what",
                &["a", ",", "b", "1,000", "a", ":", "b", "http://x.y/a?b", "a", "/", "b", "a/1", "wait", "...", "what"],
            ),
            ("can't won't cannot I'm John's", &["ca", "n't", "wo", "n't", "can", "not", "I", "'m", "John", "'s"]),
            ("ABC. abc. 3. a. AB.", &["ABC", ".", "abc", ".", "3", ".", "a.", "AB", "."]),
            (
                "Hello!!! ***bold*** #hash test.com",
                &["Hello", "!", "!", "!", "*", "*", "*", "bold", "*", "*", "*", "#", "hash", "test.com"],
            ),
        ];
        for (text, want) in cases {
            assert_eq!(split_words(text, Segmenter::Spacy), *want, "{text}");
        }
    }

    #[test]
    fn chinese_is_segmented_into_words() {
        let w = split_words("我们今天去北京大学参观。", Segmenter::Jieba);
        assert!(w.contains(&"北京大学") || w.contains(&"北京"), "{w:?}");
        assert!(w.len() >= 4 && w.len() <= 8, "{w:?}");
    }

    #[test]
    fn japanese_splits_by_script() {
        let w = split_words("東京タワーに行きました。", Segmenter::ScriptRuns);
        assert_eq!(w, ["東京", "タワー", "に", "行", "きました", "。"]);
    }

    #[test]
    fn sentences_are_counted_like_the_sentencizer() {
        let w = split_words("One here. Two there! Three? \"Four.\" Five", Segmenter::Spacy);
        assert_eq!(count_sentences(&w), 5);
        assert_eq!(count_sentences(&split_words("The U.S. army is big.", Segmenter::Spacy)), 1);
    }

    #[test]
    fn shared_split_equals_a_fresh_split() {
        let texts =
            ["Hello, world! It's a test.", "東京タワーに行きました。", "我们今天去北京大学参观。", "", "Hello, world! It's a test."];
        let mut scratch = Scratch::default();
        for (t, seg) in
            texts.iter().zip([Segmenter::Spacy, Segmenter::ScriptRuns, Segmenter::Jieba, Segmenter::Spacy, Segmenter::ScriptRuns])
        {
            let fresh = split_words(t, seg);
            // miss, then hit: both give the fresh split
            for _ in 0..2 {
                assert_eq!(with_words(&mut scratch, t, seg, |w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>()), fresh, "{t}");
            }
        }
        // the same text with another segmenter is split again
        let t = "我们今天去北京大学参观。";
        assert_eq!(*word_spans(&mut scratch, t, Segmenter::Jieba), *spans_of(t, &split_words(t, Segmenter::Jieba)));
        assert_eq!(*word_spans(&mut scratch, t, Segmenter::Spacy), *spans_of(t, &split_words(t, Segmenter::Spacy)));
        // a text offered by C4 is found by the next filter
        let t = "One line here.\nAnother line there.";
        let spans: Vec<(u32, u32)> = spans_of(t, &split_words(t, Segmenter::Spacy)).to_vec();
        let mut scratch = Scratch::default();
        offer_word_spans(&mut scratch, t, Segmenter::Spacy, spans.clone());
        let mut calls = 0;
        assert!(scratch.get::<WordSplit>(t).is_some_and(|w| {
            calls += 1;
            *w.spans == *spans
        }));
        assert_eq!(calls, 1);
    }

    #[test]
    fn python_line_splitting() {
        assert_eq!(py_splitlines("a\r\nb\rc\n\nd\n"), ["a", "b", "c", "", "d"]);
        assert_eq!(py_splitlines(""), Vec::<&str>::new());
        assert_eq!(py_strip(" \u{a0}x\t"), "x");
    }
}
