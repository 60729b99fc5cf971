//! Turning WARC records into documents: HTTP parsing, charset decoding and
//! main-text extraction for `response` records, text as is for WET `conversion`
//! records.

use serde::Serialize;

use crate::web::charset::decode_html;
use crate::web::extract::{extract, ExtractOptions};
use crate::web::http::{mime_of, parse_response};
use crate::web::warc::WarcRecord;

/// A web page ready for the pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebDocument {
    /// `WARC-Record-ID` without `<urn:uuid:` ... `>`.
    pub id: String,
    /// `WARC-Target-URI`.
    pub url: String,
    /// `WARC-Date` as written (ISO 8601).
    pub date: String,
    /// The HTML `<title>`, if any (WET records have none).
    pub title: Option<String>,
    /// Main text: paragraphs separated by blank lines.
    pub text: String,
    /// `<html lang>` or `WARC-Identified-Content-Language`.
    pub lang_hint: Option<String>,
    /// The media type, e.g. `text/html` (`text/plain` for WET).
    pub content_type: Option<String>,
    /// The charset the page was decoded from (WHATWG name), e.g. `GBK`.
    pub charset: Option<String>,
    /// HTTP status of the response (None for WET).
    pub http_status: Option<u16>,
}

/// Settings for [`response_to_document`].
#[derive(Debug, Clone)]
pub struct DocumentOptions {
    /// Extraction settings.
    pub extract: ExtractOptions,
    /// Largest decoded (de-chunked, gunzipped) HTTP body accepted. Default 32 MiB.
    pub max_body_bytes: usize,
}

impl Default for DocumentOptions {
    fn default() -> Self {
        Self { extract: ExtractOptions::default(), max_body_bytes: 32 * 1024 * 1024 }
    }
}

/// Whether a media type is HTML we extract from.
fn is_html(mime: &str) -> bool {
    matches!(mime, "text/html" | "application/xhtml+xml" | "application/xml+xhtml")
}

/// Converts one record. Returns `Ok(None)` for records that are not documents
/// (requests, metadata, warcinfo, non-200 or non-HTML responses) and `Err` with a
/// reason for responses that cannot be parsed.
pub fn response_to_document(rec: &WarcRecord, opts: &DocumentOptions) -> Result<Option<WebDocument>, String> {
    let kind = rec.warc_type();
    let id = clean_id(rec.header("WARC-Record-ID").unwrap_or(""));
    let url = rec.target_uri().unwrap_or("").to_string();
    let date = rec.header("WARC-Date").unwrap_or("").to_string();
    let warc_lang = rec
        .header("WARC-Identified-Content-Language")
        .map(|l| l.split(',').next().unwrap_or(l).trim().to_string())
        .filter(|l| !l.is_empty());
    match kind.as_str() {
        "conversion" => {
            let text = String::from_utf8_lossy(&rec.block).trim().to_string();
            if text.is_empty() {
                return Ok(None);
            }
            Ok(Some(WebDocument {
                id,
                url,
                date,
                title: None,
                text,
                lang_hint: warc_lang,
                content_type: Some(rec.header("Content-Type").map_or("text/plain".into(), mime_of)),
                charset: Some("UTF-8".into()),
                http_status: None,
            }))
        }
        "response" => {
            // Only HTTP responses: `application/http; msgtype=response`. Other
            // schemes (dns:, ftp:) are skipped.
            let ct = rec.header("Content-Type").unwrap_or("application/http").to_ascii_lowercase();
            if !ct.starts_with("application/http") {
                return Ok(None);
            }
            let resp = parse_response(&rec.block, opts.max_body_bytes)
                .map_err(|e| format!("record #{} at offset {} ({url}): {e}", rec.index, rec.offset))?;
            if resp.status != 200 {
                return Ok(None);
            }
            let content_type = resp.header("Content-Type").map(str::to_string);
            let mime = content_type.as_deref().map(mime_of);
            let html_like = match mime.as_deref() {
                Some(m) if !m.is_empty() => is_html(m),
                // No Content-Type: sniff for markup, as browsers do.
                _ => sniff_html(&resp.body),
            };
            if !html_like {
                return Ok(None);
            }
            if looks_binary(&resp.body) {
                // Labelled HTML but binary: an encoding we cannot undo (`br`,
                // `zstd`) or a mislabelled file. Decoding it would yield garbage.
                return Err(format!(
                    "record #{} at offset {} ({url}): HTML body is binary (Content-Encoding {:?})",
                    rec.index,
                    rec.offset,
                    resp.header("Content-Encoding").unwrap_or("none")
                ));
            }
            let decoded = decode_html(&resp.body, content_type.as_deref(), Some(&url));
            let ex = extract(&decoded.text, &opts.extract);
            Ok(Some(WebDocument {
                id,
                url,
                date,
                title: ex.title,
                text: ex.text,
                lang_hint: ex.lang.or(warc_lang),
                content_type: mime.or(Some("text/html".into())),
                charset: Some(decoded.encoding.name().to_string()),
                http_status: Some(resp.status),
            }))
        }
        _ => Ok(None),
    }
}

fn clean_id(raw: &str) -> String {
    let s = raw.trim().trim_start_matches('<').trim_end_matches('>');
    s.strip_prefix("urn:uuid:").unwrap_or(s).to_string()
}

/// Control bytes other than whitespace (and ESC, used by ISO-2022) do not occur
/// in text in any encoding we decode, except UTF-16, which has a BOM.
fn looks_binary(body: &[u8]) -> bool {
    if body.starts_with(&[0xFF, 0xFE]) || body.starts_with(&[0xFE, 0xFF]) {
        return false;
    }
    let head = &body[..body.len().min(1024)];
    let control = head.iter().filter(|&&b| b < 0x09 || (0x0E..0x1B).contains(&b)).count();
    control * 20 > head.len()
}

fn sniff_html(body: &[u8]) -> bool {
    let head = &body[..body.len().min(512)];
    let lower = head.to_ascii_lowercase();
    memchr::memmem::find(&lower, b"<html").is_some() || memchr::memmem::find(&lower, b"<!doctype html").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(kind: &str, headers: &[(&str, &str)], block: &[u8]) -> WarcRecord {
        let mut h = vec![
            ("WARC-Type".to_string(), kind.to_string()),
            ("WARC-Record-ID".to_string(), "<urn:uuid:1234-abcd>".to_string()),
            ("WARC-Target-URI".to_string(), "http://example.cn/page".to_string()),
            ("WARC-Date".to_string(), "2024-05-01T00:00:00Z".to_string()),
        ];
        h.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        WarcRecord { offset: 0, index: 0, version: "WARC/1.0".into(), headers: h, block: block.to_vec() }
    }

    const HTTP_CT: (&str, &str) = ("Content-Type", "application/http; msgtype=response");

    #[test]
    fn html_response_becomes_document() {
        let (body, _, _) = encoding_rs::GBK.encode("<html lang=zh><title>标题</title><body><article><p>这是一个很长的中文段落，用来测试编码和正文抽取是否正确。</p></article></body></html>");
        let mut block = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=gb2312\r\n\r\n".to_vec();
        block.extend_from_slice(&body);
        let d = response_to_document(&rec("response", &[HTTP_CT], &block), &DocumentOptions::default()).unwrap().unwrap();
        assert_eq!(d.id, "1234-abcd");
        assert_eq!(d.url, "http://example.cn/page");
        assert_eq!(d.title.as_deref(), Some("标题"));
        assert_eq!(d.text, "这是一个很长的中文段落，用来测试编码和正文抽取是否正确。");
        assert_eq!(d.charset.as_deref(), Some("GBK"));
        assert_eq!(d.lang_hint.as_deref(), Some("zh"));
        assert_eq!(d.http_status, Some(200));
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["content_type"], "text/html");
    }

    #[test]
    fn non_documents_are_none() {
        let o = DocumentOptions::default();
        let r404 = rec("response", &[HTTP_CT], b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n\r\n<p>x</p>");
        assert_eq!(response_to_document(&r404, &o), Ok(None));
        let img = rec("response", &[HTTP_CT], b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n\r\n\x89PNG");
        assert_eq!(response_to_document(&img, &o), Ok(None));
        for kind in ["request", "metadata", "warcinfo"] {
            assert_eq!(response_to_document(&rec(kind, &[], b"x"), &o), Ok(None));
        }
        let bad = rec("response", &[HTTP_CT], b"garbage without status");
        assert!(response_to_document(&bad, &o).unwrap_err().contains("not an HTTP response"));
    }

    #[test]
    fn binary_html_body_is_an_error() {
        let mut block = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: br\r\n\r\n".to_vec();
        block.extend((0u8..=255).cycle().take(2000));
        let err = response_to_document(&rec("response", &[HTTP_CT], &block), &DocumentOptions::default()).unwrap_err();
        assert!(err.contains("binary") && err.contains("br"), "{err}");
    }

    #[test]
    fn wet_conversion_is_text_as_is() {
        let r =
            rec("conversion", &[("WARC-Identified-Content-Language", "eng,fra"), ("Content-Type", "text/plain")], b"Line one\nLine two\n");
        let d = response_to_document(&r, &DocumentOptions::default()).unwrap().unwrap();
        assert_eq!(d.text, "Line one\nLine two");
        assert_eq!(d.lang_hint.as_deref(), Some("eng"));
        assert_eq!(d.http_status, None);
    }
}
