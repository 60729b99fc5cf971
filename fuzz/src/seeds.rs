//! Parquet seeds, written at run time from real documents (the shared
//! Common Crawl JSONL sample): nothing is copied into the repository.
//!
//! `scripts/fuzz.sh` runs the `reader_parquet` target once with
//! `SLUICE_FUZZ_PARQUET_SEEDS=<out dir>` and `SLUICE_FUZZ_JSONL=<sample>`;
//! the target's init writes the files below and exits. The other seeds are
//! cut by the script itself.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{Float64Builder, MapBuilder, StringBuilder};
use arrow_array::{Array, ArrayRef, BooleanArray, Float64Array, Int64Array, LargeStringArray, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

/// Real documents: `(id, text, url)` of the first `n` lines of a JSONL
/// (optionally gzipped) sample, texts cut to `max_chars`.
pub fn sample_docs(jsonl: &Path, n: usize, max_chars: usize) -> std::io::Result<Vec<(String, String, String)>> {
    let f = std::fs::File::open(jsonl)?;
    let r: Box<dyn BufRead> = if jsonl.extension().is_some_and(|e| e == "gz") {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(f)))
    } else {
        Box::new(BufReader::new(f))
    };
    let mut out = Vec::new();
    for line in r.lines() {
        if out.len() == n {
            break;
        }
        let v: serde_json::Value = serde_json::from_str(&line?).map_err(std::io::Error::other)?;
        let text: String = v["text"].as_str().unwrap_or("").chars().take(max_chars).collect();
        let id = v["id"].as_str().unwrap_or("").to_string();
        let url = v["metadata"]["url"].as_str().unwrap_or("").to_string();
        out.push((id, text, url));
    }
    Ok(out)
}

fn write(path: &Path, batch: &RecordBatch, props: WriterProperties) -> std::io::Result<()> {
    let f = std::fs::File::create(path)?;
    let mut w = ArrowWriter::try_new(f, batch.schema(), Some(props)).map_err(std::io::Error::other)?;
    w.write(batch).map_err(std::io::Error::other)?;
    w.close().map_err(std::io::Error::other)?;
    Ok(())
}

/// The layout sluice's own `parquet` writer produces (see
/// `stages/writers/src/parquet.rs`): id, text, source, metadata (a JSON
/// object as a string) and an `attributes` map.
fn sluice_layout(docs: &[(String, String, String)]) -> RecordBatch {
    let mut attrs = MapBuilder::new(None, StringBuilder::new(), Float64Builder::new());
    for (i, (_, text, _)) in docs.iter().enumerate() {
        attrs.keys().append_value("chars");
        attrs.values().append_value(text.chars().count() as f64);
        if i % 2 == 0 {
            attrs.keys().append_value("score");
            attrs.values().append_value(i as f64 / 3.0);
        }
        attrs.append(i != 1).expect("map entry");
    }
    let attrs = attrs.finish();
    let schema = Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("text", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("metadata", DataType::Utf8, true),
        Field::new("attributes", attrs.data_type().clone(), true),
    ]);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(docs.iter().map(|d| d.0.as_str()))),
        Arc::new(StringArray::from_iter_values(docs.iter().map(|d| d.1.as_str()))),
        Arc::new(StringArray::from_iter_values(docs.iter().map(|_| "web"))),
        Arc::new(StringArray::from_iter(
            docs.iter().enumerate().map(|(i, d)| (i != 2).then(|| serde_json::json!({"url": d.2, "n": i}).to_string())),
        )),
        Arc::new(attrs),
    ];
    RecordBatch::try_new(Arc::new(schema), cols).expect("a consistent batch")
}

/// Other column types the reader handles: large strings, integer ids,
/// floats, booleans and a null text.
fn other_types(docs: &[(String, String, String)]) -> RecordBatch {
    let schema = Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("text", DataType::LargeUtf8, true),
        Field::new("url", DataType::Utf8, true),
        Field::new("score", DataType::Float64, true),
        Field::new("keep", DataType::Boolean, true),
    ]);
    let n = docs.len();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter((0..n).map(|i| (i != 3).then_some(i as i64 * 1000 - 1)))),
        Arc::new(LargeStringArray::from_iter(docs.iter().enumerate().map(|(i, d)| (i != 1).then_some(d.1.as_str())))),
        Arc::new(StringArray::from_iter_values(docs.iter().map(|d| d.2.as_str()))),
        Arc::new(Float64Array::from_iter_values((0..n).map(|i| i as f64 * 0.25))),
        Arc::new(BooleanArray::from_iter((0..n).map(|i| Some(i % 2 == 0)))),
    ];
    RecordBatch::try_new(Arc::new(schema), cols).expect("a consistent batch")
}

/// Write the Parquet seeds into `out`; returns how many.
pub fn write_parquet_seeds(out: &Path, jsonl: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(out)?;
    let docs = sample_docs(jsonl, 8, 400)?;
    let zstd = Compression::ZSTD(ZstdLevel::try_new(3).map_err(std::io::Error::other)?);
    // as sluice writes it
    write(&out.join("sluice-zstd.parquet"), &sluice_layout(&docs[..3]), WriterProperties::builder().set_compression(zstd).build())?;
    // snappy, dictionaries, several row groups and pages
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_dictionary_enabled(true)
        .set_max_row_group_row_count(Some(2))
        .set_data_page_row_count_limit(1)
        .set_write_batch_size(1)
        .build();
    write(&out.join("sluice-snappy-groups.parquet"), &sluice_layout(&docs[..5]), props)?;
    // uncompressed, other types, no dictionary
    let props = WriterProperties::builder().set_compression(Compression::UNCOMPRESSED).set_dictionary_enabled(false).build();
    write(&out.join("types-plain.parquet"), &other_types(&docs[3..8]), props)?;
    // zstd, dictionary, other types
    let props = WriterProperties::builder().set_compression(zstd).set_dictionary_enabled(true).build();
    write(&out.join("types-zstd-dict.parquet"), &other_types(&docs[..4]), props)?;
    Ok(4)
}
