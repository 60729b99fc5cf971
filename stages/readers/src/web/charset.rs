//! Charset detection and decoding of HTML bytes to UTF-8.
//!
//! The order follows what browsers do, with one addition for crawled data:
//! 1. a byte order mark;
//! 2. the `charset` parameter of the HTTP `Content-Type`;
//! 3. `<meta charset>` or `<meta http-equiv=Content-Type content="...charset=...">`
//!    in the first [`META_SCAN_BYTES`] bytes;
//! 4. the `chardetng` detector (Firefox's), hinted with the URL's top-level domain.
//!
//! The addition: when a declared legacy charset disagrees with bytes that are valid,
//! non-ASCII UTF-8, the bytes win. Mislabelled UTF-8 (a CMS template saying
//! `iso-8859-1` over UTF-8 content) is common in crawls, and the chance of legacy
//! text with non-ASCII bytes being valid UTF-8 by accident is negligible.
//!
//! Labels are resolved with the WHATWG Encoding Standard (`encoding_rs`), so
//! `gb2312` means GBK, `iso-8859-1` means windows-1252, and so on.

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};

/// How many bytes from the start are scanned for a `<meta>` charset declaration.
/// (Browsers scan 1024; real pages put long `<script>`s first, so we look further.)
pub const META_SCAN_BYTES: usize = 8 * 1024;

/// How much of the document the detector sees; enough for a stable guess.
const DETECT_BYTES: usize = 64 * 1024;

/// Where the charset used for decoding came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharsetSource {
    /// A byte order mark.
    Bom,
    /// The HTTP `Content-Type` header.
    Http,
    /// A `<meta>` declaration in the document.
    Meta,
    /// The bytes are valid UTF-8 (overriding or lacking a declaration).
    Utf8Valid,
    /// The statistical detector.
    Detected,
}

/// A document decoded to UTF-8.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The text; malformed sequences are replaced with U+FFFD.
    pub text: String,
    /// The encoding used.
    pub encoding: &'static Encoding,
    /// Why that encoding was chosen.
    pub source: CharsetSource,
    /// Whether decoding met malformed sequences.
    pub had_errors: bool,
}

/// Decodes HTML `bytes` to UTF-8, choosing the charset as the module docs describe.
/// `content_type` is the HTTP header value if known, `url` the page URL (its
/// top-level domain helps the detector).
pub fn decode_html(bytes: &[u8], content_type: Option<&str>, url: Option<&str>) -> Decoded {
    let (encoding, source) = sniff(bytes, content_type, url);
    let (text, used, had_errors) = encoding.decode(bytes);
    Decoded { text: text.into_owned(), encoding: used, source, had_errors }
}

/// Chooses the encoding for `bytes` without decoding.
pub fn sniff(bytes: &[u8], content_type: Option<&str>, url: Option<&str>) -> (&'static Encoding, CharsetSource) {
    if let Some((enc, _)) = Encoding::for_bom(bytes) {
        return (enc, CharsetSource::Bom);
    }
    let declared = content_type
        .and_then(crate::web::http::charset_param)
        .and_then(|l| Encoding::for_label(l.as_bytes()))
        .map(|e| (e, CharsetSource::Http))
        .or_else(|| meta_charset(&bytes[..bytes.len().min(META_SCAN_BYTES)]).map(|e| (e, CharsetSource::Meta)));

    // UTF-8 validation is a fast SIMD pass; it settles most pages at once.
    let valid_utf8 = std::str::from_utf8(bytes).is_ok();
    match declared {
        Some((enc, src)) if enc == UTF_8 => (enc, src),
        Some((enc, src)) => {
            if valid_utf8 && !bytes.is_ascii() && enc.is_ascii_compatible() {
                (UTF_8, CharsetSource::Utf8Valid)
            } else {
                (enc, src)
            }
        }
        None if valid_utf8 => (UTF_8, CharsetSource::Utf8Valid),
        None => (detect(bytes, url), CharsetSource::Detected),
    }
}

/// Runs chardetng over the start of the document.
fn detect(bytes: &[u8], url: Option<&str>) -> &'static Encoding {
    let mut det = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    let sample = &bytes[..bytes.len().min(DETECT_BYTES)];
    det.feed(sample, sample.len() == bytes.len());
    let tld = url.and_then(tld_of);
    det.guess(tld.as_deref().map(str::as_bytes), chardetng::Utf8Detection::Allow)
}

/// The lower-cased top-level domain label of `url`, if it is a plain ASCII label
/// (chardetng panics on anything else, so be strict).
fn tld_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit('@').next()?;
    let host = host.split(':').next()?.trim_end_matches('.');
    let tld = host.rsplit('.').next()?.to_ascii_lowercase();
    (!tld.is_empty() && tld.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')).then_some(tld)
}

/// Finds a charset declared by a `<meta>` tag in `head` (a prefix of the document).
pub fn meta_charset(head: &[u8]) -> Option<&'static Encoding> {
    let mut i = 0;
    while i < head.len() {
        let lt = i + memchr::memchr(b'<', &head[i..])?;
        let rest = &head[lt..];
        if rest.starts_with(b"<!--") {
            // Skip comments: a commented-out meta does not count.
            let end = memchr::memmem::find(&rest[4..], b"-->").map_or(head.len(), |e| lt + 4 + e + 3);
            i = end;
            continue;
        }
        if rest.len() > 5 && rest[1..5].eq_ignore_ascii_case(b"meta") && matches!(rest[5], b' ' | b'\t' | b'\n' | b'\r' | b'/') {
            let (attrs, end) = parse_attrs(&rest[5..]);
            i = lt + 5 + end;
            if let Some(enc) = charset_from_meta(&attrs) {
                // Per WHATWG: a meta that says UTF-16 means UTF-8 (the bytes are
                // ASCII-compatible or we would never have parsed the tag), and
                // x-user-defined means windows-1252.
                return Some(if enc.name().starts_with("UTF-16") {
                    UTF_8
                } else if enc == encoding_rs::X_USER_DEFINED {
                    WINDOWS_1252
                } else {
                    enc
                });
            }
            continue;
        }
        i = lt + 1;
    }
    None
}

fn charset_from_meta(attrs: &[(String, String)]) -> Option<&'static Encoding> {
    let get = |n: &str| attrs.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    if let Some(cs) = get("charset") {
        return Encoding::for_label(cs.trim().as_bytes());
    }
    let is_ct = get("http-equiv").is_some_and(|v| v.trim().eq_ignore_ascii_case("content-type"));
    if is_ct {
        let content = get("content")?;
        let lower = content.to_ascii_lowercase();
        let at = lower.find("charset")?;
        let v = content[at + 7..].trim_start().strip_prefix('=')?.trim_start();
        let v = v.trim_start_matches(['"', '\'']);
        let end = v.find(|c: char| c == ';' || c == '"' || c == '\'' || c.is_ascii_whitespace()).unwrap_or(v.len());
        return Encoding::for_label(&v.as_bytes()[..end]);
    }
    None
}

/// Parses attributes of a tag starting just after its name. Returns the attributes
/// (names lower-cased) and the index just past the tag's `>`.
fn parse_attrs(s: &[u8]) -> (Vec<(String, String)>, usize) {
    let mut attrs = Vec::new();
    let mut i = 0;
    let n = s.len();
    loop {
        while i < n && (s[i].is_ascii_whitespace() || s[i] == b'/') {
            i += 1;
        }
        if i >= n {
            return (attrs, n);
        }
        if s[i] == b'>' {
            return (attrs, i + 1);
        }
        let start = i;
        while i < n && !s[i].is_ascii_whitespace() && !matches!(s[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        let name = String::from_utf8_lossy(&s[start..i]).to_ascii_lowercase();
        while i < n && s[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < n && s[i] == b'=' {
            i += 1;
            while i < n && s[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < n && (s[i] == b'"' || s[i] == b'\'') {
                let q = s[i];
                let vs = i + 1;
                let ve = memchr::memchr(q, &s[vs..]).map_or(n, |e| vs + e);
                value = String::from_utf8_lossy(&s[vs..ve]).into_owned();
                i = (ve + 1).min(n);
            } else {
                let vs = i;
                while i < n && !s[i].is_ascii_whitespace() && s[i] != b'>' {
                    i += 1;
                }
                value = String::from_utf8_lossy(&s[vs..i]).into_owned();
            }
        }
        if !name.is_empty() {
            attrs.push((name, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::{BIG5, EUC_KR, GBK, SHIFT_JIS};

    const ZH_S: &str = "中华人民共和国是世界上人口最多的国家之一，首都是北京。我们今天讨论经济发展和文化交流的问题。";
    const ZH_T: &str = "臺灣位於東亞，是一個美麗的島嶼。我們今天討論經濟發展與文化交流的問題，以及教育和科技的未來。";
    const JA: &str = "日本語の文章です。東京は日本の首都であり、多くの人々が住んでいます。今日は天気がとても良いですね。";
    const KO: &str = "대한민국의 수도는 서울입니다. 오늘은 날씨가 아주 좋습니다. 우리는 경제와 문화에 대해 이야기합니다.";
    const FR: &str =
        "Le café est très agréable à Paris. Les élèves étudient l'histoire française à l'école. Où êtes-vous allé cet été ? Déjà fini !";

    fn page(meta: Option<&str>, body: &str) -> String {
        let m = meta.map(|c| format!("<meta charset=\"{c}\">")).unwrap_or_default();
        format!("<!doctype html><html><head>{m}<title>t</title></head><body><p>{body}</p></body></html>")
    }

    fn cases() -> Vec<(&'static Encoding, &'static str, &'static str, &'static str)> {
        // (encoding, label as a page would write it, text, url)
        vec![
            (GBK, "gb2312", ZH_S, "http://example.cn/a"),
            (BIG5, "big5", ZH_T, "http://example.tw/a"),
            (SHIFT_JIS, "shift_jis", JA, "http://example.jp/a"),
            (EUC_KR, "euc-kr", KO, "http://example.kr/a"),
            (WINDOWS_1252, "iso-8859-1", FR, "http://example.fr/a"),
        ]
    }

    #[test]
    fn meta_declaration() {
        for (enc, label, text, _) in cases() {
            let html = page(Some(label), text);
            let (bytes, _, _) = enc.encode(&html);
            let d = decode_html(&bytes, None, None);
            assert_eq!(d.encoding, enc, "{label}");
            assert_eq!(d.source, CharsetSource::Meta);
            assert!(d.text.contains(text), "{label}");
        }
    }

    #[test]
    fn http_header_only() {
        for (enc, label, text, _) in cases() {
            let html = page(None, text);
            let (bytes, _, _) = enc.encode(&html);
            let d = decode_html(&bytes, Some(&format!("text/html; charset=\"{label}\"")), None);
            assert_eq!(d.encoding, enc, "{label}");
            assert_eq!(d.source, CharsetSource::Http);
            assert!(d.text.contains(text), "{label}");
        }
    }

    #[test]
    fn detector_without_declaration() {
        for (enc, label, text, url) in cases() {
            let html = page(None, &format!("{text} {text}"));
            let (bytes, _, _) = enc.encode(&html);
            let d = decode_html(&bytes, Some("text/html"), Some(url));
            assert_eq!(d.source, CharsetSource::Detected, "{label}");
            assert!(d.text.contains(text), "{label}: got {} -> {}", d.encoding.name(), d.text);
        }
    }

    #[test]
    fn bom_wins_and_http_beats_meta() {
        let mut b = vec![0xEF, 0xBB, 0xBF];
        b.extend_from_slice(page(Some("windows-1252"), "é").as_bytes());
        assert_eq!(sniff(&b, Some("text/html; charset=gbk"), None), (UTF_8, CharsetSource::Bom));
        let html = page(Some("big5"), ZH_S);
        let (bytes, _, _) = GBK.encode(&html);
        assert_eq!(sniff(&bytes, Some("text/html; charset=GB2312"), None), (GBK, CharsetSource::Http));
    }

    #[test]
    fn mislabelled_utf8_is_read_as_utf8() {
        let html = page(Some("iso-8859-1"), FR);
        let d = decode_html(html.as_bytes(), None, None);
        assert_eq!(d.source, CharsetSource::Utf8Valid);
        assert!(d.text.contains(FR));
    }

    #[test]
    fn meta_forms() {
        assert_eq!(meta_charset(b"<META HTTP-EQUIV='Content-Type' CONTENT='text/html; charset=Shift_JIS'>"), Some(SHIFT_JIS));
        assert_eq!(meta_charset(b"<meta content=\"text/html;charset=gb2312\" http-equiv=\"content-type\" />"), Some(GBK));
        assert_eq!(meta_charset(b"<!-- <meta charset=big5> --><meta charset=utf-16le>"), Some(UTF_8));
        assert_eq!(meta_charset(b"<metadata charset=big5>"), None);
        assert_eq!(meta_charset(b"<meta charset=bogus-label>"), None);
        assert_eq!(meta_charset(b"<meta charset="), None);
    }

    #[test]
    fn tld_extraction_is_safe() {
        assert_eq!(tld_of("http://www.Example.CN:80/x"), Some("cn".into()));
        assert_eq!(tld_of("https://user@host.jp./"), Some("jp".into()));
        assert_eq!(tld_of("http://例子.中国/"), None);
    }
}
