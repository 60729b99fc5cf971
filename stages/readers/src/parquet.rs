//! Parquet files: one document per row.
//!
//! The text column is configurable; the id column is optional. Other scalar
//! columns become metadata, a `metadata` string column holding a JSON object
//! (as sluice's own Parquet writer produces) is merged into the metadata,
//! and an `attributes` column becomes the attributes, so sluice's Parquet
//! output reads back unchanged: a list of `{name, value}` structs (what the
//! writer writes now), a map of string to number (what it wrote before), or
//! a struct of numeric fields (one per attribute).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type, UInt32Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use serde_json::Value;
use sluice_pipeline::{Document, InputFile, Locator, Payload, RawRecord, Reader, RecordError, RecordIter, Result};

use sluice_format::rows::{self, layout_digest, LAYOUT_DIGEST_KEY};

use crate::files::FileLister;

crate::file_reader_config! {
/// Configuration of the `parquet` reader.
pub struct ParquetReaderConfig {
    /// Column holding the text (default `text`).
    #[serde(default = "default_text")]
    pub text_column: String,
    /// Column holding the id (default `id`); without it, ids are `<file>:<row>`.
    #[serde(default = "default_id")]
    pub id_column: String,
    /// Rows decoded per Arrow batch (default 1024).
    #[serde(default = "default_batch")]
    #[schemars(range(min = 1, max = 1048576))]
    pub batch_rows: usize,
}
}

fn default_text() -> String {
    "text".into()
}
fn default_id() -> String {
    "id".into()
}
fn default_batch() -> usize {
    1024
}

impl ParquetReaderConfig {
    pub fn build(&self, source: &str, seed: u64) -> std::result::Result<ParquetReader, Vec<(String, String)>> {
        let mut errs = Vec::new();
        if self.batch_rows == 0 {
            errs.push(("batch_rows".into(), "must be at least 1".into()));
        }
        let files = match self.files().build(&["**/*.parquet"], seed) {
            Ok(f) => Some(f),
            Err(e) => {
                errs.extend(e);
                None
            }
        };
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(ParquetReader {
            files: files.expect("checked"),
            text: self.text_column.clone(),
            id: self.id_column.clone(),
            batch_rows: self.batch_rows,
            source: Arc::from(source),
        })
    }
}

/// The `parquet` reader.
#[derive(Debug)]
pub struct ParquetReader {
    files: FileLister,
    text: String,
    id: String,
    batch_rows: usize,
    source: Arc<str>,
}

impl Reader for ParquetReader {
    fn files(&self) -> Result<Vec<InputFile>> {
        self.files.list()
    }

    fn open<'a>(&'a self, file: &'a InputFile) -> Result<RecordIter<'a>, RecordError> {
        let err = |e: String| RecordError::new(file.display(), Locator::File, "unreadable", e);
        let f = crate::files::open_random(&file.path).map_err(|e| err(e.to_string()))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| err(format!("not a readable Parquet file: {e}")))?;
        // sluice's writer records a digest of the footer's layout (row
        // counts, offsets, columns): a footer that no longer matches it is
        // corrupt, whatever it would decode to
        let meta = builder.metadata();
        if let Some(kvs) = meta.file_metadata().key_value_metadata() {
            if let Some(want) = kvs.iter().find(|kv| kv.key == LAYOUT_DIGEST_KEY) {
                let got = layout_digest(meta.file_metadata().schema_descr(), meta.row_groups(), kvs);
                if want.value.as_deref() != Some(got.as_str()) {
                    return Err(RecordError::new(
                        file.display(),
                        Locator::File,
                        "corrupt",
                        format!("the footer does not match its checksum ({LAYOUT_DIGEST_KEY}): the file is corrupt"),
                    ));
                }
            }
        }
        let schema = builder.schema().clone();
        match schema.field_with_name(&self.text) {
            Ok(f) if is_string(f.data_type()) => {}
            Ok(f) => {
                return Err(RecordError::new(
                    file.display(),
                    Locator::File,
                    "bad_schema",
                    format!("column `{}` is {}, not a string", self.text, f.data_type()),
                ))
            }
            Err(_) => return Err(RecordError::new(file.display(), Locator::File, "bad_schema", format!("no column `{}`", self.text))),
        }
        let reader = builder.with_batch_size(self.batch_rows).build().map_err(|e| err(e.to_string()))?;
        Ok(Box::new(Rows { reader, file, cfg: self, batch: None, row_in_batch: 0, row: 0, done: false }))
    }
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

struct Rows<'a> {
    reader: ParquetRecordBatchReader,
    file: &'a InputFile,
    cfg: &'a ParquetReader,
    batch: Option<RecordBatch>,
    row_in_batch: usize,
    row: u64,
    done: bool,
}

fn string_at(col: &dyn Array, i: usize) -> Option<String> {
    rows::str_at(col, i).map(String::from)
}

fn scalar_at(col: &dyn Array, i: usize) -> Option<Value> {
    if col.is_null(i) {
        return None;
    }
    Some(match col.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Value::String(string_at(col, i)?),
        DataType::Boolean => Value::Bool(col.as_boolean().value(i)),
        DataType::Int32 => Value::from(col.as_primitive::<Int32Type>().value(i)),
        DataType::Int64 => Value::from(col.as_primitive::<Int64Type>().value(i)),
        DataType::UInt32 => Value::from(col.as_primitive::<UInt32Type>().value(i)),
        DataType::UInt64 => Value::from(col.as_primitive::<UInt64Type>().value(i)),
        DataType::Float32 => Value::from(col.as_primitive::<Float32Type>().value(i) as f64),
        DataType::Float64 => Value::from(col.as_primitive::<Float64Type>().value(i)),
        _ => return None, // nested and binary columns are not metadata
    })
}

impl Rows<'_> {
    fn row_doc(&self, b: &RecordBatch, i: usize) -> std::result::Result<Document, RecordError> {
        let loc = Locator::Row(self.row);
        let schema = b.schema();
        let mut text = None;
        let mut id = None;
        let mut doc = Document::new(String::new(), String::new(), self.cfg.source.clone());
        for (field, col) in schema.fields().iter().zip(b.columns()) {
            let name = field.name();
            if *name == self.cfg.text {
                text = string_at(col.as_ref(), i);
            } else if *name == self.cfg.id {
                id = scalar_at(col.as_ref(), i).map(|v| match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                });
            } else if name == rows::METADATA && is_string(col.data_type()) {
                if let Some(s) = rows::str_at(col.as_ref(), i) {
                    match serde_json::from_str::<serde_json::Map<String, Value>>(s) {
                        Ok(m) => doc.metadata.extend(m),
                        Err(_) => {
                            doc.metadata.insert(rows::METADATA.into(), Value::String(s.to_string()));
                        }
                    }
                }
            } else if name == rows::ATTRIBUTES && rows::is_attributes_type(col.data_type()) {
                doc.attributes.extend(rows::attributes_at(col.as_ref(), i));
            } else if let Some(v) = scalar_at(col.as_ref(), i) {
                doc.metadata.insert(name.clone(), v);
            }
        }
        doc.text =
            text.ok_or_else(|| RecordError::new(self.file.display(), loc, "missing_text", format!("column `{}` is null", self.cfg.text)))?;
        doc.id = id.unwrap_or_else(|| format!("{}:{}", self.file.rel, self.row));
        Ok(doc)
    }
}

impl Iterator for Rows<'_> {
    type Item = Result<RawRecord, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(b) = &self.batch {
                if self.row_in_batch < b.num_rows() {
                    let r = self.row_doc(b, self.row_in_batch);
                    let loc = Locator::Row(self.row);
                    self.row_in_batch += 1;
                    self.row += 1;
                    return Some(r.map(|d| RawRecord { loc, payload: Payload::Doc(d) }));
                }
            }
            if self.done {
                return None;
            }
            match self.reader.next() {
                None => {
                    self.done = true;
                    self.batch = None;
                }
                Some(Ok(b)) => {
                    self.batch = Some(b);
                    self.row_in_batch = 0;
                }
                Some(Err(e)) => {
                    self.done = true;
                    self.batch = None;
                    return Some(Err(RecordError::new(
                        self.file.display(),
                        Locator::Row(self.row),
                        "corrupt",
                        format!("cannot decode rows from here on: {e}"),
                    )));
                }
            }
        }
    }
}

impl sluice_pipeline::component::Component for ParquetReaderConfig {
    const KIND: &'static str = "parquet";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Reader;
    const ABOUT: &'static str = "Parquet files, one document per row";

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        ParquetReaderConfig::build(self, cx.source, cx.seed)
            .map(sluice_pipeline::component::Built::reader)
            .map_err(|e| sluice_pipeline::component::located(cx, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_pipeline::{Decoded, SinkContext, SinkFactory};
    use std::fs::File;

    #[test]
    fn reads_back_what_the_parquet_writer_wrote() {
        let d = tempfile::tempdir().unwrap();
        let ctx = SinkContext { dir: d.path().join("w"), task: 0, node: "w".into() };
        let mut docs = Vec::new();
        for i in 0..2500 {
            let mut doc = Document::new(format!("id{i}"), format!("text {i} 中文"), Arc::from("orig"));
            doc.metadata.insert("url".into(), format!("https://x/{i}").into());
            // some with no attributes (an empty list), some with several
            if i % 3 != 0 {
                doc.attributes.insert("score".into(), i as f64);
            }
            if i % 5 == 0 {
                doc.attributes.insert("a_first".into(), -0.5 * i as f64);
            }
            docs.push(doc);
        }
        let mut sink = sluice_writers::ParquetWriterConfig::default().build().open(&ctx).unwrap();
        sink.write(&docs).unwrap();
        sink.finish().unwrap();

        let cfg: ParquetReaderConfig =
            serde_json::from_value(serde_json::json!({"paths": [d.path().join("w").display().to_string()]})).unwrap();
        let r = cfg.build("orig", 0).unwrap();
        let files = r.files().unwrap();
        assert_eq!(files.len(), 1);
        let mut back = Vec::new();
        for item in r.open(&files[0]).unwrap() {
            match r.decode(&files[0], item.unwrap()).unwrap() {
                Decoded::Doc(d) => back.push(d),
                Decoded::Skip(_) => unreachable!(),
            }
        }
        // `source` comes back as metadata (the reader names the source).
        for b in &mut back {
            assert_eq!(b.metadata.remove("source"), Some(Value::String("orig".into())));
        }
        assert_eq!(back, docs);
    }

    #[test]
    fn not_parquet_is_a_file_level_error() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.parquet");
        std::fs::write(&p, b"PAR1 this is not parquet").unwrap();
        let cfg: ParquetReaderConfig = serde_json::from_value(serde_json::json!({"paths": [p.display().to_string()]})).unwrap();
        let r = cfg.build("s", 0).unwrap();
        let f = &r.files().unwrap()[0];
        let e = r.open(f).err().expect("error");
        assert_eq!(e.kind, "unreadable");
        assert!(e.to_string().contains("x.parquet"));
    }

    /// Read `path` with the `parquet` reader: its documents.
    fn read_docs(path: &std::path::Path) -> Vec<Document> {
        let cfg: ParquetReaderConfig = serde_json::from_value(serde_json::json!({"paths": [path.display().to_string()]})).unwrap();
        let r = cfg.build("s", 0).unwrap();
        let files = r.files().unwrap();
        let mut out = Vec::new();
        for f in &files {
            for item in r.open(f).unwrap() {
                match r.decode(f, item.unwrap()).unwrap() {
                    Decoded::Doc(d) => out.push(d),
                    Decoded::Skip(_) => unreachable!(),
                }
            }
        }
        out
    }

    /// The layout sluice wrote before (attributes a `Map<Utf8, Float64>`,
    /// null when empty) still reads back, as does a struct of numbers.
    #[test]
    fn reads_the_old_map_layout_and_attribute_structs() {
        use arrow_array::builder::{Float64Builder, MapBuilder, StringBuilder};
        use arrow_array::{ArrayRef, Float32Array, Float64Array, StringArray, StructArray};
        use arrow_schema::{Field, Schema};

        let d = tempfile::tempdir().unwrap();
        let mut attrs = MapBuilder::new(None, StringBuilder::new(), Float64Builder::new());
        attrs.keys().append_value("chars");
        attrs.values().append_value(250.0);
        attrs.keys().append_value("gopher_score");
        attrs.values().append_value(0.25);
        attrs.append(true).unwrap();
        attrs.append(false).unwrap();
        let attrs = attrs.finish();
        let schema = Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("text", DataType::Utf8, false),
            Field::new("source", DataType::Utf8, false),
            Field::new("metadata", DataType::Utf8, true),
            Field::new("attributes", attrs.data_type().clone(), true),
        ]);
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec!["a", "b"])),
            Arc::new(StringArray::from(vec!["first", "second"])),
            Arc::new(StringArray::from(vec!["web", "web"])),
            Arc::new(StringArray::from(vec![Some(r#"{"url":"http://a","language":"en"}"#), None])),
            Arc::new(attrs),
        ];
        let old = d.path().join("old.parquet");
        let batch = RecordBatch::try_new(Arc::new(schema), cols).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(File::create(&old).unwrap(), batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let back = read_docs(&old);
        assert_eq!(back.len(), 2);
        assert_eq!((back[0].id.as_str(), back[0].text.as_str()), ("a", "first"));
        assert_eq!(
            back[0].attributes.iter().map(|(k, v)| (k.as_str(), *v)).collect::<Vec<_>>(),
            [("chars", 250.0), ("gopher_score", 0.25)]
        );
        assert_eq!(back[0].metadata.get("url"), Some(&Value::String("http://a".into())));
        assert_eq!(back[0].metadata.get("language"), Some(&Value::String("en".into())));
        assert!(back[1].attributes.is_empty());

        // a struct of numbers (one field per attribute), as a user might write
        let fields = vec![Field::new("score", DataType::Float64, true), Field::new("ratio", DataType::Float32, true)];
        let st = StructArray::try_new(
            fields.into(),
            vec![Arc::new(Float64Array::from(vec![Some(1.5), None])), Arc::new(Float32Array::from(vec![Some(0.5), Some(2.0)]))],
            None,
        )
        .unwrap();
        let schema = Schema::new(vec![Field::new("text", DataType::Utf8, false), Field::new("attributes", st.data_type().clone(), true)]);
        let batch = RecordBatch::try_new(Arc::new(schema), vec![Arc::new(StringArray::from(vec!["x", "y"])), Arc::new(st)]).unwrap();
        let p = d.path().join("struct.parquet");
        let mut w = parquet::arrow::ArrowWriter::try_new(File::create(&p).unwrap(), batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let back = read_docs(&p);
        assert_eq!(back[0].attributes.iter().map(|(k, v)| (k.as_str(), *v)).collect::<Vec<_>>(), [("ratio", 0.5), ("score", 1.5)]);
        assert_eq!(back[1].attributes.iter().map(|(k, v)| (k.as_str(), *v)).collect::<Vec<_>>(), [("ratio", 2.0)]);
        assert!(back[0].metadata.is_empty());
    }
}
