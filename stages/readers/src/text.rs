//! A directory of text, markdown, HTML or compressed files: one document
//! per file, or with `split`, several documents per file cut at paragraph
//! boundaries (books, WikiText dumps).
//!
//! Files are read sequentially by the iterator (bounded by
//! `max_file_bytes`) and decoded in parallel: decompression by extension,
//! charset decoding, and main-text extraction for HTML. Binary and empty
//! files are skipped and counted. With `split` the iterator decodes and cuts
//! the file itself (the pieces must come out in order), one piece at a time.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_pipeline::size::ByteSize;
use sluice_pipeline::{Decoded, Document, InputFile, Locator, Payload, RawRecord, Reader, RecordError, RecordIter, Result};

use crate::files::{decompress_bytes, FileLister};

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

crate::file_reader_config! {
/// Configuration of the `text` reader.
pub struct TextReaderConfig {
    /// `utf8` (strict, the default) or `auto` (detect legacy encodings).
    #[serde(default)]
    pub encoding: TextEncoding,
    /// Extract the main text of `.html`/`.htm` files (default true).
    #[serde(default = "yes")]
    pub extract_html: bool,
    /// Files larger than this (after decompression) are malformed records
    /// (default 64MiB).
    #[serde(default = "default_max")]
    #[schemars(extend("x-min-bytes" = 1u64, "x-max-bytes" = 1099511627776u64))]
    pub max_document_bytes: ByteSize,
    /// Cut each file into documents of about this size, at paragraph
    /// boundaries: a document ends at the first blank line after
    /// `target_bytes`, or at the first line end after twice that when the
    /// text has no blank lines (one paragraph a line, as in many Chinese
    /// texts). Documents are `<path>#<n>` (n from 0), with the metadata
    /// `chunk` = n. Default: one document per file.
    #[serde(default)]
    pub split: Option<SplitConfig>,
}
}

/// `split` of the text reader.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitConfig {
    /// Target document size in bytes (`8KiB`, `4000`).
    #[schemars(extend("x-min-bytes" = 1u64, "x-max-bytes" = 1073741824u64))]
    pub target_bytes: ByteSize,
}

fn yes() -> bool {
    true
}
fn default_max() -> ByteSize {
    ByteSize(64 << 20)
}

impl TextReaderConfig {
    pub fn build(&self, source: &str, seed: u64) -> std::result::Result<TextReader, Vec<(String, String)>> {
        let mut errors = self.validate();
        let files = match self.files().build(&["**/*"], seed) {
            Ok(f) => f,
            Err(e) => {
                errors.extend(e);
                return Err(errors);
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(TextReader {
            files,
            encoding: self.encoding,
            extract_html: self.extract_html,
            max: self.max_document_bytes.0,
            source: Arc::from(source),
            split: self.split.map(|s| s.target_bytes.0.max(1) as usize),
        })
    }

    pub fn validate(&self) -> Vec<(String, String)> {
        match self.split {
            Some(s) if s.target_bytes.0 == 0 => vec![("split.target_bytes".into(), "must be at least 1 byte".into())],
            _ => Vec::new(),
        }
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
    split: Option<usize>,
}

/// What one file's bytes decode to.
enum FileText {
    Text { text: String, charset: Option<&'static str>, title: Option<String> },
    Skip(&'static str),
}

impl Reader for TextReader {
    fn files(&self) -> Result<Vec<InputFile>> {
        self.files.list()
    }

    fn open<'a>(&'a self, file: &'a InputFile) -> Result<RecordIter<'a>, RecordError> {
        let err = |kind, e: String| RecordError::new(file.display(), Locator::File, kind, e);
        let f = crate::files::open_input(&file.path).map_err(|e| err("unreadable", e.to_string()))?;
        let mut bytes = Vec::with_capacity(file.size.min(self.max) as usize);
        f.take(self.max + 1).read_to_end(&mut bytes).map_err(|e| err("unreadable", e.to_string()))?;
        if bytes.len() as u64 > self.max {
            return Err(err("too_large", format!("larger than max_document_bytes ({} bytes)", self.max)));
        }
        let Some(target) = self.split else {
            return Ok(Box::new(std::iter::once(Ok(RawRecord { loc: Locator::File, payload: Payload::Bytes(bytes) }))));
        };
        match self.file_text(file, bytes)? {
            // an empty or binary file yields nothing (it is still counted
            // as read); one document per piece otherwise
            FileText::Skip(_) => Ok(Box::new(std::iter::empty())),
            FileText::Text { text, charset, title } => {
                let mut n = 0usize;
                let mut at = 0usize;
                let source = self.source.clone();
                let rel = file.rel.clone();
                Ok(Box::new(std::iter::from_fn(move || loop {
                    let (start, end) = next_piece(&text, at, target)?;
                    at = end;
                    let piece = text[start..end].trim();
                    if piece.is_empty() {
                        continue;
                    }
                    let mut doc = file_document(format!("{rel}#{n}"), piece.to_string(), &source, &rel, charset, title.as_deref());
                    doc.metadata.insert("chunk".into(), Value::from(n as u64));
                    n += 1;
                    return Some(Ok(RawRecord { loc: Locator::Offset(start as u64), payload: Payload::Doc(doc) }));
                })))
            }
        }
    }

    fn decode(&self, file: &InputFile, raw: RawRecord) -> Result<Decoded, RecordError> {
        let bytes = match raw.payload {
            Payload::Bytes(b) => b,
            // a piece of a split file, decoded by the iterator
            Payload::Doc(d) => return Ok(Decoded::Doc(d)),
            Payload::Custom { .. } => unreachable!("the text iterator yields bytes or documents"),
        };
        match self.file_text(file, bytes)? {
            FileText::Skip(why) => Ok(Decoded::Skip(why.into())),
            FileText::Text { text, charset, title } => {
                Ok(Decoded::Doc(file_document(file.rel.clone(), text, &self.source, &file.rel, charset, title.as_deref())))
            }
        }
    }
}

impl TextReader {
    /// Decompress, decode and (for HTML) extract one file's text.
    fn file_text(&self, file: &InputFile, bytes: Vec<u8>) -> Result<FileText, RecordError> {
        let err = |kind, e: String| RecordError::new(file.display(), Locator::File, kind, e);
        let bytes = decompress_bytes(&file.path, bytes, self.max).map_err(|e| err("corrupt_compression", e.to_string()))?;
        let inner = inner_name(&file.path);
        let is_html = self.extract_html && (inner.ends_with(".html") || inner.ends_with(".htm") || inner.ends_with(".xhtml"));
        let head = &bytes[..bytes.len().min(8192)];
        if !is_html && memchr::memchr(0, head).is_some() {
            return Ok(FileText::Skip("binary"));
        }
        let (text, charset, title) = if is_html {
            let decoded = crate::web::charset::decode_html(&bytes, None, None);
            let ex = crate::web::extract(&decoded.text, &crate::web::ExtractOptions::default());
            (ex.text, Some(decoded.encoding.name()), ex.title)
        } else {
            let (t, cs) = decode_text(&bytes, self.encoding).map_err(|m| err("invalid_utf8", m))?;
            (t, cs, None)
        };
        if text.trim().is_empty() {
            return Ok(FileText::Skip("empty"));
        }
        Ok(FileText::Text { text, charset, title })
    }
}

/// A document of a file (or a piece of one), with its path, and the charset
/// and HTML title when there are.
fn file_document(id: String, text: String, source: &Arc<str>, rel: &str, charset: Option<&str>, title: Option<&str>) -> Document {
    let mut doc = Document::new(id, text, source.clone());
    doc.metadata.insert("path".into(), Value::String(rel.to_string()));
    if let Some(cs) = charset {
        doc.metadata.insert("charset".into(), Value::String(cs.to_string()));
    }
    if let Some(t) = title {
        doc.metadata.insert("title".into(), Value::String(t.to_string()));
    }
    doc
}

/// The next piece of `text` from byte `at`: it ends after the first blank
/// line once it holds `target` bytes, or after the first line end once it
/// holds `2 * target` (texts without blank lines), or at the end.
fn next_piece(text: &str, at: usize, target: usize) -> Option<(usize, usize)> {
    if at >= text.len() {
        return None;
    }
    let mut end = at;
    for line in text[at..].split_inclusive('\n') {
        end += line.len();
        let len = end - at;
        if (len >= target && line.trim().is_empty()) || len >= 2 * target {
            return Some((at, end));
        }
    }
    Some((at, end))
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

impl sluice_pipeline::component::Component for TextReaderConfig {
    const KIND: &'static str = "text";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Reader;
    const ABOUT: &'static str =
        "A directory of text/markdown/HTML/compressed files, one document per file or (`split`) per paragraph-aligned piece";

    fn validate(&self) -> Vec<(String, String)> {
        TextReaderConfig::validate(self)
    }

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        TextReaderConfig::build(self, cx.source, cx.seed)
            .map(sluice_pipeline::component::Built::reader)
            .map_err(|e| sluice_pipeline::component::located(cx, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(r: &TextReader) -> Vec<Document> {
        let mut docs = Vec::new();
        for f in r.files().unwrap() {
            for item in r.open(&f).unwrap() {
                if let Decoded::Doc(d) = r.decode(&f, item.unwrap()).unwrap() {
                    docs.push(d);
                }
            }
        }
        docs
    }

    #[test]
    fn pieces_end_at_blank_lines_or_twice_the_target() {
        let t = "aaaa\nbbbb\n\ncccc\n\ndddd\n";
        // 5 bytes < 6: goes on; "bbbb\n" makes 10, but the cut waits for the blank line
        assert_eq!(next_piece(t, 0, 6), Some((0, 11)));
        assert_eq!(next_piece(t, 11, 6), Some((11, 17)));
        assert_eq!(next_piece(t, 17, 6), Some((17, 22)));
        assert_eq!(next_piece(t, 22, 6), None);
        // no blank lines: cut at the first line end at or past 2 * target
        let z = "一二三\n四五六\n七八九\n";
        assert_eq!(next_piece(z, 0, 5), Some((0, 10)));
        assert_eq!(next_piece(z, 10, 5), Some((10, 20)));
        assert_eq!(next_piece(z, 20, 50), Some((20, 30)));
    }

    #[test]
    fn split_files_into_paragraph_pieces_that_cover_the_text() {
        let d = tempfile::tempdir().unwrap();
        let mut book = String::from("\u{feff}");
        for i in 0..200 {
            book.push_str(&format!("Paragraph {i} of the book, with a few words to make it longer.\nIts second line.\n\n"));
        }
        std::fs::write(d.path().join("book.txt"), &book).unwrap();
        std::fs::write(d.path().join("blank.txt"), "\n\n").unwrap();
        let cfg: TextReaderConfig =
            serde_json::from_value(serde_json::json!({"paths": [d.path().display().to_string()], "split": {"target_bytes": "1KiB"}}))
                .unwrap();
        let docs = read_all(&cfg.build("books", 0).unwrap());
        assert!(docs.len() > 10 && docs.len() < 20, "{}", docs.len());
        for (n, doc) in docs.iter().enumerate() {
            assert!(doc.id.ends_with(&format!("/book.txt#{n}")), "{}", doc.id);
            assert_eq!(doc.metadata["chunk"], n as u64);
            assert!(doc.text.starts_with("Paragraph ") && doc.text.ends_with("Its second line."), "{:?}", doc.text);
            if n + 1 < docs.len() {
                assert!(doc.text.len() >= 1000 && doc.text.len() < 1200, "{}", doc.text.len());
            }
        }
        // nothing lost: the pieces are the paragraphs in order
        let joined: Vec<&str> = docs.iter().flat_map(|d| d.text.split("\n\n")).collect();
        let want: Vec<&str> = book.trim_start_matches('\u{feff}').trim().split("\n\n").collect();
        assert_eq!(joined, want);
        let bad: TextReaderConfig = serde_json::from_value(serde_json::json!({"paths": ["x"], "split": {"target_bytes": 0}})).unwrap();
        assert!(bad.build("x", 0).unwrap_err().iter().any(|(k, _)| k == "split.target_bytes"));
    }

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
