//! Streaming WARC / WET reader.
//!
//! A WARC file is a sequence of records, each a `WARC/1.x` version line, a block of
//! `Name: value` header lines, an empty line, exactly `Content-Length` bytes of block,
//! and two CRLFs. Common Crawl compresses every record as its own gzip member, so a
//! `.warc.gz` is read through [`MultiGzDecoder`] and looks like one plain stream.
//!
//! The reader holds one record in memory at a time. Records larger than
//! [`WarcReaderOptions::max_record_bytes`] are reported and skipped without being
//! buffered, so a hostile `Content-Length` cannot exhaust memory.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

/// A header line longer than this is not a WARC header: treat it as garbage.
const MAX_HEADER_LINE: usize = 64 * 1024;
/// A header block with more bytes than this is garbage too.
const MAX_HEADER_BYTES: usize = 1024 * 1024;

/// One WARC record: version line, headers and the raw block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarcRecord {
    /// Byte offset of the record's `WARC/` line in the uncompressed stream.
    pub offset: u64,
    /// 0-based position of the record in the file (failed records count too).
    pub index: u64,
    /// The version from the first line, e.g. `WARC/1.0`.
    pub version: String,
    /// Headers in file order, names as written (use [`WarcRecord::header`] to look up).
    pub headers: Vec<(String, String)>,
    /// The record block: exactly `Content-Length` bytes.
    pub block: Vec<u8>,
}

impl WarcRecord {
    /// The first header called `name`, compared case-insensitively (WARC header
    /// names are case-insensitive like HTTP's).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// `WARC-Type`, lower-cased for matching (`response`, `request`, `conversion`...).
    pub fn warc_type(&self) -> String {
        self.header("WARC-Type").unwrap_or("").to_ascii_lowercase()
    }

    /// `WARC-Target-URI`, with the angle brackets some writers put around it removed.
    pub fn target_uri(&self) -> Option<&str> {
        self.header("WARC-Target-URI").map(|u| u.trim().trim_start_matches('<').trim_end_matches('>'))
    }
}

/// A record that could not be read. Iteration may continue after it (the reader
/// resynchronises on the next `WARC/1.` line) or end (truncation, gzip errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct WarcError {
    /// Byte offset in the uncompressed stream where the bad record started.
    pub offset: u64,
    /// 0-based position of the record in the file.
    pub index: u64,
    /// What was wrong, e.g. `truncated: Content-Length says 5123 bytes, 310 available`.
    pub reason: String,
}

impl fmt::Display for WarcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WARC record #{} at offset {}: {}", self.index, self.offset, self.reason)
    }
}

/// Reader settings.
#[derive(Debug, Clone)]
pub struct WarcReaderOptions {
    /// A record whose `Content-Length` exceeds this is reported and skipped
    /// (streamed past, never buffered). Default 64 MiB.
    pub max_record_bytes: u64,
}

impl Default for WarcReaderOptions {
    fn default() -> Self {
        Self { max_record_bytes: 64 * 1024 * 1024 }
    }
}

/// Streaming iterator over the records of a WARC or WET file.
///
/// ```no_run
/// use sluice_readers::web::warc::WarcReader;
/// for rec in WarcReader::open("crawl.warc.gz")? {
///     match rec {
///         Ok(rec) => println!("{} {:?}", rec.warc_type(), rec.target_uri()),
///         Err(e) => eprintln!("{e}"),
///     }
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct WarcReader<R = Box<dyn BufRead + Send>> {
    input: R,
    opts: WarcReaderOptions,
    /// Bytes consumed from the uncompressed stream so far.
    pos: u64,
    index: u64,
    done: bool,
    /// Set after a header error: skip lines until the next `WARC/1.` line.
    resync: bool,
}

impl<R> fmt::Debug for WarcReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WarcReader").field("pos", &self.pos).field("index", &self.index).field("done", &self.done).finish()
    }
}

impl WarcReader {
    /// Opens a `.warc`, `.warc.gz`, `.wet`, `.wet.gz` (or `.wat`) file. Compression is
    /// detected from the gzip magic bytes, not the name.
    pub fn open(path: impl AsRef<Path>) -> io::Result<WarcReader> {
        Self::open_with(path, WarcReaderOptions::default())
    }

    /// [`WarcReader::open`] with explicit options.
    pub fn open_with(path: impl AsRef<Path>, opts: WarcReaderOptions) -> io::Result<WarcReader> {
        Self::from_read(Box::new(File::open(path)?), opts)
    }

    /// [`WarcReader::open_with`] on an open stream (an object being
    /// downloaded, say).
    pub fn from_read(input: Box<dyn io::Read + Send>, opts: WarcReaderOptions) -> io::Result<WarcReader> {
        let mut file = BufReader::with_capacity(256 * 1024, input);
        let gz = file.fill_buf()?.starts_with(&[0x1f, 0x8b]);
        let input: Box<dyn BufRead + Send> =
            if gz { Box::new(BufReader::with_capacity(256 * 1024, MultiGzDecoder::new(file))) } else { Box::new(file) };
        Ok(WarcReader::with_options(input, opts))
    }
}

impl<R: BufRead> WarcReader<R> {
    /// Reads records from an already uncompressed stream (wrap gzip input in
    /// [`MultiGzDecoder`] and a `BufReader` first, or use [`WarcReader::open`]).
    pub fn new(input: R) -> WarcReader<R> {
        Self::with_options(input, WarcReaderOptions::default())
    }

    /// [`WarcReader::new`] with explicit options.
    pub fn with_options(input: R, opts: WarcReaderOptions) -> WarcReader<R> {
        WarcReader { input, opts, pos: 0, index: 0, done: false, resync: false }
    }

    /// Reads one line (up to and including `\n`) into `buf`, at most `limit` bytes.
    /// Returns `Ok(false)` at end of stream with nothing read. A line longer than
    /// the limit is consumed up to the limit and flagged by a missing `\n`.
    fn read_line(&mut self, buf: &mut Vec<u8>, limit: usize) -> io::Result<bool> {
        buf.clear();
        loop {
            let avail = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                return Ok(!buf.is_empty());
            }
            let room = limit - buf.len();
            let (n, end) = match memchr::memchr(b'\n', avail) {
                Some(i) if i < room => (i + 1, true),
                _ => (avail.len().min(room), false),
            };
            buf.extend_from_slice(&avail[..n]);
            self.input.consume(n);
            self.pos += n as u64;
            if end || buf.len() >= limit {
                return Ok(true);
            }
        }
    }

    /// Reads up to `n` bytes into a vector; fewer at end of stream or on a read
    /// error (a truncated gzip member), which is returned beside what was read.
    fn read_block(&mut self, n: u64) -> (Vec<u8>, Option<io::Error>) {
        // Do not trust `n` for the allocation: grow as bytes really arrive.
        let mut block = Vec::with_capacity(n.min(1 << 20) as usize);
        let mut err = None;
        let mut src = (&mut self.input).take(n);
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match src.read(&mut chunk) {
                Ok(0) => break,
                Ok(k) => block.extend_from_slice(&chunk[..k]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        self.pos += block.len() as u64;
        (block, err)
    }

    /// Discards up to `n` bytes, returning how many were there.
    fn skip_block(&mut self, n: u64) -> io::Result<u64> {
        let got = io::copy(&mut (&mut self.input).take(n), &mut io::sink())?;
        self.pos += got;
        Ok(got)
    }

    fn err(&mut self, offset: u64, index: u64, reason: impl Into<String>) -> WarcError {
        WarcError { offset, index, reason: reason.into() }
    }

    /// Reads the next record. `Ok(None)` at a clean end of stream.
    fn next_record(&mut self) -> Result<Option<WarcRecord>, WarcError> {
        let mut line = Vec::with_capacity(128);
        // Find the version line, skipping the blank lines that end the previous
        // record (and, after an error, anything up to the next `WARC/1.` line).
        let (offset, version) = loop {
            let start = self.pos;
            let index = self.index;
            match self.read_line(&mut line, MAX_HEADER_LINE) {
                Ok(false) => return Ok(None),
                Ok(true) => {}
                Err(e) => {
                    self.done = true;
                    return Err(self.err(start, index, format!("read error: {e}")));
                }
            }
            let trimmed = trim_eol(&line);
            if trimmed.starts_with(b"WARC/") && (!self.resync || trimmed.starts_with(b"WARC/1.")) {
                self.resync = false;
                break (start, String::from_utf8_lossy(trimmed).into_owned());
            }
            if self.resync || trimmed.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            // Garbage where a record should start: report once, then resync.
            self.resync = true;
            self.index += 1;
            let shown = String::from_utf8_lossy(&trimmed[..trimmed.len().min(40)]).into_owned();
            return Err(self.err(start, index, format!("expected a WARC/1.x version line, found {shown:?}")));
        };
        let index = self.index;
        self.index += 1;

        // Header lines up to the empty line.
        let mut headers: Vec<(String, String)> = Vec::with_capacity(16);
        let mut header_bytes = 0usize;
        loop {
            match self.read_line(&mut line, MAX_HEADER_LINE) {
                Ok(false) => {
                    self.done = true;
                    return Err(self.err(offset, index, "truncated: end of stream inside the WARC headers"));
                }
                Ok(true) => {}
                Err(e) => {
                    self.done = true;
                    return Err(self.err(offset, index, format!("read error in WARC headers: {e}")));
                }
            }
            header_bytes += line.len();
            if line.last() != Some(&b'\n') || header_bytes > MAX_HEADER_BYTES {
                self.resync = true;
                return Err(self.err(offset, index, "WARC header line or header block too long"));
            }
            let l = trim_eol(&line);
            if l.is_empty() {
                break;
            }
            if matches!(l[0], b' ' | b'\t') {
                // Folded continuation of the previous header (allowed by WARC 1.0).
                if let Some((_, v)) = headers.last_mut() {
                    v.push(' ');
                    v.push_str(String::from_utf8_lossy(l).trim());
                    continue;
                }
            }
            let Some(colon) = memchr::memchr(b':', l) else {
                self.resync = true;
                let shown = String::from_utf8_lossy(&l[..l.len().min(40)]).into_owned();
                return Err(self.err(offset, index, format!("malformed WARC header line {shown:?}")));
            };
            let name = String::from_utf8_lossy(&l[..colon]).trim().to_string();
            let value = String::from_utf8_lossy(&l[colon + 1..]).trim().to_string();
            headers.push((name, value));
        }

        let len_str = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("Content-Length")).map(|(_, v)| v.as_str());
        let len: u64 = match len_str.map(str::parse) {
            Some(Ok(n)) => n,
            Some(Err(_)) => {
                self.resync = true;
                let v = len_str.unwrap_or_default().to_string();
                return Err(self.err(offset, index, format!("invalid Content-Length {v:?}")));
            }
            None => {
                self.resync = true;
                return Err(self.err(offset, index, "missing Content-Length"));
            }
        };

        if len > self.opts.max_record_bytes {
            let max = self.opts.max_record_bytes;
            return match self.skip_block(len) {
                Ok(got) if got == len => Err(self.err(
                    offset,
                    index,
                    format!("record too large: Content-Length {len} exceeds the limit of {max} bytes; skipped"),
                )),
                Ok(got) => {
                    self.done = true;
                    Err(self.err(offset, index, format!("truncated: Content-Length says {len} bytes, {got} available")))
                }
                Err(e) => {
                    self.done = true;
                    Err(self.err(offset, index, format!("read error in record block: {e}")))
                }
            };
        }

        let (block, read_err) = self.read_block(len);
        if (block.len() as u64) < len {
            // A damaged gzip stream cannot be resynchronised: stop here.
            self.done = true;
            let cause = read_err.map(|e| format!(" ({e})")).unwrap_or_default();
            return Err(self.err(offset, index, format!("truncated: Content-Length says {len} bytes, {} available{cause}", block.len())));
        }
        Ok(Some(WarcRecord { offset, index, version, headers, block }))
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let mut l = line;
    while let [rest @ .., b'\n' | b'\r'] = l {
        l = rest;
    }
    l
}

impl<R: BufRead> Iterator for WarcReader<R> {
    type Item = Result<WarcRecord, WarcError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_record() {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => Some(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: &str, body: &[u8]) -> Vec<u8> {
        let mut v = format!("WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Target-URI: http://x.test/\r\nContent-Length: {}\r\n\r\n", body.len())
            .into_bytes();
        v.extend_from_slice(body);
        v.extend_from_slice(b"\r\n\r\n");
        v
    }

    fn read_all(data: Vec<u8>) -> Vec<Result<WarcRecord, WarcError>> {
        WarcReader::new(io::Cursor::new(data)).collect()
    }

    #[test]
    fn reads_records_with_offsets() {
        let a = record("warcinfo", b"hello");
        let b = record("response", b"HTTP/1.1 200 OK\r\n\r\nbody");
        let mut data = a.clone();
        data.extend_from_slice(&b);
        let recs = read_all(data);
        assert_eq!(recs.len(), 2);
        let r0 = recs[0].as_ref().unwrap();
        let r1 = recs[1].as_ref().unwrap();
        assert_eq!((r0.offset, r0.index), (0, 0));
        assert_eq!((r1.offset, r1.index), (a.len() as u64, 1));
        assert_eq!(r0.block, b"hello");
        assert_eq!(r1.header("warc-type"), Some("response"));
        assert_eq!(r1.version, "WARC/1.0");
        assert_eq!(r1.target_uri(), Some("http://x.test/"));
    }

    #[test]
    fn truncated_block_is_one_error_then_end() {
        let mut data = record("response", b"0123456789");
        data.extend_from_slice(b"WARC/1.0\r\nContent-Length: 5123\r\n\r\nshort");
        let recs = read_all(data);
        assert_eq!(recs.len(), 2);
        let e = recs[1].as_ref().unwrap_err();
        assert_eq!(e.reason, "truncated: Content-Length says 5123 bytes, 5 available");
        assert!(e.to_string().contains("offset"));
    }

    #[test]
    fn garbage_resyncs_to_next_record() {
        let mut data = record("request", b"a");
        data.extend_from_slice(b"this is not warc\r\nnor this\r\n");
        data.extend_from_slice(&record("response", b"b"));
        let recs = read_all(data);
        assert_eq!(recs.len(), 3, "{recs:?}");
        assert!(recs[1].as_ref().unwrap_err().reason.contains("expected a WARC"));
        assert_eq!(recs[2].as_ref().unwrap().block, b"b");
    }

    #[test]
    fn missing_length_resyncs() {
        let mut data = b"WARC/1.0\r\nWARC-Type: response\r\n\r\nxx\r\n\r\n".to_vec();
        data.extend_from_slice(&record("response", b"ok"));
        let recs = read_all(data);
        assert_eq!(recs.len(), 2);
        assert!(recs[0].as_ref().unwrap_err().reason.contains("missing Content-Length"));
        assert_eq!(recs[1].as_ref().unwrap().block, b"ok");
    }

    #[test]
    fn oversized_record_is_skipped_not_buffered() {
        let mut data = record("response", &[b'x'; 1000]);
        data.extend_from_slice(&record("response", b"small"));
        let opts = WarcReaderOptions { max_record_bytes: 100 };
        let recs: Vec<_> = WarcReader::with_options(io::Cursor::new(data), opts).collect();
        assert_eq!(recs.len(), 2);
        assert!(recs[0].as_ref().unwrap_err().reason.starts_with("record too large"));
        assert_eq!(recs[1].as_ref().unwrap().block, b"small");
    }

    #[test]
    fn hostile_length_does_not_allocate() {
        let data = b"WARC/1.0\r\nContent-Length: 99999999999999\r\n\r\nabc".to_vec();
        let opts = WarcReaderOptions { max_record_bytes: u64::MAX };
        let recs: Vec<_> = WarcReader::with_options(io::Cursor::new(data), opts).collect();
        assert_eq!(recs.len(), 1);
        assert!(recs[0].as_ref().unwrap_err().reason.contains("3 available"));
    }

    #[test]
    fn empty_and_blank_input() {
        assert!(read_all(vec![]).is_empty());
        assert!(read_all(b"\r\n\r\n".to_vec()).is_empty());
    }

    #[test]
    fn folded_headers_and_lf_only() {
        let data = b"WARC/1.1\nWARC-Type: metadata\nX-Long: a\n  b\nContent-Length: 2\n\nhi\n\n".to_vec();
        let recs = read_all(data);
        let r = recs[0].as_ref().unwrap();
        assert_eq!(r.header("x-long"), Some("a b"));
        assert_eq!(r.block, b"hi");
    }

    /// A tiny deterministic generator, so the fuzz tests need no dependency.
    fn lcg(state: &mut u64) -> u64 {
        *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        *state >> 33
    }

    #[test]
    fn random_garbage_never_panics_and_terminates() {
        let pieces: [&[u8]; 9] = [
            b"WARC/1.0\r\n",
            b"WARC/1.1\n",
            b"Content-Length: 12\r\n",
            b"Content-Length: -3\r\n",
            b"Content-Length: 99999999999999999999\r\n",
            b"\r\n",
            b"WARC-Type: response\r\n",
            b"no colon here\r\n",
            b"\x00\xff\xfe garbage \x1f\x8b",
        ];
        let mut st = 42;
        for _ in 0..300 {
            let mut data = Vec::new();
            for _ in 0..lcg(&mut st) % 30 {
                data.extend_from_slice(pieces[(lcg(&mut st) % pieces.len() as u64) as usize]);
            }
            let n = data.len();
            let recs: Vec<_> = WarcReader::new(io::Cursor::new(data)).take(n + 2).collect();
            assert!(recs.len() <= n + 1, "iteration must end");
        }
    }

    #[test]
    fn corrupt_gzip_member_reports_error_after_good_records() {
        use flate2::write::GzEncoder;
        use std::io::Write;
        let mut gz = Vec::new();
        for body in [&b"first"[..], &[b'x'; 5000][..]] {
            let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(&record("response", body)).unwrap();
            gz.extend(enc.finish().unwrap());
        }
        // Flip bytes in the middle of the second member's deflate data.
        let n = gz.len();
        for b in &mut gz[n - 30..n - 20] {
            *b ^= 0x55;
        }
        let input = io::BufReader::new(MultiGzDecoder::new(io::Cursor::new(gz)));
        let recs: Vec<_> = WarcReader::new(input).collect();
        assert_eq!(recs[0].as_ref().unwrap().block, b"first");
        // Garbage decoded before the checksum fails may show as a header error
        // first; either way, only errors follow and the last is gzip's.
        assert!(recs[1..].iter().all(|r| r.is_err()), "{recs:?}");
        let last = recs.last().unwrap().as_ref().unwrap_err();
        assert!(last.reason.contains("gzip") || last.reason.contains("deflate"), "{last}");
        assert!(last.offset > 0);
    }

    #[test]
    fn reader_is_send() {
        fn send<T: Send>() {}
        send::<WarcReader>();
        send::<WarcError>();
    }
}
