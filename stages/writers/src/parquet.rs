//! Parquet shards: the columnar form the rest of the tooling (polars,
//! DuckDB, datatrove) reads.
//!
//! Columns: `id`, `text`, `source` (strings), `metadata` (a JSON object as
//! a string, null when empty) and `attributes` (a list of `{name, value}`
//! structs, sorted by name, empty when none): one schema for every shard,
//! which pyarrow, HF `datasets`, polars and DuckDB all load as is (see
//! `sluice_format::rows` for why this layout).
//! Row groups are flushed by size, so memory stays bounded whatever the
//! shard size.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use bytes::Bytes;
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnWriter, ArrowRowGroupWriterFactory};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::column::page_store::{PageKey, PageStore, PageStoreArgs, PageStoreFactory};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::writer::SerializedFileWriter;
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
    #[schemars(extend("x-min-bytes" = 1u64, "x-max-bytes" = 1099511627776u64))]
    pub max_shard_bytes: ByteSize,
    /// Flush a row group once this much data is buffered (default 64MiB,
    /// at most 4GiB: a row group is held in memory until it is flushed).
    #[serde(default = "default_row_group")]
    #[schemars(extend("x-min-bytes" = 1024u64, "x-max-bytes" = 4294967296u64))]
    pub row_group_bytes: ByteSize,
    /// zstd level, 1-22 (default 3).
    #[serde(default = "default_level")]
    #[schemars(range(min = 1, max = 22))]
    pub zstd_level: i32,
    /// Write each document's token ids (set by `tokenize`, or by
    /// `tokenizer_train` with `tokenize: true`) to `metadata.tokens`: `u16:`
    /// then base64 of the little-endian u16 ids when every id fits, else
    /// base64 of the u32 ids. Off by default: `pack` shards hold the ids.
    #[serde(default)]
    pub tokens: bool,
}

fn default_row_group() -> ByteSize {
    ByteSize(64 << 20)
}

fn default_level() -> i32 {
    3
}

impl Default for ParquetWriterConfig {
    fn default() -> Self {
        ParquetWriterConfig {
            max_shard_bytes: crate::default_shard_bytes(),
            row_group_bytes: default_row_group(),
            zstd_level: 3,
            tokens: false,
        }
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

/// The Arrow schema of document shards, and the footer digest: `sluice-format`'s.
pub use sluice_format::rows::{document_schema, layout_digest, LAYOUT_DIGEST_KEY};

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

type PqResult<T> = std::result::Result<T, ParquetError>;

/// Rows per row group at most (besides the `row_group_bytes` limit).
const MAX_ROW_GROUP_ROWS: usize = 1 << 20;

/// One shard being written.
///
/// The `parquet` crate's `ArrowWriter` writes no page checksums, so the
/// shard is written with its lower-level pieces instead: the same column
/// encoders, whose finished pages are captured ([`CapturedPages`]) and
/// spliced into the file with a CRC-32 in every page header
/// ([`with_page_checksums`]). Readers that verify checksums (sluice's, with
/// the `crc` feature; pyarrow with `page_checksum_verification`) then reject
/// a page whose bytes changed instead of decoding altered text.
struct Open {
    file: SerializedFileWriter<AtomicFile>,
    factory: ArrowRowGroupWriterFactory,
    pages: Arc<CapturedPages>,
    /// The row group being encoded: one writer per leaf column, and its rows.
    group: Option<(Vec<ArrowColumnWriter>, usize)>,
    row_groups: usize,
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
            .set_max_row_group_row_count(Some(MAX_ROW_GROUP_ROWS))
            // Document text and ids are nearly all distinct: a dictionary
            // would be built, hashed and thrown away, and min/max statistics
            // of long strings help no reader. Both cost more than the rest
            // of the write together.
            .set_column_dictionary_enabled(ColumnPath::from("text"), false)
            .set_column_statistics_enabled(ColumnPath::from("text"), EnabledStatistics::None)
            .set_column_dictionary_enabled(ColumnPath::from("id"), false)
            .set_column_dictionary_enabled(ColumnPath::from("metadata"), false)
            .build();
        // The ArrowWriter sets up the file (schema, embedded Arrow schema,
        // properties); its row-group loop is replaced by ours.
        let at = |e| Error::stage(&self.ctx.node, format!("{}: {e}", path.display()));
        let writer = ArrowWriter::try_new(file, self.schema.clone(), Some(props)).map_err(at)?;
        let (file, factory) = writer.into_serialized_writer().map_err(at)?;
        let pages = Arc::new(CapturedPages::default());
        let factory = factory.with_page_store_factory(pages.clone());
        self.current = Some(Open { file, factory, pages, group: None, row_groups: 0, path, text_bytes: 0 });
        Ok(())
    }

    fn close_shard(&mut self) -> Result<()> {
        if let Some(mut open) = self.current.take() {
            let node = &self.ctx.node;
            let at = |e: ParquetError, path: &Path| Error::stage(node, format!("{}: {e}", path.display()));
            open.flush_row_group().map_err(|e| at(e, &open.path))?;
            let digest = layout_digest(
                open.file.schema_descr(),
                open.file.flushed_row_groups(),
                open.file.properties().key_value_metadata().map(Vec::as_slice).unwrap_or_default(),
            );
            open.file.append_key_value_metadata(KeyValue::new(LAYOUT_DIGEST_KEY.to_string(), digest));
            let file = open.file.into_inner().map_err(|e| at(e, &open.path))?;
            file.commit()?;
            self.files.push(open.path);
        }
        Ok(())
    }

    fn write_rows(&mut self, docs: &[Document]) -> Result<()> {
        let metas: Vec<std::borrow::Cow<'_, sluice_pipeline::Metadata>> = docs
            .iter()
            .map(|d| if self.config.tokens { d.metadata_with_tokens() } else { std::borrow::Cow::Borrowed(&d.metadata) })
            .collect();
        let rows = docs.iter().zip(&metas).map(|(d, m)| sluice_format::rows::RowRef { metadata: m, ..crate::row(d) });
        let batch = sluice_format::rows::record_batch(&self.schema, rows).map_err(|e| self.err(e))?;
        let row_group_bytes = self.config.row_group_bytes.0 as usize;
        let schema = self.schema.clone();
        let open = self.current.as_mut().expect("open");
        open.write(&schema, &batch, row_group_bytes).map_err(|e| Error::stage(&self.ctx.node, format!("{}: {e}", open.path.display())))?;
        open.text_bytes += docs.iter().map(Document::bytes).sum::<u64>();
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

impl Open {
    /// Encode `batch`, splitting it where a row group fills up (as
    /// `ArrowWriter::write` does), and flush row groups that reach
    /// `row_group_bytes`.
    fn write(&mut self, schema: &SchemaRef, batch: &RecordBatch, row_group_bytes: usize) -> PqResult<()> {
        let mut remaining = batch.clone();
        while remaining.num_rows() > 0 {
            if self.group.is_none() {
                self.group = Some((self.factory.create_column_writers(self.row_groups)?, 0));
            }
            let (writers, rows) = self.group.as_mut().expect("created above");
            let now = remaining.num_rows().min(MAX_ROW_GROUP_ROWS - *rows);
            let part = remaining.slice(0, now);
            remaining = remaining.slice(now, remaining.num_rows() - now);
            *rows += now;
            let mut leaves = writers.iter_mut();
            for (field, column) in schema.fields().iter().zip(part.columns()) {
                for leaf in compute_leaves(field, column)? {
                    leaves.next().expect("one writer per leaf column").write(&leaf)?;
                }
            }
            let size: usize = writers.iter().map(ArrowColumnWriter::get_estimated_total_bytes).sum();
            if *rows >= MAX_ROW_GROUP_ROWS || size >= row_group_bytes {
                self.flush_row_group()?;
            }
        }
        Ok(())
    }

    /// Close the row group being encoded and splice its column chunks, with
    /// page checksums, into the file.
    fn flush_row_group(&mut self) -> PqResult<()> {
        let Some((writers, _)) = self.group.take() else { return Ok(()) };
        let mut row_group = self.file.next_row_group()?;
        for (column, writer) in writers.into_iter().enumerate() {
            let chunk = writer.close()?;
            let close = chunk.close().clone();
            // the chunk's own copy of the pages is the capture store's, which
            // hands them to us below; the chunk itself is not spliced
            drop(chunk);
            let (pages, close) = with_page_checksums(self.pages.take(column)?, close)?;
            row_group.append_column(&pages, close)?;
        }
        row_group.close()?;
        self.row_groups += 1;
        Ok(())
    }
}

/// Page stores that keep each column chunk's serialized pages for
/// [`Open::flush_row_group`], one slot per leaf column of the row group being
/// written.
#[derive(Debug, Default)]
struct CapturedPages {
    slots: Mutex<Vec<Arc<Mutex<Vec<Bytes>>>>>,
}

impl CapturedPages {
    fn take(&self, column: usize) -> PqResult<Vec<Bytes>> {
        let slots = self.slots.lock().expect("page slots");
        let slot = slots.get(column).ok_or_else(|| ParquetError::General(format!("no pages captured for column {column}")))?;
        let pages = std::mem::take(&mut *slot.lock().expect("page slot"));
        Ok(pages)
    }
}

impl PageStoreFactory for CapturedPages {
    fn create(&self, args: &PageStoreArgs<'_>) -> PqResult<Box<dyn PageStore>> {
        let blobs = Arc::new(Mutex::new(Vec::new()));
        let mut slots = self.slots.lock().expect("page slots");
        let i = args.column_index();
        if slots.len() <= i {
            slots.resize_with(i + 1, Default::default);
        }
        slots[i] = blobs.clone();
        Ok(Box::new(CaptureStore { blobs, resident: 0 }))
    }
}

/// One column chunk's page store: every blob `put` (a page header, then its
/// data) is kept in order for [`CapturedPages::take`].
struct CaptureStore {
    blobs: Arc<Mutex<Vec<Bytes>>>,
    resident: usize,
}

impl PageStore for CaptureStore {
    fn put(&mut self, value: Bytes) -> PqResult<PageKey> {
        let mut blobs = self.blobs.lock().expect("page slot");
        self.resident += value.len();
        blobs.push(value);
        Ok(PageKey::new(blobs.len() as u64 - 1))
    }

    fn take(&mut self, _key: PageKey) -> PqResult<Bytes> {
        Err(ParquetError::General("captured pages are spliced by the sluice writer, not taken back".into()))
    }

    fn memory_size(&self) -> usize {
        self.resident
    }
}

/// Thrift compact-protocol page types (`PageType` in parquet.thrift).
const DICTIONARY_PAGE: i32 = 2;

/// A page header (thrift compact protocol) with the CRC-32 of the page's
/// data inserted as field 4.
///
/// The writer emits the required fields 1 (type), 2 (uncompressed size) and
/// 3 (compressed size), each as a short field header `0x15` (field delta 1,
/// type i32) and a zigzag varint, then the page-type header struct (field 5,
/// 6, 7 or 8). The CRC goes between them: a `0x15` field header and its
/// varint, and the following struct's field delta shrinks by one. Returns
/// the page type and the new header.
fn header_with_crc(header: &[u8], data: &[u8]) -> PqResult<(i32, Vec<u8>)> {
    let bad = |why: &str| ParquetError::General(format!("unexpected page header layout ({why}); cannot add a checksum"));
    let mut at = 0;
    let mut fields = [0i32; 3];
    for f in &mut fields {
        if header.get(at) != Some(&0x15) {
            return Err(bad("fields 1-3"));
        }
        at += 1;
        let (v, n) = read_zigzag_i32(&header[at..]).ok_or_else(|| bad("varint"))?;
        *f = v;
        at += n;
    }
    let [page_type, _, compressed] = fields;
    if compressed < 0 || compressed as usize != data.len() {
        return Err(bad("compressed size differs from the page data"));
    }
    let next = *header.get(at).ok_or_else(|| bad("truncated"))?;
    let (delta, kind) = (next >> 4, next & 0x0f);
    if kind != 12 || !(2..=5).contains(&delta) {
        // a CRC already there (delta 1, i32), or something unforeseen
        return Err(bad("field after the sizes"));
    }
    let crc = crc32fast::hash(data) as i32;
    let mut out = Vec::with_capacity(header.len() + 6);
    out.extend_from_slice(&header[..at]);
    out.push(0x15);
    write_zigzag_i32(crc, &mut out);
    out.push(((delta - 1) << 4) | kind);
    out.extend_from_slice(&header[at + 1..]);
    Ok((page_type, out))
}

fn read_zigzag_i32(b: &[u8]) -> Option<(i32, usize)> {
    let mut v: u32 = 0;
    for (i, &byte) in b.iter().enumerate().take(5) {
        v |= ((byte & 0x7f) as u32) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((((v >> 1) as i32) ^ -((v & 1) as i32), i + 1));
        }
    }
    None
}

fn write_zigzag_i32(v: i32, out: &mut Vec<u8>) {
    let mut z = ((v << 1) ^ (v >> 31)) as u32;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// A column chunk's captured pages (header, data, header, data, ... with
/// the dictionary page, if any, last) laid out for the file: the dictionary
/// page first, every header carrying its page's CRC, and `close` (offsets,
/// sizes, offset index) updated to match.
fn with_page_checksums(blobs: Vec<Bytes>, mut close: ColumnCloseResult) -> PqResult<(Pages, ColumnCloseResult)> {
    if !blobs.len().is_multiple_of(2) {
        return Err(ParquetError::General("captured pages do not pair headers with data".into()));
    }
    let before: usize = blobs.iter().map(Bytes::len).sum();
    if before as i64 != close.metadata.compressed_size() {
        return Err(ParquetError::General(format!(
            "captured {before} bytes of pages, the column chunk has {}",
            close.metadata.compressed_size()
        )));
    }
    let mut dictionary = Vec::new();
    let mut data = Vec::new();
    let mut blobs = blobs.into_iter();
    while let (Some(header), Some(body)) = (blobs.next(), blobs.next()) {
        let (page_type, header) = header_with_crc(&header, &body)?;
        let page = [Bytes::from(header), body];
        if page_type == DICTIONARY_PAGE {
            dictionary.extend(page);
        } else {
            data.push(page);
        }
    }
    let dictionary_len: usize = dictionary.iter().map(Bytes::len).sum();
    let mut offset = dictionary_len;
    let mut segments = dictionary;
    let mut locations = Vec::with_capacity(data.len());
    for page in data {
        let len = page[0].len() + page[1].len();
        locations.push((offset as i64, len as i32));
        offset += len;
        segments.extend(page);
    }
    let after = offset;
    let growth = (after - before) as i64;
    let m = &close.metadata;
    close.metadata = m
        .clone()
        .into_builder()
        .set_total_compressed_size(after as i64)
        .set_total_uncompressed_size(m.uncompressed_size() + growth)
        .set_dictionary_page_offset((dictionary_len > 0).then_some(0))
        .set_data_page_offset(dictionary_len as i64)
        .build()?;
    close.bytes_written += growth as u64;
    if let Some(index) = close.offset_index.as_mut() {
        if index.page_locations.len() != locations.len() {
            return Err(ParquetError::General(format!(
                "offset index lists {} pages, {} were captured",
                index.page_locations.len(),
                locations.len()
            )));
        }
        for (loc, (offset, size)) in index.page_locations.iter_mut().zip(locations) {
            loc.offset = offset;
            loc.compressed_page_size = size;
        }
    }
    Ok((Pages { segments, len: after as u64 }, close))
}

/// A column chunk held as a list of byte blobs, read as one contiguous
/// chunk starting at offset 0 (what `append_column` splices).
struct Pages {
    segments: Vec<Bytes>,
    len: u64,
}

impl Length for Pages {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for Pages {
    type T = Segments;

    fn get_read(&self, start: u64) -> PqResult<Segments> {
        let mut r = Segments { rest: self.segments.clone().into(), skip: 0 };
        r.skip = start as usize;
        Ok(r)
    }

    fn get_bytes(&self, start: u64, length: usize) -> PqResult<Bytes> {
        let mut out = Vec::with_capacity(length);
        std::io::Read::read_to_end(&mut std::io::Read::take(self.get_read(start)?, length as u64), &mut out)?;
        if out.len() != length {
            return Err(ParquetError::EOF(format!("wanted {length} bytes at {start}, the chunk has {}", self.len)));
        }
        Ok(out.into())
    }
}

/// Reads [`Pages`] blob after blob, releasing each once read.
struct Segments {
    rest: std::collections::VecDeque<Bytes>,
    skip: usize,
}

impl std::io::Read for Segments {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some(front) = self.rest.front_mut() {
            if self.skip >= front.len() {
                self.skip -= front.len();
                self.rest.pop_front();
                continue;
            }
            let from = &front[self.skip..];
            let n = from.len().min(buf.len());
            buf[..n].copy_from_slice(&from[..n]);
            self.skip += n;
            return Ok(n);
        }
        Ok(0)
    }
}

impl sluice_pipeline::component::Component for ParquetWriterConfig {
    const KIND: &'static str = "parquet";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Writer;
    const ABOUT: &'static str = "Sharded Parquet (id, text, source, metadata JSON, attributes as a list of {name, value})";

    fn validate(&self) -> Vec<(String, String)> {
        ParquetWriterConfig::validate(self)
    }

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        let _ = cx;
        Ok(sluice_pipeline::component::Built::writer(ParquetWriterConfig::build(self)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Float64Type;
    use arrow_array::{Array, StringArray};
    use arrow_schema::DataType;
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
    fn token_ids_are_written_only_when_asked_and_as_before() {
        let (now, before) = crate::jsonl::tests::tokenized_pair(&[1, 2, 65535], "u16:AQACAP//");
        let write = |doc: &Document, tokens: bool| {
            let dir = tempfile::tempdir().unwrap();
            let ctx = SinkContext { dir: dir.path().to_path_buf(), task: 0, node: "w".into() };
            let cfg = ParquetWriterConfig { tokens, ..Default::default() };
            let mut sink = cfg.build().open(&ctx).unwrap();
            sink.write(std::slice::from_ref(doc)).unwrap();
            let files = sink.finish().unwrap();
            let bytes = std::fs::read(&files[0]).unwrap();
            let r = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&files[0]).unwrap()).unwrap().build().unwrap();
            let b = r.into_iter().next().unwrap().unwrap();
            let meta = b.column(3).as_any().downcast_ref::<StringArray>().unwrap().value(0).to_string();
            (bytes, meta)
        };
        assert_eq!(write(&now, true).0, write(&before, false).0);
        assert_eq!(write(&now, true).1, r#"{"url":"http://e","tokens":"u16:AQACAP//","mix_copy":1}"#);
        assert_eq!(write(&now, false).1, r#"{"url":"http://e","mix_copy":1}"#);
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
                let attrs = b.column(4).as_list::<i32>();
                for i in 0..b.num_rows() {
                    let n: usize = id.value(i)[1..].parse().unwrap();
                    assert_eq!(meta.is_null(i), n % 2 == 1);
                    // no attributes: an empty list, never null
                    assert!(!attrs.is_null(i));
                    let entries = attrs.value(i);
                    let entries = entries.as_struct();
                    if n % 2 == 1 {
                        assert_eq!(entries.len(), 0);
                    } else {
                        assert_eq!(entries.len(), 1);
                        assert_eq!(entries.column(0).as_string::<i32>().value(0), "score");
                        assert_eq!(entries.column(1).as_primitive::<Float64Type>().value(0), n as f64 / 2.0);
                    }
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

    /// The layout every consumer loads (pyarrow, HF `datasets`, polars,
    /// DuckDB: `scripts/test_consumers.py`): no map type anywhere, the
    /// attributes a list of `{name: string, value: double}`, the same schema
    /// in every shard whatever the documents hold.
    #[test]
    fn shards_have_one_schema_without_maps() {
        let dir = tempfile::tempdir().unwrap();
        let mut schemas = Vec::new();
        // shards with no attributes at all, with one, and with others
        let mut many = docs(6);
        many[1].attributes.insert("zeta".into(), f64::NAN);
        many[3].attributes.insert("alpha".into(), -1.0);
        let none: Vec<Document> = docs(3).into_iter().filter(|d| d.attributes.is_empty()).collect();
        let sets = [none, docs(4), many];
        for (task, set) in sets.iter().enumerate() {
            let ctx = SinkContext { dir: dir.path().to_path_buf(), task, node: "w".into() };
            let mut sink = ParquetWriterConfig::default().build().open(&ctx).unwrap();
            sink.write(set).unwrap();
            for f in sink.finish().unwrap() {
                let b = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&f).unwrap()).unwrap();
                let mut parquet_schema = Vec::new();
                parquet::schema::printer::print_schema(&mut parquet_schema, b.parquet_schema().root_schema());
                let parquet_schema = String::from_utf8(parquet_schema).unwrap();
                // the fields (the schema's metadata holds each file's own layout digest)
                schemas.push((b.schema().fields().clone(), parquet_schema));
            }
        }
        assert_eq!(schemas.len(), 3);
        assert!(schemas.iter().all(|s| *s == schemas[0]), "shards differ in schema");
        let (arrow, parquet) = &schemas[0];
        let names: Vec<&str> = arrow.iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["id", "text", "source", "metadata", "attributes"]);
        for (name, nullable) in [("id", false), ("text", false), ("source", false), ("metadata", true)] {
            let f = arrow.find(name).unwrap().1;
            assert_eq!((f.data_type(), f.is_nullable()), (&DataType::Utf8, nullable), "{name}");
        }
        let attrs = arrow.find("attributes").unwrap().1;
        assert!(!attrs.is_nullable());
        let DataType::List(element) = attrs.data_type() else { panic!("attributes is {}", attrs.data_type()) };
        assert_eq!(element.name(), "element");
        let DataType::Struct(fields) = element.data_type() else { panic!("element is {}", element.data_type()) };
        let fields: Vec<(&str, &DataType)> = fields.iter().map(|f| (f.name().as_str(), f.data_type())).collect();
        assert_eq!(fields, [("name", &DataType::Utf8), ("value", &DataType::Float64)]);
        // the Parquet schema itself: a standard three-level LIST, no MAP
        assert_eq!(
            parquet.split_whitespace().collect::<Vec<_>>().join(" "),
            "message arrow_schema { REQUIRED BYTE_ARRAY id (STRING); REQUIRED BYTE_ARRAY text (STRING); \
             REQUIRED BYTE_ARRAY source (STRING); OPTIONAL BYTE_ARRAY metadata (STRING); \
             REQUIRED group attributes (LIST) { REPEATED group list { REQUIRED group element { \
             REQUIRED BYTE_ARRAY name (STRING); REQUIRED DOUBLE value; } } } }",
            "{parquet}"
        );
    }
}
