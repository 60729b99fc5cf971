//! Readers' `s3://` inputs against a real S3-compatible server (moto; see
//! `sluice_objstore::testing`): listing gives the same relative paths as a
//! local copy, filters apply alike, and every reader kind reads objects.

use std::path::Path;

use sluice_objstore::testing::Moto;
use sluice_objstore::Store;
use sluice_pipeline::Reader;
use sluice_readers::files::FilesConfig;

fn cfg(paths: Vec<String>) -> FilesConfig {
    FilesConfig { paths, include: None, exclude: vec![], max_files: None, max_file_bytes: None, hidden: false }
}

fn listed(c: &FilesConfig, include: &[&str]) -> Vec<(String, u64)> {
    c.build(include, 1).unwrap().list().unwrap().into_iter().map(|f| (f.rel, f.size)).collect()
}

#[test]
fn s3_inputs_list_and_read_like_local_files() {
    let Some(moto) = Moto::start() else { return };
    for (k, v) in moto.env() {
        std::env::set_var(k, v);
    }
    moto.create_bucket("readers-test");
    let store = Store::for_bucket("readers-test").unwrap();
    let d = tempfile::tempdir().unwrap();
    let local = d.path().join("data");
    let files = [
        ("a/1.jsonl", "{\"text\":\"one\"}\n"),
        ("b/2.jsonl", "{\"text\":\"two\"}\n{\"text\":\"three\"}\n"),
        ("a/skip.txt", "x"),
        (".hidden/3.jsonl", "{\"text\":\"h\"}\n"),
        ("c/4.jsonl", "{\"text\":\"four\"}\n"),
    ];
    for (rel, body) in files {
        let p = local.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, body).unwrap();
        store.put_bytes(&format!("deep/data/{rel}"), body.as_bytes().to_vec()).unwrap();
    }
    // A sibling prefix that starts with the same letters is not inside.
    store.put_bytes("deep/database/x.jsonl", b"{}\n".to_vec()).unwrap();

    let inc = ["**/*.jsonl"];
    let s3 = "s3://readers-test/deep/data".to_string();
    let want = listed(&cfg(vec![local.display().to_string()]), &inc);
    assert_eq!(want.iter().map(|w| w.0.as_str()).collect::<Vec<_>>(), ["data/a/1.jsonl", "data/b/2.jsonl", "data/c/4.jsonl"]);
    assert_eq!(listed(&cfg(vec![s3.clone()]), &inc), want, "a prefix lists like a directory");
    assert_eq!(listed(&cfg(vec![format!("{s3}/")]), &inc), want, "a trailing slash changes nothing");
    let file_url = format!("file://{}", local.display());
    assert_eq!(listed(&cfg(vec![file_url]), &inc), want, "file:// URLs are paths");

    let mut hidden = cfg(vec![s3.clone()]);
    hidden.hidden = true;
    hidden.exclude = vec!["c/**".into()];
    let mut hidden_local = hidden.clone();
    hidden_local.paths = vec![local.display().to_string()];
    assert_eq!(listed(&hidden, &inc), listed(&hidden_local, &inc));
    assert!(listed(&hidden, &inc).iter().any(|(r, _)| r == "data/.hidden/3.jsonl"));

    // One object; a glob; a bucket root.
    assert_eq!(listed(&cfg(vec![format!("{s3}/b/2.jsonl")]), &[]), [("2.jsonl".to_string(), 32)]);
    let g = listed(&cfg(vec!["s3://readers-test/deep/**/[12].jsonl".into()]), &[]);
    assert_eq!(g.iter().map(|w| w.0.as_str()).collect::<Vec<_>>(), ["deep/data/a/1.jsonl", "deep/data/b/2.jsonl"]);
    let root = listed(&cfg(vec!["s3://readers-test".into()]), &inc);
    assert!(root.iter().any(|(r, _)| r == "readers-test/deep/database/x.jsonl"), "{root:?}");

    // Missing objects fail when listed, bad URLs when validated.
    let e = cfg(vec![format!("{s3}/nothing")]).build(&[], 1).unwrap().list().unwrap_err().to_string();
    assert!(e.contains("s3://readers-test/deep/data/nothing"), "{e}");
    for bad in ["s3://readers-test/a/../b", "s3://Bad_Bucket/x", "s3://rea*/x"] {
        let errs = cfg(vec![bad.into()]).build(&[], 1).unwrap_err();
        assert_eq!(errs[0].0, "paths[0]", "{bad}: {errs:?}");
    }

    // The JSONL reader reads objects (streamed).
    let r: sluice_readers::JsonlReaderConfig = serde_json::from_value(serde_json::json!({"paths": [s3]})).unwrap();
    let r = r.build("s3", 1).unwrap();
    let mut texts = Vec::new();
    for f in r.files().unwrap() {
        for rec in r.open(&f).unwrap() {
            let rec = rec.unwrap();
            if let sluice_pipeline::Decoded::Doc(doc) = r.decode(&f, rec).unwrap() {
                texts.push(doc.text.to_string());
            }
        }
    }
    assert_eq!(texts, ["one", "two", "three", "four"]);

    // The Parquet reader reads objects by ranges.
    let pq = parquet_file(d.path());
    store.upload_file(&pq, "pq/x.parquet").unwrap();
    let read_all = |path: String| {
        let c: sluice_readers::ParquetReaderConfig = serde_json::from_value(serde_json::json!({"paths": [path]})).unwrap();
        let r = c.build("pq", 1).unwrap();
        let mut out = Vec::new();
        for f in r.files().unwrap() {
            for rec in r.open(&f).unwrap() {
                if let sluice_pipeline::Decoded::Doc(doc) = r.decode(&f, rec.unwrap()).unwrap() {
                    out.push((doc.id.to_string(), doc.text.to_string()));
                }
            }
        }
        out
    };
    let from_s3 = read_all("s3://readers-test/pq/x.parquet".into());
    assert_eq!(from_s3.len(), 3);
    assert_eq!(from_s3, read_all(pq.display().to_string()));
}

/// A small Parquet file in sluice's own layout.
fn parquet_file(dir: &Path) -> std::path::PathBuf {
    use sluice_pipeline::{Document, SinkContext, SinkFactory};
    let ctx = SinkContext { dir: dir.join("w"), task: 0, node: "w".into() };
    let mut sink = sluice_writers::ParquetWriterConfig::default().build().open(&ctx).unwrap();
    let docs: Vec<Document> = ["alpha", "beta", "gamma"]
        .iter()
        .enumerate()
        .map(|(i, t)| Document::new(format!("d{i}"), *t, std::sync::Arc::from("src")))
        .collect();
    sink.write(&docs).unwrap();
    sink.finish().unwrap();
    let found: Vec<_> = std::fs::read_dir(dir.join("w"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].clone()
}
