//! Deterministic fan-in.
//!
//! A node with several inputs takes one batch from each live input in turn,
//! in the order the recipe lists them, so its output never depends on
//! timing. Waiting on one input while another is full is harmless when the
//! inputs come from independent sources: nothing the awaited input needs
//! depends on us. It deadlocks when the inputs *reconverge* (two paths from
//! one ancestor, a diamond): the ancestor blocks on the full branch, so the
//! branch we wait on starves. At such nodes the merge keeps draining every
//! input while it waits, buffering batches that arrive early in memory up
//! to a budget and spilling the rest to disk, so no producer ever waits on
//! it for long and memory stays bounded.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Select};

use crate::doc::{Batch, Document};
use crate::error::{Error, Result};

enum Queued {
    Mem(Batch, usize),
    Disk { offset: u64, len: u64 },
}

struct Input {
    rx: Receiver<Batch>,
    queue: VecDeque<Queued>,
    closed: bool,
    spill: Option<(PathBuf, File, u64)>,
}

/// Round-robin receiver over a node's inputs.
pub(crate) struct Merge {
    inputs: Vec<Input>,
    pos: usize,
    /// Drain all inputs while waiting (reconvergent inputs only).
    drain: bool,
    mem: usize,
    budget: usize,
    spill_base: PathBuf,
    next_spill_id: usize,
    /// Bytes written to spill files, for the stats.
    pub spilled_bytes: u64,
}

impl Merge {
    pub(crate) fn new(rx: Vec<Receiver<Batch>>, drain: bool, budget: usize, spill_base: PathBuf) -> Merge {
        let inputs = rx.into_iter().map(|rx| Input { rx, queue: VecDeque::new(), closed: false, spill: None }).collect();
        Merge { inputs, pos: 0, drain, mem: 0, budget, spill_base, next_spill_id: 0, spilled_bytes: 0 }
    }

    pub(crate) fn next(&mut self) -> Result<Option<Batch>> {
        loop {
            if self.inputs.is_empty() {
                return Ok(None);
            }
            let i = self.pos % self.inputs.len();
            if let Some(q) = self.inputs[i].queue.pop_front() {
                self.pos = (i + 1) % self.inputs.len();
                return self.load(i, q).map(Some);
            }
            if self.inputs[i].closed {
                self.remove(i);
                continue;
            }
            if !self.drain || self.inputs.len() == 1 {
                match self.inputs[i].rx.recv() {
                    Ok(b) => {
                        self.pos = (i + 1) % self.inputs.len();
                        return Ok(Some(b));
                    }
                    Err(_) => {
                        self.inputs[i].closed = true;
                        continue;
                    }
                }
            }
            // Wait for input i, but take whatever else arrives meanwhile.
            let live: Vec<usize> = (0..self.inputs.len()).filter(|&j| !self.inputs[j].closed).collect();
            let mut sel = Select::new();
            for &j in &live {
                sel.recv(&self.inputs[j].rx);
            }
            let op = sel.select();
            let j = live[op.index()];
            match op.recv(&self.inputs[j].rx) {
                Ok(b) if j == i => {
                    self.pos = (i + 1) % self.inputs.len();
                    return Ok(Some(b));
                }
                Ok(b) => self.enqueue(j, b)?,
                Err(_) => self.inputs[j].closed = true,
            }
        }
    }

    /// Drop input `i` (closed and drained); the next live input now sits at `i`.
    fn remove(&mut self, i: usize) {
        let input = self.inputs.remove(i);
        if let Some((path, file, _)) = input.spill {
            drop(file);
            let _ = std::fs::remove_file(path);
        }
        self.pos = if self.inputs.is_empty() { 0 } else { i % self.inputs.len() };
    }

    fn enqueue(&mut self, j: usize, b: Batch) -> Result<()> {
        let size = b.bytes() as usize + 64 * b.len();
        if self.mem + size <= self.budget {
            self.mem += size;
            self.inputs[j].queue.push_back(Queued::Mem(b, size));
            return Ok(());
        }
        if self.inputs[j].spill.is_none() {
            let path = PathBuf::from(format!("{}-{}.spill", self.spill_base.display(), self.next_spill_id));
            self.next_spill_id += 1;
            let file = crate::output::create_scratch(&path)?;
            self.inputs[j].spill = Some((path, file, 0));
        }
        let bytes = encode_batch(&b);
        let input = &mut self.inputs[j];
        let (path, file, end) = input.spill.as_mut().expect("just opened");
        file.seek(SeekFrom::Start(*end)).map_err(|e| Error::io(&*path, e))?;
        let mut w = BufWriter::new(&mut *file);
        w.write_all(&bytes).map_err(|e| Error::io(&*path, e))?;
        w.flush().map_err(|e| Error::io(&*path, e))?;
        drop(w);
        let offset = *end;
        *end += bytes.len() as u64;
        input.queue.push_back(Queued::Disk { offset, len: bytes.len() as u64 });
        self.spilled_bytes += bytes.len() as u64;
        Ok(())
    }

    fn load(&mut self, i: usize, q: Queued) -> Result<Batch> {
        match q {
            Queued::Mem(b, size) => {
                self.mem -= size;
                Ok(b)
            }
            Queued::Disk { offset, len } => {
                let (path, file, _) =
                    self.inputs[i].spill.as_mut().ok_or_else(|| Error::Internal("spilled batch without a spill file".into()))?;
                file.seek(SeekFrom::Start(offset)).map_err(|e| Error::io(&*path, e))?;
                let mut buf = vec![0u8; len as usize];
                BufReader::new(&mut *file).read_exact(&mut buf).map_err(|e| Error::io(&*path, e))?;
                decode_batch(&buf).map_err(|m| Error::Internal(format!("corrupt spill file {}: {m}", path.display())))
            }
        }
    }
}

impl Drop for Merge {
    fn drop(&mut self) {
        for input in &mut self.inputs {
            if let Some((path, _, _)) = input.spill.take() {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// First bytes of every encoded batch: the format's name and version. An
/// older sluice wrote a batch's document count here (a small number, so its
/// high bytes are zero): a replay file left by a killed run of another
/// version is refused instead of misread.
const BATCH_MAGIC: [u8; 8] = *b"sluiceB2";

/// A compact, exact encoding of a batch (attributes keep their f64 bits,
/// NaN included, which JSON could not; token ids are binary, u16 or u32).
pub(crate) fn encode_batch(b: &Batch) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.bytes() as usize + 64 * b.len());
    out.extend_from_slice(&BATCH_MAGIC);
    out.extend_from_slice(&(b.len() as u64).to_le_bytes());
    for d in &b.docs {
        put_str(&mut out, &d.id);
        put_str(&mut out, &d.text);
        put_str(&mut out, &d.source);
        put_str(&mut out, &serde_json::to_string(&d.metadata).expect("metadata serialises"));
        out.extend_from_slice(&(d.attributes.len() as u64).to_le_bytes());
        for (k, v) in &d.attributes {
            put_str(&mut out, k);
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        out.extend_from_slice(&(((d.pos.reader as u64) << 32) | d.pos.file as u64).to_le_bytes());
        out.extend_from_slice(&d.pos.record.to_le_bytes());
        match &d.tokens {
            None => out.push(0),
            Some(t) => {
                out.push(1);
                t.write_binary(&mut out);
            }
        }
    }
    out
}

/// Decode [`encode_batch`]'s bytes, or say why they are not a batch.
pub(crate) fn decode_batch(mut buf: &[u8]) -> std::result::Result<Batch, String> {
    fn u64_(buf: &mut &[u8]) -> Option<u64> {
        let (a, b) = buf.split_at_checked(8)?;
        *buf = b;
        Some(u64::from_le_bytes(a.try_into().ok()?))
    }
    fn str_(buf: &mut &[u8]) -> Option<String> {
        let n = usize::try_from(u64_(buf)?).ok()?;
        let (a, b) = buf.split_at_checked(n)?;
        *buf = b;
        String::from_utf8(a.to_vec()).ok()
    }
    fn doc(buf: &mut &[u8]) -> Option<Document> {
        let id = str_(buf)?;
        let text = str_(buf)?;
        let source: Arc<str> = Arc::from(str_(buf)?);
        let mut d = Document::new(id, text, source);
        d.metadata = serde_json::from_str(&str_(buf)?).ok()?;
        let na = u64_(buf)?;
        for _ in 0..na {
            let k = str_(buf)?;
            let v = f64::from_bits(u64_(buf)?);
            d.attributes.insert(k, v);
        }
        let rf = u64_(buf)?;
        d.pos = crate::doc::DocPos { reader: (rf >> 32) as u32, file: rf as u32, record: u64_(buf)? };
        let (&has_tokens, rest) = buf.split_first()?;
        *buf = rest;
        d.tokens = match has_tokens {
            0 => None,
            1 => Some(crate::tokens::Tokens::read_binary(buf)?),
            _ => return None,
        };
        Some(d)
    }
    match buf.split_at_checked(BATCH_MAGIC.len()) {
        Some((m, rest)) if m == BATCH_MAGIC => buf = rest,
        _ => return Err("not a batch of this version of sluice (written by another version, or damaged)".into()),
    }
    let n = u64_(&mut buf).ok_or("truncated batch")?;
    // a corrupt count must not reserve memory: every document takes >= 57 bytes
    let mut docs = Vec::with_capacity((n as usize).min(buf.len() / 57));
    for i in 0..n {
        docs.push(doc(&mut buf).ok_or_else(|| format!("document {i} of the batch is truncated or malformed"))?);
    }
    if !buf.is_empty() {
        return Err(format!("{} stray bytes after the batch", buf.len()));
    }
    Ok(Batch::new(docs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::Tokens;

    #[test]
    fn batch_codec_is_exact() {
        let mut d = Document::new("i", "t\u{0}中", Arc::from("s"));
        d.metadata.insert("k".into(), serde_json::json!({"a": [1, 2]}));
        d.attributes.insert("nan".into(), f64::NAN);
        d.attributes.insert("x".into(), 0.1 + 0.2);
        let b = Batch::new(vec![d.clone(), Document::new("j", "", Arc::from("s"))]);
        let back = decode_batch(&encode_batch(&b)).unwrap();
        assert_eq!(back.docs[1], b.docs[1]);
        assert!(back.docs[0].attributes["nan"].is_nan());
        assert_eq!(back.docs[0].attributes["x"].to_bits(), (0.1f64 + 0.2).to_bits());
        assert_eq!(back.docs[0].text, d.text);
        assert!(decode_batch(&encode_batch(&b)[..20]).is_err());
    }

    #[test]
    fn batch_codec_keeps_token_ids_in_binary() {
        let mut docs = Vec::new();
        for ids in [vec![], vec![1u32, 2, 65535], vec![7, 70000, 0]] {
            let mut d = Document::new(format!("d{}", ids.len()), "text", Arc::from("s"));
            d.metadata.insert("url".into(), "u".into());
            d.set_tokens(Tokens::from_ids(&ids));
            d.metadata.insert("after".into(), 1.into());
            docs.push(d);
        }
        docs.push(Document::new("none", "x", Arc::from("s")));
        let b = Batch::new(docs);
        let bytes = encode_batch(&b);
        let back = decode_batch(&bytes).unwrap();
        assert_eq!(back, b);
        assert_eq!(back.docs[2].tokens.as_ref().unwrap().to_vec(), vec![7, 70000, 0]);
        assert!(back.docs[1].tokens.as_ref().unwrap().is_narrow());
        // the ids are stored once, as binary, not as base64 text
        assert!(!String::from_utf8_lossy(&bytes).contains("u16:"));
        // every truncation is an error, never a panic
        for cut in 0..bytes.len() {
            assert!(decode_batch(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        // stray bytes and flipped token flags are errors
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(decode_batch(&extra).is_err());
    }

    #[test]
    fn batches_of_the_previous_format_are_refused() {
        // the previous format: the document count first, no magic
        let mut old = Vec::new();
        old.extend_from_slice(&1u64.to_le_bytes());
        old.extend_from_slice(&[0; 64]);
        assert!(decode_batch(&old).unwrap_err().contains("another version"));
        assert!(decode_batch(&[]).unwrap_err().contains("another version"));
    }
}
