//! JSON Lines shards, zstd- or gzip-compressed.
//!
//! One document per line: `{"id", "text", "source", "metadata", "attributes"}`
//! (empty metadata and attributes are omitted; see `sluice_format::rows`). Output bytes depend only on
//! the documents: compression runs single-threaded at a fixed level, and
//! gzip headers carry no timestamp.

use std::io::Write;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;
use sluice_pipeline::output::AtomicFile;
use sluice_pipeline::size::ByteSize;
use sluice_pipeline::{Document, Error, Result, Sink, SinkContext, SinkFactory};

/// Compression of JSONL shards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// `.jsonl.zst` (the default).
    #[default]
    Zstd,
    /// `.jsonl.gz`.
    Gzip,
    /// `.jsonl`.
    None,
}

impl Compression {
    /// The file extension of shards written with this compression.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Zstd => "jsonl.zst",
            Compression::Gzip => "jsonl.gz",
            Compression::None => "jsonl",
        }
    }
}

/// Configuration of the `jsonl` writer.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct JsonlWriterConfig {
    /// Compression: `zstd` (default), `gzip` or `none`.
    #[serde(default)]
    pub compression: Compression,
    /// Compression level (zstd 1-19, default 3; gzip 1-9, default 6).
    #[serde(default)]
    #[schemars(range(min = 1, max = 19))]
    pub level: Option<i32>,
    /// Start a new shard after this much uncompressed output (default 256MB).
    #[serde(default = "crate::default_shard_bytes")]
    #[schemars(extend("x-min-bytes" = 1u64, "x-max-bytes" = 1099511627776u64))]
    pub max_shard_bytes: ByteSize,
    /// Write each document's token ids (set by `tokenize`, or by
    /// `tokenizer_train` with `tokenize: true`) to `metadata.tokens`: `u16:`
    /// then base64 of the little-endian u16 ids when every id fits, else
    /// base64 of the u32 ids. Off by default: `pack` shards hold the ids.
    #[serde(default)]
    pub tokens: bool,
}

impl Default for JsonlWriterConfig {
    fn default() -> Self {
        JsonlWriterConfig { compression: Compression::Zstd, level: None, max_shard_bytes: crate::default_shard_bytes(), tokens: false }
    }
}

impl JsonlWriterConfig {
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut errs = Vec::new();
        match (self.compression, self.level) {
            (Compression::Zstd, Some(l)) if !(1..=19).contains(&l) => errs.push(("level".into(), "zstd level must be 1-19".into())),
            (Compression::Gzip, Some(l)) if !(1..=9).contains(&l) => errs.push(("level".into(), "gzip level must be 1-9".into())),
            (Compression::None, Some(_)) => errs.push(("level".into(), "no level without compression".into())),
            _ => {}
        }
        if self.max_shard_bytes.0 == 0 {
            errs.push(("max_shard_bytes".into(), "must be positive".into()));
        }
        errs
    }

    pub fn build(&self) -> JsonlWriter {
        JsonlWriter { config: self.clone() }
    }
}

/// The `jsonl` writer's factory.
#[derive(Debug, Clone)]
pub struct JsonlWriter {
    config: JsonlWriterConfig,
}

impl SinkFactory for JsonlWriter {
    fn open(&self, ctx: &SinkContext) -> Result<Box<dyn Sink>> {
        // Nothing is allocated or created until the first document: a run
        // may fan one reader out to thousands of writers.
        Ok(Box::new(JsonlSink {
            config: self.config.clone(),
            ctx: ctx.clone(),
            current: None,
            shard: 0,
            files: Vec::new(),
            line: Vec::new(),
        }))
    }

    fn extension(&self) -> &str {
        self.config.compression.extension()
    }
}

/// Lines a shard buffers, uncompressed, before it creates its file and
/// compressor: a zstd encoder holds about 1 MB (its window and match
/// tables), so a writer that has received little costs little.
const PENDING_BYTES: usize = 64 << 10;

/// The serialisation buffer is kept between documents up to this size;
/// a larger one (after a large document) is released.
const LINE_KEEP_BYTES: usize = 64 << 10;

enum Enc {
    Zstd(zstd::stream::write::Encoder<'static, AtomicFile>),
    Gzip(flate2::write::GzEncoder<AtomicFile>),
    Plain(AtomicFile),
}

impl Enc {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Enc::Zstd(e) => e,
            Enc::Gzip(e) => e,
            Enc::Plain(f) => f,
        }
    }

    fn finish(self) -> std::io::Result<AtomicFile> {
        match self {
            Enc::Zstd(e) => e.finish(),
            Enc::Gzip(e) => e.finish(),
            Enc::Plain(f) => Ok(f),
        }
    }
}

/// The shard being written. Its file and encoder exist only once it holds
/// [`PENDING_BYTES`] of lines, or when it is closed; until then its lines
/// wait in `pending`. Compression is streamed, so the output bytes do not
/// depend on when the encoder starts.
struct Open {
    enc: Option<Enc>,
    pending: Vec<u8>,
    path: PathBuf,
    bytes: u64,
}

struct JsonlSink {
    config: JsonlWriterConfig,
    ctx: SinkContext,
    current: Option<Open>,
    shard: usize,
    files: Vec<PathBuf>,
    line: Vec<u8>,
}

impl JsonlSink {
    /// Start the next shard (no file yet).
    fn open_shard(&mut self) {
        let path = self.ctx.shard_path(self.shard, self.config.compression.extension());
        self.shard += 1;
        self.current = Some(Open { enc: None, pending: Vec::new(), path, bytes: 0 });
    }

    /// Create the shard's file and encoder and hand it the pending lines.
    fn start_encoder(config: &JsonlWriterConfig, open: &mut Open) -> Result<()> {
        let file = AtomicFile::create(&open.path)?;
        let io = |e| Error::io(&open.path, e);
        let mut enc = match config.compression {
            Compression::Zstd => {
                let mut e = zstd::stream::write::Encoder::new(file, config.level.unwrap_or(3)).map_err(io)?;
                // Frame checksums let readers detect corrupt shards; like
                // everything else in the frame they depend only on content.
                e.include_checksum(true).map_err(io)?;
                Enc::Zstd(e)
            }
            Compression::Gzip => {
                Enc::Gzip(flate2::GzBuilder::new().mtime(0).write(file, flate2::Compression::new(config.level.unwrap_or(6) as u32)))
            }
            Compression::None => Enc::Plain(file),
        };
        enc.writer().write_all(&open.pending).map_err(io)?;
        open.pending = Vec::new();
        open.enc = Some(enc);
        Ok(())
    }

    fn close_shard(&mut self) -> Result<()> {
        if let Some(mut open) = self.current.take() {
            if open.enc.is_none() {
                Self::start_encoder(&self.config, &mut open)?;
            }
            let enc = open.enc.take().expect("started above");
            let file = enc.finish().map_err(|e| Error::io(&open.path, e))?;
            file.commit()?;
            self.files.push(open.path);
        }
        Ok(())
    }
}

impl Sink for JsonlSink {
    fn write(&mut self, docs: &[Document]) -> Result<()> {
        for d in docs {
            if self.current.as_ref().is_some_and(|o| o.bytes >= self.config.max_shard_bytes.0) {
                self.close_shard()?;
            }
            if self.current.is_none() {
                self.open_shard();
            }
            self.line.clear();
            let metadata = if self.config.tokens { d.metadata_with_tokens() } else { std::borrow::Cow::Borrowed(&d.metadata) };
            let row = sluice_format::rows::RowRef { metadata: &metadata, ..crate::row(d) };
            sluice_format::rows::write_json_row(&mut self.line, &row).map_err(|e| Error::stage(&self.ctx.node, e))?;
            let open = self.current.as_mut().expect("opened above");
            if open.enc.is_none() {
                if open.pending.len() + self.line.len() < PENDING_BYTES {
                    open.pending.extend_from_slice(&self.line);
                } else {
                    Self::start_encoder(&self.config, open)?;
                }
            }
            if let Some(enc) = open.enc.as_mut() {
                enc.writer().write_all(&self.line).map_err(|e| Error::io(&open.path, e))?;
            }
            open.bytes += self.line.len() as u64;
            if self.line.capacity() > LINE_KEEP_BYTES {
                self.line = Vec::new();
            }
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<PathBuf>> {
        self.close_shard()?;
        Ok(std::mem::take(&mut self.files))
    }
}

impl sluice_pipeline::component::Component for JsonlWriterConfig {
    const KIND: &'static str = "jsonl";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Writer;
    const ABOUT: &'static str = "Sharded JSON Lines, zstd (default) or gzip compressed";

    fn validate(&self) -> Vec<(String, String)> {
        JsonlWriterConfig::validate(self)
    }

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        let _ = cx;
        Ok(sluice_pipeline::component::Built::writer(JsonlWriterConfig::build(self)))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::sync::Arc;

    fn docs(n: usize) -> Vec<Document> {
        (0..n).map(|i| Document::new(format!("d{i}"), format!("text number {i} ünïcödé"), Arc::from("s"))).collect()
    }

    fn read_all(p: &std::path::Path) -> Vec<Document> {
        let f = std::fs::File::open(p).unwrap();
        let r: Box<dyn std::io::Read> = match p.extension().unwrap().to_str().unwrap() {
            "zst" => Box::new(zstd::stream::read::Decoder::new(f).unwrap()),
            "gz" => Box::new(flate2::read::MultiGzDecoder::new(f)),
            _ => Box::new(f),
        };
        BufReader::new(r).lines().map(|l| serde_json::from_str(&l.unwrap()).unwrap()).collect()
    }

    /// A tokenized document as the pipeline carries it (typed ids, a key
    /// added after them), and the same document as it was before ids were
    /// typed (`metadata.tokens` text, written by hand here).
    pub(crate) fn tokenized_pair(ids: &[u32], text_form: &str) -> (Document, Document) {
        let mut now = Document::new("t", "tokenized", Arc::from("s"));
        now.metadata.insert("url".into(), "http://e".into());
        now.set_tokens(sluice_pipeline::Tokens::from_ids(ids));
        now.metadata.insert("mix_copy".into(), 1.into());
        let mut before = Document::new("t", "tokenized", Arc::from("s"));
        before.metadata.insert("url".into(), "http://e".into());
        before.metadata.insert("tokens".into(), text_form.into());
        before.metadata.insert("mix_copy".into(), 1.into());
        before.attributes.insert("tokens".into(), ids.len() as f64);
        (now, before)
    }

    #[test]
    fn token_ids_are_written_only_when_asked_and_as_before() {
        for (ids, text_form) in [(vec![1u32, 2, 65535], "u16:AQACAP//"), (vec![1, 65536], "AQAAAAAAAQA=")] {
            let (now, before) = tokenized_pair(&ids, text_form);
            let write = |doc: &Document, tokens: bool| {
                let dir = tempfile::tempdir().unwrap();
                let ctx = SinkContext { dir: dir.path().to_path_buf(), task: 0, node: "w".into() };
                let cfg = JsonlWriterConfig { compression: Compression::Zstd, tokens, ..Default::default() };
                let mut sink = cfg.build().open(&ctx).unwrap();
                sink.write(std::slice::from_ref(doc)).unwrap();
                let files = sink.finish().unwrap();
                (std::fs::read(&files[0]).unwrap(), read_all(&files[0]))
            };
            // asked: the bytes sluice wrote when ids travelled in metadata
            assert_eq!(write(&now, true).0, write(&before, false).0);
            // not asked: no ids, everything else as it was
            let (_, plain) = write(&now, false);
            assert!(!plain[0].metadata.contains_key("tokens"));
            assert_eq!(plain[0].metadata.keys().collect::<Vec<_>>(), ["url", "mix_copy"]);
            assert_eq!(plain[0].attributes["tokens"], ids.len() as f64);
        }
    }

    #[test]
    fn rolls_over_and_round_trips_in_every_compression() {
        for compression in [Compression::Zstd, Compression::Gzip, Compression::None] {
            let dir = tempfile::tempdir().unwrap();
            let cfg = JsonlWriterConfig { compression, level: None, max_shard_bytes: ByteSize(500), tokens: false };
            let ctx = SinkContext { dir: dir.path().join("w"), task: 2, node: "w".into() };
            let mut sink = cfg.build().open(&ctx).unwrap();
            let input = docs(40);
            sink.write(&input[..25]).unwrap();
            sink.write(&input[25..]).unwrap();
            let files = sink.finish().unwrap();
            assert!(files.len() > 2, "{compression:?} rolled over into {} files", files.len());
            assert!(files[0].file_name().unwrap().to_str().unwrap().starts_with("00002-00000.jsonl"));
            let back: Vec<Document> = files.iter().flat_map(|f| read_all(f)).collect();
            assert_eq!(back, input);
            let names: Vec<_> = std::fs::read_dir(dir.path().join("w")).unwrap().map(|e| e.unwrap().file_name()).collect();
            assert_eq!(names.len(), files.len(), "no temporary files left: {names:?}");
        }
    }

    #[test]
    fn output_is_byte_identical_across_runs() {
        let mut outs = Vec::new();
        for _ in 0..2 {
            let dir = tempfile::tempdir().unwrap();
            let ctx = SinkContext { dir: dir.path().to_path_buf(), task: 0, node: "w".into() };
            for compression in [Compression::Zstd, Compression::Gzip] {
                let cfg = JsonlWriterConfig { compression, ..Default::default() };
                let mut sink = cfg.build().open(&ctx).unwrap();
                sink.write(&docs(100)).unwrap();
                let files = sink.finish().unwrap();
                outs.push(std::fs::read(&files[0]).unwrap());
            }
        }
        assert_eq!(outs[0], outs[2]);
        assert_eq!(outs[1], outs[3]);
    }

    /// What the writer wrote before lines were buffered: the encoder made
    /// at the first document of a shard, every line written to it at once.
    enum Eager {
        Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
        Gzip(flate2::write::GzEncoder<Vec<u8>>),
        Plain(Vec<u8>),
    }

    impl Eager {
        fn new(cfg: &JsonlWriterConfig) -> Eager {
            match cfg.compression {
                Compression::Zstd => {
                    let mut e = zstd::stream::write::Encoder::new(Vec::new(), cfg.level.unwrap_or(3)).unwrap();
                    e.include_checksum(true).unwrap();
                    Eager::Zstd(e)
                }
                Compression::Gzip => {
                    let level = flate2::Compression::new(cfg.level.unwrap_or(6) as u32);
                    Eager::Gzip(flate2::GzBuilder::new().mtime(0).write(Vec::new(), level))
                }
                Compression::None => Eager::Plain(Vec::new()),
            }
        }

        fn write(&mut self, line: &[u8]) {
            match self {
                Eager::Zstd(e) => e.write_all(line).unwrap(),
                Eager::Gzip(e) => e.write_all(line).unwrap(),
                Eager::Plain(v) => v.extend_from_slice(line),
            }
        }

        fn finish(self) -> Vec<u8> {
            match self {
                Eager::Zstd(e) => e.finish().unwrap(),
                Eager::Gzip(e) => e.finish().unwrap(),
                Eager::Plain(v) => v,
            }
        }
    }

    fn eager_reference(cfg: &JsonlWriterConfig, input: &[Document]) -> Vec<Vec<u8>> {
        let mut shards = Vec::new();
        let mut cur: Option<(Eager, u64)> = None;
        for d in input {
            if cur.as_ref().is_some_and(|c| c.1 >= cfg.max_shard_bytes.0) {
                shards.push(cur.take().unwrap().0.finish());
            }
            let c = cur.get_or_insert_with(|| (Eager::new(cfg), 0));
            let mut line = serde_json::to_vec(d).unwrap();
            line.push(b'\n');
            c.0.write(&line);
            c.1 += line.len() as u64;
        }
        shards.extend(cur.map(|c| c.0.finish()));
        shards
    }

    /// Buffering lines before the encoder starts changes no output byte:
    /// a few small documents (never past the buffer), many (past it), a
    /// document larger than the buffer first, and shard rollover.
    #[test]
    fn lazily_started_encoders_write_the_same_bytes() {
        let big = |n: usize| Document::new(format!("big{n}"), "long text ".repeat(20_000), Arc::from("s"));
        let mut first_big = vec![big(0)];
        first_big.extend(docs(50));
        let cases: Vec<(Vec<Document>, u64)> = vec![
            (docs(3), 256_000_000),
            (docs(5000), 256_000_000),
            (first_big.clone(), 256_000_000),
            (docs(5000), 100_000),
            (first_big, 1000),
        ];
        for compression in [Compression::Zstd, Compression::Gzip, Compression::None] {
            for (i, (input, max)) in cases.iter().enumerate() {
                let cfg = JsonlWriterConfig { compression, level: None, max_shard_bytes: ByteSize(*max), tokens: false };
                let dir = tempfile::tempdir().unwrap();
                let ctx = SinkContext { dir: dir.path().join("w"), task: 0, node: "w".into() };
                let mut sink = cfg.build().open(&ctx).unwrap();
                for c in input.chunks(7) {
                    sink.write(c).unwrap();
                }
                let got: Vec<Vec<u8>> = sink.finish().unwrap().iter().map(|f| std::fs::read(f).unwrap()).collect();
                let want = eager_reference(&cfg, input);
                assert_eq!(got.len(), want.len(), "{compression:?} case {i}: shard count");
                assert!(got == want, "{compression:?} case {i}: shard bytes differ");
            }
        }
    }

    /// A writer that has received a little holds no file and no encoder.
    #[test]
    fn a_writer_with_few_documents_opens_no_file_until_it_finishes() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = SinkContext { dir: dir.path().join("w"), task: 0, node: "w".into() };
        let mut sink = JsonlWriterConfig::default().build().open(&ctx).unwrap();
        sink.write(&docs(20)).unwrap();
        assert!(!dir.path().join("w").exists(), "no file (and no temporary file) before the buffer fills");
        let files = sink.finish().unwrap();
        assert_eq!(read_all(&files[0]), docs(20));
    }

    fn rss_kib() -> u64 {
        let s = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// The writer's own memory per idle writer: 2,000 open sinks that have
    /// each received 20 small documents (what one reader fanned out to many
    /// writers gives each). Run with
    /// `cargo test -p sluice-writers --release -- --ignored --nocapture idle_writer_memory`.
    #[test]
    #[ignore]
    fn idle_writer_memory() {
        let dir = tempfile::tempdir().unwrap();
        let input = docs(20);
        let before = rss_kib();
        let mut sinks = Vec::new();
        for i in 0..2000 {
            let ctx = SinkContext { dir: dir.path().join(format!("w{i}")), task: 0, node: format!("w{i}") };
            let mut sink = JsonlWriterConfig::default().build().open(&ctx).unwrap();
            sink.write(&input).unwrap();
            sinks.push(sink);
        }
        let after = rss_kib();
        eprintln!("2000 jsonl sinks holding 20 documents each: {} KiB, {} KiB per sink", after - before, (after - before) / 2000);
        for s in sinks {
            s.finish().unwrap();
        }
    }

    #[test]
    fn no_documents_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = SinkContext { dir: dir.path().join("w"), task: 0, node: "w".into() };
        let sink = JsonlWriterConfig::default().build().open(&ctx).unwrap();
        assert!(sink.finish().unwrap().is_empty());
        assert!(!dir.path().join("w").exists());
    }
}
