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
/// Input rows fetched ahead of the one being added.
const PREFETCH_AHEAD: usize = 12;
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
                // fastText compares against node's count even when node is not
                // built yet (count 1e15); with counts from a corrupt file that
                // could run past the built nodes, so an unbuilt node is never taken.
                if leaf >= 0 && (node >= i || count[leaf as usize] < count[node]) {
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
        self.line.ids.len() + self.line.collapsed
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
    /// With char n-grams and a dense input matrix: per known word, the sum
    /// of its feature rows (its own row and its char n-grams'), so that
    /// scoring fetches one row per known word instead of one per n-gram.
    /// Derived, never written. Summing a word's rows first changes the
    /// float addition order, so it is used on lines of at most
    /// `COLLAPSE_MAX_TOKENS` tokens, where probabilities stay within 1e-6
    /// of fastText's order.
    word_sums: Option<std::sync::Arc<Vec<f32>>>,
}

/// Most floats the per-word row sums may take (256 MB); a larger model
/// scores without them.
const MAX_WORD_SUM_FLOATS: usize = 1 << 26;

/// Share of the training corpus's word occurrences whose words get a row
/// sum: fastText sorts words by count, so this is a prefix of the
/// vocabulary, and the rare words (most of the vocabulary, few of the
/// tokens) are not worth summing at load.
const SUMMED_OCCURRENCES: f64 = 0.98;

/// The per-word row sums of [`Model::word_sums`], when they apply: for the
/// most frequent words, which make up `SUMMED_OCCURRENCES` of the
/// dictionary's counts.
fn word_sums(args: &Args, dict: &Dictionary, input: &Matrix) -> Option<std::sync::Arc<Vec<f32>>> {
    let (nwords, dim) = (dict.nwords.max(0) as usize, args.dim.max(0) as usize);
    if args.maxn <= 0 || input.is_quant() || nwords == 0 {
        return None;
    }
    let counts = || dict.entries[..nwords].iter().map(|e| e.count.max(0) as f64);
    let total: f64 = counts().sum();
    let mut acc = 0.0;
    let mut k = 0;
    for c in counts() {
        if acc >= SUMMED_OCCURRENCES * total {
            break;
        }
        acc += c;
        k += 1;
    }
    let k = k.min(MAX_WORD_SUM_FLOATS / dim.max(1));
    if k == 0 {
        return None;
    }
    let mut sums = vec![0.0f32; k * dim];
    for (w, row) in sums.chunks_exact_mut(dim).enumerate() {
        for &id in dict.word_features(w)? {
            input.add_row_to(row, id as usize);
        }
    }
    Some(std::sync::Arc::new(sums))
}

impl Model {
    /// Words with an id below this have a row sum (0: none).
    fn summed_words(&self) -> i32 {
        match (&self.word_sums, self.args.dim) {
            (Some(s), d) if d > 0 => (s.len() / d as usize) as i32,
            _ => 0,
        }
    }

    pub(crate) fn from_parts(args: Args, dict: Dictionary, input: Matrix, output: Matrix) -> Result<Model, Error> {
        let labels = dict.label_entries().iter().map(|e| String::from_utf8_lossy(&e.word).into_owned()).collect();
        let hs = if args.loss == Loss::HierarchicalSoftmax {
            let counts: Vec<i64> = dict.label_entries().iter().map(|e| e.count).collect();
            Some(HsTree::build(&counts).map_err(Error::Unsupported)?)
        } else {
            None
        };
        let word_sums = word_sums(&args, &dict, &input);
        Ok(Model { args, dict, input, output, labels, hs, word_sums })
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
        scratch.line.collapse_below = 0;
        self.dict.line(text.as_bytes(), &mut scratch.line);
        scratch.line.ids.clone()
    }

    /// Tokenises `text` and averages the input rows into `scratch.hidden`.
    /// Returns false when the text has no feature.
    fn hidden(&self, text: &[u8], s: &mut Scratch) -> bool {
        s.line.collapse_below = self.summed_words();
        self.dict.line(text, &mut s.line);
        self.average(s)
    }

    fn average(&self, s: &mut Scratch) -> bool {
        let ids = &s.line.ids;
        s.hidden.clear();
        s.hidden.resize(self.args.dim as usize, 0.0);
        let n = ids.len() + s.line.collapsed;
        if n == 0 {
            return false;
        }
        if let (Some(sums), false) = (&self.word_sums, s.line.words.is_empty()) {
            let dim = self.args.dim as usize;
            for &w in &s.line.words {
                crate::matrix::add_assign(&mut s.hidden, &sums[w as usize * dim..(w as usize + 1) * dim]);
            }
        }
        for (k, &id) in ids.iter().enumerate() {
            if let Some(&next) = ids.get(k + PREFETCH_AHEAD) {
                self.input.prefetch_row(next as usize);
            }
            self.input.add_row_to(&mut s.hidden, id as usize);
        }
        // fastText: hidden.mul(1.0 / input.size()), the factor rounded to float.
        let a = (1.0f64 / n as f64) as f32;
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
    /// `'\n'` to score as it does, or use [`Model::predict_document_into`] for
    /// a multi-line document. A text with no known feature (fastText
    /// returns no prediction) gives 0 for every label.
    pub fn predict_into(&self, text: &str, scratch: &mut Scratch, probs: &mut Vec<f32>) {
        self.predict_bytes_into(text.as_bytes(), scratch, probs)
    }

    /// [`Model::predict_into`] on raw bytes (fastText reads bytes; text need not be UTF-8).
    pub fn predict_bytes_into(&self, text: &[u8], scratch: &mut Scratch, probs: &mut Vec<f32>) {
        scratch.line.collapse_below = self.summed_words();
        self.dict.line(text, &mut scratch.line);
        self.probs_of_line(scratch, probs)
    }

    /// Probabilities of a whole multi-line document read as one line, its
    /// newlines as spaces: what Python's `model.predict(text.replace("\n", " "))`
    /// gives (datatrove's and DCLM's way of scoring documents), without
    /// copying the text.
    pub fn predict_document_into(&self, text: &str, scratch: &mut Scratch, probs: &mut Vec<f32>) {
        scratch.line.collapse_below = self.summed_words();
        self.dict.document(text.as_bytes(), &mut scratch.line);
        self.probs_of_line(scratch, probs)
    }

    /// Fills `probs` from the features already in `scratch.line`.
    fn probs_of_line(&self, scratch: &mut Scratch, probs: &mut Vec<f32>) {
        let n = self.labels.len();
        probs.clear();
        probs.resize(n, 0.0);
        if !self.average(scratch) {
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
        let k = if k == 0 { n } else { k.min(n) };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{train, TrainArgs};

    const TRAIN: &str = "__label__pos good great fine lovely nice\n\
        __label__neg bad awful poor terrible\n\
        __label__pos great lovely good day\n\
        __label__neg awful bad day poor\n\
        __label__pos __label__neg mixed good bad\n\
        __label__pos nice fine good\n\
        __label__neg terrible poor awful\n";

    fn train_small(loss: Loss, seed: u64) -> Model {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("train.txt");
        std::fs::write(&p, TRAIN.repeat(20)).unwrap();
        let a = TrainArgs { dim: 8, epoch: 5, lr: 0.5, word_ngrams: 2, minn: 2, maxn: 3, bucket: 500, loss, seed, ..Default::default() };
        train(&p, &a).unwrap().0
    }

    #[test]
    fn summed_word_rows_score_like_every_row() {
        for loss in [Loss::Softmax, Loss::OneVsAll, Loss::HierarchicalSoftmax] {
            let m = train_small(loss, 3);
            assert!(m.word_sums.is_some(), "a dense model with char n-grams caches its words' rows");
            let mut plain = m.clone();
            plain.word_sums = None;
            let (mut s1, mut s2) = (Scratch::new(), Scratch::new());
            let (mut p1, mut p2) = (Vec::new(), Vec::new());
            let long = "good lovely awful day ".repeat(400);
            for text in ["good great day\n", "awful unknownword bad\n", "zzz\n", "", "nice\nbad", "good good good good", &long] {
                m.predict_into(text, &mut s1, &mut p1);
                plain.predict_into(text, &mut s2, &mut p2);
                assert_eq!(s1.n_features(), s2.n_features(), "{text:?}");
                // long lines take fastText's order exactly
                if text.len() > 5000 {
                    assert_eq!(s1.line.collapsed, 0);
                    assert_eq!(p1, p2);
                }
                for (a, b) in p1.iter().zip(&p2) {
                    assert!((a - b).abs() < 1e-6, "{loss:?} {text:?}: {p1:?} vs {p2:?}");
                }
                m.predict_document_into(text, &mut s1, &mut p1);
                plain.predict_document_into(text, &mut s2, &mut p2);
                for (a, b) in p1.iter().zip(&p2) {
                    assert!((a - b).abs() < 1e-6, "{loss:?} {text:?}: {p1:?} vs {p2:?}");
                }
            }
            // the features API still lists every row
            assert_eq!(m.features("good day", &mut s1), plain.features("good day", &mut s2));
        }
    }

    fn bytes(m: &Model) -> Vec<u8> {
        let mut v = Vec::new();
        m.write(&mut v).unwrap();
        v
    }

    /// A quantized copy (one sub-quantizer per dimension, with a norm
    /// quantizer): exercises the `.ftz` layout without fastText's k-means.
    fn quantized(m: &Model) -> Model {
        use crate::matrix::{Dense, Quant};
        let Matrix::Dense(d) = &m.input else { panic!() };
        let grid = |k: usize| -1.0 + 2.0 * k as f32 / 255.0;
        let n = d.n;
        let mut cent = Vec::new();
        for _ in 0..n {
            cent.extend((0..256).map(grid));
        }
        let mut codes = Vec::new();
        let mut norm_codes = Vec::new();
        for i in 0..d.m {
            let r = Dense::row(d, i);
            let norm = r.iter().map(|x| x.abs()).fold(1e-9f32, f32::max);
            norm_codes.push(255u8);
            let _ = norm;
            codes.extend(r.iter().map(|&x| (((x.clamp(-1.0, 1.0) + 1.0) / 2.0 * 255.0).round()) as u8));
        }
        let q = Quant::for_test(d.m, n, codes, n as i32, 1, 1, cent, Some((norm_codes, (0..256).map(|k| k as f32 / 255.0).collect())));
        let mut out = m.clone();
        out.input = Matrix::Quant(q);
        out.dict.pruneidx_size = 0; // no n-gram row survives in this copy
        out
    }

    #[test]
    fn write_read_write_is_identical() {
        for loss in [Loss::Softmax, Loss::OneVsAll, Loss::HierarchicalSoftmax] {
            let m = train_small(loss, 0);
            let b = bytes(&m);
            let m2 = Model::read(&mut &b[..]).unwrap();
            assert_eq!(bytes(&m2), b);
            let (mut s, mut p1, mut p2) = (Scratch::new(), Vec::new(), Vec::new());
            for line in TRAIN.lines() {
                m.predict_into(line, &mut s, &mut p1);
                m2.predict_into(line, &mut s, &mut p2);
                assert_eq!(p1, p2);
            }
            // Atomic save, then load from the file.
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("m.bin");
            m.save(&path).unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), b);
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
            assert_eq!(bytes(&Model::load(&path).unwrap()), b);
        }
        let q = quantized(&train_small(Loss::Softmax, 0));
        let b = bytes(&q);
        assert_eq!(bytes(&Model::read(&mut &b[..]).unwrap()), b);
    }

    #[test]
    fn training_is_deterministic() {
        for loss in [Loss::Softmax, Loss::OneVsAll, Loss::HierarchicalSoftmax] {
            assert_eq!(bytes(&train_small(loss, 7)), bytes(&train_small(loss, 7)));
            assert_ne!(bytes(&train_small(loss, 7)), bytes(&train_small(loss, 8)));
        }
    }

    #[test]
    fn trained_models_separate_the_classes() {
        for loss in [Loss::Softmax, Loss::OneVsAll, Loss::HierarchicalSoftmax] {
            let m = train_small(loss, 0);
            let pos = m.labels().iter().position(|l| l == "__label__pos").unwrap();
            let top = m.predict("lovely good fine\n", 1, 0.0);
            assert_eq!(top[0].0, pos, "{loss:?}");
            let top = m.predict("awful terrible\n", 1, 0.0);
            assert_ne!(top[0].0, pos, "{loss:?}");
        }
    }

    #[test]
    fn predict_agrees_with_predict_into() {
        for loss in [Loss::Softmax, Loss::OneVsAll, Loss::HierarchicalSoftmax] {
            let m = train_small(loss, 0);
            let (mut s, mut p) = (Scratch::new(), Vec::new());
            for text in ["good day\n", "bad\n", "unknownword\n", "mixed\n"] {
                m.predict_into(text, &mut s, &mut p);
                let all = m.predict(text, 0, 0.0);
                assert_eq!(all.len(), 2);
                for &(i, prob) in &all {
                    assert!((prob - p[i]).abs() < 1e-6, "{loss:?} {text:?}: {prob} vs {}", p[i]);
                }
                assert!(all[0].1 >= all[1].1);
                assert_eq!(m.predict(text, usize::MAX, 0.0), all);
                let top1 = m.predict(text, 1, 0.0);
                assert_eq!(top1, all[..1].to_vec());
                // A threshold above every probability leaves nothing.
                assert!(m.predict(text, 0, 1.5).is_empty());
            }
            // Softmax and hs probabilities sum to 1 (plus fastText's 1e-5 per label).
            m.predict_into("good day\n", &mut s, &mut p);
            if loss != Loss::OneVsAll {
                assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4, "{p:?}");
            }
        }
    }

    #[test]
    fn documents_score_as_their_flattened_line() {
        for loss in [Loss::Softmax, Loss::HierarchicalSoftmax] {
            let m = train_small(loss, 0);
            let (mut s, mut p1, mut p2) = (Scratch::new(), Vec::new(), Vec::new());
            let doc = "good day\nlovely\n\nbad awful";
            m.predict_document_into(doc, &mut s, &mut p1);
            m.predict_into(&format!("{}\n", doc.replace('\n', " ")), &mut s, &mut p2);
            assert_eq!(p1, p2);
            // Whereas predict_into stops at the first newline.
            m.predict_into(doc, &mut s, &mut p2);
            assert_ne!(p1, p2);
        }
    }

    #[test]
    fn text_without_features_predicts_nothing() {
        let m = train_small(Loss::Softmax, 0);
        let (mut s, mut p) = (Scratch::new(), vec![1.0; 5]);
        // Only labels and spaces: no feature (no '\n', so no </s> either).
        m.predict_into("__label__pos   ", &mut s, &mut p);
        assert_eq!(p, vec![0.0, 0.0]);
        assert_eq!(s.n_features(), 0);
        assert_eq!(s.labels(), &[m.labels().iter().position(|l| l == "__label__pos").unwrap() as i32]);
        assert!(m.predict("", 1, 0.0).is_empty());
    }

    #[test]
    fn quantized_model_scores_close_to_dense() {
        let m = train_small(Loss::Softmax, 0);
        let q = quantized(&m);
        let (mut s, mut p1, mut p2) = (Scratch::new(), Vec::new(), Vec::new());
        m.predict_into("good lovely day\n", &mut s, &mut p1);
        q.predict_into("good lovely day\n", &mut s, &mut p2);
        assert!(p1.iter().zip(&p2).all(|(a, b)| (a - b).abs() < 0.05), "{p1:?} {p2:?}");
    }

    #[test]
    fn every_truncation_is_an_error() {
        for m in [train_small(Loss::HierarchicalSoftmax, 0), quantized(&train_small(Loss::Softmax, 0))] {
            let b = bytes(&m);
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t.bin");
            for len in (0..b.len()).step_by(7).chain([b.len() - 1]) {
                let r = Model::read(&mut &b[..len]);
                assert!(r.is_err(), "prefix of {len} bytes read as a model");
                if len % 301 == 0 {
                    std::fs::write(&path, &b[..len]).unwrap();
                    let e = Model::load(&path).unwrap_err().to_string();
                    assert!(e.contains("t.bin"), "{e}");
                }
            }
        }
    }

    #[test]
    fn corrupt_bytes_never_panic() {
        let b = bytes(&quantized(&train_small(Loss::HierarchicalSoftmax, 0)));
        let mut x = 0x2545F4914F6CDD1Du64;
        let mut s = Scratch::new();
        let mut p = Vec::new();
        for _ in 0..2000 {
            let mut c = b.clone();
            for _ in 0..3 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Mostly the headers, where sizes live.
                let pos = if x & 1 == 0 { (x >> 8) as usize % 200.min(c.len()) } else { (x >> 8) as usize % c.len() };
                c[pos] = (x >> 40) as u8;
            }
            if let Ok(m) = Model::read(&mut &c[..]) {
                m.predict_into("good lovely day bad\n", &mut s, &mut p);
                let _ = m.predict("good lovely day bad\n", 2, 0.0);
            }
        }
    }

    #[test]
    fn huge_announced_sizes_fail_without_allocating() {
        let b = bytes(&train_small(Loss::Softmax, 0));
        // The dictionary size (right after magic, version and the 13 args):
        let at = 8 + 12 * 4 + 8;
        let mut c = b.clone();
        c[at..at + 4].copy_from_slice(&i32::MAX.to_le_bytes());
        assert!(Model::read(&mut &c[..]).is_err());
        // A matrix announcing 2^40 x 2^20 floats from a stream of unknown length.
        let m = Model::read(&mut &b[..]).unwrap();
        let head = {
            let mut v = Vec::new();
            let mut d = Dst { w: &mut v };
            d.i32(MAGIC).unwrap();
            d.i32(VERSION).unwrap();
            m.args.write(&mut d).unwrap();
            m.dict.write(&mut d).unwrap();
            d.u8(0).unwrap();
            d.i64(1 << 40).unwrap();
            d.i64(1 << 20).unwrap();
            v
        };
        let e = Model::read(&mut &head[..]).unwrap_err();
        assert!(matches!(e, Error::Truncated { .. } | Error::Format { .. }), "{e}");
        // Not a model at all.
        let e = Model::read(&mut &b"hello world, not a model"[..]).unwrap_err().to_string();
        assert!(e.contains("magic"), "{e}");
    }

    #[test]
    fn hs_tree_matches_fasttext_construction() {
        // Counts sorted descending, as fastText's dictionary orders labels.
        let t = HsTree::build(&[5, 3, 2, 1]).unwrap();
        // Leaves 0..4; node 4 = (3, 2) with count 3; node 5: the leaf of count 3
        // is not strictly smaller than node 4's 3, so node 4 comes first: (4, 1);
        // root 6 = (0, 5).
        assert_eq!(t.children[4], (3, 2));
        assert_eq!(t.children[5], (4, 1));
        assert_eq!(t.children[6], (0, 5));
        // Label 3: node 4 (row 0) as left, node 5 (row 1) as left, root (row 2) as right.
        assert_eq!(t.paths[3], vec![0, 1, 2]);
        assert_eq!(t.codes[3], vec![false, false, true]);
        assert_eq!(t.paths[1], vec![1, 2]);
        assert_eq!(t.codes[1], vec![true, true]);
        assert_eq!(t.paths[0], vec![2]);
        assert_eq!(t.codes[0], vec![false]);
        // One label: the root is the leaf.
        let one = HsTree::build(&[7]).unwrap();
        assert!(one.paths[0].is_empty());
    }

    #[test]
    fn model_is_shareable_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Model>();
        send_sync::<Scratch>();
    }

    #[test]
    fn sigmoid_table_matches_fasttext() {
        assert_eq!(sigmoid(-9.0), 0.0);
        assert_eq!(sigmoid(9.0), 1.0);
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-6);
        // Index 256 of the 513-entry table is x = 0.
        assert_eq!(sigmoid_table().len(), 513);
        assert!((sigmoid(2.0) - 1.0 / (1.0 + (-2.0f32).exp())).abs() < 0.01);
    }
}
