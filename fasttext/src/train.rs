//! Supervised training, as fastText's `FastText::train` with one thread:
//! the same dictionary (counting, minCount/minCountLabel thresholds, words
//! before labels sorted by count), initialisation, token-count driven
//! linearly decaying learning rate, and the softmax / one-vs-all /
//! hierarchical-softmax updates with normalised input gradients.
//!
//! Deterministic: one pass order, one thread, seeded `minstd_rand`
//! generators. The input file is streamed once to count and then once per
//! epoch; it is never held in memory.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{BufRead, BufReader, Seek};
use std::path::Path;
use std::time::Instant;

use crate::args::{Args, Loss, ModelKind};
use crate::dict::{is_space, Dictionary, Entry, EntryType, LineBuf, EOS};
use crate::matrix::{add_assign, axpy, dot8, Dense, Matrix};
use crate::model::{sigmoid, HsTree, Model};
use crate::Error;

/// fastText's `MAX_VOCAB_SIZE`: past 75% of it the count threshold rises while reading.
const MAX_VOCAB_SIZE: usize = 30_000_000;

/// Supervised training options; `Default` is fastText's `supervised` defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainArgs {
    /// Embedding dimension (fastText `-dim`, 100).
    pub dim: usize,
    /// Passes over the data (`-epoch`, 5).
    pub epoch: usize,
    /// Initial learning rate, decaying linearly to 0 (`-lr`, 0.1).
    pub lr: f64,
    /// Longest word n-gram (`-wordNgrams`, 1).
    pub word_ngrams: usize,
    /// Shortest char n-gram (`-minn`, 0).
    pub minn: usize,
    /// Longest char n-gram, 0 for none (`-maxn`, 0).
    pub maxn: usize,
    /// Hash buckets for n-grams (`-bucket`, 2000000; stored as 0 when no n-gram is hashed, as fastText does).
    pub bucket: usize,
    /// Minimum word count (`-minCount`, 1).
    pub min_count: u64,
    /// Minimum label count (`-minCountLabel`, 0).
    pub min_count_label: u64,
    /// Output layer (`-loss`, softmax).
    pub loss: Loss,
    /// Label prefix (`-label`, `__label__`).
    pub label: String,
    /// Seed of the initialisation and label sampling (`-seed`, 0).
    pub seed: u64,
    /// Tokens between learning-rate updates (`-lrUpdateRate`, 100).
    pub lr_update_rate: u64,
}

impl Default for TrainArgs {
    fn default() -> TrainArgs {
        TrainArgs {
            dim: 100,
            epoch: 5,
            lr: 0.1,
            word_ngrams: 1,
            minn: 0,
            maxn: 0,
            bucket: 2_000_000,
            min_count: 1,
            min_count_label: 0,
            loss: Loss::Softmax,
            label: "__label__".to_string(),
            seed: 0,
            lr_update_rate: 100,
        }
    }
}

impl TrainArgs {
    /// Checks every option's range.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Args(m));
        if !(1..=4096).contains(&self.dim) {
            return bad(format!("dim {} is outside 1..=4096", self.dim));
        }
        if !(1..=10_000).contains(&self.epoch) {
            return bad(format!("epoch {} is outside 1..=10000", self.epoch));
        }
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr <= 100.0) {
            return bad(format!("lr {} is outside (0, 100]", self.lr));
        }
        if !(1..=1024).contains(&self.word_ngrams) {
            return bad(format!("word_ngrams {} is outside 1..=1024", self.word_ngrams));
        }
        if self.maxn > 1024 || (self.maxn > 0 && (self.minn < 1 || self.minn > self.maxn)) {
            return bad(format!(
                "char n-grams minn {} .. maxn {} must satisfy 1 <= minn <= maxn <= 1024 (or maxn = 0)",
                self.minn, self.maxn
            ));
        }
        if self.bucket > i32::MAX as usize {
            return bad(format!("bucket {} exceeds {}", self.bucket, i32::MAX));
        }
        if self.bucket == 0 && (self.maxn > 0 || self.word_ngrams > 1) {
            return bad("bucket must be > 0 with word n-grams or char n-grams".into());
        }
        if !matches!(self.loss, Loss::Softmax | Loss::OneVsAll | Loss::HierarchicalSoftmax) {
            return bad(format!("loss {} is not trainable here (softmax, ova, hs)", self.loss.name()));
        }
        if self.label.is_empty() || self.label.bytes().any(is_space) {
            return bad(format!("label prefix {:?} must be non-empty and without whitespace", self.label));
        }
        if !(1..=i32::MAX as u64).contains(&self.lr_update_rate) {
            return bad(format!("lr_update_rate {} is outside 1..={}", self.lr_update_rate, i32::MAX));
        }
        if self.min_count > i64::MAX as u64 || self.min_count_label > i64::MAX as u64 {
            return bad("min_count / min_count_label too large".into());
        }
        Ok(())
    }

    /// The arguments a trained model stores.
    pub fn to_file_args(&self) -> Args {
        let hashes = self.word_ngrams > 1 || self.maxn > 0;
        Args {
            dim: self.dim as i32,
            ws: 5,
            epoch: self.epoch as i32,
            min_count: self.min_count.min(i32::MAX as u64) as i32,
            neg: 5,
            word_ngrams: self.word_ngrams as i32,
            loss: self.loss,
            model: ModelKind::Supervised,
            // fastText (and its Python module) store bucket 0 when nothing is hashed.
            bucket: if hashes { self.bucket as i32 } else { 0 },
            minn: self.minn as i32,
            maxn: self.maxn as i32,
            lr_update_rate: self.lr_update_rate as i32,
            t: 1e-4,
            label: self.label.clone(),
            qout: false,
        }
    }
}

/// What training did.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainReport {
    /// Tokens in the input file (words, labels, `</s>`), fastText's `ntokens`.
    pub tokens: u64,
    /// Words in the vocabulary after `min_count`.
    pub words: usize,
    /// Labels after `min_count_label`.
    pub labels: usize,
    /// Lines in the input file.
    pub lines: u64,
    /// Gradient updates (lines with a known label and a feature, over all epochs).
    pub examples: u64,
    /// Tokens processed by SGD (epoch × tokens, give or take an lr-update step).
    pub tokens_trained: u64,
    /// Mean loss over all updates.
    pub loss: f64,
    /// Seconds counting the vocabulary.
    pub dict_seconds: f64,
    /// Seconds of SGD.
    pub train_seconds: f64,
}

impl TrainReport {
    /// SGD throughput in tokens per second (fastText's "words/sec/thread").
    pub fn tokens_per_second(&self) -> f64 {
        self.tokens_trained as f64 / self.train_seconds.max(1e-9)
    }
}

/// `std::minstd_rand`.
#[derive(Clone, Debug)]
pub(crate) struct MinStd(u64);

impl MinStd {
    const M: u64 = 2_147_483_647;
    pub(crate) fn new(seed: u64) -> MinStd {
        let s = seed % Self::M;
        MinStd(if s == 0 { 1 } else { s })
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0 * 48271 % Self::M;
        self.0
    }
    /// libstdc++'s `generate_canonical<double, 53>`: two draws.
    fn canonical(&mut self) -> f64 {
        let r = 2_147_483_646.0f64;
        let mut sum = 0.0f64;
        let mut tmp = 1.0f64;
        for _ in 0..2 {
            sum += (self.next() - 1) as f64 * tmp;
            tmp *= r;
        }
        let ret = sum / tmp;
        if ret >= 1.0 {
            f64::from_bits(1.0f64.to_bits() - 1)
        } else {
            ret
        }
    }
    /// libstdc++'s `uniform_int_distribution<int>(0, hi)` (downscaling path).
    fn below_inclusive(&mut self, hi: u64) -> u64 {
        let urngrange = Self::M - 2; // max() - min()
        let uerange = hi + 1;
        let scaling = urngrange / uerange;
        let past = uerange * scaling;
        loop {
            let r = self.next() - 1;
            if r < past {
                return r / scaling;
            }
        }
    }
}

/// fastText's `DenseMatrix::uniform(1/dim)`, as run with 11 or more threads:
/// block b of m·n/10 values from `minstd_rand(b + seed)`.
fn init_input(rows: usize, dim: usize, seed: u64) -> Dense {
    let mut d = Dense::zeros(rows, dim);
    let a = (1.0f64 / dim as f64) as f32 as f64;
    let total = rows * dim;
    let block = total / 10;
    if block == 0 {
        let mut rng = MinStd::new(seed);
        for x in d.data.iter_mut() {
            *x = (rng.canonical() * (2.0 * a) - a) as f32;
        }
        return d;
    }
    for (b, chunk) in d.data.chunks_mut(block).enumerate() {
        let mut rng = MinStd::new(b as u64 + seed);
        for x in chunk {
            *x = (rng.canonical() * (a - -a) + -a) as f32;
        }
    }
    d
}

#[derive(Default)]
struct Fx(u64);
impl Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for c in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
        self.0 = h;
    }
}

struct Counter {
    index: HashMap<Box<[u8]>, u32, BuildHasherDefault<Fx>>,
    entries: Vec<Entry>,
    label: Vec<u8>,
    ntokens: u64,
    min_threshold: i64,
}

impl Counter {
    fn add(&mut self, w: &[u8]) {
        self.ntokens += 1;
        if let Some(&i) = self.index.get(w) {
            self.entries[i as usize].count += 1;
            return;
        }
        let kind = if w.starts_with(&self.label) { EntryType::Label } else { EntryType::Word };
        self.index.insert(w.into(), self.entries.len() as u32);
        self.entries.push(Entry { word: w.to_vec(), count: 1, kind });
        if self.entries.len() as f64 > 0.75 * MAX_VOCAB_SIZE as f64 {
            self.min_threshold += 1;
            let t = self.min_threshold;
            self.threshold(t, t);
        }
    }

    /// fastText's `Dictionary::threshold`: sort words before labels, by
    /// count descending (stable here, so ties keep first-seen order), drop
    /// the rare ones.
    fn threshold(&mut self, t: i64, tl: i64) {
        self.entries.sort_by(|a, b| (a.kind as u8).cmp(&(b.kind as u8)).then(b.count.cmp(&a.count)));
        self.entries.retain(|e| match e.kind {
            EntryType::Word => e.count >= t,
            EntryType::Label => e.count >= tl,
        });
        self.index.clear();
        for (i, e) in self.entries.iter().enumerate() {
            self.index.insert(e.word.as_slice().into(), i as u32);
        }
    }
}

fn open(path: &Path) -> Result<BufReader<std::fs::File>, Error> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    Ok(BufReader::with_capacity(1 << 20, f))
}

/// Counts the vocabulary (fastText's `Dictionary::readFromFile`).
fn build_dictionary(input: &Path, args: &TrainArgs, file_args: &Args) -> Result<(Dictionary, u64), Error> {
    let mut r = open(input)?;
    let mut c =
        Counter { index: HashMap::default(), entries: Vec::new(), label: args.label.as_bytes().to_vec(), ntokens: 0, min_threshold: 1 };
    let mut buf = Vec::new();
    let mut lines = 0u64;
    loop {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf).map_err(|e| Error::io(format!("reading {} line {}", input.display(), lines + 1), e))?;
        if n == 0 {
            break;
        }
        lines += 1;
        for tok in buf.split(|&b| is_space(b)).filter(|t| !t.is_empty()) {
            c.add(tok);
        }
        if buf.last() == Some(&b'\n') {
            c.add(EOS);
        }
    }
    c.threshold(args.min_count as i64, args.min_count_label as i64);
    if c.entries.iter().map(|e| e.word.len() as u64).sum::<u64>() > u32::MAX as u64 {
        return Err(Error::Input { path: input.into(), line: lines, msg: "the vocabulary's words take more than 4 GiB".into() });
    }
    let nwords = c.entries.iter().filter(|e| e.kind == EntryType::Word).count();
    if nwords == 0 {
        return Err(Error::Input { path: input.into(), line: lines, msg: "empty vocabulary: no word reaches min_count".into() });
    }
    if nwords == c.entries.len() {
        return Err(Error::Input {
            path: input.into(),
            line: lines,
            msg: format!("no labels: no token starts with the label prefix {:?} (at least min_count_label times)", args.label),
        });
    }
    Ok((Dictionary::new(c.entries, c.ntokens as i64, file_args), lines))
}

struct Trainer<'a> {
    loss: Loss,
    dim: usize,
    wi: &'a mut Dense,
    wo: &'a mut Dense,
    hs: Option<&'a HsTree>,
    hidden: Vec<f32>,
    grad: Vec<f32>,
    output: Vec<f32>,
    rng: MinStd,
    loss_sum: f64,
    examples: u64,
}

impl Trainer<'_> {
    fn binary_logistic(&mut self, row: usize, positive: bool, lr: f32) -> f64 {
        let wrow = self.wo.row_mut(row);
        let score = sigmoid(dot8(wrow, &self.hidden));
        let alpha = lr * (positive as u8 as f32 - score);
        axpy(&mut self.grad, alpha, wrow);
        axpy(wrow, alpha, &self.hidden);
        let p = if positive { score } else { 1.0 - score };
        -(p.max(1e-7) as f64).ln()
    }

    fn update(&mut self, ids: &[i32], labels: &[i32], lr: f32) {
        self.hidden.iter_mut().for_each(|h| *h = 0.0);
        for &id in ids {
            add_assign(&mut self.hidden, self.wi.row(id as usize));
        }
        let inv = (1.0f64 / ids.len() as f64) as f32;
        self.hidden.iter_mut().for_each(|h| *h *= inv);
        self.grad.iter_mut().for_each(|g| *g = 0.0);
        let loss = match self.loss {
            Loss::OneVsAll => {
                let mut l = 0.0;
                for i in 0..self.wo.m {
                    l += self.binary_logistic(i, labels.contains(&(i as i32)), lr);
                }
                l
            }
            Loss::Softmax => {
                let target = labels[self.rng.below_inclusive(labels.len() as u64 - 1) as usize] as usize;
                let osz = self.wo.m;
                self.output.clear();
                for i in 0..osz {
                    self.output.push(dot8(self.wo.row(i), &self.hidden));
                }
                let max = self.output.iter().copied().fold(self.output[0], f32::max);
                let mut z = 0.0f32;
                for o in self.output.iter_mut() {
                    *o = (*o - max).exp();
                    z += *o;
                }
                for o in self.output.iter_mut() {
                    *o /= z;
                }
                for i in 0..osz {
                    let label = if i == target { 1.0 } else { 0.0 };
                    let alpha = lr * (label - self.output[i]);
                    let wrow = self.wo.row_mut(i);
                    axpy(&mut self.grad, alpha, wrow);
                    axpy(wrow, alpha, &self.hidden);
                }
                -(self.output[target].max(1e-7) as f64).ln()
            }
            Loss::HierarchicalSoftmax => {
                let target = labels[self.rng.below_inclusive(labels.len() as u64 - 1) as usize] as usize;
                let tree = self.hs.expect("hs tree");
                let mut l = 0.0;
                for k in 0..tree.paths[target].len() {
                    let (node, code) = (tree.paths[target][k] as usize, tree.codes[target][k]);
                    l += self.binary_logistic(node, code, lr);
                }
                l
            }
            Loss::NegativeSampling => unreachable!("validated"),
        };
        self.loss_sum += loss;
        self.examples += 1;
        // fastText normalises the gradient of supervised models by the input count.
        self.grad.iter_mut().for_each(|g| *g *= inv);
        for &id in ids {
            add_assign(self.wi.row_mut(id as usize), &self.grad);
        }
        debug_assert_eq!(self.grad.len(), self.dim);
    }
}

/// Trains a supervised model on a fastText-format file (one example a line:
/// `__label__a __label__b text ...`). Single-threaded and deterministic: the
/// same file, arguments and seed give a byte-identical model.
pub fn train(input: &Path, args: &TrainArgs) -> Result<(Model, TrainReport), Error> {
    args.validate()?;
    let file_args = args.to_file_args();
    let t0 = Instant::now();
    let (dict, lines) = build_dictionary(input, args, &file_args)?;
    let dict_seconds = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let nwords = dict.nwords as usize;
    let nlabels = dict.nlabels as usize;
    let rows = nwords
        .checked_add(file_args.bucket as usize)
        .filter(|r| r.checked_mul(args.dim).is_some_and(|n| n <= isize::MAX as usize / 4))
        .ok_or_else(|| Error::Args("input matrix too large".into()))?;
    let mut wi = init_input(rows, args.dim, args.seed);
    let mut wo = Dense::zeros(nlabels, args.dim);
    let hs = (args.loss == Loss::HierarchicalSoftmax)
        .then(|| HsTree::build(&dict.label_entries().iter().map(|e| e.count).collect::<Vec<_>>()))
        .transpose()
        .map_err(Error::Args)?;
    let mut t = Trainer {
        loss: args.loss,
        dim: args.dim,
        wi: &mut wi,
        wo: &mut wo,
        hs: hs.as_ref(),
        hidden: vec![0.0; args.dim],
        grad: vec![0.0; args.dim],
        output: Vec::with_capacity(nlabels),
        rng: MinStd::new(args.seed),
        loss_sum: 0.0,
        examples: 0,
    };
    let ntokens = dict.ntokens as u64;
    let total = args.epoch as u64 * ntokens;
    let mut token_count = 0u64;
    let mut local = 0u64;
    let mut r = open(input)?;
    let mut buf = Vec::new();
    let mut lb = LineBuf::default();
    let mut line_no = 0u64;
    let mut pass_tokens = 0u64;
    'outer: while token_count < total {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf).map_err(|e| Error::io(format!("reading {} line {}", input.display(), line_no + 1), e))?;
        if n == 0 {
            // fastText rewinds at the end of the file and goes on until epoch × ntokens tokens are seen.
            if pass_tokens == 0 {
                return Err(Error::Input {
                    path: input.into(),
                    line: line_no,
                    msg: "the file has no tokens left (was it changed while training?)".into(),
                });
            }
            pass_tokens = 0;
            line_no = 0;
            r.rewind().map_err(|e| Error::io(format!("rewinding {}", input.display()), e))?;
            continue;
        }
        line_no += 1;
        let mut off = 0;
        while off < buf.len() {
            if token_count >= total {
                break 'outer;
            }
            let progress = token_count as f32 / total as f32;
            let lr = (args.lr * (1.0 - progress as f64)) as f32;
            let info = dict.line(&buf[off..], &mut lb);
            if info.ntokens == 0 {
                break;
            }
            off += info.consumed;
            local += info.ntokens;
            pass_tokens += info.ntokens;
            if !lb.labels.is_empty() && !lb.ids.is_empty() {
                t.update(&lb.ids, &lb.labels, lr);
            }
            if local > args.lr_update_rate {
                token_count += local;
                local = 0;
            }
        }
    }
    let (loss_sum, examples) = (t.loss_sum, t.examples);
    let train_seconds = t1.elapsed().as_secs_f64();
    let model = Model::from_parts(file_args, dict, Matrix::Dense(wi), Matrix::Dense(wo))?;
    let report = TrainReport {
        tokens: ntokens,
        words: nwords,
        labels: nlabels,
        lines,
        examples,
        tokens_trained: token_count + local,
        loss: if examples > 0 { loss_sum / examples as f64 } else { 0.0 },
        dict_seconds,
        train_seconds,
    };
    Ok((model, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minstd_matches_the_standard() {
        // C++11 requires the 10000th value of a default-seeded minstd_rand to be 399268537.
        let mut r = MinStd::new(1);
        let mut v = 0;
        for _ in 0..10000 {
            v = r.next();
        }
        assert_eq!(v, 399268537);
        assert_eq!(MinStd::new(0).next(), 48271);
    }

    #[test]
    fn defaults_are_fasttext_supervised() {
        let a = TrainArgs::default();
        assert_eq!((a.dim, a.epoch, a.lr, a.word_ngrams, a.minn, a.maxn, a.min_count), (100, 5, 0.1, 1, 0, 0, 1));
        assert_eq!(a.loss, Loss::Softmax);
        assert_eq!(a.to_file_args().bucket, 0);
        let b = TrainArgs { word_ngrams: 2, ..a };
        assert_eq!(b.to_file_args().bucket, 2_000_000);
    }

    #[test]
    fn validate_rejects_out_of_range() {
        for bad in [
            TrainArgs { dim: 0, ..Default::default() },
            TrainArgs { lr: f64::NAN, ..Default::default() },
            TrainArgs { minn: 3, maxn: 2, ..Default::default() },
            TrainArgs { word_ngrams: 2, bucket: 0, ..Default::default() },
            TrainArgs { loss: Loss::NegativeSampling, ..Default::default() },
            TrainArgs { label: String::new(), ..Default::default() },
        ] {
            assert!(matches!(bad.validate(), Err(Error::Args(_))), "{bad:?}");
        }
        TrainArgs::default().validate().unwrap();
    }

    #[test]
    fn init_is_uniform_in_range_and_seeded() {
        let a = init_input(50, 10, 0);
        assert!(a.data.iter().all(|&x| x.abs() <= 0.1 && x != 0.0));
        assert_eq!(a, init_input(50, 10, 0));
        assert_ne!(a, init_input(50, 10, 1));
    }
}
