//! llm.c token shards and their `.bounds` files, as `sluice inspect` and
//! the shard parser of sluice-tokens read them. Input: the shard bytes,
//! then optionally `PART_SEPARATOR` and the `.bounds` bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_fuzz::{fresh_dir, inspect, split_parts};
use sluice_tokens::shard::{parse_bounds, parse_llmc};

fuzz_target!(|data: &[u8]| {
    let parts = split_parts(data, 2);
    let shard = parts[0].unwrap_or_default();
    if let Ok(s) = parse_llmc("fuzz", shard) {
        let want = 1024 + s.tokens.len() * if s.dtype == sluice_tokens::shard::TokenDtype::Uint16 { 2 } else { 4 };
        assert_eq!(want, shard.len(), "a parsed shard accounts for every byte");
    }
    if let Some(b) = parts[1] {
        let _ = parse_bounds("fuzz", b, u64::MAX);
    }
    let dir = fresh_dir("shard");
    let path = dir.join("train_000000.bin");
    std::fs::write(&path, shard).unwrap();
    if let Some(b) = parts[1] {
        std::fs::write(dir.join("train_000000.bin.bounds"), b).unwrap();
    }
    let _ = inspect(&path);
});
