//! The trainer's shard directory reader (`sluice train --shards DIR`):
//! `manifest.json`, llm.c shards, `.bounds` files and the data loader.
//! Needs `--features full` (sluice-train links candle). Input as for the
//! `manifest` target; the first byte of the manifest part is not special.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_fuzz::{fresh_dir, split_parts};
use sluice_train::shards::{read_shard, DataLoader, ShardSet};

fuzz_target!(|data: &[u8]| {
    let parts = split_parts(data, 3);
    let dir = fresh_dir("train");
    std::fs::write(dir.join("manifest.json"), parts[0].unwrap_or_default()).unwrap();
    let shard = dir.join("train_000000.bin");
    std::fs::write(&shard, parts[1].unwrap_or_default()).unwrap();
    if let Some(b) = parts[2] {
        std::fs::write(dir.join("train_000000.bin.bounds"), b).unwrap();
    }
    let _ = read_shard(&shard);
    let Ok(set) = ShardSet::open(&dir) else { return };
    std::hint::black_box((set.vocab_size(), set.eos_id(), set.tokenizer_path()));
    for split in ["train", "val"] {
        let Ok(stream) = set.load(split) else { continue };
        let seq_len = 1 + data.len() % 16;
        if let Ok(mut loader) = DataLoader::new(stream, seq_len, set.eos_id(), 0) {
            for _ in 0..3 {
                std::hint::black_box(loader.next_batch(2).b);
            }
        }
    }
});
