//! JSON Lines (`.jsonl`, `.jsonl.gz`, `.jsonl.zst`): one JSON object a line.
//! With `records`, each file is instead one JSON value (a SQuAD-style
//! dataset, an API dump) whose records are found at a path.
//!
//! The iterator only frames lines (cheap, sequential); JSON parsing runs in
//! [`Reader::decode`], in parallel. A line that is not valid UTF-8 or not a
//! JSON object, or lacks the text field, is a malformed record reported
//! with its line number. A truncated or corrupt compressed stream ends the
//! file with one error naming the line it stopped at.

use std::io::BufRead;
use std::sync::Arc;

use serde_json::{Map, Value};
use sluice_pipeline::size::ByteSize;
use sluice_pipeline::{Decoded, Document, InputFile, Locator, Payload, RawRecord, Reader, RecordError, RecordIter, Result};

use crate::files::{open_decompressed, FileLister};

crate::file_reader_config! {
/// Configuration of the `jsonl` reader.
pub struct JsonlReaderConfig {
    /// Key of the document text (default `text`).
    #[serde(default = "default_text_key")]
    pub text_key: String,
    /// Key of the document id (default `id`). Without one, the id is
    /// `<file>:<line>`.
    #[serde(default = "default_id_key")]
    pub id_key: String,
    /// Lines longer than this are malformed records (default 64MiB).
    #[serde(default = "default_max_line")]
    #[schemars(extend("x-min-bytes" = 1u64, "x-max-bytes" = 1099511627776u64))]
    pub max_line_bytes: ByteSize,
    /// Read each file as one JSON value, not lines, and take the records
    /// (objects) at this path: `/`-separated keys, `*` for every element of
    /// an array (or value of an object), e.g. `/data/*/paragraphs/*` for
    /// SQuAD-style files (`text_key: context`). The file is parsed whole, so
    /// it may be at most `max_line_bytes`; records are located by their
    /// 0-based number and the default id is `<file>#<n>`. Also reads
    /// `.json` files by default.
    #[serde(default)]
    pub records: Option<String>,
}
}

fn default_text_key() -> String {
    "text".into()
}
fn default_id_key() -> String {
    "id".into()
}
fn default_max_line() -> ByteSize {
    ByteSize(64 << 20)
}

/// The UTF-8 byte order mark, dropped from the start of a file (after
/// decompression).
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

pub const JSONL_EXTENSIONS: &[&str] = &["**/*.jsonl", "**/*.jsonl.gz", "**/*.jsonl.zst", "**/*.json.gz", "**/*.json.zst", "**/*.ndjson"];

impl JsonlReaderConfig {
    pub fn build(&self, source: &str, seed: u64) -> std::result::Result<JsonlReader, Vec<(String, String)>> {
        let mut errors = Vec::new();
        let records = match &self.records {
            None => None,
            Some(p) => match parse_record_path(p) {
                Ok(steps) => Some(steps),
                Err(m) => {
                    errors.push(("records".to_string(), m));
                    None
                }
            },
        };
        let mut exts = JSONL_EXTENSIONS.to_vec();
        if records.is_some() {
            exts.push("**/*.json");
        }
        let files = match self.files().build(&exts, seed) {
            Ok(f) => f,
            Err(e) => {
                errors.extend(e);
                return Err(errors);
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(JsonlReader {
            files,
            text_key: self.text_key.clone(),
            id_key: self.id_key.clone(),
            max_line: self.max_line_bytes.0 as usize,
            source: Arc::from(source),
            records,
        })
    }
}

/// The `jsonl` reader.
#[derive(Debug)]
pub struct JsonlReader {
    files: FileLister,
    text_key: String,
    id_key: String,
    max_line: usize,
    source: Arc<str>,
    records: Option<Vec<PathStep>>,
}

/// One step of a `records` path.
#[derive(Debug, Clone, PartialEq)]
enum PathStep {
    Key(String),
    Every,
}

fn parse_record_path(p: &str) -> std::result::Result<Vec<PathStep>, String> {
    let Some(rest) = p.strip_prefix('/') else {
        return Err(format!("{p:?} must start with `/` (e.g. `/data/*/paragraphs/*`)"));
    };
    if rest.is_empty() {
        return Ok(Vec::new()); // the file's top-level value is the one record
    }
    rest.split('/')
        .map(|k| match k {
            "" => Err(format!("{p:?} has an empty step")),
            "*" => Ok(PathStep::Every),
            k => Ok(PathStep::Key(k.to_string())),
        })
        .collect()
}

/// The values at `path` under `v`, in document order.
fn collect_records(v: Value, path: &[PathStep], out: &mut Vec<Value>) -> std::result::Result<(), String> {
    let Some((step, rest)) = path.split_first() else {
        out.push(v);
        return Ok(());
    };
    match (step, v) {
        (PathStep::Key(k), Value::Object(mut m)) => match m.remove(k) {
            Some(inner) => collect_records(inner, rest, out),
            None => Err(format!("no key `{k}`")),
        },
        (PathStep::Every, Value::Array(a)) => a.into_iter().try_for_each(|x| collect_records(x, rest, out)),
        (PathStep::Every, Value::Object(m)) => m.into_iter().try_for_each(|(_, x)| collect_records(x, rest, out)),
        (PathStep::Key(k), other) => Err(format!("expected an object with key `{k}`, found {}", json_type(&other))),
        (PathStep::Every, other) => Err(format!("expected an array or object for `*`, found {}", json_type(&other))),
    }
}

impl Reader for JsonlReader {
    fn files(&self) -> Result<Vec<InputFile>> {
        self.files.list()
    }

    fn open<'a>(&'a self, file: &'a InputFile) -> Result<RecordIter<'a>, RecordError> {
        let r = open_decompressed(&file.path).map_err(|e| RecordError::new(file.display(), Locator::File, "unreadable", e.to_string()))?;
        let Some(path) = &self.records else {
            return Ok(Box::new(Lines { r, file, line: 0, max: self.max_line, done: false }));
        };
        // One JSON value: parse it whole (bounded), then hand out its records.
        let err = |kind, e: String| RecordError::new(file.display(), Locator::File, kind, e);
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(r, self.max_line as u64 + 1), &mut bytes)
            .map_err(|e| err("read_error", format!("stream ends in error: {e}")))?;
        if bytes.len() > self.max_line {
            return Err(err(
                "too_long",
                format!("the file is larger than max_line_bytes ({} bytes), which bounds a `records` file", self.max_line),
            ));
        }
        let value: Value = serde_json::from_slice(bytes.strip_prefix(UTF8_BOM).unwrap_or(&bytes))
            .map_err(|e| err("invalid_json", format!("invalid JSON: {e}")))?;
        let size = bytes.len();
        drop(bytes);
        let mut records = Vec::new();
        collect_records(value, path, &mut records)
            .map_err(|m| err("missing_records", format!("records path {:?}: {m}", self.records_display())))?;
        // each record's share of the file: what the executor's read-ahead
        // bound counts
        let each = size / records.len().max(1);
        Ok(Box::new(records.into_iter().enumerate().map(move |(n, v)| {
            Ok(RawRecord { loc: Locator::Row(n as u64), payload: Payload::Custom { bytes: each, value: Box::new(v) } })
        })))
    }

    fn decode(&self, file: &InputFile, raw: RawRecord) -> Result<Decoded, RecordError> {
        let bytes = match raw.payload {
            Payload::Bytes(b) => b,
            Payload::Custom { value, .. } => {
                let n = match raw.loc {
                    Locator::Row(n) => n,
                    _ => 0,
                };
                let err = |kind, reason: String| RecordError::new(file.display(), raw.loc, kind, reason);
                let v = *value.downcast::<Value>().map_err(|_| err("internal", "not a JSON record".into()))?;
                let Value::Object(obj) = v else {
                    return Err(err("invalid_json", format!("record is a {}, not an object", json_type(&v))));
                };
                return to_document(obj, &self.text_key, &self.id_key, &self.source, || format!("{}#{n}", file.rel))
                    .map_err(|m| err("missing_text", m));
            }
            Payload::Doc(_) => unreachable!("the jsonl iterator yields bytes or records"),
        };
        let line = match raw.loc {
            Locator::Line(n) => n,
            _ => 0,
        };
        let err = |kind, reason: String| RecordError::new(file.display(), raw.loc, kind, reason);
        if let Err(e) = std::str::from_utf8(&bytes) {
            return Err(err("invalid_utf8", format!("invalid UTF-8 at byte {} of the line", e.valid_up_to())));
        }
        let obj: Map<String, Value> = serde_json::from_slice(&bytes).map_err(|e| err("invalid_json", format!("invalid JSON: {e}")))?;
        to_document(obj, &self.text_key, &self.id_key, &self.source, || format!("{}:{line}", file.rel)).map_err(|m| err("missing_text", m))
    }
}

impl JsonlReader {
    fn records_display(&self) -> String {
        let mut s = String::new();
        for st in self.records.iter().flatten() {
            s.push('/');
            s.push_str(match st {
                PathStep::Key(k) => k,
                PathStep::Every => "*",
            });
        }
        s
    }
}

/// Build a document from a JSON object: the text and id keys become the
/// fields, everything else metadata (a nested `metadata` object is merged in).
pub fn to_document(
    mut obj: Map<String, Value>,
    text_key: &str,
    id_key: &str,
    source: &Arc<str>,
    default_id: impl FnOnce() -> String,
) -> std::result::Result<Decoded, String> {
    let text = match obj.remove(text_key) {
        Some(Value::String(s)) => s,
        Some(other) => return Err(format!("field `{text_key}` is a {}, not a string", json_type(&other))),
        None => return Err(format!("no `{text_key}` field")),
    };
    let id = match obj.remove(id_key) {
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) => n.to_string(),
        _ => default_id(),
    };
    let mut doc = Document::new(id, text, source.clone());
    for (k, v) in obj {
        match (k.as_str(), v) {
            ("metadata", Value::Object(m)) => {
                for (mk, mv) in m {
                    doc.metadata.insert(mk, mv);
                }
            }
            (_, v) => {
                doc.metadata.insert(k, v);
            }
        }
    }
    Ok(Decoded::Doc(doc))
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

struct Lines<'a> {
    r: Box<dyn BufRead + Send>,
    file: &'a InputFile,
    line: u64,
    max: usize,
    done: bool,
}

impl Iterator for Lines<'_> {
    type Item = Result<RawRecord, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            self.line += 1;
            let mut buf = Vec::new();
            let mut too_long = false;
            // Read one line without ever buffering more than `max` bytes.
            loop {
                let chunk = match self.r.fill_buf() {
                    Ok(c) => c,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.done = true;
                        let kind = if e.kind() == std::io::ErrorKind::UnexpectedEof { "truncated" } else { "read_error" };
                        return Some(Err(RecordError::new(
                            self.file.display(),
                            Locator::Line(self.line),
                            kind,
                            format!("stream ends in error: {e}"),
                        )));
                    }
                };
                if chunk.is_empty() {
                    self.done = true;
                    break;
                }
                let (take, end) = match memchr::memchr(b'\n', chunk) {
                    Some(i) => (i + 1, true),
                    None => (chunk.len(), false),
                };
                if !too_long {
                    if buf.len() + take > self.max + 1 {
                        too_long = true;
                        buf = Vec::new();
                    } else {
                        buf.extend_from_slice(&chunk[..take]);
                    }
                }
                self.r.consume(take);
                if end {
                    break;
                }
            }
            if too_long {
                return Some(Err(RecordError::new(
                    self.file.display(),
                    Locator::Line(self.line),
                    "too_long",
                    format!("line longer than {} bytes", self.max),
                )));
            }
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            if self.line == 1 && buf.starts_with(UTF8_BOM) {
                // Editors on Windows start UTF-8 files with a byte order
                // mark; it is not part of the first record.
                buf.drain(..UTF8_BOM.len());
            }
            if buf.iter().all(u8::is_ascii_whitespace) {
                if self.done {
                    return None;
                }
                continue; // blank line
            }
            return Some(Ok(RawRecord { loc: Locator::Line(self.line), payload: Payload::Bytes(buf) }));
        }
    }
}

impl sluice_pipeline::component::Component for JsonlReaderConfig {
    const KIND: &'static str = "jsonl";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Reader;
    const ABOUT: &'static str = "JSON Lines (.jsonl, .jsonl.gz, .jsonl.zst): one JSON object per line";

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        JsonlReaderConfig::build(self, cx.source, cx.seed)
            .map(sluice_pipeline::component::Built::reader)
            .map_err(|e| sluice_pipeline::component::located(cx, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn reader(path: &std::path::Path) -> JsonlReader {
        let cfg: JsonlReaderConfig = serde_json::from_value(serde_json::json!({"paths": [path.display().to_string()]})).unwrap();
        cfg.build("web", 0).unwrap()
    }

    fn read(r: &JsonlReader) -> (Vec<Document>, Vec<RecordError>) {
        let mut docs = Vec::new();
        let mut errs = Vec::new();
        for f in r.files().unwrap() {
            for item in r.open(&f).unwrap() {
                match item.and_then(|raw| r.decode(&f, raw)) {
                    Ok(Decoded::Doc(d)) => docs.push(d),
                    Ok(Decoded::Skip(_)) => {}
                    Err(e) => errs.push(e),
                }
            }
        }
        (docs, errs)
    }

    #[test]
    fn malformed_lines_are_reported_with_line_numbers() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.jsonl");
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(b"{\"id\": 7, \"text\": \"ok\", \"metadata\": {\"url\": \"u\"}, \"lang\": \"en\"}\n").unwrap();
        f.write_all(b"{not json\n\n").unwrap();
        f.write_all(b"{\"text\": \"bad \xff utf8\"}\n").unwrap();
        f.write_all(b"{\"text\": 5}\n").unwrap();
        f.write_all(b"{\"body\": \"no text\"}\n").unwrap();
        f.write_all(b"{\"text\": \"last, no newline\"}").unwrap();
        drop(f);
        let (docs, errs) = read(&reader(&p));
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].id, "7");
        assert_eq!(docs[0].meta_str("url"), Some("u"));
        assert_eq!(docs[0].meta_str("lang"), Some("en"));
        assert_eq!(docs[1].id, "a.jsonl:7");
        let got: Vec<(Locator, &str)> = errs.iter().map(|e| (e.location, e.kind)).collect();
        assert_eq!(
            got,
            vec![
                (Locator::Line(2), "invalid_json"),
                (Locator::Line(4), "invalid_utf8"),
                (Locator::Line(5), "missing_text"),
                (Locator::Line(6), "missing_text"),
            ]
        );
        assert!(errs[0].to_string().contains("a.jsonl: line 2: invalid JSON"), "{}", errs[0]);
    }

    #[test]
    fn records_path_reads_squad_style_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("dev.json");
        std::fs::write(
            &p,
            r#"{"version": "1", "data": [
                {"title": "A", "paragraphs": [{"id": "p0", "context": "first", "qas": []}, {"context": "second"}]},
                {"paragraphs": [{"id": 3, "context": "third"}, {"id": "bad", "context": 7}, "not an object"]}
            ]}"#,
        )
        .unwrap();
        let cfg = |path: &str| -> std::result::Result<JsonlReader, Vec<(String, String)>> {
            serde_json::from_value::<JsonlReaderConfig>(
                serde_json::json!({"paths": [d.path().display().to_string()], "records": path, "text_key": "context"}),
            )
            .unwrap()
            .build("wiki", 0)
        };
        let (docs, errs) = read(&cfg("/data/*/paragraphs/*").unwrap());
        let got: Vec<(&str, &str)> = docs.iter().map(|d| (d.id.as_str(), d.text.as_str())).collect();
        let rel = docs[1].id.trim_end_matches("#1");
        assert!(rel.ends_with("dev.json"), "{rel}");
        assert_eq!(got, vec![("p0", "first"), (docs[1].id.as_str(), "second"), ("3", "third")]);
        let e: Vec<(Locator, &str)> = errs.iter().map(|e| (e.location, e.kind)).collect();
        assert_eq!(e, vec![(Locator::Row(3), "missing_text"), (Locator::Row(4), "invalid_json")]);
        // a path that is not there is one error for the file, naming the path
        let r = cfg("/data/*/sections/*").unwrap();
        let f = &r.files().unwrap()[0];
        let err = r.open(f).err().unwrap();
        assert!(err.to_string().contains("/data/*/sections/*") && err.to_string().contains("no key `sections`"), "{err}");
        assert!(cfg("data").unwrap_err().iter().any(|(k, _)| k == "records"));
    }

    /// A UTF-8 byte order mark at the start of a file (plain, or found after
    /// decompression) is dropped, not an invalid first line; anywhere else
    /// it is still an error.
    #[test]
    fn a_leading_byte_order_mark_is_not_part_of_the_first_line() {
        let d = tempfile::tempdir().unwrap();
        let body: &[u8] = b"\xEF\xBB\xBF{\"text\": \"first\"}\n{\"text\": \"second\"}\n\xEF\xBB\xBF{\"text\": \"third\"}\n";
        std::fs::write(d.path().join("a.jsonl"), body).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(body).unwrap();
        std::fs::write(d.path().join("b.jsonl.gz"), gz.finish().unwrap()).unwrap();
        std::fs::write(d.path().join("c.jsonl.zst"), zstd::encode_all(body, 3).unwrap()).unwrap();
        for name in ["a.jsonl", "b.jsonl.gz", "c.jsonl.zst"] {
            let (docs, errs) = read(&reader(&d.path().join(name)));
            let texts: Vec<&str> = docs.iter().map(|d| d.text.as_str()).collect();
            assert_eq!(texts, ["first", "second"], "{name}");
            let got: Vec<(Locator, &str)> = errs.iter().map(|e| (e.location, e.kind)).collect();
            assert_eq!(got, vec![(Locator::Line(3), "invalid_json")], "{name}: a BOM inside the file is not skipped");
        }
        // a `records` file too
        let p = d.path().join("r.json");
        std::fs::write(&p, b"\xEF\xBB\xBF{\"data\": [{\"text\": \"x\"}]}").unwrap();
        let cfg: JsonlReaderConfig =
            serde_json::from_value(serde_json::json!({"paths": [p.display().to_string()], "records": "/data/*"})).unwrap();
        let (docs, errs) = read(&cfg.build("s", 0).unwrap());
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(docs[0].text, "x");
    }

    #[test]
    fn truncated_gzip_is_one_error_after_the_good_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.jsonl.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        for i in 0..200 {
            writeln!(enc, "{{\"text\": \"document {i} with some text to make it longer {}\"}}", "x".repeat(i)).unwrap();
        }
        let bytes = enc.finish().unwrap();
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        let (docs, errs) = read(&reader(&p));
        assert!(!docs.is_empty() && docs.len() < 200, "{}", docs.len());
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].kind, "truncated");
    }
}
