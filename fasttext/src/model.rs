//! A supervised fastText model: load, save, predict.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::sync::OnceLock;

use crate::args::{Args, Loss, ModelKind};
use crate::dict::{Dictionary, LineBuf};
use crate::io::{Dst, Src};
use crate::matrix::Matrix;
use crate::Error;

/// fastText's file signature (`FASTTEXT_FILEFORMAT_MAGIC_INT32`).
pub const MAGIC: i32 = 793712314;
/// The format version fastText 0.9 writes.
pub const VERSION: i32 = 12;

const MAX_SIGMOID: i32 = 8;
/// Deepest hierarchical-softmax path accepted (a Huffman tree over i64 counts is < 100 deep).
const MAX_HS_DEPTH: usize = 4096;
const SIGMOID_TABLE_SIZE: i32 = 512;

/// fastText's sigmoid lookup table (`Loss::t_sigmoid_`).
fn sigmoid_table() -> &'static [f32] {
    static T: OnceLock<Vec<f32>> = OnceLock::new();
    T.get_or_init(|| {
        (0..=SIGMOID_TABLE_SIZE)
            .map(|i| {
                let x = (i * 2 * MAX_SIGMOID) as f32 / SIGMOID_TABLE_SIZE as f32 - MAX_SIGMOID as f32;
                (1.0f64 / (1.0f64 + (-x).exp() as f64)) as f32
            })
            .collect()
    })
}

/// fastText's tabulated sigmoid (`Loss::sigmoid`), used by one-vs-all.
#[inline]
pub(crate) fn sigmoid(x: f32) -> f32 {
    if x < -(MAX_SIGMOID as f32) {
        0.0
    } else if x > MAX_SIGMOID as f32 {
        1.0
    } else {
        let i = ((x + MAX_SIGMOID as f32) * SIGMOID_TABLE_SIZE as f32 / MAX_SIGMOID as f32 / 2.0) as i64;
        sigmoid_table()[i as usize]
    }
}

/// fastText's `std_log`: log(x + 1e-5) in double, returned as float.
#[inline]
pub(crate) fn std_log(x: f32) -> f32 {
    (x as f64 + 1e-5).ln() as f32
}

/// The probability fastText reports for an output value p: exp(std_log(p)).
#[inline]
fn reported(p: f32) -> f32 {
    std_log(p).exp()
}

/// The Huffman tree of hierarchical softmax (fastText's `buildTree`).
#[derive(Clone, Debug)]
pub(crate) struct HsTree {
    /// (left, right) children of each node; -1 for leaves.
    children: Vec<(i32, i32)>,
    /// Per label: internal nodes (output rows) from the leaf up, and the branch taken.
    pub(crate) paths: Vec<Vec<i32>>,
    pub(crate) codes: Vec<Vec<bool>>,
}

impl HsTree {
    /// Builds the tree; fails when a label's path is deeper than `MAX_HS_DEPTH`
    /// (only possible with counts no real training produces).
    pub(crate) fn build(counts: &[i64]) -> Result<HsTree, String> {
        let osz = counts.len();
        let total = 2 * osz - 1;
        let mut parent = vec![-1i32; total];
        let mut children = vec![(-1i32, -1i32); total];
        let mut count = vec![1e15 as i64; total];
        let mut binary = vec![false; total];
        count[..osz].copy_from_slice(counts);
        let mut leaf = osz as i64 - 1;
        let mut node = osz;
        for i in osz..total {
            let mut mini = [0usize; 2];
            for m in mini.iter_mut() {
                if leaf >= 0 && count[leaf as usize] < count[node] {
                    *m = leaf as usize;
                    leaf -= 1;
                } else {
                    *m = node;
                    node += 1;
                }
            }
            children[i] = (mini[0] as i32, mini[1] as i32);
            count[i] = count[mini[0]].saturating_add(count[mini[1]]);
            parent[mini[0]] = i as i32;
            parent[mini[1]] = i as i32;
            binary[mini[1]] = true;
        }
        let mut paths = Vec::with_capacity(osz);
        let mut codes = Vec::with_capacity(osz);
        for i in 0..osz {
            let (mut path, mut code) = (Vec::new(), Vec::new());
            let mut j = i;
            while parent[j] != -1 {
                if path.len() >= MAX_HS_DEPTH {
                    return Err(format!("label {i} is deeper than {MAX_HS_DEPTH} in the hierarchical-softmax tree"));
                }
                path.push(parent[j] - osz as i32);
                code.push(binary[j]);
                j = parent[j] as usize;
            }
            paths.push(path);
            codes.push(code);
        }
        Ok(HsTree { children, paths, codes })
    }
}

/// Reusable buffers for prediction: keep one per thread to score without
/// allocating per document.
#[derive(Default, Debug)]
pub struct Scratch {
    line: LineBuf,
    hidden: Vec<f32>,
    output: Vec<f32>,
    stack: Vec<(i32, f32)>,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch::default()
    }

    /// The number of input features of the last text scored (0: fastText
    /// would have returned no prediction).
    pub fn n_features(&self) -> usize {
        self.line.ids.len()
    }

    /// The known labels (label indices) that the last text scored carried,
    /// as fastText's `getLine` collects them (e.g. the gold labels of a test line).
    pub fn labels(&self) -> &[i32] {
        &self.line.labels
    }
}

/// A candidate in a top-k heap: the heap's top is the worst (lowest score,
/// then highest index).
#[derive(PartialEq)]
struct Cand {
    score: f32,
    idx: usize,
}
impl Eq for Cand {}
impl PartialOrd for Cand {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Cand {
    fn cmp(&self, o: &Self) -> Ordering {
        o.score.total_cmp(&self.score).then(self.idx.cmp(&o.idx))
    }
}

/// A supervised fastText model. Immutable once loaded or trained; share it
/// between threads (`Send + Sync`), with one [`Scratch`] per thread.
#[derive(Clone, Debug)]
pub struct Model {
    pub(crate) args: Args,
    pub(crate) dict: Dictionary,
    pub(crate) input: Matrix,
    pub(crate) output: Matrix,
    pub(crate) labels: Vec<String>,
    pub(crate) hs: Option<HsTree>,
}

impl Model {
    pub(crate) fn from_parts(args: Args, dict: Dictionary, input: Matrix, output: Matrix) -> Result<Model, Error> {
        let labels = dict.label_entries().iter().map(|e| String::from_utf8_lossy(&e.word).into_owned()).collect();
        let hs = if args.loss == Loss::HierarchicalSoftmax {
            let counts: Vec<i64> = dict.label_entries().iter().map(|e| e.count).collect();
            Some(HsTree::build(&counts).map_err(Error::Unsupported)?)
        } else {
            None
        };
        Ok(Model { args, dict, input, output, labels, hs })
    }

    /// Loads a `.bin` or `.ftz` model, checking every size against the file's length.
    pub fn load(path: &Path) -> Result<Model, Error> {
        let f = std::fs::File::open(path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        let len = f.metadata().map_err(|e| Error::io(format!("reading the size of {}", path.display()), e))?.len();
        let mut r = std::io::BufReader::with_capacity(1 << 16, f);
        Self::read_from(&mut r, Some(len)).map_err(|e| e.in_file(path))
    }

    /// Reads a model from a stream (its length unknown: buffers grow as the
    /// bytes arrive, so a corrupt size fails as truncation, not as an
    /// allocation).
    pub fn read(r: &mut dyn Read) -> Result<Model, Error> {
        let mut b = crate::io::buffered(r);
        Self::read_from(&mut b, None)
    }

    fn read_from(r: &mut dyn BufRead, len: Option<u64>) -> Result<Model, Error> {
        let mut src = Src::new(r, len);
        let magic = src.i32("magic number")?;
        if magic != MAGIC {
            return Err(Error::Format { offset: 0, msg: format!("not a fastText model (magic number {magic}, expected {MAGIC})") });
        }
        let version = src.i32("version")?;
        if version != 11 && version != 12 {
            return Err(Error::Unsupported(format!("format version {version} (this reader knows 11 and 12)")));
        }
        let mut args = Args::read(&mut src)?;
        if args.model != ModelKind::Supervised {
            return Err(Error::Unsupported(format!("a {:?} word-vector model, not a supervised classifier", args.model)));
        }
        if version == 11 {
            // fastText: old supervised models do not use char n-grams.
            args.maxn = 0;
        }
        let dict = Dictionary::read(&mut src, &args)?;
        let quant_input = src.bool("quantized-input flag")?;
        let input = Matrix::read(&mut src, quant_input, "input matrix")?;
        if !quant_input && dict.pruneidx_size >= 0 {
            return Err(src.format("a dense model with a pruned dictionary (fastText rejects it as an outdated model)"));
        }
        args.qout = src.bool("quantized-output flag")?;
        let output = Matrix::read(&mut src, quant_input && args.qout, "output matrix")?;
        let dim = args.dim as usize;
        if input.cols() != dim || output.cols() != dim {
            return Err(src.format(format!("matrix widths {} (input) and {} (output) differ from dim {dim}", input.cols(), output.cols())));
        }
        if dict.nlabels < 1 {
            return Err(src.format("the dictionary has no labels"));
        }
        if output.rows() != dict.nlabels as usize {
            return Err(src.format(format!("output matrix has {} rows for {} labels", output.rows(), dict.nlabels)));
        }
        let need = dict.rows_needed(&args);
        if (input.rows() as i64) < need {
            return Err(src.format(format!("input matrix has {} rows; the dictionary and buckets need {need}", input.rows())));
        }
        Model::from_parts(args, dict, input, output)
    }

    /// Writes the model in fastText's format (version 12): `.bin` when dense,
    /// `.ftz` layout when it was loaded quantized.
    pub fn write(&self, w: &mut dyn Write) -> Result<(), Error> {
        let mut bw = std::io::BufWriter::with_capacity(1 << 16, w);
        {
            let mut d = Dst { w: &mut bw };
            d.i32(MAGIC)?;
            d.i32(VERSION)?;
            self.args.write(&mut d)?;
            self.dict.write(&mut d)?;
            d.u8(self.input.is_quant() as u8)?;
            self.input.write(&mut d)?;
            d.u8(self.args.qout as u8)?;
            self.output.write(&mut d)?;
        }
        bw.flush().map_err(|e| Error::io("writing the model", e))
    }

    /// Saves atomically: writes a temporary file beside `path`, syncs it, renames it.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
        let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
        let res = (|| {
            let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(format!("creating {}", tmp.display()), e))?;
            self.write(&mut f)?;
            f.sync_all().map_err(|e| Error::io(format!("syncing {}", tmp.display()), e))?;
            std::fs::rename(&tmp, path).map_err(|e| Error::io(format!("renaming {} to {}", tmp.display(), path.display()), e))
        })();
        if res.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        res
    }

    /// The labels as stored, e.g. `__label__en`, in label-index order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The label prefix (fastText's `-label`; not stored in model files, so
    /// `__label__` for a loaded model unless changed with [`Model::with_label_prefix`]).
    pub fn label_prefix(&self) -> &str {
        &self.args.label
    }

    /// The same model, reading labels in input text by another prefix.
    pub fn with_label_prefix(mut self, prefix: &str) -> Model {
        self.args.label = prefix.to_string();
        self.dict.set_label_prefix(prefix);
        self
    }

    pub fn args(&self) -> &Args {
        &self.args
    }

    /// Whether the input matrix is product-quantized (a `.ftz` model).
    pub fn is_quantized(&self) -> bool {
        self.input.is_quant()
    }

    /// Words in the vocabulary (labels excluded).
    pub fn nwords(&self) -> usize {
        self.dict.nwords as usize
    }

    /// The input features of one line, as fastText's `getLine` computes them.
    pub fn features(&self, text: &str, scratch: &mut Scratch) -> Vec<i32> {
        self.dict.line(text.as_bytes(), &mut scratch.line);
        scratch.line.ids.clone()
    }

    /// Tokenises `text` and averages the input rows into `scratch.hidden`.
    /// Returns false when the text has no feature.
    fn hidden(&self, text: &[u8], s: &mut Scratch) -> bool {
        self.dict.line(text, &mut s.line);
        let ids = &s.line.ids;
        s.hidden.clear();
        s.hidden.resize(self.args.dim as usize, 0.0);
        if ids.is_empty() {
            return false;
        }
        for (k, &id) in ids.iter().enumerate() {
            if let Some(&next) = ids.get(k + 8) {
                self.input.prefetch_row(next as usize);
            }
            self.input.add_row_to(&mut s.hidden, id as usize);
        }
        // fastText: hidden.mul(1.0 / input.size()), the factor rounded to float.
        let a = (1.0f64 / ids.len() as f64) as f32;
        for h in s.hidden.iter_mut() {
            *h *= a;
        }
        true
    }

    /// Output-layer values (softmax probabilities or sigmoids) into `s.output`.
    fn compute_output(&self, s: &mut Scratch) {
        let n = self.labels.len();
        s.output.clear();
        s.output.extend((0..n).map(|i| self.output.dot_row(&s.hidden, i)));
        match self.args.loss {
            Loss::Softmax => {
                let max = s.output.iter().copied().fold(s.output[0], f32::max);
                let mut z = 0.0f32;
                for o in s.output.iter_mut() {
                    *o = (*o - max).exp();
                    z += *o;
                }
                for o in s.output.iter_mut() {
                    *o /= z;
                }
            }
            Loss::OneVsAll | Loss::NegativeSampling => {
                for o in s.output.iter_mut() {
                    *o = sigmoid(*o);
                }
            }
            Loss::HierarchicalSoftmax => unreachable!("hierarchical softmax has no flat output"),
        }
    }

    /// fastText's exact node sigmoid in hierarchical softmax.
    #[inline]
    fn hs_node(&self, hidden: &[f32], node: usize, osz: usize) -> f32 {
        let f = self.output.dot_row(hidden, node - osz);
        let denom = 1.0f32 + (-f).exp();
        (1.0f64 / denom as f64) as f32
    }

    /// Probability of every label (index = label index), exactly as fastText
    /// reports them for `predict(text, k=-1, threshold=0)`: `exp(log(p + 1e-5))`
    /// of the softmax, sigmoid (one-vs-all) or tree-path product (hierarchical
    /// softmax; here for every label, where fastText prunes those below 1e-5).
    ///
    /// `text` is read as fastText reads one line: tokens up to the first
    /// `'\n'` (which is the `</s>` token) or the end of the text. Python's
    /// `model.predict(text)` appends a `'\n'`; pass `text` with a trailing
    /// `'\n'` to score as it does. A text with no known feature (fastText
    /// returns no prediction) gives 0 for every label.
    pub fn predict_into(&self, text: &str, scratch: &mut Scratch, probs: &mut Vec<f32>) {
        self.predict_bytes_into(text.as_bytes(), scratch, probs)
    }

    /// [`Model::predict_into`] on raw bytes (fastText reads bytes; text need not be UTF-8).
    pub fn predict_bytes_into(&self, text: &[u8], scratch: &mut Scratch, probs: &mut Vec<f32>) {
        let n = self.labels.len();
        probs.clear();
        probs.resize(n, 0.0);
        if !self.hidden(text, scratch) {
            return;
        }
        match &self.hs {
            None => {
                self.compute_output(scratch);
                for (p, &o) in probs.iter_mut().zip(&scratch.output) {
                    *p = reported(o);
                }
            }
            Some(tree) => {
                let s = scratch;
                s.stack.clear();
                s.stack.push((2 * n as i32 - 2, 0.0));
                while let Some((node, score)) = s.stack.pop() {
                    let (l, r) = tree.children[node as usize];
                    if l == -1 && r == -1 {
                        probs[node as usize] = score.exp();
                        continue;
                    }
                    let f = self.hs_node(&s.hidden, node as usize, n);
                    s.stack.push((r, score + std_log(f)));
                    s.stack.push((l, score + std_log((1.0 - f as f64) as f32)));
                }
            }
        }
    }

    /// The `k` most probable labels with probability ≥ `threshold`, best
    /// first, as fastText's `predict(text, k, threshold)` (k = 0: all labels).
    /// Probabilities are as in [`Model::predict_into`]; equal ones are
    /// ordered by label index.
    pub fn predict(&self, text: &str, k: usize, threshold: f32) -> Vec<(usize, f32)> {
        let mut s = Scratch::new();
        self.predict_with(text, k, threshold, &mut s)
    }

    /// [`Model::predict`] with a reusable scratch.
    pub fn predict_with(&self, text: &str, k: usize, threshold: f32, s: &mut Scratch) -> Vec<(usize, f32)> {
        let n = self.labels.len();
        let k = if k == 0 { n } else { k };
        if !self.hidden(text.as_bytes(), s) {
            return Vec::new();
        }
        let mut heap: BinaryHeap<Cand> = BinaryHeap::with_capacity(k + 1);
        match &self.hs {
            None => {
                self.compute_output(s);
                for (i, &o) in s.output.iter().enumerate() {
                    if o < threshold {
                        continue;
                    }
                    let score = std_log(o);
                    if heap.len() == k && heap.peek().is_some_and(|w| score < w.score) {
                        continue;
                    }
                    heap.push(Cand { score, idx: i });
                    if heap.len() > k {
                        heap.pop();
                    }
                }
            }
            Some(tree) => {
                let min_score = std_log(threshold);
                self.hs_dfs(tree, k, min_score, &mut heap, s);
            }
        }
        let mut v: Vec<(usize, f32)> = heap.into_vec().into_iter().map(|c| (c.idx, c.score)).collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        v.into_iter().map(|(i, s)| (i, s.exp())).collect()
    }

    /// fastText's pruned depth-first search of the tree (left branch first),
    /// with an explicit stack so that a deep tree cannot overflow the call stack.
    fn hs_dfs(&self, tree: &HsTree, k: usize, min_score: f32, heap: &mut BinaryHeap<Cand>, s: &mut Scratch) {
        let osz = self.labels.len();
        s.stack.clear();
        s.stack.push((2 * osz as i32 - 2, 0.0));
        while let Some((node, score)) = s.stack.pop() {
            if score < min_score {
                continue;
            }
            if heap.len() == k && heap.peek().is_some_and(|w| score < w.score) {
                continue;
            }
            let (l, r) = tree.children[node as usize];
            if l == -1 && r == -1 {
                heap.push(Cand { score, idx: node as usize });
                if heap.len() > k {
                    heap.pop();
                }
                continue;
            }
            let f = self.hs_node(&s.hidden, node as usize, osz);
            s.stack.push((r, score + std_log(f)));
            s.stack.push((l, score + std_log((1.0 - f as f64) as f32)));
        }
    }
}
