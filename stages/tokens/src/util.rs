//! Small deterministic helpers: hashing, a seeded RNG, SHA-256, stage errors.

use sluice_pipeline::{DocPos, Error};

/// A uniform 64-bit hash of a document position under a seed: the key of
/// every seeded per-document decision (sampling, train/val split), so the
/// decision depends on the document and the seed, never on the task split.
pub fn pos_hash(seed: u64, pos: &DocPos, salt: u64) -> u64 {
    pos.seeded_hash(seed, salt)
}

/// `h` as a uniform number in [0, 1).
pub fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// SplitMix64: one u64 of state, identical on every platform.
#[derive(Debug, Clone, Copy)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x2545_F491_4F6C_DD1D)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, n) without modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }
    /// Fisher-Yates.
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            xs.swap(i, j);
        }
    }
}

/// SHA-256, as the shard format computes it.
pub use sluice_format::shard::{sha256_hex, Sha256};

pub fn stage_err(node: &str, message: impl Into<String>) -> Error {
    Error::Stage { node: node.to_string(), message: message.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_shuffle_is_a_seeded_permutation() {
        let mut a: Vec<u32> = (0..100).collect();
        let mut b = a.clone();
        Rng::new(7).shuffle(&mut a);
        Rng::new(7).shuffle(&mut b);
        assert_eq!(a, b);
        let mut c = a.clone();
        c.sort();
        assert_eq!(c, (0..100).collect::<Vec<_>>());
        let mut d: Vec<u32> = (0..100).collect();
        Rng::new(8).shuffle(&mut d);
        assert_ne!(a, d);
    }

    #[test]
    fn pos_hash_depends_on_seed_and_position() {
        let p = DocPos { reader: 0, file: 1, record: 2 };
        let q = DocPos { reader: 0, file: 1, record: 3 };
        assert_eq!(pos_hash(1, &p, 0), pos_hash(1, &p, 0));
        assert_ne!(pos_hash(1, &p, 0), pos_hash(2, &p, 0));
        assert_ne!(pos_hash(1, &p, 0), pos_hash(1, &q, 0));
        assert!(unit(u64::MAX) < 1.0);
    }
}
