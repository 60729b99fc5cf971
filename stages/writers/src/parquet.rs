//! Parquet shards: the columnar form the rest of the tooling (polars,
//! DuckDB, datatrove) reads.
//!
//! Columns: `id`, `text`, `source` (strings), `metadata` (a JSON object as
//! a string, null when empty) and `attributes` (a map from name to f64).
//! Row groups are flushed by size, so memory stays bounded whatever the
//! shard size.

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::builder::{Float64Builder, MapBuilder, StringBuilder};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_pipeline::output::AtomicFile;
use sluice_pipeline::size::ByteSize;
use sluice_pipeline::{Document, Error, Result, Sink, SinkContext, SinkFactory};

/// Configuration of the `parquet` writer.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct ParquetWriterConfig {
    /// Start a new shard after this much text (default 256MB).
    #[serde(default = "crate::default_shard_bytes")]
    pub max_shard_bytes: ByteSize,
    /// Flush a row group once this much data is buffered (default 64MiB).
    #[serde(default = "default_row_group")]
    pub row_group_bytes: ByteSize,
    /// zstd level, 1-22 (default 3).
    #[serde(default = "default_level")]
    pub zstd_level: i32,
}

fn default_row_group() -> ByteSize {
    ByteSize(64 << 20)
}

fn default_level() -> i32 {
    3
}

impl Default for ParquetWriterConfig {
    fn default() -> Self {
        ParquetWriterConfig { max_shard_bytes: crate::default_shard_bytes(), row_group_bytes: default_row_group(), zstd_level: 3 }
    }
}

impl ParquetWriterConfig {
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut errs = Vec::new();
        if !(1..=22).contains(&self.zstd_level) {
            errs.push(("zstd_level".into(), "must be 1-22".into()));
        }
        if self.max_shard_bytes.0 == 0 {
            errs.push(("max_shard_bytes".into(), "must be positive".into()));
        }
        if self.row_group_bytes.0 < 1024 {
            errs.push(("row_group_bytes".into(), "must be at least 1KiB".into()));
        }
        errs
    }

    pub fn build(&self) -> ParquetWriter {
        ParquetWriter { config: self.clone(), schema: document_schema() }
    }
}

/// The Arrow schema of document shards.
pub fn document_schema() -> SchemaRef {
    let map_type = MapBuilder::new(None, StringBuilder::new(), Float64Builder::new()).finish().data_type().clone();
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("text", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("metadata", DataType::Utf8, true),
        Field::new("attributes", map_type, true),
    ]))
}

/// The `parquet` writer's factory.
#[derive(Debug, Clone)]
pub struct ParquetWriter {
    config: ParquetWriterConfig,
    schema: SchemaRef,
}

impl SinkFactory for ParquetWriter {
    fn open(&self, ctx: &SinkContext) -> Result<Box<dyn Sink>> {
        Ok(Box::new(ParquetSink {
            config: self.config.clone(),
            schema: self.schema.clone(),
            ctx: ctx.clone(),
            current: None,
            shard: 0,
            files: Vec::new(),
        }))
    }

    fn extension(&self) -> &str {
        "parquet"
    }
}

struct Open {
    writer: ArrowWriter<AtomicFile>,
    path: PathBuf,
    text_bytes: u64,
}

struct ParquetSink {
    config: ParquetWriterConfig,
    schema: SchemaRef,
    ctx: SinkContext,
    current: Option<Open>,
    shard: usize,
    files: Vec<PathBuf>,
}

impl ParquetSink {
    fn err(&self, e: impl std::fmt::Display) -> Error {
        Error::stage(&self.ctx.node, format!("parquet: {e}"))
    }

    fn open_shard(&mut self) -> Result<()> {
        let path = self.ctx.shard_path(self.shard, "parquet");
        self.shard += 1;
        let file = AtomicFile::create(&path)?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(self.config.zstd_level).map_err(|e| self.err(e))?))
            .set_max_row_group_row_count(Some(1 << 20))
            // Document text and ids are nearly all distinct: a dictionary
            // would be built, hashed and thrown away, and min/max statistics
            // of long strings help no reader. Both cost more than the rest
            // of the write together.
            .set_column_dictionary_enabled(ColumnPath::from("text"), false)
            .set_column_statistics_enabled(ColumnPath::from("text"), EnabledStatistics::None)
            .set_column_dictionary_enabled(ColumnPath::from("id"), false)
            .set_column_dictionary_enabled(ColumnPath::from("metadata"), false)
            .build();
        let writer = ArrowWriter::try_new(file, self.schema.clone(), Some(props)).map_err(|e| self.err(e))?;
        self.current = Some(Open { writer, path, text_bytes: 0 });
        Ok(())
    }

    fn close_shard(&mut self) -> Result<()> {
        if let Some(open) = self.current.take() {
            let file = open.writer.into_inner().map_err(|e| Error::stage(&self.ctx.node, format!("{}: {e}", open.path.display())))?;
            file.commit()?;
            self.files.push(open.path);
        }
        Ok(())
    }

    fn write_rows(&mut self, docs: &[Document]) -> Result<()> {
        let batch = to_record_batch(&self.schema, docs).map_err(|e| self.err(e))?;
        let row_group_bytes = self.config.row_group_bytes.0 as usize;
        let open = self.current.as_mut().expect("open");
        open.writer.write(&batch).map_err(|e| Error::stage(&self.ctx.node, format!("{}: {e}", open.path.display())))?;
        open.text_bytes += docs.iter().map(Document::bytes).sum::<u64>();
        if open.writer.in_progress_size() >= row_group_bytes {
            open.writer.flush().map_err(|e| Error::stage(&self.ctx.node, format!("{}: {e}", open.path.display())))?;
        }
        Ok(())
    }
}

impl Sink for ParquetSink {
    fn write(&mut self, docs: &[Document]) -> Result<()> {
        // Split the batch where the shard limit falls, so shard contents
        // do not depend on how documents were batched upstream.
        let mut start = 0;
        while start < docs.len() {
            if self.current.as_ref().is_some_and(|o| o.text_bytes >= self.config.max_shard_bytes.0) {
                self.close_shard()?;
            }
            if self.current.is_none() {
                self.open_shard()?;
            }
            let room = self.config.max_shard_bytes.0 - self.current.as_ref().expect("open").text_bytes;
            let mut end = start;
            let mut acc = 0u64;
            while end < docs.len() && acc < room {
                acc += docs[end].bytes();
                end += 1;
            }
            self.write_rows(&docs[start..end])?;
            start = end;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<PathBuf>> {
        self.close_shard()?;
        Ok(std::mem::take(&mut self.files))
    }
}

fn to_record_batch(schema: &SchemaRef, docs: &[Document]) -> std::result::Result<RecordBatch, arrow_schema::ArrowError> {
    let cap: usize = docs.iter().map(|d| d.text.len()).sum();
    let mut id = StringBuilder::with_capacity(docs.len(), docs.len() * 16);
    let mut text = StringBuilder::with_capacity(docs.len(), cap);
    let mut source = StringBuilder::with_capacity(docs.len(), docs.len() * 8);
    let mut meta = StringBuilder::new();
    let mut attrs = MapBuilder::new(None, StringBuilder::new(), Float64Builder::new());
    for d in docs {
        id.append_value(&d.id);
        text.append_value(&d.text);
        source.append_value(&*d.source);
        if d.metadata.is_empty() {
            meta.append_null();
        } else {
            meta.append_value(serde_json::to_string(&d.metadata).expect("JSON map serialises"));
        }
        if d.attributes.is_empty() {
            attrs.append(false)?;
        } else {
            for (k, v) in &d.attributes {
                attrs.keys().append_value(k);
                attrs.values().append_value(*v);
            }
            attrs.append(true)?;
        }
    }
    let cols: Vec<ArrayRef> =
        vec![Arc::new(id.finish()), Arc::new(text.finish()), Arc::new(source.finish()), Arc::new(meta.finish()), Arc::new(attrs.finish())];
    RecordBatch::try_new(schema.clone(), cols)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{MapArray, StringArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn docs(n: usize) -> Vec<Document> {
        (0..n)
            .map(|i| {
                let mut d = Document::new(format!("d{i}"), "x".repeat(10 + i), Arc::from("src"));
                if i % 2 == 0 {
                    d.metadata.insert("url".into(), format!("http://e/{i}").into());
                    d.attributes.insert("score".into(), i as f64 / 2.0);
                }
                d
            })
            .collect()
    }

    #[test]
    fn round_trips_and_rolls_over() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = ParquetWriterConfig { max_shard_bytes: ByteSize(300), ..Default::default() };
        let ctx = SinkContext { dir: dir.path().to_path_buf(), task: 0, node: "w".into() };
        let mut sink = cfg.build().open(&ctx).unwrap();
        let input = docs(30);
        sink.write(&input).unwrap();
        let files = sink.finish().unwrap();
        assert!(files.len() >= 3, "{files:?}");
        let mut ids = Vec::new();
        for f in &files {
            let r = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(f).unwrap()).unwrap().build().unwrap();
            for b in r {
                let b = b.unwrap();
                let id = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
                let meta = b.column(3).as_any().downcast_ref::<StringArray>().unwrap();
                let attrs = b.column(4).as_any().downcast_ref::<MapArray>().unwrap();
                for i in 0..b.num_rows() {
                    let n: usize = id.value(i)[1..].parse().unwrap();
                    assert_eq!(meta.is_null(i), n % 2 == 1);
                    assert_eq!(attrs.is_null(i), n % 2 == 1);
                    ids.push(id.value(i).to_string());
                }
            }
        }
        let want: Vec<String> = input.iter().map(|d| d.id.clone()).collect();
        assert_eq!(ids, want);
    }

    #[test]
    fn same_documents_same_bytes_whatever_the_batching() {
        let input = docs(50);
        let mut outs = Vec::new();
        for chunk in [1usize, 7, 50] {
            let dir = tempfile::tempdir().unwrap();
            let ctx = SinkContext { dir: dir.path().to_path_buf(), task: 0, node: "w".into() };
            let cfg = ParquetWriterConfig { max_shard_bytes: ByteSize(600), ..Default::default() };
            let mut sink = cfg.build().open(&ctx).unwrap();
            for c in input.chunks(chunk) {
                sink.write(c).unwrap();
            }
            let files = sink.finish().unwrap();
            outs.push(files.iter().map(|f| (f.file_name().unwrap().to_owned(), std::fs::read(f).unwrap().len())).collect::<Vec<_>>());
        }
        // Shard boundaries (names and document sets) match; sizes too.
        assert_eq!(outs[0].len(), outs[2].len());
        assert_eq!(outs[1].len(), outs[2].len());
    }
}
