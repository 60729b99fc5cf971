//! Token ids carried on a document ([`crate::Document::tokens`]).
//!
//! A document's ids are stored as narrowly as they fit: `u16` when every id
//! does (every vocabulary up to 65,536), else `u32`. They sit behind an
//! `Arc`, so cloning a batch for fan-out copies a pointer, not the ids.
//!
//! Two serialised forms:
//! - **binary** ([`Tokens::write_binary`]): a width byte, a count and the
//!   little-endian ids, used by the engine's replay and spill files;
//! - **text** ([`Tokens::to_text`]), the `metadata.tokens` form that writers
//!   asked for the ids (`tokens: true`) write and that readers of sluice's
//!   own output read back: `u16:` then base64 of the u16 ids when every id
//!   fits, else base64 of the u32 ids (standard alphabet, `=` padding).

use std::sync::Arc;

/// The metadata key (and attribute: the count) of a document's token ids.
pub const TOKENS_KEY: &str = "tokens";
/// Prefix of the narrow text form.
const U16_PREFIX: &str = "u16:";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ids {
    U16(Box<[u16]>),
    U32(Box<[u32]>),
}

/// A document's token ids: immutable, cheap to clone.
///
/// `slot` remembers where `metadata.tokens` sat in the document's metadata
/// when the ids were set, so a writer asked to write them puts the key
/// where it always stood, before keys later stages added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens(Arc<Inner>);

/// Behind one pointer, so `Option<Tokens>` adds 8 bytes to a document.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Inner {
    ids: Ids,
    slot: usize,
}

impl Tokens {
    /// The ids, narrowed to u16 when every one fits.
    pub fn from_ids(ids: &[u32]) -> Tokens {
        let ids = if ids.iter().all(|&t| t <= u16::MAX as u32) {
            Ids::U16(ids.iter().map(|&t| t as u16).collect())
        } else {
            Ids::U32(ids.into())
        };
        Tokens(Arc::new(Inner { ids, slot: 0 }))
    }

    pub fn len(&self) -> usize {
        match &self.0.ids {
            Ids::U16(v) => v.len(),
            Ids::U32(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the ids are stored (and written) as u16.
    pub fn is_narrow(&self) -> bool {
        matches!(&self.0.ids, Ids::U16(_))
    }

    /// The ids in order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        let (a, b) = match &self.0.ids {
            Ids::U16(v) => (Some(v.iter().map(|&t| t as u32)), None),
            Ids::U32(v) => (None, Some(v.iter().copied())),
        };
        a.into_iter().flatten().chain(b.into_iter().flatten())
    }

    /// The ids as a new list.
    pub fn to_vec(&self) -> Vec<u32> {
        match &self.0.ids {
            Ids::U16(v) => v.iter().map(|&t| t as u32).collect(),
            Ids::U32(v) => v.to_vec(),
        }
    }

    /// Call `f` with the ids in order, a few thousand at a time, without
    /// building the whole list as u32.
    pub fn for_each_chunk<E>(&self, mut f: impl FnMut(&[u32]) -> Result<(), E>) -> Result<(), E> {
        const CHUNK: usize = 8192;
        match &self.0.ids {
            Ids::U32(v) => {
                for c in v.chunks(CHUNK) {
                    f(c)?;
                }
            }
            Ids::U16(v) => {
                let mut buf = Vec::with_capacity(CHUNK.min(v.len()));
                for c in v.chunks(CHUNK) {
                    buf.clear();
                    buf.extend(c.iter().map(|&t| t as u32));
                    f(&buf)?;
                }
            }
        }
        Ok(())
    }

    /// The first `n` ids (all of them when there are fewer), narrowed again
    /// when they fit, at the same metadata slot.
    pub fn prefix(&self, n: usize) -> Tokens {
        let t = match &self.0.ids {
            Ids::U16(v) => Tokens(Arc::new(Inner { ids: Ids::U16(v[..n.min(v.len())].into()), slot: 0 })),
            Ids::U32(v) => Tokens::from_ids(&v[..n.min(v.len())]),
        };
        t.with_slot(self.0.slot)
    }

    /// Where `metadata.tokens` goes in the document's metadata order.
    pub fn slot(&self) -> usize {
        self.0.slot
    }

    pub(crate) fn with_slot(mut self, slot: usize) -> Tokens {
        if self.0.slot != slot {
            Arc::make_mut(&mut self.0).slot = slot;
        }
        self
    }

    /// The binary form, appended to `out`: a width byte (2 or 4), the count
    /// as u64 and the ids, little-endian.
    pub fn write_binary(&self, out: &mut Vec<u8>) {
        match &self.0.ids {
            Ids::U16(v) => {
                out.push(2);
                out.extend_from_slice(&(v.len() as u64).to_le_bytes());
                out.reserve(v.len() * 2);
                for t in v.iter() {
                    out.extend_from_slice(&t.to_le_bytes());
                }
            }
            Ids::U32(v) => {
                out.push(4);
                out.extend_from_slice(&(v.len() as u64).to_le_bytes());
                out.reserve(v.len() * 4);
                for t in v.iter() {
                    out.extend_from_slice(&t.to_le_bytes());
                }
            }
        }
        out.extend_from_slice(&(self.0.slot as u64).to_le_bytes());
    }

    /// Read the binary form from the front of `buf`, advancing it; `None`
    /// when it is truncated or malformed.
    pub fn read_binary(buf: &mut &[u8]) -> Option<Tokens> {
        fn take<'a>(buf: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
            let (a, b) = buf.split_at_checked(n)?;
            *buf = b;
            Some(a)
        }
        let width = take(buf, 1)?[0];
        let n = u64::from_le_bytes(take(buf, 8)?.try_into().ok()?);
        let bytes = take(buf, usize::try_from(n).ok()?.checked_mul(width as usize)?)?;
        let ids = match width {
            2 => Ids::U16(bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect()),
            4 => Ids::U32(bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
            _ => return None,
        };
        let slot = usize::try_from(u64::from_le_bytes(take(buf, 8)?.try_into().ok()?)).ok()?;
        Some(Tokens(Arc::new(Inner { ids, slot })))
    }

    /// The `metadata.tokens` text form.
    pub fn to_text(&self) -> String {
        let narrow = self.is_narrow();
        let width = if narrow { 2 } else { 4 };
        let mut out = String::with_capacity(U16_PREFIX.len() + (self.len() * width).div_ceil(3) * 4);
        if narrow {
            out.push_str(U16_PREFIX);
        }
        // 3 ids at a time (6 or 12 bytes): whole base64 groups, so only the
        // last group can end in padding.
        let mut buf = Vec::with_capacity(12);
        let mut push = |c: &[u32]| {
            buf.clear();
            for &t in c {
                if narrow {
                    buf.extend_from_slice(&(t as u16).to_le_bytes());
                } else {
                    buf.extend_from_slice(&t.to_le_bytes());
                }
            }
            b64_push(&mut out, &buf);
        };
        let mut three = [0u32; 3];
        let mut k = 0;
        for t in self.iter() {
            three[k] = t;
            k += 1;
            if k == 3 {
                push(&three);
                k = 0;
            }
        }
        if k > 0 {
            push(&three[..k]);
        }
        out
    }

    /// Parse the `metadata.tokens` text form; `None` when it is not base64
    /// of u16 (with the `u16:` prefix) or u32 ids.
    pub fn from_text(s: &str) -> Option<Tokens> {
        let (body, width) = match s.strip_prefix(U16_PREFIX) {
            Some(b) => (b.as_bytes(), 2usize),
            None => (s.as_bytes(), 4usize),
        };
        let mut bytes = Vec::with_capacity(body.len() / 4 * 3);
        b64_decode_into(body, &mut bytes)?;
        if bytes.len() % width != 0 {
            return None;
        }
        let ids = if width == 2 {
            Ids::U16(bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect())
        } else {
            Ids::U32(bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
        };
        Some(Tokens(Arc::new(Inner { ids, slot: 0 })))
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Base64 of `bytes`, appended to `out` (standard alphabet, `=` padding).
fn b64_push(out: &mut String, bytes: &[u8]) {
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        let k = c.len() + 1;
        for i in 0..4 {
            if i < k {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
}

fn b64_value(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Decode base64 `b` (a multiple of 4 characters, padding only at the end)
/// into `out`.
fn b64_decode_into(b: &[u8], out: &mut Vec<u8>) -> Option<()> {
    if !b.len().is_multiple_of(4) {
        return None;
    }
    let groups = b.len() / 4;
    for (g, q) in b.chunks(4).enumerate() {
        let pad = q.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && g + 1 != groups) {
            return None;
        }
        let mut n = 0u32;
        for &c in &q[..4 - pad] {
            n = n << 6 | b64_value(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        let mut s = String::new();
        b64_push(&mut s, bytes);
        s
    }

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(b64(b"Man"), "TWFu");
        assert_eq!(b64(b"Ma"), "TWE=");
        assert_eq!(b64(b"M"), "TQ==");
        let mut out = Vec::new();
        assert!(b64_decode_into(b"TWE=", &mut out).is_some());
        assert_eq!(out, b"Ma");
        assert!(b64_decode_into(b"TW!=", &mut Vec::new()).is_none());
        // padding in the middle is refused
        assert!(b64_decode_into(b"AQ==AQ==", &mut Vec::new()).is_none());
    }

    #[test]
    fn narrow_when_every_id_fits() {
        assert!(Tokens::from_ids(&[0, 1, 65535]).is_narrow());
        assert!(!Tokens::from_ids(&[1, 65536]).is_narrow());
        assert!(Tokens::from_ids(&[]).is_narrow());
        // a prefix that fits is narrowed again, as the text form always was
        let wide = Tokens::from_ids(&[1, 2, 70000]);
        assert!(wide.prefix(2).is_narrow());
        assert_eq!(wide.prefix(2).to_vec(), vec![1, 2]);
        assert_eq!(wide.prefix(9).to_vec(), vec![1, 2, 70000]);
    }

    #[test]
    fn text_form_is_the_metadata_form() {
        // what `metadata.tokens` always held: u16: + base64 of u16 LE, or base64 of u32 LE
        assert_eq!(Tokens::from_ids(&[1, 2]).to_text(), format!("u16:{}", b64(&[1, 0, 2, 0])));
        assert_eq!(Tokens::from_ids(&[65536]).to_text(), b64(&[0, 0, 1, 0]));
        assert_eq!(Tokens::from_ids(&[]).to_text(), "u16:");
        assert_eq!(Tokens::from_text("u16:AQA=").unwrap().to_vec(), vec![1]);
        assert!(Tokens::from_text("u16:AQ==AQ==").is_none());
        assert!(Tokens::from_text("u16:AQAB").is_none()); // 3 bytes: not whole u16s
    }

    #[test]
    fn forms_round_trip_for_u16_u32_and_empty() {
        let cases: Vec<Vec<u32>> =
            vec![vec![], vec![0], vec![1, 2], vec![u32::MAX, 0, 65535, 7], (0..1000).collect(), (0..20_001u32).map(|i| i * 7919).collect()];
        for ids in cases {
            let t = Tokens::from_ids(&ids).with_slot(3);
            assert_eq!(t.to_vec(), ids);
            assert_eq!(t.iter().collect::<Vec<_>>(), ids);
            assert_eq!(t.len(), ids.len());
            let mut back = Vec::new();
            t.for_each_chunk(|c| {
                back.extend_from_slice(c);
                Ok::<_, ()>(())
            })
            .unwrap();
            assert_eq!(back, ids);
            assert_eq!(Tokens::from_text(&t.to_text()).unwrap().to_vec(), ids);
            let mut bin = Vec::new();
            t.write_binary(&mut bin);
            bin.push(0xAA);
            let mut rest = &bin[..];
            assert_eq!(Tokens::read_binary(&mut rest).unwrap(), t);
            assert_eq!(rest, [0xAA]);
            // every truncation is refused, never a panic
            for cut in 0..bin.len() - 1 {
                assert!(Tokens::read_binary(&mut &bin[..cut]).is_none(), "cut {cut}");
            }
        }
    }

    #[test]
    fn corrupt_binary_is_refused() {
        let mut bin = Vec::new();
        Tokens::from_ids(&[1, 2]).write_binary(&mut bin);
        let mut bad = bin.clone();
        bad[0] = 3; // unknown width
        assert!(Tokens::read_binary(&mut &bad[..]).is_none());
        let mut huge = bin.clone();
        huge[1..9].copy_from_slice(&u64::MAX.to_le_bytes()); // count overflows
        assert!(Tokens::read_binary(&mut &huge[..]).is_none());
    }

    #[test]
    fn clones_share_the_ids() {
        let t = Tokens::from_ids(&(0..100_000).collect::<Vec<u32>>());
        let c = t.clone();
        assert!(Arc::ptr_eq(&t.0, &c.0));
        assert_eq!(std::mem::size_of::<Option<Tokens>>(), 8);
    }
}
