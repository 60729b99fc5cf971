//! JSON Lines shards, zstd- or gzip-compressed.
//!
//! One document per line: `{"id", "text", "source", "metadata", "attributes"}`
//! (empty metadata and attributes are omitted). Output bytes depend only on
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
    pub level: Option<i32>,
    /// Start a new shard after this much uncompressed output (default 256MB).
    #[serde(default = "crate::default_shard_bytes")]
    pub max_shard_bytes: ByteSize,
}

impl Default for JsonlWriterConfig {
    fn default() -> Self {
        JsonlWriterConfig { compression: Compression::Zstd, level: None, max_shard_bytes: crate::default_shard_bytes() }
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

struct Open {
    enc: Enc,
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
    fn open_shard(&mut self) -> Result<()> {
        let path = self.ctx.shard_path(self.shard, self.config.compression.extension());
        self.shard += 1;
        let file = AtomicFile::create(&path)?;
        let io = |e| Error::io(&path, e);
        let enc = match self.config.compression {
            Compression::Zstd => {
                let mut e = zstd::stream::write::Encoder::new(file, self.config.level.unwrap_or(3)).map_err(io)?;
                // Frame checksums let readers detect corrupt shards; like
                // everything else in the frame they depend only on content.
                e.include_checksum(true).map_err(io)?;
                Enc::Zstd(e)
            }
            Compression::Gzip => {
                Enc::Gzip(flate2::GzBuilder::new().mtime(0).write(file, flate2::Compression::new(self.config.level.unwrap_or(6) as u32)))
            }
            Compression::None => Enc::Plain(file),
        };
        self.current = Some(Open { enc, path, bytes: 0 });
        Ok(())
    }

    fn close_shard(&mut self) -> Result<()> {
        if let Some(open) = self.current.take() {
            let file = open.enc.finish().map_err(|e| Error::io(&open.path, e))?;
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
                self.open_shard()?;
            }
            self.line.clear();
            serde_json::to_writer(&mut self.line, d).map_err(|e| Error::stage(&self.ctx.node, e))?;
            self.line.push(b'\n');
            let open = self.current.as_mut().expect("opened above");
            open.enc.writer().write_all(&self.line).map_err(|e| Error::io(&open.path, e))?;
            open.bytes += self.line.len() as u64;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<PathBuf>> {
        self.close_shard()?;
        Ok(std::mem::take(&mut self.files))
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn rolls_over_and_round_trips_in_every_compression() {
        for compression in [Compression::Zstd, Compression::Gzip, Compression::None] {
            let dir = tempfile::tempdir().unwrap();
            let cfg = JsonlWriterConfig { compression, level: None, max_shard_bytes: ByteSize(500) };
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

    #[test]
    fn no_documents_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = SinkContext { dir: dir.path().join("w"), task: 0, node: "w".into() };
        let sink = JsonlWriterConfig::default().build().open(&ctx).unwrap();
        assert!(sink.finish().unwrap().is_empty());
        assert!(!dir.path().join("w").exists());
    }
}
