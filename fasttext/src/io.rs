//! Little-endian binary reading with every size checked before allocating.
//!
//! fastText writes its model with raw `ostream::write` of native (x86/ARM:
//! little-endian) integers and floats; we read and write little-endian
//! explicitly.

use std::io::{BufRead, Read, Write};

use crate::Error;

/// Bytes read per step when filling a large buffer: a corrupt header that
/// announces a huge matrix costs at most this much memory beyond the bytes
/// that really are in the stream, even when its length is not known.
const CHUNK: usize = 1 << 20;

pub(crate) struct Src<'a> {
    r: &'a mut dyn BufRead,
    pos: u64,
    /// Total stream length, when known (a file): sizes are checked against it up front.
    len: Option<u64>,
}

impl<'a> Src<'a> {
    pub(crate) fn new(r: &'a mut dyn BufRead, len: Option<u64>) -> Src<'a> {
        Src { r, pos: 0, len }
    }

    pub(crate) fn format(&self, msg: impl Into<String>) -> Error {
        Error::Format { offset: self.pos, msg: msg.into() }
    }

    fn truncated(&self, what: &'static str, need: u64, have: u64) -> Error {
        Error::Truncated { what, offset: self.pos, need, have }
    }

    /// Fails unless `n` more bytes can be in the stream.
    pub(crate) fn need(&self, n: u64, what: &'static str) -> Result<(), Error> {
        if let Some(len) = self.len {
            let have = len.saturating_sub(self.pos);
            if n > have {
                return Err(self.truncated(what, n, have));
            }
        }
        Ok(())
    }

    fn fill(&mut self, buf: &mut [u8], what: &'static str) -> Result<(), Error> {
        let mut done = 0;
        while done < buf.len() {
            match self.r.read(&mut buf[done..]) {
                Ok(0) => {
                    let need = buf.len() as u64;
                    let have = done as u64;
                    return Err(self.truncated(what, need, have));
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(format!("reading {what}"), e)),
            }
        }
        self.pos += buf.len() as u64;
        Ok(())
    }

    pub(crate) fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], Error> {
        let mut b = [0u8; N];
        self.fill(&mut b, what)?;
        Ok(b)
    }

    pub(crate) fn i32(&mut self, what: &'static str) -> Result<i32, Error> {
        Ok(i32::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn i64(&mut self, what: &'static str) -> Result<i64, Error> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn f64(&mut self, what: &'static str) -> Result<f64, Error> {
        Ok(f64::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, Error> {
        Ok(self.array::<1>(what)?[0])
    }

    /// A C++ `bool` (one byte, 0 or 1).
    pub(crate) fn bool(&mut self, what: &'static str) -> Result<bool, Error> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(Error::Format { offset: self.pos - 1, msg: format!("{what} is {b}, not a boolean (0 or 1)") }),
        }
    }

    /// `n` raw bytes, allocated as they arrive.
    pub(crate) fn bytes(&mut self, n: u64, what: &'static str) -> Result<Vec<u8>, Error> {
        self.need(n, what)?;
        let n = usize::try_from(n).map_err(|_| self.format(format!("{what}: {n} bytes do not fit in memory")))?;
        let mut out = Vec::with_capacity(n.min(CHUNK));
        let mut buf = vec![0u8; n.min(CHUNK)];
        while out.len() < n {
            let k = (n - out.len()).min(CHUNK);
            self.fill(&mut buf[..k], what)?;
            out.extend_from_slice(&buf[..k]);
        }
        Ok(out)
    }

    /// `n` little-endian f32, allocated as they arrive.
    pub(crate) fn f32s(&mut self, n: u64, what: &'static str) -> Result<Vec<f32>, Error> {
        let nbytes = n.checked_mul(4).ok_or_else(|| self.format(format!("{what}: {n} floats overflow")))?;
        self.need(nbytes, what)?;
        let n = usize::try_from(n).map_err(|_| self.format(format!("{what}: {n} floats do not fit in memory")))?;
        let mut out: Vec<f32> = Vec::with_capacity(n.min(CHUNK));
        let mut buf = vec![0u8; (n * 4).min(CHUNK * 4)];
        while out.len() < n {
            let k = (n - out.len()).min(CHUNK);
            self.fill(&mut buf[..k * 4], what)?;
            out.extend(buf[..k * 4].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])));
        }
        Ok(out)
    }

    /// Bytes up to a NUL (consumed, not returned).
    pub(crate) fn cstring(&mut self, out: &mut Vec<u8>, what: &'static str) -> Result<(), Error> {
        out.clear();
        loop {
            let (found, used) = {
                let avail = match self.r.fill_buf() {
                    Ok(a) => a,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(Error::io(format!("reading {what}"), e)),
                };
                if avail.is_empty() {
                    return Err(self.truncated(what, out.len() as u64 + 1, out.len() as u64));
                }
                match avail.iter().position(|&b| b == 0) {
                    Some(i) => {
                        out.extend_from_slice(&avail[..i]);
                        (true, i + 1)
                    }
                    None => {
                        out.extend_from_slice(avail);
                        (false, avail.len())
                    }
                }
            };
            self.r.consume(used);
            self.pos += used as u64;
            if found {
                return Ok(());
            }
        }
    }
}

/// Little-endian writing with I/O errors named.
pub(crate) struct Dst<'a> {
    pub(crate) w: &'a mut dyn Write,
}

impl Dst<'_> {
    pub(crate) fn raw(&mut self, b: &[u8]) -> Result<(), Error> {
        self.w.write_all(b).map_err(|e| Error::io("writing the model", e))
    }
    pub(crate) fn i32(&mut self, v: i32) -> Result<(), Error> {
        self.raw(&v.to_le_bytes())
    }
    pub(crate) fn i64(&mut self, v: i64) -> Result<(), Error> {
        self.raw(&v.to_le_bytes())
    }
    pub(crate) fn f64(&mut self, v: f64) -> Result<(), Error> {
        self.raw(&v.to_le_bytes())
    }
    pub(crate) fn u8(&mut self, v: u8) -> Result<(), Error> {
        self.raw(&[v])
    }
    pub(crate) fn f32s(&mut self, v: &[f32]) -> Result<(), Error> {
        let mut buf = Vec::with_capacity(v.len().min(CHUNK) * 4);
        for c in v.chunks(CHUNK) {
            buf.clear();
            for x in c {
                buf.extend_from_slice(&x.to_le_bytes());
            }
            self.raw(&buf)?;
        }
        Ok(())
    }
}

/// Skips nothing; used to make `Read` a `BufRead` without double buffering when it already is one.
pub(crate) fn buffered(r: &mut dyn Read) -> std::io::BufReader<&mut dyn Read> {
    std::io::BufReader::with_capacity(1 << 16, r)
}
