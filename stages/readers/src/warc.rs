//! WARC and WET readers, on top of [`crate::web`].
//!
//! The iterator frames records (sequential: it follows the byte stream);
//! HTTP decoding, charset detection and main-text extraction run in
//! [`Reader::decode`], in parallel. Records that are not documents
//! (requests, metadata, non-HTML or non-200 responses) are counted as
//! skipped; a truncated or corrupt record is a malformed record with its
//! byte offset.

use std::sync::Arc;

use crate::web::warc::WarcReaderOptions;
use crate::web::{DocumentOptions, WarcReader, WarcRecord};
use serde_json::Value;
use sluice_pipeline::size::ByteSize;
use sluice_pipeline::{Decoded, Document, InputFile, Locator, Payload, RawRecord, Reader, RecordError, RecordIter, Result};

use crate::files::FileLister;

crate::file_reader_config! {
/// Configuration of the `warc` and `wet` readers.
pub struct WarcReaderConfig {
    /// Records larger than this are reported and skipped (default 64MiB).
    #[serde(default = "default_max_record")]
    #[schemars(extend("x-min-bytes" = 1u64, "x-max-bytes" = 1099511627776u64))]
    pub max_record_bytes: ByteSize,
    /// Largest decoded HTTP body accepted (default 32MiB).
    #[serde(default = "default_max_body")]
    #[schemars(extend("x-min-bytes" = 1u64, "x-max-bytes" = 1099511627776u64))]
    pub max_body_bytes: ByteSize,
}
}

fn default_max_record() -> ByteSize {
    ByteSize(64 << 20)
}
fn default_max_body() -> ByteSize {
    ByteSize(32 << 20)
}

/// Which record types a reader turns into documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// HTTP `response` records, with HTML main-text extraction.
    Warc,
    /// `conversion` records (Common Crawl WET): plain text as is.
    Wet,
}

impl WarcReaderConfig {
    pub fn build(&self, flavor: Flavor, source: &str, seed: u64) -> std::result::Result<WarcFileReader, Vec<(String, String)>> {
        let exts: &[&str] = match flavor {
            Flavor::Warc => &["**/*.warc", "**/*.warc.gz"],
            Flavor::Wet => &["**/*.wet", "**/*.wet.gz"],
        };
        let files = self.files().build(exts, seed)?;
        let doc_opts = DocumentOptions { max_body_bytes: self.max_body_bytes.0 as usize, ..DocumentOptions::default() };
        Ok(WarcFileReader { files, flavor, max_record: self.max_record_bytes.0, doc_opts, source: Arc::from(source) })
    }
}

/// The `warc` / `wet` reader.
#[derive(Debug)]
pub struct WarcFileReader {
    files: FileLister,
    flavor: Flavor,
    max_record: u64,
    doc_opts: DocumentOptions,
    source: Arc<str>,
}

impl Reader for WarcFileReader {
    fn files(&self) -> Result<Vec<InputFile>> {
        self.files.list()
    }

    fn open<'a>(&'a self, file: &'a InputFile) -> Result<RecordIter<'a>, RecordError> {
        let opts = WarcReaderOptions { max_record_bytes: self.max_record };
        let r = crate::files::open_input(&file.path)
            .and_then(|input| WarcReader::from_read(input, opts))
            .map_err(|e| RecordError::new(file.display(), Locator::File, "unreadable", e.to_string()))?;
        Ok(Box::new(r.map(move |item| match item {
            Ok(rec) => {
                let loc = Locator::Offset(rec.offset);
                let bytes = rec.block.len();
                Ok(RawRecord { loc, payload: Payload::Custom { value: Box::new(rec), bytes } })
            }
            Err(e) => {
                let kind = if e.reason.starts_with("truncated") { "truncated" } else { "corrupt_record" };
                Err(RecordError::new(file.display(), Locator::Offset(e.offset), kind, format!("record {}: {}", e.index, e.reason)))
            }
        })))
    }

    fn decode(&self, file: &InputFile, raw: RawRecord) -> Result<Decoded, RecordError> {
        let Payload::Custom { value, .. } = raw.payload else { unreachable!("the warc iterator yields records") };
        let rec: Box<WarcRecord> = value.downcast().expect("the warc iterator yields WarcRecord");
        let kind = rec.warc_type();
        let wanted = match self.flavor {
            Flavor::Warc => kind == "response",
            Flavor::Wet => kind == "conversion",
        };
        if !wanted {
            return Ok(Decoded::Skip(format!("warc_{}", if kind.is_empty() { "untyped" } else { &kind }).into()));
        }
        let wd = match crate::web::response_to_document(&rec, &self.doc_opts) {
            Ok(Some(d)) => d,
            Ok(None) => return Ok(Decoded::Skip("not_html_or_not_ok".into())),
            Err(reason) => return Err(RecordError::new(file.display(), raw.loc, "bad_http", reason)),
        };
        if wd.text.trim().is_empty() {
            return Ok(Decoded::Skip("empty_text".into()));
        }
        let mut doc = Document::new(wd.id, wd.text, self.source.clone());
        let m = &mut doc.metadata;
        m.insert("url".into(), Value::String(wd.url));
        m.insert("date".into(), Value::String(wd.date));
        if let Some(t) = wd.title {
            m.insert("title".into(), Value::String(t));
        }
        if let Some(l) = wd.lang_hint {
            m.insert("lang_hint".into(), Value::String(l));
        }
        if let Some(c) = wd.content_type {
            m.insert("content_type".into(), Value::String(c));
        }
        if let Some(c) = wd.charset {
            m.insert("charset".into(), Value::String(c));
        }
        if let Some(s) = wd.http_status {
            m.insert("http_status".into(), Value::from(s));
        }
        m.insert("warc_file".into(), Value::String(file.rel.clone()));
        if let Locator::Offset(o) = raw.loc {
            m.insert("warc_offset".into(), Value::from(o));
        }
        Ok(Decoded::Doc(doc))
    }
}

impl sluice_pipeline::component::Component for WarcReaderConfig {
    const KIND: &'static str = "warc";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Reader;
    const ABOUT: &'static str = "WARC (.warc, .warc.gz) HTTP responses, with charset decoding and HTML main-text extraction";

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        WarcReaderConfig::build(self, Flavor::Warc, cx.source, cx.seed)
            .map(sluice_pipeline::component::Built::reader)
            .map_err(|e| sluice_pipeline::component::located(cx, e))
    }
}

/// The options of the `wet` reader: those of `warc`.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct WetReaderConfig(pub WarcReaderConfig);

impl sluice_pipeline::component::Component for WetReaderConfig {
    const KIND: &'static str = "wet";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Reader;
    const ABOUT: &'static str = "Common Crawl WET (.wet, .wet.gz) plain-text conversion records";

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        self.0
            .build(Flavor::Wet, cx.source, cx.seed)
            .map(sluice_pipeline::component::Built::reader)
            .map_err(|e| sluice_pipeline::component::located(cx, e))
    }
}
