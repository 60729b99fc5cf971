//! `manifest.json` beside token shards, as sluice-tokens parses it and
//! `sluice inspect` checks a shard against it. Input: the manifest, then
//! `PART_SEPARATOR` and the bytes of `train_000000.bin`, then optionally
//! `PART_SEPARATOR` and its `.bounds`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_fuzz::{fresh_dir, inspect, split_parts};
use sluice_tokens::shard::Manifest;

fuzz_target!(|data: &[u8]| {
    let parts = split_parts(data, 3);
    let manifest = parts[0].unwrap_or_default();
    if let Ok(m) = serde_json::from_slice::<Manifest>(manifest) {
        // what the trainer and `sluice inspect` derive from it
        let back = serde_json::to_vec(&m).expect("a parsed manifest serialises");
        let again: Manifest = serde_json::from_slice(&back).expect("a written manifest reads back");
        assert_eq!(m, again);
    }
    let dir = fresh_dir("manifest");
    std::fs::write(dir.join("manifest.json"), manifest).unwrap();
    let shard = dir.join("train_000000.bin");
    std::fs::write(&shard, parts[1].unwrap_or_default()).unwrap();
    if let Some(b) = parts[2] {
        std::fs::write(dir.join("train_000000.bin.bounds"), b).unwrap();
    }
    let _ = inspect(&shard);
});
