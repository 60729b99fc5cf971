//! Real-data tests over `../shared/data` (override with `SLUICE_TEST_DATA`):
//! the inputs of recipes/reference-lm.yaml. They fail when the data is
//! missing.

use std::path::PathBuf;

use sluice_pipeline::{Decoded, Document, Reader};
use sluice_readers::{JsonlReaderConfig, TextReaderConfig};

fn data_dir() -> PathBuf {
    let dir = std::env::var_os("SLUICE_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    assert!(dir.join("README.md").is_file(), "shared test data not found at {}: set SLUICE_TEST_DATA", dir.display());
    dir
}

fn read_all(r: &dyn Reader) -> (Vec<Document>, usize) {
    let (mut docs, mut errors) = (Vec::new(), 0);
    for f in r.files().unwrap() {
        for raw in r.open(&f).unwrap() {
            match raw.and_then(|raw| r.decode(&f, raw)) {
                Ok(Decoded::Doc(d)) => docs.push(d),
                Ok(Decoded::Skip(_)) => {}
                Err(_) => errors += 1,
            }
        }
    }
    (docs, errors)
}

/// CMRC 2018's SQuAD-style file: all 848 Chinese Wikipedia paragraphs, with
/// their ids, none malformed.
#[test]
fn cmrc_paragraphs_through_a_records_path() {
    let path = data_dir().join("zh/cmrc2018-dev.zh-wikipedia.json");
    let cfg: JsonlReaderConfig = serde_json::from_value(serde_json::json!({
        "paths": [path.display().to_string()], "records": "/data/*/paragraphs/*", "text_key": "context"
    }))
    .unwrap();
    let (docs, errors) = read_all(&cfg.build("zh_wiki", 0).unwrap());
    assert_eq!((docs.len(), errors), (848, 0));
    assert_eq!(docs[0].id, "DEV_0");
    assert!(docs[0].text.starts_with("《战国无双3》"), "{}", &docs[0].text[..60]);
    // the questions ride along as metadata
    assert!(docs.iter().all(|d| d.metadata.contains_key("qas")));
}

/// The reference books cut into ~4 KB pieces: every piece is whole
/// paragraphs (or lines, for 红楼梦), and the pieces put back together are
/// the book (up to the whitespace between them).
#[test]
fn reference_books_split_into_pieces_that_cover_them() {
    let dir = data_dir().join("reference");
    for (sub, min_pieces) in [("en", 2000), ("zh", 150)] {
        let cfg: TextReaderConfig = serde_json::from_value(serde_json::json!({
            "paths": [dir.join(sub).display().to_string()], "encoding": "auto", "split": {"target_bytes": "4KiB"}
        }))
        .unwrap();
        let r = cfg.build(sub, 0).unwrap();
        let (docs, errors) = read_all(&r);
        assert_eq!(errors, 0);
        assert!(docs.len() >= min_pieces, "{sub}: {} pieces", docs.len());
        for f in r.files().unwrap() {
            let pieces: Vec<&Document> = docs.iter().filter(|d| d.meta_str("path") == Some(f.rel.as_str())).collect();
            let whole =
                sluice_readers::text::decode_text(&std::fs::read(&f.path).unwrap(), sluice_readers::text::TextEncoding::Auto).unwrap().0;
            let squash = |s: &str| s.split_whitespace().collect::<String>();
            assert_eq!(squash(&pieces.iter().map(|d| d.text.as_str()).collect::<Vec<_>>().join("\n")), squash(&whole), "{}", f.rel);
            for (n, d) in pieces.iter().enumerate() {
                assert_eq!(d.metadata["chunk"], n as u64);
                // it stops at the first line end past 2 x target
                let before_last_line = d.text.rsplit_once('\n').map_or(0, |(head, _)| head.len());
                assert!(before_last_line < 8192, "{} #{n}: {} bytes", f.rel, d.text.len());
            }
        }
    }
}
