//! The document rows of sluice's own output: what the `jsonl` and `parquet`
//! writers write (documents and exclusions alike), and the one reader of
//! them that `sluice stats --signals/--what-if` and the report use.
//!
//! A row has five fields:
//!
//! | field        | JSONL                                  | Parquet                                |
//! |--------------|----------------------------------------|----------------------------------------|
//! | `id`         | string                                 | `Utf8`, not null                       |
//! | `text`       | string                                 | `Utf8`, not null                       |
//! | `source`     | string                                 | `Utf8`, not null                       |
//! | `metadata`   | object, omitted when empty             | `Utf8` holding the JSON object, null when empty |
//! | `attributes` | object of numbers (sorted by name), omitted when empty | `List<Struct<name: Utf8, value: Float64>>` (sorted by name), empty when none |
//!
//! JSONL writes the fields in that order, one document a line. Metadata
//! keeps the order it was built in; attributes are sorted by name. Sluice
//! reads back these metadata keys: [`META_LANGUAGE`], [`META_URL`], and on
//! excluded documents [`META_DROP_REASON`] and [`META_DROPPED_BY`].
//!
//! A non-finite attribute (NaN, ±inf) is `null` in JSONL (JSON has no such
//! numbers) and is skipped when read back; Parquet keeps it.
//!
//! ## Why a list of name/value pairs
//!
//! Every Parquet shard of every writer has the one schema above, whatever
//! the recipe, the task count or the documents in the shard: the attribute
//! names are not known when a shard is opened (classifier labels come from
//! the model, `regex` and `decontaminate` names from the recipe, readers
//! pass through the input's own attributes), so a struct or one column per
//! attribute would give each shard the columns it happened to see, and
//! shards that disagree cannot be loaded as one table. A list of
//! `{name, value}` structs is plain nested data that every consumer loads
//! as is (HF `datasets` has no map type, so the `Map<Utf8, Float64>` that
//! sluice wrote before is rejected by `datasets.load_dataset("parquet")`);
//! in DuckDB `map_from_entries(attributes)` makes it a map again, and in
//! Python `{a["name"]: a["value"] for a in row["attributes"]}` a dict.
//! Metadata stays a JSON string for the same reason: its keys and value
//! types come from the input (nested objects included).
//!
//! Readers ([`attributes_at`]) also read the earlier map layout, and a
//! struct of numeric fields.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{Float64Builder, ListBuilder, StringBuilder, StructBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type};
use arrow_array::{Array, ArrayRef, RecordBatch, StructArray};
use arrow_schema::{ArrowError, DataType, Field, Fields, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use parquet::file::metadata::{KeyValue, RowGroupMetaData};
use parquet::schema::types::SchemaDescriptor;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::{FormatError, Result};

pub const ID: &str = "id";
pub const TEXT: &str = "text";
pub const SOURCE: &str = "source";
pub const METADATA: &str = "metadata";
pub const ATTRIBUTES: &str = "attributes";

/// Metadata key: the language code the `language` stage found.
pub const META_LANGUAGE: &str = "language";
/// Metadata key: the document's URL, when its reader saw one.
pub const META_URL: &str = "url";
/// Metadata key of an excluded document: the reason its stage gave.
pub const META_DROP_REASON: &str = "drop_reason";
/// Metadata key of an excluded document: the stage that dropped it.
pub const META_DROPPED_BY: &str = "dropped_by";

/// A document's metadata: insertion ordered.
pub type Metadata = serde_json::Map<String, Value>;

/// A row as the writers write it, borrowed from a document. Its JSON
/// serialisation is the JSONL line (without the newline).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RowRef<'a> {
    pub id: &'a str,
    pub text: &'a str,
    pub source: &'a str,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub metadata: &'a Metadata,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: &'a BTreeMap<String, f64>,
}

/// Append the JSONL line of `row` (with its newline) to `out`.
pub fn write_json_row(out: &mut Vec<u8>, row: &RowRef<'_>) -> serde_json::Result<()> {
    serde_json::to_writer(&mut *out, row)?;
    out.push(b'\n');
    Ok(())
}

/// Field of an attribute entry: its name.
pub const ATTRIBUTE_NAME: &str = "name";
/// Field of an attribute entry: its value.
pub const ATTRIBUTE_VALUE: &str = "value";
/// Name of the `attributes` list's element field (the Parquet spec's, and
/// pyarrow's).
pub const ATTRIBUTE_ELEMENT: &str = "element";

/// The fields of one attribute entry: `name` (`Utf8`) and `value`
/// (`Float64`), neither null.
pub fn attribute_entry_fields() -> Fields {
    Fields::from(vec![Field::new(ATTRIBUTE_NAME, DataType::Utf8, false), Field::new(ATTRIBUTE_VALUE, DataType::Float64, false)])
}

/// The type of the `attributes` column: a list of `{name, value}` structs.
pub fn attributes_type() -> DataType {
    DataType::List(Arc::new(Field::new(ATTRIBUTE_ELEMENT, DataType::Struct(attribute_entry_fields()), false)))
}

/// The Arrow schema of Parquet document shards: the same for every shard of
/// every writer (see the module documentation).
pub fn document_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(ID, DataType::Utf8, false),
        Field::new(TEXT, DataType::Utf8, false),
        Field::new(SOURCE, DataType::Utf8, false),
        Field::new(METADATA, DataType::Utf8, true),
        Field::new(ATTRIBUTES, attributes_type(), false),
    ]))
}

/// The rows as one Arrow batch of [`document_schema`].
pub fn record_batch<'a>(
    schema: &SchemaRef,
    rows: impl ExactSizeIterator<Item = RowRef<'a>> + Clone,
) -> std::result::Result<RecordBatch, ArrowError> {
    let n = rows.len();
    let cap: usize = rows.clone().map(|r| r.text.len()).sum();
    let entries: usize = rows.clone().map(|r| r.attributes.len()).sum();
    let mut id = StringBuilder::with_capacity(n, n * 16);
    let mut text = StringBuilder::with_capacity(n, cap);
    let mut source = StringBuilder::with_capacity(n, n * 8);
    let mut meta = StringBuilder::new();
    let entry = StructBuilder::new(
        attribute_entry_fields(),
        vec![Box::new(StringBuilder::with_capacity(entries, entries * 16)), Box::new(Float64Builder::with_capacity(entries))],
    );
    let DataType::List(element) = attributes_type() else { unreachable!("attributes_type is a list") };
    let mut attrs = ListBuilder::with_capacity(entry, n).with_field(element);
    for r in rows {
        id.append_value(r.id);
        text.append_value(r.text);
        source.append_value(r.source);
        if r.metadata.is_empty() {
            meta.append_null();
        } else {
            meta.append_value(serde_json::to_string(r.metadata).map_err(|e| ArrowError::ExternalError(Box::new(e)))?);
        }
        let entry = attrs.values();
        for (k, v) in r.attributes {
            entry.field_builder::<StringBuilder>(0).expect("name builder").append_value(k);
            entry.field_builder::<Float64Builder>(1).expect("value builder").append_value(*v);
            entry.append(true);
        }
        attrs.append(true);
    }
    let cols: Vec<ArrayRef> =
        vec![Arc::new(id.finish()), Arc::new(text.finish()), Arc::new(source.finish()), Arc::new(meta.finish()), Arc::new(attrs.finish())];
    RecordBatch::try_new(schema.clone(), cols)
}

/// The footer key-value entry holding [`layout_digest`].
pub const LAYOUT_DIGEST_KEY: &str = "sluice.layout_xxh3";

/// A digest of what in a Parquet footer decides which bytes are read and
/// how they decode: the columns (path, physical type, levels), each row
/// group's row count and each column chunk's codec, value count, offsets
/// and sizes, and the key-value metadata (the embedded Arrow schema) other
/// than this digest itself. Page checksums cover page data; this covers
/// the footer, where a flipped bit could otherwise drop rows or rename a
/// column without an error. Written by the `parquet` writer, verified by
/// the `parquet` reader when present.
pub fn layout_digest(schema: &SchemaDescriptor, row_groups: &[RowGroupMetaData], key_values: &[KeyValue]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for c in schema.columns() {
        let _ = writeln!(s, "column {} {:?} {} {}", c.path().string(), c.physical_type(), c.max_def_level(), c.max_rep_level());
    }
    for g in row_groups {
        let _ = writeln!(s, "group {}", g.num_rows());
        for c in g.columns() {
            // the codec without its level: the level is not stored in the file
            let codec = format!("{:?}", c.compression());
            let codec = codec.split('(').next().unwrap_or_default();
            let _ = writeln!(
                s,
                "chunk {codec} {} {} {:?} {} {}",
                c.num_values(),
                c.data_page_offset(),
                c.dictionary_page_offset(),
                c.compressed_size(),
                c.uncompressed_size()
            );
        }
    }
    for kv in key_values.iter().filter(|kv| kv.key != LAYOUT_DIGEST_KEY) {
        let _ = writeln!(s, "kv {:?} {:?}", kv.key, kv.value);
    }
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(s.as_bytes()))
}

/// Whether `path` is a data file of a writer or exclusion sink: a
/// `.parquet`, `.jsonl`, `.jsonl.zst` or `.jsonl.gz` whose name does not
/// start with `.` (a temporary).
pub fn is_row_file(path: &Path) -> bool {
    let n = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    !n.starts_with('.') && [".parquet", ".jsonl", ".jsonl.zst", ".jsonl.gz"].iter().any(|e| n.ends_with(e))
}

/// The string at row `i` of a string column (`Utf8`, `LargeUtf8` or
/// `Utf8View`); `None` when null or not a string column.
pub fn str_at(col: &dyn Array, i: usize) -> Option<&str> {
    if col.is_null(i) {
        return None;
    }
    match col.data_type() {
        DataType::Utf8 => Some(col.as_string::<i32>().value(i)),
        DataType::LargeUtf8 => Some(col.as_string::<i64>().value(i)),
        DataType::Utf8View => Some(col.as_string_view().value(i)),
        _ => None,
    }
}

/// Whether `t` is a type [`attributes_at`] reads: a list (or large list) of
/// `{name, value}` structs (this writer's layout), a map of string to number
/// (the layout sluice wrote before), or a struct of numeric fields.
pub fn is_attributes_type(t: &DataType) -> bool {
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::Map(f, _) => is_entry(f.data_type()),
        DataType::Struct(fields) => !fields.is_empty() && fields.iter().all(|f| is_number(f.data_type())),
        _ => false,
    }
}

fn is_number(t: &DataType) -> bool {
    matches!(t, DataType::Float64 | DataType::Float32)
}

/// Whether `t` is a name/value entry: a two-field struct of a string and a
/// number (the field names are not checked: a map's are `key`/`value`, and
/// other writers name them as they like).
fn is_entry(t: &DataType) -> bool {
    match t {
        DataType::Struct(f) if f.len() == 2 => {
            matches!(f[0].data_type(), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) && is_number(f[1].data_type())
        }
        _ => false,
    }
}

/// The number at `j` of a `Float64` or `Float32` column; `None` when null.
fn number_at(col: &dyn Array, j: usize) -> Option<f64> {
    if col.is_null(j) {
        return None;
    }
    match col.data_type() {
        DataType::Float64 => Some(col.as_primitive::<Float64Type>().value(j)),
        DataType::Float32 => Some(col.as_primitive::<Float32Type>().value(j) as f64),
        _ => None,
    }
}

/// The attributes at row `i` of an `attributes` column of a type
/// [`is_attributes_type`] accepts: in file order, null names and values
/// skipped; empty for a null row or a column of another type.
pub fn attributes_at(col: &dyn Array, i: usize) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    if col.is_null(i) || !is_attributes_type(col.data_type()) {
        return out;
    }
    let pairs = |entries: &StructArray, out: &mut Vec<(String, f64)>| {
        let (names, vals) = (entries.column(0), entries.column(1));
        for j in 0..entries.len() {
            if entries.is_null(j) {
                continue;
            }
            if let (Some(k), Some(v)) = (str_at(names.as_ref(), j), number_at(vals.as_ref(), j)) {
                out.push((k.to_string(), v));
            }
        }
    };
    match col.data_type() {
        DataType::List(_) => pairs(col.as_list::<i32>().value(i).as_struct(), &mut out),
        DataType::LargeList(_) => pairs(col.as_list::<i64>().value(i).as_struct(), &mut out),
        DataType::Map(..) => pairs(&col.as_map().value(i), &mut out),
        DataType::Struct(fields) => {
            let s = col.as_struct();
            for (f, c) in fields.iter().zip(s.columns()) {
                if let Some(v) = number_at(c.as_ref(), i) {
                    out.push((f.name().clone(), v));
                }
            }
        }
        _ => {}
    }
    out
}

/// The metadata keys sluice reads back from its own rows. A value that is
/// not a string reads as absent.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct RowMeta {
    #[serde(default, deserialize_with = "lenient_str")]
    pub language: Option<String>,
    #[serde(default, deserialize_with = "lenient_str")]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "lenient_str")]
    pub drop_reason: Option<String>,
    #[serde(default, deserialize_with = "lenient_str")]
    pub dropped_by: Option<String>,
}

fn lenient_str<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        _ => None,
    })
}

/// One row read back. `id` and `text` are there only when asked for
/// ([`Columns`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Row<'a> {
    pub id: Option<&'a str>,
    pub text: Option<&'a str>,
    pub source: &'a str,
    pub meta: RowMeta,
    /// In file order (sorted by name, as written).
    pub attributes: Vec<(String, f64)>,
}

/// Which of the large columns to read besides `source`, `metadata` and
/// `attributes`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Columns {
    pub id: bool,
    pub text: bool,
}

/// Call `f` on the rows of one data file (Parquet or JSONL, by its name),
/// at most `limit` of them, until `f` returns false. Returns how many rows
/// `f` saw. Only the columns asked for are decoded (Parquet); memory is one
/// batch of rows or one line. A row that is not a sluice row (invalid JSON,
/// a non-object `metadata`, a missing `source` column) is an error naming
/// the file and the line or row.
pub fn for_each_row(path: &Path, cols: Columns, limit: Option<u64>, f: &mut dyn FnMut(Row<'_>) -> bool) -> Result<u64> {
    if path.to_string_lossy().ends_with(".parquet") {
        parquet_rows(path, cols, limit, f)
    } else {
        jsonl_rows(path, limit, f)
    }
}

/// An id that is a string, or any other JSON value written as JSON.
fn lenient_id<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Null => None,
        v => Some(v.to_string()),
    })
}

/// Attributes of a JSONL row: numbers kept, anything else (`null` for a
/// non-finite value) skipped.
fn lenient_attributes<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<(String, f64)>, D::Error> {
    let m: Option<serde_json::Map<String, Value>> = Option::deserialize(d)?;
    Ok(m.into_iter().flatten().filter_map(|(k, v)| v.as_f64().map(|x| (k, x))).collect())
}

#[derive(Deserialize)]
struct JsonRow<'a> {
    #[serde(default, deserialize_with = "lenient_id")]
    id: Option<String>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    source: Option<Cow<'a, str>>,
    #[serde(default)]
    metadata: Option<RowMeta>,
    #[serde(default, deserialize_with = "lenient_attributes")]
    attributes: Vec<(String, f64)>,
}

fn jsonl_rows(path: &Path, limit: Option<u64>, f: &mut dyn FnMut(Row<'_>) -> bool) -> Result<u64> {
    let file = File::open(path).map_err(|e| FormatError::io(path, e))?;
    let name = path.to_string_lossy();
    let reader: Box<dyn BufRead> = if name.ends_with(".zst") {
        Box::new(BufReader::new(zstd::Decoder::new(file).map_err(|e| FormatError::io(path, e))?))
    } else if name.ends_with(".gz") {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut n = 0u64;
    for (i, line) in reader.lines().enumerate() {
        if limit.is_some_and(|l| n >= l) {
            break;
        }
        let at = || format!("{} line {}", path.display(), i + 1);
        let line = line.map_err(|e| FormatError::invalid(at(), e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let row: JsonRow<'_> = serde_json::from_str(&line).map_err(|e| FormatError::invalid(at(), format!("not a sluice row: {e}")))?;
        n += 1;
        let go = f(Row {
            id: row.id.as_deref(),
            text: row.text.as_deref(),
            source: row.source.as_deref().unwrap_or(""),
            meta: row.metadata.unwrap_or_default(),
            attributes: row.attributes,
        });
        if !go {
            break;
        }
    }
    Ok(n)
}

fn parquet_rows(path: &Path, cols: Columns, limit: Option<u64>, f: &mut dyn FnMut(Row<'_>) -> bool) -> Result<u64> {
    let bad = |reason: String| FormatError::invalid(path.display(), reason);
    let file = File::open(path).map_err(|e| FormatError::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| bad(format!("not a readable Parquet file: {e}")))?;
    let schema = builder.schema().clone();
    let mut wanted = vec![SOURCE, METADATA, ATTRIBUTES];
    if cols.id {
        wanted.push(ID);
    }
    if cols.text {
        wanted.push(TEXT);
    }
    for required in [Some(SOURCE), cols.text.then_some(TEXT)].into_iter().flatten() {
        match schema.field_with_name(required) {
            Ok(f) if matches!(f.data_type(), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => {}
            Ok(f) => return Err(bad(format!("column `{required}` is {}, not a string", f.data_type()))),
            Err(_) => return Err(bad(format!("no `{required}` column"))),
        }
    }
    let roots: Vec<usize> =
        schema.fields().iter().enumerate().filter(|(_, f)| wanted.contains(&f.name().as_str())).map(|(i, _)| i).collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let mut builder = builder.with_projection(mask).with_batch_size(4096);
    if let Some(l) = limit {
        builder = builder.with_limit(usize::try_from(l).unwrap_or(usize::MAX));
    }
    let reader = builder.build().map_err(|e| bad(e.to_string()))?;
    let mut n = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| bad(format!("cannot decode rows from row {n} on: {e}")))?;
        let col = |name: &str| batch.column_by_name(name);
        let (source, meta, attrs) = (col(SOURCE), col(METADATA), col(ATTRIBUTES));
        let (id, text) = (col(ID).filter(|_| cols.id), col(TEXT).filter(|_| cols.text));
        for i in 0..batch.num_rows() {
            let meta = match meta.and_then(|m| str_at(m.as_ref(), i)) {
                Some(s) => serde_json::from_str(s).map_err(|e| bad(format!("row {n}: metadata is not a JSON object: {e}")))?,
                None => RowMeta::default(),
            };
            n += 1;
            let go = f(Row {
                id: id.and_then(|c| str_at(c.as_ref(), i)),
                text: text.and_then(|c| str_at(c.as_ref(), i)),
                source: source.and_then(|c| str_at(c.as_ref(), i)).unwrap_or(""),
                meta,
                attributes: attrs.map(|c| attributes_at(c.as_ref(), i)).unwrap_or_default(),
            });
            if !go {
                return Ok(n);
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::arrow::ArrowWriter;

    /// id, text, source, metadata, attributes
    type Doc = (String, String, String, Metadata, BTreeMap<String, f64>);
    /// id, text, source, metadata keys, attributes as read back
    type ReadRow = (Option<String>, Option<String>, String, RowMeta, Vec<(String, f64)>);

    fn rows() -> Vec<Doc> {
        (0..5)
            .map(|i| {
                let mut m = Metadata::new();
                let mut a = BTreeMap::new();
                if i % 2 == 0 {
                    m.insert("url".into(), format!("http://e/{i}").into());
                    m.insert("language".into(), "en".into());
                    a.insert("z".into(), i as f64);
                    a.insert("a".into(), 0.5);
                }
                if i == 3 {
                    m.insert("drop_reason".into(), "too_short".into());
                    m.insert("dropped_by".into(), "length".into());
                    m.insert("language".into(), 7.into());
                    a.insert("nan".into(), f64::NAN);
                }
                (format!("d{i}"), format!("text \"{i}\" ü"), "web".to_string(), m, a)
            })
            .collect()
    }

    fn refs(rows: &[Doc]) -> Vec<RowRef<'_>> {
        rows.iter().map(|(id, t, s, m, a)| RowRef { id, text: t, source: s, metadata: m, attributes: a }).collect()
    }

    #[test]
    fn json_row_is_the_document_line() {
        let mut m = Metadata::new();
        m.insert("url".into(), "http://x".into());
        let mut a = BTreeMap::new();
        a.insert("z".into(), 1.0);
        a.insert("a".into(), 2.0);
        let mut out = Vec::new();
        write_json_row(&mut out, &RowRef { id: "a", text: "hello", source: "web", metadata: &m, attributes: &a }).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"id\":\"a\",\"text\":\"hello\",\"source\":\"web\",\"metadata\":{\"url\":\"http://x\"},\"attributes\":{\"a\":2.0,\"z\":1.0}}\n"
        );
        let (e, b) = (Metadata::new(), BTreeMap::new());
        let mut out = Vec::new();
        write_json_row(&mut out, &RowRef { id: "b", text: "t", source: "s", metadata: &e, attributes: &b }).unwrap();
        assert_eq!(out, b"{\"id\":\"b\",\"text\":\"t\",\"source\":\"s\"}\n");
    }

    fn read_all(path: &Path, cols: Columns) -> Vec<ReadRow> {
        let mut out = Vec::new();
        for_each_row(path, cols, None, &mut |r| {
            out.push((r.id.map(String::from), r.text.map(String::from), r.source.to_string(), r.meta, r.attributes));
            true
        })
        .unwrap();
        out
    }

    #[test]
    fn jsonl_and_parquet_read_back_the_same_rows() {
        let dir = tempfile::tempdir().unwrap();
        let data = rows();
        let mut jsonl = Vec::new();
        for r in refs(&data) {
            write_json_row(&mut jsonl, &r).unwrap();
        }
        let jp = dir.path().join("a.jsonl.zst");
        std::fs::write(&jp, zstd::encode_all(&jsonl[..], 3).unwrap()).unwrap();
        let pp = dir.path().join("a.parquet");
        let schema = document_schema();
        let batch = record_batch(&schema, refs(&data).into_iter()).unwrap();
        let mut w = ArrowWriter::try_new(File::create(&pp).unwrap(), schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let all = Columns { id: true, text: true };
        let (j, p) = (read_all(&jp, all), read_all(&pp, all));
        assert_eq!(j.len(), 5);
        for (a, b) in j.iter().zip(&p) {
            assert_eq!((&a.0, &a.1, &a.2, &a.3), (&b.0, &b.1, &b.2, &b.3));
        }
        assert_eq!(j[1].0.as_deref(), Some("d1"));
        assert_eq!(j[1].1.as_deref(), Some("text \"1\" ü"));
        assert_eq!(j[2].3, RowMeta { language: Some("en".into()), url: Some("http://e/2".into()), ..Default::default() });
        assert_eq!(j[2].4, vec![("a".to_string(), 0.5), ("z".to_string(), 2.0)]);
        // a non-string language reads as absent; NaN is null in JSONL (skipped), kept in Parquet
        assert_eq!(j[3].3, RowMeta { drop_reason: Some("too_short".into()), dropped_by: Some("length".into()), ..Default::default() });
        assert!(j[3].4.is_empty());
        assert!(p[3].4[0].1.is_nan());
        // without id and text, neither is read
        let lean = read_all(&pp, Columns::default());
        assert!(lean.iter().all(|r| r.0.is_none() && r.1.is_none()));
        // a limit, and a callback that stops
        assert_eq!(for_each_row(&pp, all, Some(2), &mut |_| true).unwrap(), 2);
        assert_eq!(for_each_row(&jp, all, None, &mut |_| false).unwrap(), 1);
    }

    /// Shards written before the list layout (attributes a map, null when
    /// empty) read the same as the new ones.
    #[test]
    fn old_map_layout_reads_the_same() {
        use arrow_array::builder::MapBuilder;
        let dir = tempfile::tempdir().unwrap();
        let data = rows();
        let new = dir.path().join("new.parquet");
        let schema = document_schema();
        let batch = record_batch(&schema, refs(&data).into_iter()).unwrap();
        let mut w = ArrowWriter::try_new(File::create(&new).unwrap(), schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        // the same rows in the old layout
        let mut attrs = MapBuilder::new(None, StringBuilder::new(), Float64Builder::new());
        for (_, _, _, _, a) in &data {
            for (k, v) in a {
                attrs.keys().append_value(k);
                attrs.values().append_value(*v);
            }
            attrs.append(!a.is_empty()).unwrap();
        }
        let attrs = attrs.finish();
        let old_schema = Arc::new(Schema::new(
            schema_fields_but_attributes().into_iter().chain([Field::new(ATTRIBUTES, attrs.data_type().clone(), true)]).collect::<Vec<_>>(),
        ));
        let mut cols: Vec<ArrayRef> = batch.columns()[..4].to_vec();
        cols.push(Arc::new(attrs));
        let old_batch = RecordBatch::try_new(old_schema.clone(), cols).unwrap();
        let old = dir.path().join("old.parquet");
        let mut w = ArrowWriter::try_new(File::create(&old).unwrap(), old_schema, None).unwrap();
        w.write(&old_batch).unwrap();
        w.close().unwrap();
        let all = Columns { id: true, text: true };
        let (n, o) = (read_all(&new, all), read_all(&old, all));
        assert_eq!(n.len(), 5);
        for (a, b) in n.iter().zip(&o) {
            assert_eq!((&a.0, &a.1, &a.2, &a.3), (&b.0, &b.1, &b.2, &b.3));
            assert_eq!(a.4.len(), b.4.len());
            for (x, y) in a.4.iter().zip(&b.4) {
                assert_eq!((&x.0, x.1.to_bits()), (&y.0, y.1.to_bits()));
            }
        }
        assert_eq!(n[2].4, vec![("a".to_string(), 0.5), ("z".to_string(), 2.0)]);
        assert!(n[1].4.is_empty());
    }

    fn schema_fields_but_attributes() -> Vec<Field> {
        document_schema().fields().iter().filter(|f| f.name() != ATTRIBUTES).map(|f| f.as_ref().clone()).collect()
    }

    #[test]
    fn attribute_types_read() {
        assert!(is_attributes_type(&attributes_type()));
        let map = arrow_array::builder::MapBuilder::new(None, StringBuilder::new(), Float64Builder::new()).finish();
        assert!(is_attributes_type(map.data_type()));
        assert!(!is_attributes_type(&DataType::Utf8));
        // a list of something other than name/number pairs is not attributes
        let strs = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
        assert!(!is_attributes_type(&strs));
        let pairs_of_strings =
            DataType::Struct(Fields::from(vec![Field::new("k", DataType::Utf8, false), Field::new("v", DataType::Utf8, false)]));
        assert!(!is_attributes_type(&DataType::List(Arc::new(Field::new("element", pairs_of_strings, false)))));
    }

    /// An attribute written to JSONL reads back as the very same f64 (serde_json's
    /// default float parser is one ulp off on some, e.g. 0.11689930209371885;
    /// `float_roundtrip` is not).
    #[test]
    fn jsonl_attributes_read_back_bit_exact() {
        let dir = tempfile::tempdir().unwrap();
        let values = [0.11689930209371885f64, 0.1 + 0.2, 1.0 / 3.0, 2.2250738585072014e-308, 123456.789e-12, 0.0317000000000001];
        let mut attrs = BTreeMap::new();
        for (i, v) in values.iter().enumerate() {
            attrs.insert(format!("v{i}"), *v);
        }
        let meta = Metadata::new();
        let mut out = Vec::new();
        write_json_row(&mut out, &RowRef { id: "a", text: "t", source: "s", metadata: &meta, attributes: &attrs }).unwrap();
        let p = dir.path().join("f.jsonl");
        std::fs::write(&p, out).unwrap();
        let back = read_all(&p, Columns::default());
        let got: Vec<u64> = back[0].4.iter().map(|(_, v)| v.to_bits()).collect();
        assert_eq!(got, values.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    }

    #[test]
    fn bad_rows_are_errors_naming_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        std::fs::write(&p, "{\"id\":\"a\",\"text\":\"t\",\"source\":\"s\"}\n\n{\"text\": tru\n").unwrap();
        let e = for_each_row(&p, Columns::default(), None, &mut |_| true).unwrap_err().to_string();
        assert!(e.contains("x.jsonl line 3") && e.contains("not a sluice row"), "{e}");
        std::fs::write(&p, "{\"metadata\": \"not an object\"}\n").unwrap();
        assert!(for_each_row(&p, Columns::default(), None, &mut |_| true).is_err());
        let q = dir.path().join("y.parquet");
        std::fs::write(&q, b"PAR1 not really").unwrap();
        let e = for_each_row(&q, Columns::default(), None, &mut |_| true).unwrap_err().to_string();
        assert!(e.contains("y.parquet") && e.contains("not a readable Parquet file"), "{e}");
    }

    /// A Parquet shard truncated anywhere is an error naming it, never a panic.
    #[test]
    fn truncated_parquet_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let data = rows();
        let schema = document_schema();
        let batch = record_batch(&schema, refs(&data).into_iter()).unwrap();
        let mut bytes = Vec::new();
        let mut w = ArrowWriter::try_new(&mut bytes, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let p = dir.path().join("t.parquet");
        for cut in (0..bytes.len()).step_by(7) {
            std::fs::write(&p, &bytes[..cut]).unwrap();
            let e = for_each_row(&p, Columns { id: true, text: true }, None, &mut |_| true).unwrap_err().to_string();
            assert!(e.contains("t.parquet"), "{cut}: {e}");
        }
    }

    #[test]
    fn row_files_by_name() {
        for good in ["00000-00000.parquet", "a.jsonl", "a.jsonl.zst", "a.jsonl.gz"] {
            assert!(is_row_file(Path::new(good)), "{good}");
        }
        for bad in [".00000.parquet.tmp", ".a.jsonl", "a.json", "manifest.json", "a.bin"] {
            assert!(!is_row_file(Path::new(bad)), "{bad}");
        }
    }
}
