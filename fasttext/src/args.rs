//! The hyper-parameters stored at the head of a fastText model.

use crate::io::{Dst, Src};
use crate::Error;

/// The output layer (fastText's `loss_name`; the number is its code in the file).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Loss {
    /// Hierarchical softmax over a Huffman tree of the labels (`hs`, code 1).
    HierarchicalSoftmax,
    /// Negative sampling (`ns`, code 2): predicts like one-vs-all; not trainable here.
    NegativeSampling,
    /// Softmax over the labels (`softmax`, code 3; the supervised default).
    Softmax,
    /// One independent sigmoid per label (`ova`, code 4), for multi-label data.
    OneVsAll,
}

impl Loss {
    pub(crate) fn code(self) -> i32 {
        match self {
            Loss::HierarchicalSoftmax => 1,
            Loss::NegativeSampling => 2,
            Loss::Softmax => 3,
            Loss::OneVsAll => 4,
        }
    }

    pub(crate) fn from_code(c: i32) -> Option<Loss> {
        Some(match c {
            1 => Loss::HierarchicalSoftmax,
            2 => Loss::NegativeSampling,
            3 => Loss::Softmax,
            4 => Loss::OneVsAll,
            _ => return None,
        })
    }

    /// fastText's name for it (`hs`, `ns`, `softmax`, `ova`).
    pub fn name(self) -> &'static str {
        match self {
            Loss::HierarchicalSoftmax => "hs",
            Loss::NegativeSampling => "ns",
            Loss::Softmax => "softmax",
            Loss::OneVsAll => "ova",
        }
    }

    /// Parses fastText's name (`hs`, `softmax`, `ova`/`one-vs-all`, `ns`).
    pub fn parse(s: &str) -> Option<Loss> {
        Some(match s {
            "hs" => Loss::HierarchicalSoftmax,
            "ns" => Loss::NegativeSampling,
            "softmax" => Loss::Softmax,
            "ova" | "one-vs-all" => Loss::OneVsAll,
            _ => return None,
        })
    }
}

/// fastText's `model_name`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    Cbow,
    SkipGram,
    Supervised,
}

impl ModelKind {
    fn code(self) -> i32 {
        match self {
            ModelKind::Cbow => 1,
            ModelKind::SkipGram => 2,
            ModelKind::Supervised => 3,
        }
    }
}

/// The arguments a model file stores (fastText's `Args::save`), plus the
/// label prefix, which fastText does not store (it is always `__label__` for
/// a loaded model unless the caller says otherwise).
#[derive(Clone, Debug, PartialEq)]
pub struct Args {
    pub dim: i32,
    pub ws: i32,
    pub epoch: i32,
    pub min_count: i32,
    pub neg: i32,
    pub word_ngrams: i32,
    pub loss: Loss,
    pub model: ModelKind,
    pub bucket: i32,
    pub minn: i32,
    pub maxn: i32,
    pub lr_update_rate: i32,
    pub t: f64,
    /// The label prefix (not stored in the file).
    pub label: String,
    /// Whether the output matrix is quantized (stored after the input matrix).
    pub qout: bool,
}

impl Args {
    pub(crate) fn read(src: &mut Src) -> Result<Args, Error> {
        let dim = src.i32("args.dim")?;
        let ws = src.i32("args.ws")?;
        let epoch = src.i32("args.epoch")?;
        let min_count = src.i32("args.minCount")?;
        let neg = src.i32("args.neg")?;
        let word_ngrams = src.i32("args.wordNgrams")?;
        let loss_code = src.i32("args.loss")?;
        let loss = Loss::from_code(loss_code).ok_or_else(|| src.format(format!("unknown loss code {loss_code}")))?;
        let model_code = src.i32("args.model")?;
        let model = match model_code {
            1 => ModelKind::Cbow,
            2 => ModelKind::SkipGram,
            3 => ModelKind::Supervised,
            c => return Err(src.format(format!("unknown model code {c}"))),
        };
        let bucket = src.i32("args.bucket")?;
        let minn = src.i32("args.minn")?;
        let maxn = src.i32("args.maxn")?;
        let lr_update_rate = src.i32("args.lrUpdateRate")?;
        let t = src.f64("args.t")?;
        let a = Args {
            dim,
            ws,
            epoch,
            min_count,
            neg,
            word_ngrams,
            loss,
            model,
            bucket,
            minn,
            maxn,
            lr_update_rate,
            t,
            label: "__label__".to_string(),
            qout: false,
        };
        if !(1..=1 << 16).contains(&a.dim) {
            return Err(src.format(format!("dim {} is out of range 1..=65536", a.dim)));
        }
        if a.bucket < 0 {
            return Err(src.format(format!("bucket {} is negative", a.bucket)));
        }
        if a.maxn > 1024 {
            return Err(src.format(format!("maxn {} is out of range", a.maxn)));
        }
        if a.word_ngrams > 1024 {
            return Err(src.format(format!("wordNgrams {} is out of range", a.word_ngrams)));
        }
        if a.bucket == 0 && (a.maxn > 0 || a.word_ngrams > 1) {
            return Err(src.format("bucket is 0 but the model hashes n-grams (maxn > 0 or wordNgrams > 1)"));
        }
        Ok(a)
    }

    pub(crate) fn write(&self, d: &mut Dst) -> Result<(), Error> {
        for v in [self.dim, self.ws, self.epoch, self.min_count, self.neg, self.word_ngrams, self.loss.code(), self.model.code()] {
            d.i32(v)?;
        }
        for v in [self.bucket, self.minn, self.maxn, self.lr_update_rate] {
            d.i32(v)?;
        }
        d.f64(self.t)
    }

    /// Whether tokens produce hashed features (char n-grams or word n-grams).
    pub(crate) fn hashes_ngrams(&self) -> bool {
        self.maxn > 0 || self.word_ngrams > 1
    }
}
