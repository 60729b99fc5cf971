//! HTTP response parsing for the blocks of WARC `response` records.
//!
//! Crawlers disagree on what they store: some keep the payload exactly as it came
//! over the wire (chunked, gzipped), others store it decoded but keep the original
//! `Transfer-Encoding` / `Content-Encoding` headers (Common Crawl renames them to
//! `X-Crawler-*`, but not every WARC writer does). So every decoding step here first
//! checks that the payload really is encoded, and keeps it as it is otherwise.

use std::io::Read;

use flate2::read::{DeflateDecoder, GzDecoder, ZlibDecoder};

/// Why an HTTP response could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The block does not start with an `HTTP/x.y NNN` status line.
    #[error("not an HTTP response: bad status line {0:?}")]
    BadStatusLine(String),
    /// No empty line ends the header block.
    #[error("HTTP headers are not terminated by an empty line")]
    UnterminatedHeaders,
    /// The decoded body would exceed the configured limit (a compression bomb).
    #[error("decoded HTTP body exceeds {0} bytes")]
    TooLarge(usize),
}

/// A parsed HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code, e.g. 200.
    pub status: u16,
    /// Header fields in order, names as written.
    pub headers: Vec<(String, String)>,
    /// The body with transfer and content encodings removed.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header called `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The media type of `Content-Type`, lower-cased, without parameters.
    pub fn mime_type(&self) -> Option<String> {
        self.header("Content-Type").map(mime_of)
    }
}

/// The media type of a `Content-Type` value, lower-cased, without parameters.
pub fn mime_of(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// The `charset` parameter of a `Content-Type` value, if any (quotes removed).
pub fn charset_param(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case("charset").then(|| v.trim().trim_matches(|c| c == '"' || c == '\'')).filter(|v| !v.is_empty())
    })
}

/// Parses `block` as an HTTP response, decoding chunked transfer encoding and
/// gzip/deflate content encoding when the payload really is encoded. The decoded
/// body is capped at `max_body` bytes.
pub fn parse_response(block: &[u8], max_body: usize) -> Result<HttpResponse, HttpError> {
    let (head_end, body_start) = find_header_end(block).ok_or(HttpError::UnterminatedHeaders)?;
    let head = &block[..head_end];
    let mut lines = head.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = lines.next().unwrap_or_default();
    let status = parse_status_line(status_line)
        .ok_or_else(|| HttpError::BadStatusLine(String::from_utf8_lossy(&status_line[..status_line.len().min(60)]).into_owned()))?;
    let mut headers: Vec<(String, String)> = Vec::new();
    for l in lines {
        if l.is_empty() {
            continue;
        }
        if matches!(l[0], b' ' | b'\t') {
            if let Some((_, v)) = headers.last_mut() {
                v.push(' ');
                v.push_str(String::from_utf8_lossy(l).trim());
            }
            continue;
        }
        if let Some(c) = memchr::memchr(b':', l) {
            headers.push((String::from_utf8_lossy(&l[..c]).trim().to_string(), String::from_utf8_lossy(&l[c + 1..]).trim().to_string()));
        }
    }
    let mut resp = HttpResponse { status, headers, body: Vec::new() };
    let raw = &block[body_start..];
    let te = resp.header("Transfer-Encoding").unwrap_or("").to_ascii_lowercase();
    let mut body = if te.contains("chunked") {
        // A body that fails to parse as chunks was stored de-chunked: keep it.
        dechunk(raw).unwrap_or_else(|| raw.to_vec())
    } else {
        raw.to_vec()
    };
    let ce = resp.header("Content-Encoding").unwrap_or("").to_ascii_lowercase();
    if ce.contains("gzip") || ce.contains("deflate") || body.starts_with(&[0x1f, 0x8b]) {
        if let Some(decoded) = decompress(&body, max_body)? {
            body = decoded;
        }
    }
    if body.len() > max_body {
        return Err(HttpError::TooLarge(max_body));
    }
    resp.body = body;
    Ok(resp)
}

/// Returns (end of the header block, start of the body).
fn find_header_end(block: &[u8]) -> Option<(usize, usize)> {
    // The first empty line ends the headers; accept bare LF as well as CRLF.
    let mut i = 0;
    while let Some(nl) = memchr::memchr(b'\n', &block[i..]) {
        let nl = i + nl;
        let next = nl + 1;
        if block[next..].starts_with(b"\r\n") {
            return Some((nl, next + 2));
        }
        if block[next..].starts_with(b"\n") {
            return Some((nl, next + 1));
        }
        i = next;
    }
    // Headers only, no body at all.
    (!block.is_empty()).then_some((block.len(), block.len()))
}

fn parse_status_line(line: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_ascii_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

/// Decodes a chunked body, or `None` if it is not validly chunked.
fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    loop {
        let nl = memchr::memchr(b'\n', raw)?;
        let size_line = std::str::from_utf8(&raw[..nl]).ok()?.trim();
        // Chunk extensions follow a ';'.
        let hex = size_line.split(';').next()?.trim();
        if hex.is_empty() || hex.len() > 15 {
            return None;
        }
        let size = usize::from_str_radix(hex, 16).ok()?;
        raw = &raw[nl + 1..];
        if size == 0 {
            return Some(out);
        }
        if size > raw.len() {
            // Truncated final chunk: keep what arrived, as browsers do.
            out.extend_from_slice(raw);
            return Some(out);
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size..];
        raw = raw.strip_prefix(b"\r\n").or_else(|| raw.strip_prefix(b"\n")).unwrap_or(raw);
        if raw.is_empty() {
            return Some(out);
        }
    }
}

/// Gunzips / inflates `body` if it is really compressed; `Ok(None)` if it is not.
fn decompress(body: &[u8], max: usize) -> Result<Option<Vec<u8>>, HttpError> {
    fn run(r: impl Read, max: usize) -> Result<Option<Vec<u8>>, HttpError> {
        let mut out = Vec::new();
        let mut r = r.take(max as u64 + 1);
        match r.read_to_end(&mut out) {
            // A truncated stream still yields its prefix; keep it if there is one.
            Ok(_) | Err(_) if out.len() > max => Err(HttpError::TooLarge(max)),
            Ok(_) => Ok(Some(out)),
            Err(_) if !out.is_empty() => Ok(Some(out)),
            Err(_) => Ok(None),
        }
    }
    if body.starts_with(&[0x1f, 0x8b]) {
        return run(GzDecoder::new(body), max);
    }
    // zlib header: CMF 0x78 and a valid check value.
    if body.len() >= 2 && body[0] == 0x78 && (u16::from(body[0]) << 8 | u16::from(body[1])) % 31 == 0 {
        if let Some(v) = run(ZlibDecoder::new(body), max)? {
            return Ok(Some(v));
        }
    }
    // Raw deflate (what some servers send as "deflate"), only if the bytes don't
    // already look like markup or text.
    let looks_plain = body.iter().take(64).all(|&b| b >= 0x09 && b != 0x7f);
    if !looks_plain {
        if let Some(v) = run(DeflateDecoder::new(body), max)? {
            if !v.is_empty() {
                return Ok(Some(v));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::{GzEncoder, ZlibEncoder};
    use flate2::Compression;
    use std::io::Write;

    const MAX: usize = 1 << 20;

    #[test]
    fn parses_status_headers_body() {
        let r = parse_response(b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n<p>x", MAX).unwrap();
        assert_eq!(r.status, 404);
        assert_eq!(r.mime_type().as_deref(), Some("text/html"));
        assert_eq!(charset_param(r.header("content-type").unwrap()), Some("UTF-8"));
        assert_eq!(r.body, b"<p>x");
    }

    #[test]
    fn rejects_non_http() {
        assert!(matches!(parse_response(b"GET / HTTP/1.1\r\n\r\n", MAX), Err(HttpError::BadStatusLine(_))));
    }

    #[test]
    fn dechunks_real_chunks_and_keeps_plain_bodies() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n", MAX)
            .unwrap();
        assert_eq!(r.body, b"hello world");
        // Header says chunked, but the writer already de-chunked it.
        let r = parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n<html>hi</html>", MAX).unwrap();
        assert_eq!(r.body, b"<html>hi</html>");
    }

    #[test]
    fn gunzips_and_inflates() {
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(b"<p>gzipped</p>").unwrap();
        let mut block = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n".to_vec();
        block.extend(gz.finish().unwrap());
        assert_eq!(parse_response(&block, MAX).unwrap().body, b"<p>gzipped</p>");

        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(b"<p>deflated</p>").unwrap();
        let mut block = b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\n\r\n".to_vec();
        block.extend(z.finish().unwrap());
        assert_eq!(parse_response(&block, MAX).unwrap().body, b"<p>deflated</p>");

        // Header claims gzip but the body was stored decoded.
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n<p>plain</p>", MAX).unwrap();
        assert_eq!(r.body, b"<p>plain</p>");
    }

    #[test]
    fn caps_decompression_bombs() {
        let mut gz = GzEncoder::new(Vec::new(), Compression::best());
        gz.write_all(&vec![b'a'; 10_000]).unwrap();
        let mut block = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n".to_vec();
        block.extend(gz.finish().unwrap());
        assert_eq!(parse_response(&block, 1000), Err(HttpError::TooLarge(1000)));
    }
}
