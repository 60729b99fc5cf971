//! Helpers shared by the integration tests.

use sluice_train::model::ModelConfig;
use sluice_train::optim::{AdamWConfig, Schedule};
use sluice_train::shards::{write_shard, Manifest, ShardEntry, TokenDtype, MANIFEST_FORMAT};
use sluice_train::train::{Metric, TrainConfig};
use std::path::{Path, PathBuf};

/// The shared data directory; a test that needs it fails loudly without it.
pub fn require_data() -> PathBuf {
    let d = std::env::var_os("SLUICE_DATA").map(PathBuf::from).unwrap_or_else(|| {
        // Tests run from the crate directory; the data is beside the repo root.
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
    });
    assert!(d.join("reference/en").is_dir(), "shared data not found at {} (set SLUICE_DATA)", d.display());
    d
}

/// Learnable synthetic documents: each is an arithmetic progression mod (vocab-1),
/// ended by EOS (token 0). Train and val shards with a manifest.
pub fn write_synthetic_shards(dir: &Path, vocab: u32, tokens: usize, seed: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = sluice_train::shards::Rng::new(seed);
    let mut make = |n: usize| {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let len = 5 + rng.below(40) as usize;
            let (start, step) = (1 + rng.below(vocab as u64 - 1) as u32, 1 + rng.below(5) as u32);
            for k in 0..len {
                out.push(1 + (start + step * k as u32) % (vocab - 1));
            }
            out.push(0);
        }
        out.truncate(n);
        out
    };
    let train = make(tokens);
    let val = make(tokens / 5);
    let mut shards = vec![];
    for (f, s, t) in [("train-00000.bin", "train", &train), ("val-00000.bin", "val", &val)] {
        let sha = write_shard(&dir.join(f), t, TokenDtype::Uint16).unwrap();
        shards.push(ShardEntry { file: f.into(), split: s.into(), tokens: t.len() as u64, sha256: Some(sha) });
    }
    let m = Manifest {
        format: MANIFEST_FORMAT.into(),
        vocab_size: vocab as usize,
        eos_id: 0,
        bos_id: None,
        dtype: TokenDtype::Uint16,
        tokenizer: None,
        seq_len: None,
        shards,
        tokenizer_sha256: None,
        recipe_hash: None,
        tokens_per_source: Default::default(),
        documents: Default::default(),
        packing: None,
    };
    std::fs::write(dir.join("manifest.json"), serde_json::to_vec(&m).unwrap()).unwrap();
}

/// A fast tiny-model config: 4 sequences of 32 tokens per step.
pub fn tiny_config(shards: &Path, vocab: usize, steps: usize) -> TrainConfig {
    TrainConfig {
        shards: shards.to_path_buf(),
        preset: "tiny".into(),
        model: ModelConfig::preset("tiny", vocab).unwrap(),
        steps,
        seq_len: 32,
        batch_tokens: 128,
        micro_batch: 4,
        schedule: Schedule { lr: 2e-3, min_lr: 2e-4, warmup: 2, total: steps },
        adamw: AdamWConfig::default(),
        grad_clip: 1.0,
        seed: 11,
        eval_every: 4,
        eval_batches: 2,
        ckpt_every: 3,
        doc_mask: true,
        peak_flops: None,
    }
}

pub fn read_metrics(p: &Path) -> Vec<Metric> {
    std::fs::read_to_string(p).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}
