//! Megatron `.bin` + `.idx` pairs as `sluice inspect` reads them (issue 15:
//! a truncated `.idx` made it panic). Input: the `.idx` bytes, then
//! `PART_SEPARATOR` and the `.bin` bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_fuzz::{fresh_dir, inspect, split_parts};

fuzz_target!(|data: &[u8]| {
    let parts = split_parts(data, 2);
    let dir = fresh_dir("megatron");
    std::fs::write(dir.join("train_000000.idx"), parts[0].unwrap_or_default()).unwrap();
    let bin = dir.join("train_000000.bin");
    std::fs::write(&bin, parts[1].unwrap_or_default()).unwrap();
    let _ = inspect(&bin);
});
