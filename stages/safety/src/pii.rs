//! PII scrubbing: one [`RegexSet`] pass says which kinds may occur in a
//! document, then each candidate kind's own patterns find spans that a
//! per-kind validator confirms (Luhn, IBAN mod 97, ISO 7064 for Chinese
//! resident IDs, IP ranges, number boundaries). Confirmed spans are
//! replaced by a typed placeholder, masked, or replaced by a keyed hash;
//! the text outside them is never touched.
//!
//! Full-width digits and separators (`１３８－１２３４－５６７８`, `＠`) are
//! matched and validated like their ASCII forms.

use std::collections::BTreeMap;
use std::ops::Range;

use regex::{Regex, RegexSet, RegexSetBuilder};

const DFA_CACHE: usize = 32 << 20;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sluice_pipeline::filter::{Filter, Filtered, Mode, Signals};
use sluice_pipeline::{Document, Reason, Scratch};

/// What to do with each match of a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Replace with a typed placeholder: `<EMAIL>`, `<PHONE>`, ...
    Placeholder,
    /// Replace every letter and digit with `mask_char`, keeping separators
    /// (`***-**-****`), so the shape of the text survives.
    Mask,
    /// Replace with `<KIND#hex>`: a keyed SHA-256 of the normalised value,
    /// the same for the same value within a run (so co-reference survives),
    /// not reversible without the key.
    Hash,
    /// Do not look for this kind.
    Off,
}

/// The kinds of personal data and secrets the stage knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PiiKind {
    Email,
    Phone,
    Ip,
    CreditCard,
    Iban,
    UsSsn,
    CnId,
    Secret,
    UrlCredentials,
}

impl PiiKind {
    pub const ALL: [PiiKind; 9] = [
        PiiKind::Email,
        PiiKind::Phone,
        PiiKind::Ip,
        PiiKind::CreditCard,
        PiiKind::Iban,
        PiiKind::UsSsn,
        PiiKind::CnId,
        PiiKind::Secret,
        PiiKind::UrlCredentials,
    ];

    /// The kind's name in recipes and attributes (`pii_<name>`).
    pub fn name(self) -> &'static str {
        match self {
            PiiKind::Email => "email",
            PiiKind::Phone => "phone",
            PiiKind::Ip => "ip",
            PiiKind::CreditCard => "credit_card",
            PiiKind::Iban => "iban",
            PiiKind::UsSsn => "us_ssn",
            PiiKind::CnId => "cn_id",
            PiiKind::Secret => "secret",
            PiiKind::UrlCredentials => "url_credentials",
        }
    }

    pub fn from_name(s: &str) -> Option<PiiKind> {
        PiiKind::ALL.into_iter().find(|k| k.name() == s)
    }

    pub fn placeholder(self) -> &'static str {
        match self {
            PiiKind::Email => "<EMAIL>",
            PiiKind::Phone => "<PHONE>",
            PiiKind::Ip => "<IP_ADDRESS>",
            PiiKind::CreditCard => "<CREDIT_CARD>",
            PiiKind::Iban => "<IBAN>",
            PiiKind::UsSsn => "<US_SSN>",
            PiiKind::CnId => "<CN_ID>",
            PiiKind::Secret => "<SECRET>",
            PiiKind::UrlCredentials => "<CREDENTIALS>",
        }
    }

    /// Which kind wins when two kinds claim the same span (lower first).
    fn priority(self) -> u8 {
        match self {
            PiiKind::Secret => 0,
            PiiKind::UrlCredentials => 1,
            PiiKind::Email => 2,
            PiiKind::CnId => 3,
            PiiKind::Iban => 4,
            PiiKind::CreditCard => 5,
            PiiKind::UsSsn => 6,
            PiiKind::Ip => 7,
            PiiKind::Phone => 8,
        }
    }
}

fn d_placeholder() -> Action {
    Action::Placeholder
}
fn d_mask() -> char {
    '*'
}

/// Configuration of the `pii` stage. Each kind takes an action:
/// `placeholder` (default), `mask`, `hash` or `off`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PiiConfig {
    /// Email addresses (`<EMAIL>`). Image names like `icon@2x.png` are not emails.
    #[serde(default = "d_placeholder")]
    pub email: Action,
    /// Phone numbers (`<PHONE>`): Chinese mobiles (1[3-9]x xxxx xxxx, with
    /// or without +86 and separators), North American numbers (NXX-NXX-XXXX,
    /// (NXX) NXX-XXXX, +1) and international numbers written with a `+`
    /// country code (8 to 15 digits).
    #[serde(default = "d_placeholder")]
    pub phone: Action,
    /// Public IPv4 and IPv6 addresses (`<IP_ADDRESS>`). Private, loopback,
    /// link-local, shared, documentation, benchmarking, multicast and
    /// reserved ranges are kept, and so are version-like strings
    /// (`version 1.2.3.4`).
    #[serde(default = "d_placeholder")]
    pub ip: Action,
    /// Payment card numbers (`<CREDIT_CARD>`): 13-19 digits, a known issuer
    /// prefix and length, a valid Luhn check digit, consistent grouping.
    #[serde(default = "d_placeholder")]
    pub credit_card: Action,
    /// IBANs (`<IBAN>`): the country's length and the ISO 13616 mod-97 check.
    #[serde(default = "d_placeholder")]
    pub iban: Action,
    /// US social security numbers written AAA-GG-SSSS (`<US_SSN>`), with the
    /// SSA's never-issued areas (000, 666, 900-999), groups and serials excluded.
    #[serde(default = "d_placeholder")]
    pub us_ssn: Action,
    /// Chinese resident identity card numbers (`<CN_ID>`): 18 characters, a
    /// province code, a real birth date and the ISO 7064 MOD 11-2 check.
    #[serde(default = "d_placeholder")]
    pub cn_id: Action,
    /// Secrets (`<SECRET>`): AWS access key ids, PEM private-key blocks,
    /// GitHub, GitLab, Slack, Stripe, Google, OpenAI, Anthropic and Hugging
    /// Face tokens, JWTs, and `api_key = ...`-style assignments of
    /// random-looking values.
    #[serde(default = "d_placeholder")]
    pub secret: Action,
    /// The `user:password` part of URLs carrying credentials
    /// (`https://user:pw@host`), replaced by `<CREDENTIALS>`.
    #[serde(default = "d_placeholder")]
    pub url_credentials: Action,
    /// Character the `mask` action writes. Default `*`.
    #[serde(default = "d_mask")]
    pub mask_char: char,
    /// Environment variable holding the secret key of the `hash` action.
    /// Without it the key is derived from the recipe seed (and the stage
    /// name), which makes hashes consistent within a run but lets anyone
    /// with the recipe test guesses of low-entropy values (phone numbers).
    /// Default: none.
    #[serde(default)]
    pub hash_key_env: Option<String>,
    /// Only count: write the `pii_<kind>` attributes but leave the text
    /// unchanged. Default false.
    #[serde(default)]
    pub annotate_only: bool,
}

impl Default for PiiConfig {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("defaults deserialise")
    }
}

impl PiiConfig {
    pub fn action(&self, k: PiiKind) -> Action {
        match k {
            PiiKind::Email => self.email,
            PiiKind::Phone => self.phone,
            PiiKind::Ip => self.ip,
            PiiKind::CreditCard => self.credit_card,
            PiiKind::Iban => self.iban,
            PiiKind::UsSsn => self.us_ssn,
            PiiKind::CnId => self.cn_id,
            PiiKind::Secret => self.secret,
            PiiKind::UrlCredentials => self.url_credentials,
        }
    }

    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if PiiKind::ALL.iter().all(|&k| self.action(k) == Action::Off) {
            e.push(("email".into(), "every kind is `off`: the stage would do nothing".into()));
        }
        if self.mask_char.is_alphanumeric() {
            e.push(("mask_char".into(), format!("{:?} is a letter or digit: masked text would be scrubbed again", self.mask_char)));
        }
        if let Some(var) = &self.hash_key_env {
            if std::env::var_os(var).is_none() {
                e.push(("hash_key_env".into(), format!("environment variable {var} is not set")));
            }
        }
        e
    }

    /// Build the stage; `seed` keys the hash when `hash_key_env` is unset.
    pub fn build(&self, seed: u64) -> Filtered<Pii> {
        Filtered::single(self.scrubber(seed), Mode::of(self.annotate_only, false))
    }

    /// The scrubber itself (finding and replacing, without the stage).
    pub fn scrubber(&self, seed: u64) -> Pii {
        let key: [u8; 32] = match self.hash_key_env.as_ref().and_then(std::env::var_os) {
            Some(v) => Sha256::digest(v.as_encoded_bytes()).into(),
            None => Sha256::digest([b"sluice-pii".as_slice(), &seed.to_le_bytes()].concat()).into(),
        };
        let patterns: Vec<Pattern> = patterns().into_iter().filter(|p| self.action(p.kind) != Action::Off).collect();
        // The union of the patterns needs more lazy-DFA states than the
        // default cache holds; a thrashing cache falls back to the slow
        // engine (40 MB/s instead of 300 on the CC sample).
        let set =
            RegexSetBuilder::new(patterns.iter().map(|p| p.re.as_str())).dfa_size_limit(DFA_CACHE).build().expect("PII patterns compile");
        let counted = PiiKind::ALL.iter().filter(|&&k| self.action(k) != Action::Off).map(|k| format!("pii_{}", k.name())).collect();
        Pii { cfg: self.clone(), set, patterns, key, counted }
    }
}

/// One confirmed match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiiMatch {
    pub kind: PiiKind,
    /// Byte range in the text.
    pub span: Range<usize>,
}

/// A piece of scrubbed output and where it came from.
struct Segment {
    out: Range<usize>,
    orig: Range<usize>,
    replaced: bool,
}

type Validator = fn(&str, Range<usize>) -> Option<Range<usize>>;

struct Pattern {
    kind: PiiKind,
    re: Regex,
    /// Capture group holding the span to scrub (0: the whole match).
    group: usize,
    validate: Validator,
}

/// The `pii` stage.
pub struct Pii {
    cfg: PiiConfig,
    set: RegexSet,
    patterns: Vec<Pattern>,
    key: [u8; 32],
    counted: Vec<String>,
}

// Character classes: ASCII and full-width forms.
const D: &str = "[0-9\u{FF10}-\u{FF19}]";
const SEP: &str = "[ \u{3000}.\\-\u{2010}\u{2011}\u{2013}\u{FF0D}\u{FF0E}]";

fn patterns() -> Vec<Pattern> {
    let p =
        |kind, re: String, group, validate| Pattern { kind, re: Regex::new(&re).unwrap_or_else(|e| panic!("{re}: {e}")), group, validate };
    let d = D;
    let s = SEP;
    vec![
        p(PiiKind::Email, r"[A-Za-z0-9._%+\-]+[@\u{FF20}][A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}".into(), 0, v_email),
        // Chinese mobile: optional +86 / 0086, 1[3-9]x then 8 digits in 4+4.
        p(
            PiiKind::Phone,
            format!(r"(?:(?:[+\u{{FF0B}}]|00)?[8\u{{FF18}}][6\u{{FF16}}]{s}?)?[1\u{{FF11}}][3-9\u{{FF13}}-\u{{FF19}}]{d}{s}?{d}{{4}}{s}?{d}{{4}}"),
            0,
            v_cn_mobile,
        ),
        // North America: (NXX) NXX-XXXX, NXX-NXX-XXXX, NXX.NXX.XXXX, +1 ...
        p(
            PiiKind::Phone,
            format!(r"(?:(?:[+\u{{FF0B}}])?[1\u{{FF11}}]{s}?)?(?:[(\u{{FF08}}]{d}{{3}}[)\u{{FF09}}]{s}?|{d}{{3}}{s}){d}{{3}}{s}{d}{{4}}"),
            0,
            v_na_phone,
        ),
        // International with a + country code.
        p(
            PiiKind::Phone,
            format!(r"[+\u{{FF0B}}]{d}{{1,3}}(?:{s}?[(\u{{FF08}}]{d}{{1,4}}[)\u{{FF09}}])?(?:{s}?{d}{{1,5}}){{2,6}}"),
            0,
            v_intl_phone,
        ),
        p(PiiKind::Ip, format!(r"{d}{{1,3}}(?:[.\u{{FF0E}}]{d}{{1,3}}){{3}}"), 0, v_ipv4),
        p(PiiKind::Ip, r"(?i)(?:[0-9a-f]{1,4}:|::)(?:[0-9a-f]{0,4}:){1,7}[0-9a-f]{0,4}(?:\.[0-9]{1,3}){0,3}".into(), 0, v_ipv6),
        p(PiiKind::CreditCard, format!(r"{d}(?:{s}?{d}){{12,18}}"), 0, v_card),
        p(PiiKind::Iban, format!(r"[A-Z]{{2}}{d}{{2}}(?: ?[A-Z0-9]{{4}}){{2,7}}(?: ?[A-Z0-9]{{1,3}})?"), 0, v_iban),
        p(PiiKind::UsSsn, format!(r"{d}{{3}}[\-\u{{FF0D}} ]{d}{{2}}[\-\u{{FF0D}} ]{d}{{4}}"), 0, v_ssn),
        p(PiiKind::CnId, format!(r"{d}{{17}}[0-9\u{{FF10}}-\u{{FF19}}Xx\u{{FF38}}]"), 0, v_cn_id),
        p(PiiKind::Secret, r"(?-u:\b)(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}(?-u:\b)".into(), 0, v_token),
        p(
            PiiKind::Secret,
            r"-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----".into(),
            0,
            v_key_block,
        ),
        p(
            PiiKind::Secret,
            r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}|glpat-[0-9A-Za-z_\-]{20,}|xox[abposr]-[0-9A-Za-z\-]{10,}|[sr]k_(?:live|test)_[0-9A-Za-z]{20,}|AIza[0-9A-Za-z_\-]{35}|sk-(?:proj-|ant-(?:api|admin)[0-9]{2}-)?[A-Za-z0-9_\-]{32,}|hf_[A-Za-z]{34})".into(),
            0,
            v_token,
        ),
        p(PiiKind::Secret, r"(?-u:\b)eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}".into(), 0, v_token),
        p(
            PiiKind::Secret,
            r#"(?i)(?:api[_\-]?key|secret[_\-]?key|client[_\-]?secret|access[_\-]?token|auth[_\-]?token|aws_secret_access_key|private[_\-]?token|password|passwd)["']?\s{0,3}[:=]\s{0,3}["']?([A-Za-z0-9/+_\-]{16,})"#.into(),
            1,
            v_random_value,
        ),
        p(PiiKind::UrlCredentials, r"(?-u:\b)[A-Za-z][A-Za-z0-9+.\-]*://([^\s:/@<>#]+:[^\s/@<>#]+)@[A-Za-z0-9.\-\[\]]{2}".into(), 1, v_any),
    ]
}

// ---------------------------------------------------------------------------
// helpers

/// The value of an ASCII or full-width decimal digit.
#[inline]
pub fn digit(c: char) -> Option<u32> {
    match c {
        '0'..='9' => Some(c as u32 - '0' as u32),
        '\u{FF10}'..='\u{FF19}' => Some(c as u32 - 0xFF10),
        _ => None,
    }
}

/// Full-width ASCII variants (U+FF01..U+FF5E) to ASCII, the ideographic space to a space.
#[inline]
pub fn narrow(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

fn digits_of(s: &str) -> Vec<u8> {
    s.chars().filter_map(digit).map(|d| d as u8).collect()
}

fn is_wordish(c: char) -> bool {
    let c = narrow(c);
    c.is_ascii_alphanumeric() || c == '_'
}

fn prev_char(t: &str, i: usize) -> Option<char> {
    t[..i].chars().next_back()
}
fn prev2(t: &str, i: usize) -> (Option<char>, Option<char>) {
    let mut it = t[..i].chars().rev();
    (it.next(), it.next())
}
fn next_char(t: &str, i: usize) -> Option<char> {
    t[i..].chars().next()
}
fn next2(t: &str, i: usize) -> (Option<char>, Option<char>) {
    let mut it = t[i..].chars();
    (it.next(), it.next())
}

fn is_joiner(c: char) -> bool {
    matches!(narrow(c), '.' | '-' | '/' | ':' | ',' | '\u{2010}' | '\u{2011}' | '\u{2013}')
}

/// A number stands alone: no letter, digit or `_` touches it, and no
/// `.`/`-`/`/`/`:`/`,` joins it to another digit (`1.2.3.4.5`, `12/31/2019`).
fn numeric_bounds(t: &str, r: &Range<usize>, allow_right_colon: bool) -> bool {
    match prev2(t, r.start) {
        (Some(a), _) if is_wordish(a) => return false,
        (Some(a), Some(b)) if is_joiner(a) && digit(b).is_some() => return false,
        // `+123...` is a phone number's country code, `#123...` an order or
        // our own hash placeholder
        (Some(a), _) if matches!(narrow(a), '+' | '#') => return false,
        _ => {}
    }
    match next2(t, r.end) {
        (Some(a), _) if is_wordish(a) => false,
        (Some(a), Some(b)) if is_joiner(a) && digit(b).is_some() => allow_right_colon && narrow(a) == ':',
        _ => true,
    }
}

fn v_any(_: &str, r: Range<usize>) -> Option<Range<usize>> {
    Some(r)
}

/// Extend a private-key header to its `-----END ...-----` line (within
/// 64 KiB), or, when the block is cut off, over the base64 lines after it.
fn v_key_block(t: &str, r: Range<usize>) -> Option<Range<usize>> {
    let rest = &t[r.end..];
    let window = &rest[..floor_boundary(rest, 65536)];
    if let Some(i) = window.find("-----END ") {
        let after = &window[i + 9..];
        if let Some(j) = after.find("-----") {
            if after[..j].ends_with("PRIVATE KEY") || after[..j].ends_with("PRIVATE KEY BLOCK") {
                return Some(r.start..r.end + i + 9 + j + 5);
            }
        }
    }
    let mut end = r.end;
    for line in rest.split_inclusive('\n').skip(1) {
        let l = line.trim_end();
        if l.is_empty() || !l.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b':' | b'-' | b',' | b' ')) {
            break;
        }
        end = r.end + (line.as_ptr() as usize - rest.as_ptr() as usize) + l.len();
    }
    Some(r.start..end)
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn v_email(t: &str, r: Range<usize>) -> Option<Range<usize>> {
    let mut r = r;
    // the local part must not start or end with a dot
    while t[r.start..].starts_with('.') {
        r.start += 1;
    }
    let m = &t[r.clone()];
    let at = m.find(['@', '\u{FF20}'])?;
    if at > 64 || m[at..].split('.').any(|l| l.len() > 64) {
        return None;
    }
    if at == 0 || m[..at].ends_with('.') || m[..at].contains("..") {
        return None;
    }
    if prev_char(t, r.start).is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-')) {
        return None;
    }
    let tld = m.rsplit('.').next()?.to_ascii_lowercase();
    const FILE_EXT: &[&str] = &[
        "png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "css", "js", "json", "html", "htm", "php", "xml", "pdf", "txt", "mp3",
        "mp4", "zip",
    ];
    if FILE_EXT.contains(&tld.as_str()) {
        return None;
    }
    Some(r)
}

fn v_cn_mobile(t: &str, r: Range<usize>) -> Option<Range<usize>> {
    let ds = digits_of(&t[r.clone()]);
    let local = match ds.len() {
        11 => &ds[..],
        13 if ds[..2] == [8, 6] => &ds[2..],
        15 if ds[..4] == [0, 0, 8, 6] => &ds[4..],
        _ => return None,
    };
    if local[0] != 1 || !(3..=9).contains(&local[1]) {
        return None;
    }
    numeric_bounds(t, &r, false).then_some(r)
}

fn v_na_phone(t: &str, r: Range<usize>) -> Option<Range<usize>> {
    let m = &t[r.clone()];
    let ds = digits_of(m);
    let local = match ds.len() {
        10 => &ds[..],
        11 if ds[0] == 1 => &ds[1..],
        _ => return None,
    };
    // NANP: area code and exchange start with 2-9; N11 codes are
    // services; N9X area codes are reserved, never assigned (this keeps
    // page lists like `997 998 999 1000`)
    if local[0] < 2 || local[3] < 2 || (local[1] == 1 && local[2] == 1) || local[1] == 9 {
        return None;
    }
    // the separators of `NXX?NXX?XXXX` agree (not `123.456-7890` mixes
    // of a version and a number), unless the area code is parenthesised
    let mut seps: Vec<char> = m.chars().filter(|&c| digit(c).is_none() && !matches!(narrow(c), '(' | ')' | '+')).map(narrow).collect();
    if ds.len() == 11 && seps.len() == 3 {
        seps.remove(0); // after the country code
    }
    let paren = m.contains(['(', '\u{FF08}']);
    if !paren && seps.windows(2).any(|w| w[0] != w[1]) {
        return None;
    }
    numeric_bounds(t, &r, false).then_some(r)
}

fn v_intl_phone(t: &str, r: Range<usize>) -> Option<Range<usize>> {
    let m = &t[r.clone()];
    let ds = digits_of(m);
    if !(8..=15).contains(&ds.len()) || ds[0] == 0 {
        return None;
    }
    // `+` must not follow a digit or letter (`3+4`, `C++`)
    if prev_char(t, r.start).is_some_and(|c| is_wordish(c) || c == '+') {
        return None;
    }
    // separated somewhere; dots only as the one separator, used at least
    // twice (`+33.1.23.45.67.89`, not the timestamp `+1441497364.649`)
    let seps: Vec<char> = m.chars().filter(|&c| digit(c).is_none() && !matches!(narrow(c), '+' | '(' | ')')).map(narrow).collect();
    if seps.is_empty() || (seps.contains(&'.') && (seps.iter().any(|&c| c != '.') || seps.len() < 2)) {
        return None;
    }
    numeric_bounds(t, &r, false).then_some(r)
}

fn ipv4_octets(m: &str) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut n = 0;
    for part in m.split(['.', '\u{FF0E}']) {
        if n == 4 {
            return None;
        }
        let ds = digits_of(part);
        if ds.is_empty() || ds.len() > 3 || (ds.len() > 1 && ds[0] == 0) {
            return None;
        }
        let v = ds.iter().fold(0u32, |a, &d| a * 10 + d as u32);
        if v > 255 {
            return None;
        }
        out[n] = v as u8;
        n += 1;
    }
    (n == 4).then_some(out)
}

/// A public (globally routable) IPv4 address.
pub fn ipv4_is_public(o: [u8; 4]) -> bool {
    let [a, b, c, _] = o;
    !(a == 0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b))
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && (c == 0 || c == 2))
        || (a == 192 && b == 88 && c == 99)
        || (a == 192 && b == 168)
        || (a == 198 && (b == 18 || b == 19))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || a >= 224)
}

fn v_ipv4(t: &str, r: Range<usize>) -> Option<Range<usize>> {
    let o = ipv4_octets(&t[r.clone()])?;
    if !ipv4_is_public(o) || !numeric_bounds(t, &r, true) {
        return None;
    }
    // version strings: `v1.2.3.4`, `version 1.2.3.4`, `Release 4.2.1.0`
    let from = t[..r.start].char_indices().rev().nth(23).map(|(i, _)| i).unwrap_or(0);
    let lower = t[from..r.start].to_lowercase();
    let tail = lower.trim_end();
    const VERSION_CONTEXT: &[&str] = &[
        "version",
        "versions",
        "ver",
        "ver.",
        "v",
        "release",
        "released",
        "build",
        "firmware",
        "rev",
        "revision",
        "update",
        "since",
        "fixed in",
        "merged to",
        "broken in",
        "upgrade to",
        "gcc",
        "kernel",
        "linux",
        "python",
        "perl",
        "php",
        "java",
        "ruby",
        "firefox",
        "chrome",
        "windows",
        "android",
        "ios",
        "版本",
        "版本号",
    ];
    if VERSION_CONTEXT.iter().any(|w| tail.ends_with(w) && !tail[..tail.len() - w.len()].ends_with(|c: char| c.is_alphanumeric())) {
        return None;
    }
    // `1.5.4.2`, `net-snmp-5.4.2.1`: four small numbers, or glued to a
    // name, are versions (this keeps 1.1.1.1 and 8.8.8.8 too: public
    // resolvers, not anyone's address)
    if o.iter().all(|&x| x < 10) || prev_char(t, r.start).is_some_and(|c| matches!(c, '-' | '_')) {
        return None;
    }
    Some(r)
}

/// A public IPv6 address: global unicast (2000::/3) outside the
/// documentation (2001:db8::/32), ORCHIDv2, benchmarking and 6to4-private
/// blocks, or an IPv4-mapped public address.
#[allow(clippy::nonminimal_bool)] // written as the list of reserved ranges it excludes
pub fn ipv6_is_public(a: std::net::Ipv6Addr) -> bool {
    let s = a.segments();
    if let Some(v4) = a.to_ipv4_mapped() {
        return ipv4_is_public(v4.octets());
    }
    if s[0] & 0xe000 != 0x2000 {
        return false;
    }
    !((s[0] == 0x2001 && s[1] == 0x0db8) || (s[0] == 0x2001 && s[1] < 0x0200) || (s[0] == 0x3fff && s[1] < 0x1000))
}

fn v_ipv6(t: &str, r: Range<usize>) -> Option<Range<usize>> {
    let mut r = r;
    // a trailing single `:` is punctuation (`at 2001:db8::1: done`)
    let m = &t[r.clone()];
    if m.ends_with(':') && !m.ends_with("::") {
        r.end -= 1;
    }
    let m = &t[r.clone()];
    if m.matches(':').count() < 2 {
        return None;
    }
    let a: std::net::Ipv6Addr = m.parse().ok()?;
    if !ipv6_is_public(a) {
        return None;
    }
    let bad = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == ':' || c == '_');
    if bad(prev_char(t, r.start)) || bad(next_char(t, r.end)) {
        return None;
    }
    Some(r)
}

/// The Luhn check.
pub fn luhn(ds: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &d) in ds.iter().rev().enumerate() {
        let mut v = d as u32;
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// Issuer prefix and length. Lengths are those cards are issued in (13
/// and 19 Visa, 14 Diners, 15 Amex, 16 everyone, 19 UnionPay, Discover,
/// JCB): schemes allow 17 and 18, but no issuer uses them, and 18 digits is
/// the shape of a Chinese resident ID.
fn card_brand_ok(ds: &[u8]) -> bool {
    let n = ds.len();
    let pre = |k: usize| ds[..k].iter().fold(0u32, |a, &d| a * 10 + d as u32);
    match ds[0] {
        4 => n == 13 || n == 16 || n == 19,              // Visa
        5 => (51..=55).contains(&pre(2)) && n == 16,     // Mastercard
        2 => (2221..=2720).contains(&pre(4)) && n == 16, // Mastercard 2-series
        3 => match pre(2) {
            34 | 37 => n == 15,                                            // Amex
            36 | 38 | 39 => n == 14 || n == 16,                            // Diners
            30 => (300..=305).contains(&pre(3)) && (n == 14 || n == 16),   // Diners
            35 => (3528..=3589).contains(&pre(4)) && (n == 16 || n == 19), // JCB
            _ => false,
        },
        6 => (pre(4) == 6011 || pre(2) == 65 || (644..=649).contains(&pre(3)) || pre(2) == 62) && (n == 16 || n == 19), // Discover, UnionPay
        _ => false,
    }
}

fn v_card(t: &str, r: Range<usize>) -> Option<Range<usize>> {
    let m = &t[r.clone()];
    let ds = digits_of(m);
    if !(13..=19).contains(&ds.len()) || !card_brand_ok(&ds) || !luhn(&ds) {
        return None;
    }
    // grouping: no separators, or one separator char between groups of
    // 4 (the last 1-4), or 4-6-5 / 4-6-4 (Amex, Diners)
    let mut groups = Vec::new();
    let mut seps = Vec::new();
    let mut cur = 0;
    for c in m.chars() {
        if digit(c).is_some() {
            cur += 1;
        } else {
            groups.push(cur);
            seps.push(narrow(c));
            cur = 0;
        }
    }
    groups.push(cur);
    if seps.windows(2).any(|w| w[0] != w[1]) {
        return None;
    }
    if groups.len() > 1 {
        let fours = groups[..groups.len() - 1].iter().all(|&g| g == 4) && (1..=4).contains(groups.last().expect("nonempty"));
        let amex = groups == [4, 6, 5] || groups == [4, 6, 4];
        if !(fours || amex) {
            return None;
        }
    }
    numeric_bounds(t, &r, false).then_some(r)
}

/// IBAN lengths by country (ISO 13616 registry).
const IBAN_LEN: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BI", 27),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DJ", 27),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FK", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("LY", 25),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MN", 20),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NI", 28),
    ("NL", 18),
    ("NO", 15),
    ("OM", 23),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("RU", 33),
    ("SA", 24),
    ("SC", 31),
    ("SD", 18),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("SO", 23),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
    ("YE", 30),
];

/// ISO 13616 / ISO 7064 MOD 97-10 check of a compact IBAN (no spaces, ASCII).
pub fn iban_valid(compact: &str) -> bool {
    let b = compact.as_bytes();
    if b.len() < 15 || !b[..2].iter().all(u8::is_ascii_uppercase) {
        return false;
    }
    match IBAN_LEN.iter().find(|(c, _)| c.as_bytes() == &b[..2]) {
        Some(&(_, n)) if n == b.len() => {}
        _ => return false,
    }
    let mut rem = 0u32;
    for &c in b[4..].iter().chain(&b[..4]) {
        match c {
            b'0'..=b'9' => rem = (rem * 10 + (c - b'0') as u32) % 97,
            b'A'..=b'Z' => rem = (rem * 100 + (c - b'A' + 10) as u32) % 97,
            _ => return false,
        }
    }
    rem == 1
}

fn v_iban(t: &str, r: Range<usize>) -> Option<Range<usize>> {
    let m = &t[r.clone()];
    let compact: String = m.chars().filter(|c| !c.is_whitespace()).map(narrow).collect();
    // the regex is greedy: the IBAN may end before the match does
    let spaced = m.contains(' ');
    let mut end = r.end;
    let mut c = compact.as_str();
    let mut tries = 0;
    while c.len() >= 15 {
        if iban_valid(c) {
            let rr = r.start..end;
            let ok = !prev_char(t, rr.start).is_some_and(is_wordish) && !next_char(t, rr.end).is_some_and(is_wordish);
            return ok.then_some(rr);
        }
        tries += 1;
        if tries > 3 || !spaced {
            return None;
        }
        // drop the last space-separated group
        let cut = t[r.start..end].rfind(' ')?;
        let last = end - (r.start + cut + 1);
        end = r.start + cut;
        c = &c[..c.len() - last];
    }
    None
}

fn v_ssn(t: &str, r: Range<usize>) -> Option<Range<usize>> {
    let m = &t[r.clone()];
    let seps: Vec<char> = m.chars().filter(|&c| digit(c).is_none()).map(narrow).collect();
    if seps.len() != 2 || seps[0] != seps[1] {
        return None;
    }
    let ds = digits_of(m);
    let area = ds[..3].iter().fold(0u32, |a, &d| a * 10 + d as u32);
    let group = ds[3] * 10 + ds[4];
    let serial = ds[5..].iter().fold(0u32, |a, &d| a * 10 + d as u32);
    if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
        return None;
    }
    numeric_bounds(t, &r, false).then_some(r)
}

/// ISO 7064 MOD 11-2 check character of a Chinese resident ID's first 17 digits.
pub fn cn_id_check(ds: &[u8]) -> char {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let s: u32 = ds.iter().zip(W).map(|(&d, w)| d as u32 * w).sum();
    b"10X98765432"[(s % 11) as usize] as char
}

fn v_cn_id(t: &str, r: Range<usize>) -> Option<Range<usize>> {
    let m = &t[r.clone()];
    let chars: Vec<char> = m.chars().map(narrow).collect();
    let ds: Vec<u8> = chars[..17].iter().map(|&c| digit(c).map(|d| d as u8)).collect::<Option<_>>()?;
    let last = chars[17].to_ascii_uppercase();
    if cn_id_check(&ds) != last {
        return None;
    }
    let prov = ds[0] * 10 + ds[1];
    if !matches!(prov, 11..=15 | 21..=23 | 31..=37 | 41..=46 | 50..=54 | 61..=65 | 71 | 81..=83 | 91) {
        return None;
    }
    let year = ds[6..10].iter().fold(0u32, |a, &d| a * 10 + d as u32);
    let month = ds[10] * 10 + ds[11];
    let day = ds[12] * 10 + ds[13];
    if !(1900..=2100).contains(&year) || !(1..=12).contains(&month) || day == 0 || day > days_in(year, month) {
        return None;
    }
    numeric_bounds(t, &r, false).then_some(r)
}

fn days_in(y: u32, m: u8) -> u8 {
    match m {
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn v_token(t: &str, r: Range<usize>) -> Option<Range<usize>> {
    let bad = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    if bad(prev_char(t, r.start)) || bad(next_char(t, r.end)) {
        return None;
    }
    let m = &t[r.clone()];
    // random tokens mix digits and letters, or both cases (Hugging Face
    // tokens are letters only); `sk-` + 32 dashes or lower-case is prose
    let digits = m.bytes().filter(u8::is_ascii_digit).count();
    let upper = m.bytes().filter(u8::is_ascii_uppercase).count();
    let lower = m.bytes().filter(u8::is_ascii_lowercase).count();
    ((digits > 0 && upper + lower >= 4) || (upper >= 3 && lower >= 3 && m.len() >= 20)).then_some(r)
}

/// A value assigned to `password`/`api_key`/...: long, mixing digits, lower
/// and upper case (or at least digits and letters over 20 chars), not a
/// placeholder or an identifier-like word.
fn v_random_value(t: &str, r: Range<usize>) -> Option<Range<usize>> {
    let m = &t[r.clone()];
    if next_char(t, r.end).is_some_and(|c| c.is_alphanumeric()) {
        return None;
    }
    let digits = m.bytes().filter(u8::is_ascii_digit).count();
    let upper = m.bytes().filter(u8::is_ascii_uppercase).count();
    let lower = m.bytes().filter(u8::is_ascii_lowercase).count();
    let classes = (digits > 0) as u8 + (upper > 0) as u8 + (lower > 0) as u8;
    let lowered = m.to_ascii_lowercase();
    if ["your", "xxxx", "example", "placeholder", "changeme", "secret", "password", "token"].iter().any(|w| lowered.contains(w)) {
        return None;
    }
    (digits >= 2 && (classes == 3 || (classes == 2 && m.len() >= 20))).then_some(r)
}

// ---------------------------------------------------------------------------

impl Pii {
    /// The spans to scrub, sorted, non-overlapping, such that scrubbing
    /// them leaves nothing for another pass to find (so scrubbing is
    /// idempotent). One pass ([`Pii::find_once`]) almost always suffices;
    /// a second is needed when a match was hidden by an overlapping one
    /// that won (an email whose regex match started inside a key block
    /// ends up next to `<SECRET>`). Later passes' spans are mapped back to
    /// this text, expanded over any replacement they touch.
    pub fn find(&self, text: &str) -> Vec<PiiMatch> {
        let mut spans = self.find_once(text);
        for _ in 0..4 {
            if spans.is_empty() {
                break;
            }
            let (out, segs) = self.scrub_mapped(text, &spans);
            let more = self.find_once(&out);
            if more.is_empty() {
                break;
            }
            let orig = |pos: usize, is_end: bool| -> usize {
                // the segment holding `pos` (for an end, the byte before it)
                let key = if is_end { pos - 1 } else { pos };
                let sg = segs.iter().find(|sg| sg.out.contains(&key)).expect("segments cover the output");
                match (sg.replaced, is_end) {
                    (false, _) => sg.orig.start + (pos - sg.out.start),
                    (true, false) => sg.orig.start,
                    (true, true) => sg.orig.end,
                }
            };
            spans.extend(more.into_iter().map(|m| PiiMatch { kind: m.kind, span: orig(m.span.start, false)..orig(m.span.end, true) }));
            spans.sort_by_key(|m| (m.span.start, std::cmp::Reverse(m.span.end)));
            let mut merged: Vec<PiiMatch> = Vec::with_capacity(spans.len());
            for m in spans {
                match merged.last_mut() {
                    Some(last) if m.span.start < last.span.end => last.span.end = last.span.end.max(m.span.end),
                    _ => merged.push(m),
                }
            }
            spans = merged;
        }
        spans
    }

    /// One pass: every confirmed match, sorted by position, non-overlapping.
    pub fn find_once(&self, text: &str) -> Vec<PiiMatch> {
        let hits = self.set.matches(text);
        if !hits.matched_any() {
            return Vec::new();
        }
        let mut found: Vec<PiiMatch> = Vec::new();
        for i in hits.iter() {
            let p = &self.patterns[i];
            if p.group == 0 {
                for m in p.re.find_iter(text) {
                    if let Some(span) = (p.validate)(text, m.range()) {
                        found.push(PiiMatch { kind: p.kind, span });
                    }
                }
            } else {
                for c in p.re.captures_iter(text) {
                    if let Some(g) = c.get(p.group) {
                        if let Some(span) = (p.validate)(text, g.range()) {
                            found.push(PiiMatch { kind: p.kind, span });
                        }
                    }
                }
            }
        }
        // earliest first, then longest, then by priority; drop overlaps
        found.sort_by_key(|m| (m.span.start, std::cmp::Reverse(m.span.end), m.kind.priority()));
        let mut out: Vec<PiiMatch> = Vec::with_capacity(found.len());
        for m in found {
            match out.last() {
                Some(last) if m.span.start < last.span.end => {
                    // same span claimed by two kinds: the higher priority wins
                    if m.span == last.span && m.kind.priority() < last.kind.priority() {
                        *out.last_mut().expect("nonempty") = m;
                    }
                }
                _ => out.push(m),
            }
        }
        out
    }

    /// The text with every match replaced per its kind's action.
    pub fn scrub(&self, text: &str, matches: &[PiiMatch]) -> String {
        self.scrub_mapped(text, matches).0
    }

    /// [`Pii::scrub`], and how the output's byte ranges map to the input's.
    fn scrub_mapped(&self, text: &str, matches: &[PiiMatch]) -> (String, Vec<Segment>) {
        let mut out = String::with_capacity(text.len());
        let mut segs = Vec::with_capacity(2 * matches.len() + 1);
        let mut at = 0;
        for m in matches {
            if at < m.span.start {
                segs.push(Segment { out: out.len()..out.len() + m.span.start - at, orig: at..m.span.start, replaced: false });
            }
            out.push_str(&text[at..m.span.start]);
            let v = &text[m.span.clone()];
            let o = out.len();
            match self.cfg.action(m.kind) {
                Action::Placeholder => out.push_str(m.kind.placeholder()),
                Action::Mask => out.extend(v.chars().map(|c| if c.is_alphanumeric() { self.cfg.mask_char } else { c })),
                Action::Hash => {
                    let p = m.kind.placeholder();
                    out.push_str(&p[..p.len() - 1]);
                    out.push('#');
                    out.push_str(&self.keyed_hash(m.kind, v));
                    out.push('>');
                }
                Action::Off => out.push_str(v),
            }
            segs.push(Segment { out: o..out.len(), orig: m.span.clone(), replaced: true });
            at = m.span.end;
        }
        if at < text.len() {
            segs.push(Segment { out: out.len()..out.len() + text.len() - at, orig: at..text.len(), replaced: false });
        }
        out.push_str(&text[at..]);
        (out, segs)
    }

    /// 16 hex digits of SHA-256(key ‖ kind ‖ normalised value). Numbers are
    /// normalised to their ASCII digits, other values to narrow lower case,
    /// so `138 1234 5678` and `13812345678` hash alike.
    pub fn keyed_hash(&self, kind: PiiKind, value: &str) -> String {
        let norm: String = match kind {
            PiiKind::Phone | PiiKind::CreditCard | PiiKind::UsSsn | PiiKind::CnId => {
                value.chars().map(narrow).filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect()
            }
            PiiKind::Iban => value.chars().map(narrow).filter(|c| !c.is_whitespace()).collect(),
            _ => value.chars().map(narrow).collect::<String>().to_lowercase(),
        };
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(kind.name().as_bytes());
        h.update([0]);
        h.update(norm.as_bytes());
        h.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Counts per kind of a list of matches.
    pub fn counts(matches: &[PiiMatch]) -> BTreeMap<PiiKind, usize> {
        let mut c = BTreeMap::new();
        for m in matches {
            *c.entry(m.kind).or_default() += 1;
        }
        c
    }
}

impl Filter for Pii {
    /// PII never drops a document: it counts what it found (`pii_<kind>`,
    /// whatever the mode) and, unless only annotating, scrubs it.
    fn evaluate(&self, doc: &mut Document, _: &mut Scratch, signals: &mut Signals) -> Option<Reason> {
        let matches = self.find(&doc.text);
        if matches.is_empty() {
            return None;
        }
        for (k, n) in Pii::counts(&matches) {
            doc.attributes.insert(format!("pii_{}", k.name()), n as f64);
        }
        if !signals.all() {
            doc.text = self.scrub(&doc.text, &matches);
        }
        None
    }

    fn counted_attributes(&self) -> Vec<String> {
        self.counted.clone()
    }
}

impl sluice_pipeline::component::Component for PiiConfig {
    const KIND: &'static str = "pii";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Stage;
    const ABOUT: &'static str = "Scrubs PII and secrets (emails, phones, public IPs, cards, IBANs, US SSNs, Chinese IDs, keys/tokens, URL credentials): placeholder, mask or keyed hash per kind; `pii_<kind>` counts";

    fn validate(&self) -> Vec<(String, String)> {
        PiiConfig::validate(self)
    }

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        Ok(sluice_pipeline::component::Built::doc(PiiConfig::build(self, cx.seed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_pipeline::{DocStage, Verdict};

    fn stage() -> Filtered<Pii> {
        PiiConfig::default().build(7)
    }

    fn kinds(text: &str) -> Vec<(&'static str, String)> {
        let s = stage();
        s.find(text).into_iter().map(|m| (m.kind.name(), text[m.span].to_string())).collect()
    }

    #[test]
    fn emails() {
        assert_eq!(kinds("write to John.Doe+news@mail.example.co.uk today"), vec![("email", "John.Doe+news@mail.example.co.uk".into())]);
        assert_eq!(kinds("全角 zhang.san＠qq.com 邮箱"), vec![("email", "zhang.san＠qq.com".into())]);
        assert!(kinds("see logo@2x.png and a@b").is_empty());
    }

    #[test]
    fn phones() {
        for p in [
            "13812345678",
            "+86 138 1234 5678",
            "138-1234-5678",
            "+8613912345678",
            "１３８１２３４５６７８",
            "(415) 555-2671",
            "415-555-2671",
            "+1 415.555.2671",
            "+44 20 7946 0958",
            "+49 30 1234567",
        ] {
            assert_eq!(kinds(&format!("call {p} now")), vec![("phone", p.to_string())], "{p}");
            assert_eq!(kinds(&format!("电话{p}。")), vec![("phone", p.to_string())], "{p}");
        }
        for n in [
            "996 997 998 999 1000 1001",
            "+1441497364.649",
            "123-456-7890",
            "2019-07-15",
            "1.2.3",
            "3+4 = 7",
            "C++11",
            "10212345678",
            "138123456789",
            "ISBN 978-3-16-148410-0",
            "415-555.2671",
        ] {
            assert!(kinds(&format!("x {n} y")).is_empty(), "{n}: {:?}", kinds(n));
        }
    }

    #[test]
    fn ips() {
        assert_eq!(
            kinds("from 93.184.216.34:53 and 2606:4700:4700::1111."),
            vec![("ip", "93.184.216.34".into()), ("ip", "2606:4700:4700::1111".into())]
        );
        for n in [
            "192.168.1.1",
            "10.0.0.1",
            "127.0.0.1",
            "172.16.5.4",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "::1",
            "fe80::1",
            "2001:db8::1",
            "fd00::1",
            "version 1.2.3.4",
            "v8.8.8.8",
            "fixed in 1.5.4.2",
            "8.8.8.8",
            "since 2.95.4.1",
            "net-snmp-5.4.2.1",
            "GCC 3.95.4.1",
            "1.2.3.4.5",
            "01.02.03.04",
            "std::vector",
            "12:30:45",
            "256.1.1.1",
        ] {
            assert!(kinds(&format!("x {n} y")).is_empty(), "{n}: {:?}", kinds(n));
        }
    }

    #[test]
    fn cards_ibans_ssn_ids() {
        assert_eq!(kinds("card 4111 1111 1111 1111 ok"), vec![("credit_card", "4111 1111 1111 1111".into())]);
        assert_eq!(kinds("amex 3782-822463-10005."), vec![("credit_card", "3782-822463-10005".into())]);
        assert!(kinds("card 4111 1111 1111 1112 ok").is_empty());
        assert!(kinds("isbn 9783161484100").is_empty());
        assert_eq!(kinds("IBAN DE89 3704 0044 0532 0130 00 please"), vec![("iban", "DE89 3704 0044 0532 0130 00".into())]);
        assert_eq!(kinds("IBAN GB82WEST12345698765432."), vec![("iban", "GB82WEST12345698765432".into())]);
        assert!(kinds("IBAN GB82WEST12345698765433.").is_empty());
        assert_eq!(kinds("SSN 536-22-1234."), vec![("us_ssn", "536-22-1234".into())]);
        assert!(kinds("SSN 666-22-1234 000-12-3456 123-00-4567").is_empty());
        assert_eq!(kinds("身份证号11010519491231002X，"), vec![("cn_id", "11010519491231002X".into())]);
        assert!(kinds("号码110105194912310021").is_empty());
    }

    #[test]
    fn secrets_and_credentials() {
        assert_eq!(kinds("key=AKIAIOSFODNN7EXAMPLE"), vec![("secret", "AKIAIOSFODNN7EXAMPLE".into())]);
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----";
        assert_eq!(kinds(&format!("x\n{pem}\ny")), vec![("secret", pem.to_string())]);
        assert_eq!(
            kinds("token ghp_1234567890abcdefghijABCDEFGHIJ123456 used"),
            vec![("secret", "ghp_1234567890abcdefghijABCDEFGHIJ123456".into())]
        );
        assert_eq!(kinds("api_key: \"9fA3kL0pQ7zX2mN8bV4c\""), vec![("secret", "9fA3kL0pQ7zX2mN8bV4c".into())]);
        assert!(kinds("password: your_password_here").is_empty());
        assert_eq!(kinds("git clone https://bob:s3cret@git.example.com/r.git"), vec![("url_credentials", "bob:s3cret".into())]);
        assert!(kinds("see https://example.com/a:b@c no").len() <= 1);
    }

    #[test]
    fn actions() {
        let cfg = PiiConfig { email: Action::Mask, phone: Action::Hash, ip: Action::Off, ..Default::default() };
        let s = cfg.build(1);
        let t = "mail a.b@x.org, call 138 1234 5678 or 13812345678, ip 8.8.8.8, ssn 536-22-1234";
        let out = s.scrub(t, &s.find(t));
        assert!(out.starts_with("mail *.*@*.***, call <PHONE#"), "{out}");
        let hashes: Vec<&str> = out.match_indices("<PHONE#").map(|(i, _)| &out[i..i + 24]).collect();
        assert_eq!(hashes.len(), 2);
        assert_eq!(hashes[0], hashes[1], "same number, same hash: {out}");
        assert!(out.contains("ip 8.8.8.8"));
        assert!(out.ends_with("ssn <US_SSN>"));
        // another seed, another hash
        let s2 = cfg.build(2);
        assert_ne!(s.keyed_hash(PiiKind::Phone, "13812345678"), s2.keyed_hash(PiiKind::Phone, "13812345678"));
        // idempotent
        assert_eq!(s.scrub(&out, &s.find(&out)), out);
    }

    #[test]
    fn stage_counts_and_annotate_only() {
        let mut d = Document::new("1", "a@b.com c@d.org 93.184.216.34", "s".into());
        assert_eq!(stage().process(&mut d), Verdict::Keep);
        assert_eq!(d.text, "<EMAIL> <EMAIL> <IP_ADDRESS>");
        assert_eq!(d.attributes["pii_email"], 2.0);
        assert_eq!(d.attributes["pii_ip"], 1.0);
        let s = PiiConfig { annotate_only: true, ..Default::default() }.build(0);
        let mut d = Document::new("1", "a@b.com", "s".into());
        s.process(&mut d);
        assert_eq!(d.text, "a@b.com");
        assert!(s.counted_attributes().contains(&"pii_cn_id".to_string()));
    }

    #[test]
    fn config_checks() {
        let all_off: PiiConfig = serde_json::from_value(serde_json::json!({
            "email": "off", "phone": "off", "ip": "off", "credit_card": "off", "iban": "off",
            "us_ssn": "off", "cn_id": "off", "secret": "off", "url_credentials": "off"
        }))
        .unwrap();
        assert_eq!(all_off.validate().len(), 1);
        assert!(serde_json::from_value::<PiiConfig>(serde_json::json!({"emial": "off"})).is_err());
        assert_eq!(PiiConfig { mask_char: 'x', ..Default::default() }.validate().len(), 1);
    }
}
