//! A seeded Bloom filter over 128-bit keys, with a stable file format.
//!
//! Why not `probabilistic-collections`: its `BloomFilter` can be seeded
//! (`SipHasherBuilder::from_seed`), but it hashes items through Rust's
//! `std::hash::Hash`, whose output is not a stable format (it may change
//! between Rust releases and differs by type), and it saves through serde
//! in whatever layout the crate's structs have. A filter saved by one
//! build must give the same answers when a later build loads it to dedup
//! the next crawl dump, so the bit positions must be a documented function
//! of the key and the seed. Our keys are already 128-bit content hashes,
//! so the filter is small: `k` positions by double hashing
//! (Kirsch–Mitzenmacher) of two seeded xxh3 hashes of the key.
//!
//! File format (little endian): `SLUICEBF`, version `u32` (1), `k` `u32`,
//! seed `u64`, bit count `u64`, items inserted `u64`, the bit words
//! (`u64` each), then the xxh3-64 of everything before it.

use std::io::Write;
use std::path::Path;

use sluice_pipeline::limits::read_file_limited;
use sluice_pipeline::output::AtomicFile;
use sluice_pipeline::{Error, Result};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

const MAGIC: &[u8; 8] = b"SLUICEBF";

/// The largest filter sluice makes or loads: 16 GiB of bits. A recipe is
/// untrusted input, and `capacity: 1000000000000` would otherwise ask for
/// 1.2 TB before the first document.
pub const MAX_BLOOM_BYTES: u64 = 16 << 30;

/// Header and checksum bytes around the bit words in a saved filter.
const FILE_OVERHEAD: u64 = 48;

#[derive(Debug, Clone, PartialEq)]
pub struct BloomFilter {
    k: u32,
    seed: u64,
    bits: u64,
    items: u64,
    words: Vec<u64>,
}

fn bad(path: &Path, msg: impl Into<String>) -> Error {
    Error::Stage { node: "bloom".into(), message: format!("{}: {}", path.display(), msg.into()) }
}

impl BloomFilter {
    /// The bytes of bits a filter for `capacity` keys at false-positive
    /// rate `fp` takes (`-n ln p / ln² 2` bits, at least 64). Computed in
    /// floating point, so absurd inputs give a huge number, not an overflow.
    pub fn bytes_for(capacity: u64, fp: f64) -> f64 {
        let n = capacity.max(1) as f64;
        let m = (-(n * fp.ln()) / (std::f64::consts::LN_2 * std::f64::consts::LN_2)).ceil().max(64.0);
        (m / 64.0).ceil() * 8.0
    }

    /// The bytes of bits of a filter for `capacity` keys at rate `fp`, or
    /// why sluice will not make it; allocates nothing.
    // `!(x <= max)` also refuses NaN, on purpose.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    pub fn check_size(capacity: u64, fp: f64) -> std::result::Result<u64, String> {
        if !(fp > 0.0 && fp < 0.5) {
            return Err(format!("false-positive rate {fp} must be in (0, 0.5)"));
        }
        let bytes = Self::bytes_for(capacity, fp);
        if !(bytes <= MAX_BLOOM_BYTES as f64) {
            return Err(format!(
                "a filter for {capacity} keys at false-positive rate {fp} takes {:.1} GiB, more than the limit of {} GiB",
                bytes / (1u64 << 30) as f64,
                MAX_BLOOM_BYTES >> 30
            ));
        }
        Ok(bytes as u64)
    }

    /// A filter sized for `capacity` keys at false-positive rate `fp`, or
    /// why it cannot be made: `fp` outside (0, 0.5), or more than
    /// [`MAX_BLOOM_BYTES`] of bits.
    pub fn try_new(capacity: u64, fp: f64, seed: u64) -> std::result::Result<Self, String> {
        let bits = Self::check_size(capacity, fp)? * 8;
        let n = capacity.max(1) as f64;
        let k = ((bits as f64 / n) * std::f64::consts::LN_2).round().clamp(1.0, 30.0) as u32;
        Ok(BloomFilter { k, seed, bits, items: 0, words: vec![0; (bits / 64) as usize] })
    }

    /// [`BloomFilter::try_new`] for sizes known to be valid.
    ///
    /// # Panics
    /// When `try_new` refuses the size (a bug in the caller: configs check
    /// it in `validate`).
    pub fn new(capacity: u64, fp: f64, seed: u64) -> Self {
        Self::try_new(capacity, fp, seed).unwrap_or_else(|m| panic!("internal: unchecked Bloom filter size: {m}"))
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }
    pub fn hashes(&self) -> u32 {
        self.k
    }
    pub fn bits(&self) -> u64 {
        self.bits
    }
    /// Keys inserted that were not already (apparently) present.
    pub fn items(&self) -> u64 {
        self.items
    }

    #[inline]
    fn positions(&self, key: u128) -> impl Iterator<Item = u64> + '_ {
        let b = key.to_le_bytes();
        let h1 = xxh3_64_with_seed(&b, self.seed);
        let h2 = xxh3_64_with_seed(&b, self.seed ^ 0x9E37_79B9_7F4A_7C15) | 1;
        (0..self.k as u64).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % self.bits)
    }

    pub fn contains(&self, key: u128) -> bool {
        self.positions(key).all(|p| self.words[(p / 64) as usize] & (1 << (p % 64)) != 0)
    }

    /// Insert; returns whether the key was (apparently) present already.
    pub fn insert(&mut self, key: u128) -> bool {
        let mut present = true;
        let pos: Vec<u64> = self.positions(key).collect();
        for p in pos {
            let w = &mut self.words[(p / 64) as usize];
            if *w & (1 << (p % 64)) == 0 {
                present = false;
                *w |= 1 << (p % 64);
            }
        }
        if !present {
            self.items += 1;
        }
        present
    }

    /// The false-positive rate expected at the current fill.
    pub fn estimated_fp_rate(&self) -> f64 {
        let set: u64 = self.words.iter().map(|w| w.count_ones() as u64).sum();
        (set as f64 / self.bits as f64).powi(self.k as i32)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(48 + self.words.len() * 8);
        v.extend_from_slice(MAGIC);
        v.extend_from_slice(&1u32.to_le_bytes());
        v.extend_from_slice(&self.k.to_le_bytes());
        v.extend_from_slice(&self.seed.to_le_bytes());
        v.extend_from_slice(&self.bits.to_le_bytes());
        v.extend_from_slice(&self.items.to_le_bytes());
        for w in &self.words {
            v.extend_from_slice(&w.to_le_bytes());
        }
        let sum = xxh3_64(&v);
        v.extend_from_slice(&sum.to_le_bytes());
        v
    }

    /// Save atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut f = AtomicFile::create(path)?;
        f.write_all(&self.to_bytes()).map_err(|e| Error::Io { path: path.into(), source: e })?;
        f.commit()
    }

    /// Load a saved filter. Only regular files of at most
    /// [`MAX_BLOOM_BYTES`] (plus the header) are read.
    pub fn load(path: &Path) -> Result<Self> {
        let b = read_file_limited(path, MAX_BLOOM_BYTES + FILE_OVERHEAD)?;
        Self::from_bytes(&b).map_err(|m| bad(path, m))
    }

    /// Only the seed, from a saved filter's header (a regular file within
    /// the size limit, as for [`BloomFilter::load`]).
    pub fn read_seed(path: &Path) -> Result<u64> {
        use std::io::Read;
        let meta = std::fs::metadata(path).map_err(|e| Error::Io { path: path.into(), source: e })?;
        if !meta.is_file() {
            return Err(bad(path, "not a regular file"));
        }
        if meta.len() > MAX_BLOOM_BYTES + FILE_OVERHEAD {
            return Err(bad(
                path,
                format!("{} bytes, more than the limit of {} GiB for a Bloom filter", meta.len(), MAX_BLOOM_BYTES >> 30),
            ));
        }
        let mut h = [0u8; 24];
        let mut f = std::fs::File::open(path).map_err(|e| Error::Io { path: path.into(), source: e })?;
        f.read_exact(&mut h).map_err(|_| bad(path, "not a sluice Bloom filter (too short)"))?;
        if &h[0..8] != MAGIC {
            return Err(bad(path, "not a sluice Bloom filter (bad magic)"));
        }
        Ok(u64::from_le_bytes(h[16..24].try_into().unwrap()))
    }

    pub fn from_bytes(b: &[u8]) -> std::result::Result<Self, String> {
        if b.len() < 48 || &b[0..8] != MAGIC {
            return Err("not a sluice Bloom filter (bad magic or too short)".into());
        }
        let (body, sum) = b.split_at(b.len() - 8);
        if xxh3_64(body) != u64::from_le_bytes(sum.try_into().unwrap()) {
            return Err("checksum mismatch: the filter file is corrupt or truncated".into());
        }
        let u32_ = |o: usize| u32::from_le_bytes(body[o..o + 4].try_into().unwrap());
        let u64_ = |o: usize| u64::from_le_bytes(body[o..o + 8].try_into().unwrap());
        if u32_(8) != 1 {
            return Err(format!("unsupported filter version {}", u32_(8)));
        }
        let (k, seed, bits, items) = (u32_(12), u64_(16), u64_(24), u64_(32));
        let words: Vec<u64> = body[40..].chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect();
        // k bounds the work per key: a filter of ours has at most 30.
        if bits == 0 || bits % 64 != 0 || words.len() as u64 * 64 != bits || k == 0 || k > 64 {
            return Err("inconsistent header (bit count, hash count)".into());
        }
        Ok(BloomFilter { k, seed, bits, items, words })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_the_rate_holds() {
        let mut f = BloomFilter::new(10_000, 0.01, 42);
        for i in 0..10_000u128 {
            f.insert(i * 0x1_0000_0001);
        }
        assert!((0..10_000u128).all(|i| f.contains(i * 0x1_0000_0001)));
        let fp = (10_000..110_000u128).filter(|i| f.contains(i * 0x1_0000_0001)).count() as f64 / 100_000.0;
        assert!(fp < 0.02, "{fp}");
    }

    #[test]
    fn seeded_and_round_trips_through_a_file() {
        let mut a = BloomFilter::new(1000, 0.001, 7);
        let mut b = BloomFilter::new(1000, 0.001, 7);
        for i in 0..500u128 {
            a.insert(i);
            b.insert(i);
        }
        assert_eq!(a.to_bytes(), b.to_bytes(), "same seed, same bits");
        let c = {
            let mut c = BloomFilter::new(1000, 0.001, 8);
            (0..500u128).for_each(|i| {
                c.insert(i);
            });
            c
        };
        assert_ne!(a.to_bytes()[40..], c.to_bytes()[40..], "another seed, other bits");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.bloom");
        a.save(&p).unwrap();
        assert_eq!(BloomFilter::load(&p).unwrap(), a);
        assert_eq!(BloomFilter::read_seed(&p).unwrap(), 7);
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[100] ^= 1;
        std::fs::write(&p, &bytes).unwrap();
        let e = BloomFilter::load(&p).unwrap_err().to_string();
        assert!(e.contains("f.bloom") && e.contains("checksum"), "{e}");
    }

    #[test]
    fn absurd_sizes_are_refused_instead_of_overflowing_or_allocating() {
        // u64::MAX keys used to wrap the bit count to 0 (a division by zero
        // on the first key); 10^12 keys asked for 1.2 TB.
        for cap in [u64::MAX, 1_000_000_000_000] {
            let e = BloomFilter::try_new(cap, 0.001, 1).unwrap_err();
            assert!(e.contains("GiB") && e.contains("limit of 16 GiB"), "{e}");
        }
        assert!(BloomFilter::try_new(1000, 0.0, 1).unwrap_err().contains("(0, 0.5)"));
        assert!(BloomFilter::try_new(1000, f64::NAN, 1).is_err());
        let f = BloomFilter::try_new(1_000_000, 0.001, 1).unwrap();
        assert_eq!(f.bits() / 8, BloomFilter::bytes_for(1_000_000, 0.001) as u64);
    }

    #[test]
    fn loading_refuses_devices_and_hostile_headers() {
        let e = BloomFilter::load(Path::new("/dev/zero")).unwrap_err();
        let msg = format!("{e}: {:?}", std::error::Error::source(&e));
        assert!(msg.contains("/dev/zero") && msg.contains("not a regular file"), "{msg}");
        let e = BloomFilter::read_seed(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(e.contains("/dev/zero") && e.contains("not a regular file"), "{e}");
        // a header with k = 2^32 - 1 would make every lookup loop for ever
        let mut b = BloomFilter::new(100, 0.01, 3).to_bytes();
        b[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        let n = b.len() - 8;
        let sum = xxh3_64(&b[..n]);
        b[n..].copy_from_slice(&sum.to_le_bytes());
        assert!(BloomFilter::from_bytes(&b).unwrap_err().contains("inconsistent header"));
    }
}
