//! Bit flips in sluice's Parquet shards are detected, never read as
//! different text or metadata (issue 21, hole 10): the writer records a
//! CRC-32 in every page header and the reader verifies it.

use std::path::Path;
use std::sync::Arc;

use sluice_pipeline::{Decoded, Document, Reader, SinkContext, SinkFactory};
use sluice_readers::ParquetReaderConfig;
use sluice_writers::ParquetWriterConfig;

fn documents() -> Vec<Document> {
    (0..300)
        .map(|i| {
            let mut d = Document::new(
                format!("doc-{i}"),
                format!("Document {i}: some text, ünïcödé and 中文, {}", "words ".repeat(i % 17)),
                Arc::from("web"),
            );
            d.metadata.insert("url".into(), format!("https://example.com/{i}").into());
            if i % 3 == 0 {
                d.metadata.insert("lang".into(), "en".into());
            }
            d.attributes.insert("score".into(), i as f64 / 7.0);
            d
        })
        .collect()
}

fn write_shard(dir: &Path) -> std::path::PathBuf {
    let ctx = SinkContext { dir: dir.to_path_buf(), task: 0, node: "w".into() };
    // small row groups: several row groups, pages and dictionaries
    let cfg = ParquetWriterConfig { row_group_bytes: sluice_pipeline::size::ByteSize(4096), ..Default::default() };
    let mut sink = cfg.build().open(&ctx).unwrap();
    sink.write(&documents()).unwrap();
    let files = sink.finish().unwrap();
    assert_eq!(files.len(), 1);
    files.into_iter().next().unwrap()
}

/// Read a file with the `parquet` reader: the documents, or the first error.
fn read(path: &Path) -> Result<Vec<Document>, String> {
    let cfg: ParquetReaderConfig = serde_json::from_value(serde_json::json!({"paths": [path.display().to_string()]})).unwrap();
    let r = cfg.build("web", 0).map_err(|e| format!("{e:?}"))?;
    let mut docs = Vec::new();
    for f in r.files().map_err(|e| e.to_string())? {
        for item in r.open(&f).map_err(|e| e.to_string())? {
            match item.and_then(|raw| r.decode(&f, raw)).map_err(|e| e.to_string())? {
                Decoded::Doc(d) => docs.push(d),
                Decoded::Skip(s) => return Err(format!("skipped: {s}")),
            }
        }
    }
    Ok(docs)
}

/// xorshift64*: a fixed sequence of flip positions.
fn positions(seed: u64, n: usize, len: usize) -> Vec<usize> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) % (len as u64 * 8)) as usize
        })
        .collect()
}

#[test]
fn bit_flipped_parquet_shards_are_detected_not_read_as_changed_text() {
    let d = tempfile::tempdir().unwrap();
    let shard = write_shard(&d.path().join("w"));
    let good = std::fs::read(&shard).unwrap();
    let want = read(&shard).unwrap();
    assert_eq!(want.len(), 300);
    let flipped = d.path().join("flipped.parquet");
    let (mut detected, mut unchanged, mut silent) = (0, 0, Vec::new());
    const FLIPS: usize = 320;
    for bit in positions(0x5eed_0021, FLIPS, good.len()) {
        let mut bytes = good.clone();
        bytes[bit / 8] ^= 1 << (bit % 8);
        std::fs::write(&flipped, &bytes).unwrap();
        match read(&flipped) {
            Err(e) => {
                assert!(e.contains("flipped.parquet"), "the error names the file: {e}");
                detected += 1;
            }
            Ok(docs) if docs == want => unchanged += 1,
            Ok(_) => silent.push(bit),
        }
    }
    eprintln!(
        "{FLIPS} single-bit flips of a {}-byte shard: {detected} detected, {unchanged} read unchanged (bits no reader uses), {} read as changed content",
        good.len(),
        silent.len()
    );
    assert!(silent.is_empty(), "bit flips read without error as changed content: bits {silent:?}");
}

/// A flipped bit in a page's data is a checksum error naming the file.
#[test]
fn a_corrupt_page_is_a_checksum_error_naming_the_file() {
    let d = tempfile::tempdir().unwrap();
    let shard = write_shard(&d.path().join("w"));
    let mut bytes = std::fs::read(&shard).unwrap();
    // the last byte of the first row group's `text` column chunk: the end
    // of its last page's (compressed) data
    let meta = parquet::file::metadata::ParquetMetaDataReader::new().parse_and_finish(&std::fs::File::open(&shard).unwrap()).unwrap();
    let text = meta.row_group(0).column(1);
    assert_eq!(text.column_path().string(), "text");
    let (start, len) = text.byte_range();
    bytes[(start + len - 1) as usize] ^= 0x10;
    let p = d.path().join("bad.parquet");
    std::fs::write(&p, &bytes).unwrap();
    let e = read(&p).unwrap_err();
    assert!(e.contains("bad.parquet"), "{e}");
    assert!(e.to_lowercase().contains("crc") || e.contains("checksum"), "{e}");
}
