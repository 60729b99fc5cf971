//! A directory of text, markdown, HTML or compressed files: one document
//! per file.
//!
//! Files are read sequentially by the iterator (bounded by
//! `max_file_bytes`) and decoded in parallel: decompression by extension,
//! charset decoding, and main-text extraction for HTML. Binary and empty
//! files are skipped and counted.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_pipeline::size::ByteSize;
use sluice_pipeline::{Decoded, Document, InputFile, Locator, Payload, RawRecord, Reader, RecordError, RecordIter, Result};

use crate::files::{decompress_bytes, FileLister, FilesConfig};

/// How file bytes become text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TextEncoding {
    /// Strict UTF-8 (a leading BOM is dropped): invalid bytes make the file
    /// a malformed record.
    #[default]
    Utf8,
    /// UTF-8 when the bytes are valid UTF-8, otherwise a BOM or the
    /// statistical detector picks the encoding (ISO-8859-1 Gutenberg texts,
    /// GBK pages).
    Auto,
}

/// Configuration of the `text` reader.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct TextReaderConfig {
    #[serde(flatten)]
    pub files: FilesConfig,
    /// `utf8` (strict, the default) or `auto` (detect legacy encodings).
    #[serde(default)]
    pub encoding: TextEncoding,
    /// Extract the main text of `.html`/`.htm` files (default true).
    #[serde(default = "yes")]
    pub extract_html: bool,
    /// Files larger than this (after decompression) are malformed records
    /// (default 64MiB).
    #[serde(default = "default_max")]
    pub max_document_bytes: ByteSize,
}

fn yes() -> bool {
    true
}
fn default_max() -> ByteSize {
    ByteSize(64 << 20)
}

impl TextReaderConfig {
    pub fn build(&self, source: &str, seed: u64) -> std::result::Result<TextReader, Vec<(String, String)>> {
        let files = self.files.build(&["**/*"], seed)?;
        Ok(TextReader {
            files,
            encoding: self.encoding,
            extract_html: self.extract_html,
            max: self.max_document_bytes.0,
            source: Arc::from(source),
        })
    }
}

/// The `text` reader.
#[derive(Debug)]
pub struct TextReader {
    files: FileLister,
    encoding: TextEncoding,
    extract_html: bool,
    max: u64,
    source: Arc<str>,
}

impl Reader for TextReader {
    fn files(&self) -> Result<Vec<InputFile>> {
        self.files.list()
    }

    fn open<'a>(&'a self, file: &'a InputFile) -> Result<RecordIter<'a>, RecordError> {
        let err = |kind, e: String| RecordError::new(file.display(), Locator::File, kind, e);
        let f = std::fs::File::open(&file.path).map_err(|e| err("unreadable", e.to_string()))?;
        let mut bytes = Vec::with_capacity(file.size.min(self.max) as usize);
        f.take(self.max + 1).read_to_end(&mut bytes).map_err(|e| err("unreadable", e.to_string()))?;
        if bytes.len() as u64 > self.max {
            return Err(err("too_large", format!("larger than max_document_bytes ({} bytes)", self.max)));
        }
        Ok(Box::new(std::iter::once(Ok(RawRecord { loc: Locator::File, payload: Payload::Bytes(bytes) }))))
    }

    fn decode(&self, file: &InputFile, raw: RawRecord) -> Result<Decoded, RecordError> {
        let Payload::Bytes(bytes) = raw.payload else { unreachable!("the text iterator yields bytes") };
        let err = |kind, e: String| RecordError::new(file.display(), Locator::File, kind, e);
        let bytes = decompress_bytes(&file.path, bytes, self.max).map_err(|e| err("corrupt_compression", e.to_string()))?;
        let inner = inner_name(&file.path);
        let is_html = self.extract_html && (inner.ends_with(".html") || inner.ends_with(".htm") || inner.ends_with(".xhtml"));
        let head = &bytes[..bytes.len().min(8192)];
        if !is_html && memchr::memchr(0, head).is_some() {
            return Ok(Decoded::Skip("binary".into()));
        }
        let (text, charset, title) = if is_html {
            let decoded = sluice_web::charset::decode_html(&bytes, None, None);
            let ex = sluice_web::extract(&decoded.text, &sluice_web::ExtractOptions::default());
            (ex.text, Some(decoded.encoding.name()), ex.title)
        } else {
            let (t, cs) = decode_text(&bytes, self.encoding).map_err(|m| err("invalid_utf8", m))?;
            (t, cs, None)
        };
        if text.trim().is_empty() {
            return Ok(Decoded::Skip("empty".into()));
        }
        let mut doc = Document::new(file.rel.clone(), text, self.source.clone());
        doc.metadata.insert("path".into(), Value::String(file.rel.clone()));
        if let Some(cs) = charset {
            doc.metadata.insert("charset".into(), Value::String(cs.to_string()));
        }
        if let Some(t) = title {
            doc.metadata.insert("title".into(), Value::String(t));
        }
        Ok(Decoded::Doc(doc))
    }
}

/// The file name without a compression extension: `a.html.gz` -> `a.html`.
fn inner_name(p: &Path) -> String {
    let name = p.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    name.strip_suffix(".gz").or_else(|| name.strip_suffix(".zst")).unwrap_or(&name).to_string()
}

/// Decode text bytes; returns the text and, when not UTF-8, the charset used.
pub fn decode_text(bytes: &[u8], enc: TextEncoding) -> std::result::Result<(String, Option<&'static str>), String> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(body) {
        Ok(s) => Ok((s.to_string(), None)),
        Err(e) if enc == TextEncoding::Utf8 => Err(format!(
            "invalid UTF-8 at byte {} (set `encoding: auto` to detect legacy encodings)",
            e.valid_up_to() + (bytes.len() - body.len())
        )),
        Err(_) => {
            let encoding = match encoding_rs::Encoding::for_bom(bytes) {
                Some((e, _)) => e,
                None => {
                    let mut det = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
                    det.feed(bytes, true);
                    det.guess(None, chardetng::Utf8Detection::Allow)
                }
            };
            let (text, used, _) = encoding.decode(bytes);
            Ok((text.into_owned(), Some(used.name())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_needs_auto() {
        let bytes = b"Caf\xe9 au lait, na\xefve fa\xe7ade, d\xe9j\xe0 vu.";
        assert!(decode_text(bytes, TextEncoding::Utf8).unwrap_err().contains("byte 3"));
        let (t, cs) = decode_text(bytes, TextEncoding::Auto).unwrap();
        assert_eq!(t, "Café au lait, naïve façade, déjà vu.");
        assert_eq!(cs, Some("windows-1252"));
        let (t, cs) = decode_text("\u{feff}héllo".as_bytes(), TextEncoding::Utf8).unwrap();
        assert_eq!((t.as_str(), cs), ("héllo", None));
    }

    #[test]
    fn one_document_per_file_with_html_extraction_and_skips() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("docs");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a.md"), "# Title\n\nSome markdown.").unwrap();
        std::fs::write(root.join("sub/b.html"), "<html><head><title>T</title></head><body><nav>Menu Home About</nav><p>The article body is here and it is long enough to be kept as the main content of the page.</p></body></html>").unwrap();
        std::fs::write(root.join("bin.dat"), b"\x00\x01\x02binary").unwrap();
        std::fs::write(root.join("empty.txt"), "  \n").unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, b"compressed changelog").unwrap();
        std::fs::write(root.join("changelog.gz"), gz.finish().unwrap()).unwrap();
        let cfg: TextReaderConfig = serde_json::from_value(serde_json::json!({"paths": [root.display().to_string()]})).unwrap();
        let r = cfg.build("docs", 0).unwrap();
        let mut docs = Vec::new();
        let mut skips = Vec::new();
        for f in r.files().unwrap() {
            for item in r.open(&f).unwrap() {
                match r.decode(&f, item.unwrap()).unwrap() {
                    Decoded::Doc(d) => docs.push(d),
                    Decoded::Skip(s) => skips.push(s.to_string()),
                }
            }
        }
        let ids: Vec<&str> = docs.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, vec!["docs/a.md", "docs/changelog.gz", "docs/sub/b.html"]);
        assert_eq!(docs[1].text, "compressed changelog");
        assert!(docs[2].text.contains("The article body"), "{}", docs[2].text);
        assert!(!docs[2].text.contains("Menu"), "{}", docs[2].text);
        skips.sort();
        assert_eq!(skips, vec!["binary", "empty"]);
    }
}
