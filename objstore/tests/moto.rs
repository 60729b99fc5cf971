//! The object store client and the staged output directory against a real
//! S3-compatible server (moto, see `sluice_objstore::testing`).

use std::io::Read;
use std::path::Path;
use std::sync::atomic::Ordering;

use sluice_objstore::mirror::S3Output;
use sluice_objstore::testing::Moto;
use sluice_objstore::{S3Url, Store, PART_SIZE};
use sluice_pipeline::exec::OutputMirror;
use sluice_pipeline::output::OutputDir;

/// One test: the server and the process environment are shared.
#[test]
fn against_a_local_s3_server() {
    let Some(moto) = Moto::start() else { return };
    for (k, v) in moto.env() {
        std::env::set_var(k, v);
    }
    moto.create_bucket("objstore-test");
    let store = Store::for_bucket("objstore-test").unwrap();
    listing_is_paginated_and_sorted(&store);
    large_objects_go_in_parts_and_stream_back(&store);
    keys_are_checked(&store);
    staged_output_pushes_markers_last_and_pulls_what_runs_read(&store);
    plain_http_needs_an_explicit_allow();
}

fn listing_is_paginated_and_sorted(store: &Store) {
    // More than one page (S3 lists 1,000 keys a page), written out of order.
    let n = 1_050;
    for i in (0..n).rev() {
        store.put_bytes(&format!("many/{:02}/obj-{i:04}", i % 7), vec![b'x'; i % 5]).unwrap();
    }
    store.put_bytes("many-not-under/x", vec![1]).unwrap();
    let l = store.list("many").unwrap();
    assert_eq!(l.len(), n, "every page, and only keys under `many/`");
    let keys: Vec<&str> = l.iter().map(|o| o.key.as_str()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(l.iter().find(|o| o.key == "many/03/obj-0003").unwrap().size, 3);
    assert!(store.head("many/00/obj-0000").unwrap().is_some());
    assert!(store.head("many/00/nothing").unwrap().is_none());
}

fn large_objects_go_in_parts_and_stream_back(store: &Store) {
    let store = Store::for_bucket(store.bucket()).unwrap();
    let d = tempfile::tempdir().unwrap();
    let big = d.path().join("big.bin");
    // 2.5 parts of pseudo-random bytes.
    let len = PART_SIZE * 5 / 2;
    let mut x = 0x2545F4914F6CDD1Du64;
    let bytes: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&big, &bytes).unwrap();
    let etag = store.upload_file(&big, "big/data.bin").unwrap().unwrap();
    // A multipart ETag ends in `-<parts>`.
    assert!(etag.trim_matches('"').ends_with("-3"), "{etag}");
    let mut r = store.open("big/data.bin").unwrap();
    assert_eq!(r.size(), len as u64);
    // Small reads, as a decompressor would do.
    let mut got = Vec::new();
    let mut buf = [0u8; 4093];
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got == bytes, "streamed bytes differ");
    // Random access (the Parquet reader): a range, and a stream from an offset.
    let info = store.head("big/data.bin").unwrap().unwrap();
    assert!(store.get_range("big/data.bin", 100, 1000, info.etag.as_deref()).unwrap() == bytes[100..1100]);
    let mut tail = Vec::new();
    let from = PART_SIZE as u64 + 5;
    store.open_at("big/data.bin", from, info.size, info.etag.as_deref()).unwrap().read_to_end(&mut tail).unwrap();
    assert!(tail == bytes[from as usize..]);
    // Pinned to the version read: a changed object is an error, not a mix.
    assert!(store.get_range("big/data.bin", 0, 10, Some("\"not-the-etag\"")).is_err());
    let (n, _) = store.download_file("big/data.bin", &d.path().join("dl.tmp"), &d.path().join("sub/copy.bin")).unwrap();
    assert_eq!(n, len as u64);
    assert!(std::fs::read(d.path().join("sub/copy.bin")).unwrap() == bytes);
    assert!(!d.path().join("dl.tmp").exists());
    // Through the readers' entry point, by URL.
    let mut all = Vec::new();
    sluice_objstore::open_input(Path::new("s3://objstore-test/big/data.bin")).unwrap().read_to_end(&mut all).unwrap();
    assert!(all == bytes);
    let e = sluice_objstore::open_input(Path::new("s3://objstore-test/big/none.bin")).err().unwrap();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}");
}

fn keys_are_checked(store: &Store) {
    for bad in ["a/../b", "a//b", "/a", "a/./b", ""] {
        assert!(store.put_bytes(bad, vec![1]).is_err(), "{bad:?} accepted");
    }
    let u = S3Url::parse("s3://objstore-test/out").unwrap();
    assert!(u.join("../escape").is_err());
}

fn files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

fn remote(store: &Store, prefix: &str) -> Vec<String> {
    store.list(prefix).unwrap().into_iter().map(|o| o.key[prefix.len() + 1..].to_string()).collect()
}

fn staged_output_pushes_markers_last_and_pulls_what_runs_read(store: &std::sync::Arc<Store>) {
    let url = "s3://objstore-test/runs/one";
    let staging = tempfile::tempdir().unwrap();
    let a = S3Output::open(url, staging.path(), Some("s0"), Some(0)).unwrap();
    let out = OutputDir::new(a.stage());
    let w = |rel: &str, body: &str| {
        let p = a.stage().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    };
    w("_sluice/run.json", "{}");
    w("kept/00000-00000.jsonl", "doc\n");
    w("_sluice/stats/00000-stats.json", "{}");
    w("_sluice/tasks/00000.done", "{}");
    // A temporary is never published.
    w("kept/.00000-00001.jsonl.~s0~00000.tmp", "half");
    a.push(&out).unwrap();
    assert_eq!(a.uploads.load(Ordering::Relaxed), 4);
    assert_eq!(
        remote(store, "runs/one"),
        ["_sluice/run.json", "_sluice/stats/00000-stats.json", "_sluice/tasks/00000.done", "kept/00000-00000.jsonl"]
    );
    // Nothing changed: nothing to do.
    a.push(&out).unwrap();
    assert_eq!(a.uploads.load(Ordering::Relaxed), 4);

    // Another process (another slot, a fresh machine) sees the bookkeeping
    // but not the shards, and a second pull downloads nothing.
    let staging2 = tempfile::tempdir().unwrap();
    let b = S3Output::open(url, staging2.path(), Some("s0"), Some(1)).unwrap();
    assert_eq!(files(b.stage()), ["_sluice/run.json", "_sluice/stats/00000-stats.json", "_sluice/tasks/00000.done"]);
    let n = b.downloads.load(Ordering::Relaxed);
    b.pull(&OutputDir::new(b.stage())).unwrap();
    assert_eq!(b.downloads.load(Ordering::Relaxed), n);
    // The same slot twice at once is refused.
    let e = S3Output::open(url, staging2.path(), Some("s0"), Some(1)).unwrap_err().to_string();
    assert!(e.contains("another sluice process"), "{e}");
    drop(b);

    // A removal is published; a file rewritten is uploaded again.
    std::fs::remove_file(a.stage().join("_sluice/stats/00000-stats.json")).unwrap();
    w("kept/00000-00000.jsonl", "doc2\n");
    a.push(&out).unwrap();
    assert_eq!(remote(store, "runs/one"), ["_sluice/run.json", "_sluice/tasks/00000.done", "kept/00000-00000.jsonl"]);
    let mut body = String::new();
    store.open("runs/one/kept/00000-00000.jsonl").unwrap().read_to_string(&mut body).unwrap();
    assert_eq!(body, "doc2\n");

    // The prefix wins: a file another process removed goes locally too, and
    // a local file that was never published is dropped (its unit re-runs).
    store.delete("runs/one/_sluice/tasks/00000.done").unwrap();
    let staging3 = tempfile::tempdir().unwrap();
    let c = S3Output::open(url, staging3.path(), None, None).unwrap();
    std::fs::write(c.stage().join("stray.txt"), "x").unwrap();
    drop(c);
    let c = S3Output::open(url, staging3.path(), None, None).unwrap();
    assert_eq!(files(c.stage()), ["_sluice/run.json"]);
    a.pull(&out).unwrap();
    assert!(!a.stage().join("_sluice/tasks/00000.done").exists());
    assert!(a.stage().join("kept/00000-00000.jsonl").exists(), "a synced shard stays");

    // A prefix that holds other things is not a sluice output.
    store.put_bytes("runs/foreign/data.csv", b"a,b\n".to_vec()).unwrap();
    let e = S3Output::open("s3://objstore-test/runs/foreign", staging.path(), None, None).unwrap_err().to_string();
    assert!(e.contains("not a sluice output"), "{e}");
}

fn plain_http_needs_an_explicit_allow() {
    std::env::set_var("AWS_ALLOW_HTTP", "false");
    let e = Store::for_bucket("another-bucket").unwrap_err().to_string();
    assert!(e.contains("AWS_ALLOW_HTTP=true"), "{e}");
    std::env::set_var("AWS_ALLOW_HTTP", "true");
}
