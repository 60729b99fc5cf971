//! Benchmark decontamination: an index of the normalised n-grams (13 by
//! default) of the evaluation sets the trainer scores, and a stage that
//! drops or marks documents sharing n-grams with them.
//!
//! Normalisation: full-width forms become ASCII, text is lower-cased, every
//! run of letters/digits is a token and every CJK character (Han, kana,
//! Hangul) is a token of its own; punctuation and spacing vanish. So
//! `The cat, sat.` and `the CAT sat` give the same tokens, and 13 Chinese
//! characters make a 13-gram.
//!
//! Benchmarks are [`BenchmarkSpec`]s, read by the same code as `sluice
//! eval` ([`crate::benchmark`]): a built-in's name, or a spec in the recipe.
//! Each item contributes its context, question and gold answer joined, and
//! each answer option on its own ([`crate::benchmark::Item::segments`]).
//! Segments shorter than `n` tokens are not indexed (counted in the
//! index's `short_segments`). Hits are reported under the spec's `name`.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_pipeline::filter::{Filter, FilterConfig, Filtered, Mode, Signals};
use sluice_pipeline::limits::read_file_limited;
use sluice_pipeline::output::AtomicFile;
use sluice_pipeline::{Document, Reason, Scratch, TaskContext};

use crate::benchmark::{BenchmarkRef, BenchmarkSpec};
use crate::pii::narrow;

/// The benchmarks indexed by default (built-ins whose data is in
/// `../shared/data/eval`).
pub const BENCHMARKS: [&str; 7] = ["hellaswag", "lambada", "piqa", "arc", "winogrande", "mmlu", "ceval"];

/// At most this many benchmarks per index (the bits of an entry).
pub const MAX_BENCHMARKS: usize = 16;

fn d_n() -> usize {
    13
}
fn d_one() -> usize {
    1
}
fn d_benchmarks() -> Vec<BenchmarkRef> {
    BENCHMARKS.iter().map(|s| BenchmarkRef::Name(s.to_string())).collect()
}

/// Configuration of the `decontaminate` stage. The index is built from
/// `eval_dir` when the recipe is compiled, or loaded from `index` when that
/// file exists; with `save_index` a run writes it inside its output
/// directory, where a later run can load it (`index: OUT/decontam-13.bin`).
/// A recipe never writes outside its output directory, so `index` is only
/// read. Documents with at least `min_matches` n-grams found in the index
/// are dropped as `contaminated_<benchmark>` (the benchmark with most
/// matches), or only marked with `annotate_only`. Either way the document
/// gets `contam_<benchmark>` attributes: its n-gram positions that occur in
/// that benchmark, totalled in the stats. `<benchmark>` is the spec's `name`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecontamConfig {
    /// Directory of the evaluation sets: the benchmarks' relative `files`
    /// are read from here (the built-ins as laid out in
    /// `../shared/data/eval`: `hellaswag/hellaswag_val_full.txt`,
    /// `lambada_openai.jsonl`, `piqa.jsonl`, `arc_easy.jsonl`,
    /// `arc_challenge.jsonl`, `winogrande.jsonl`, `mmlu/{dev,test}/*.csv`,
    /// `ceval/{dev,val}/*.csv`, `cmmlu/{dev,test}/*.csv`,
    /// `gsm8k/test.jsonl`; regular files of at most 256 MiB each). Needed
    /// unless `index` exists. Default: none.
    #[serde(default)]
    pub eval_dir: Option<PathBuf>,
    /// An index saved by an earlier run (`save_index`), loaded if the file
    /// exists (its `n` and benchmarks must match; at most 1 GiB); otherwise
    /// the index is built from `eval_dir`. Only read, never written.
    /// Default: none (build every run).
    #[serde(default)]
    pub index: Option<PathBuf>,
    /// Save the index (built or loaded) at the start of a run to this path
    /// *relative to the output directory* (`decontam-13.bin`), atomically,
    /// so that later runs can load it with `index`. Absolute paths and
    /// `..` are refused. Default: not saved.
    #[serde(default)]
    pub save_index: Option<String>,
    /// Benchmarks to index, 1 to 16: a built-in's name (hellaswag,
    /// lambada, piqa, arc, arc_easy, arc_challenge, winogrande, mmlu, ceval,
    /// cmmlu, gsm8k) or a benchmark spec (a mapping: `name`, `format`,
    /// `files`, `question`, `choices`, `answer`, ...; see the README).
    /// Names must differ. Default: hellaswag, lambada, piqa, arc,
    /// winogrande, mmlu, ceval.
    #[serde(default = "d_benchmarks")]
    pub benchmarks: Vec<BenchmarkRef>,
    /// N-gram length in tokens, 4 to 64. Default 13 (GPT-3's decontamination).
    #[serde(default = "d_n")]
    #[schemars(range(min = 4, max = 64))]
    pub n: usize,
    /// Flag documents with at least this many matching n-gram positions. Default 1.
    #[serde(default = "d_one")]
    #[schemars(range(min = 1, max = 1_000_000_000))]
    pub min_matches: usize,
    /// Only mark: write the `contam_*` attributes, drop nothing. Default false.
    #[serde(default)]
    pub annotate_only: bool,
}

/// The largest index file `index` may name: 1 GiB is about 100 million
/// n-grams, far more than every benchmark together has.
pub const MAX_INDEX_BYTES: u64 = 1 << 30;

impl Default for DecontamConfig {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("defaults deserialise")
    }
}

impl DecontamConfig {
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if !(4..=64).contains(&self.n) {
            e.push(("n".into(), format!("must be between 4 and 64, got {}", self.n)));
        }
        if self.min_matches == 0 {
            e.push(("min_matches".into(), "must be at least 1".into()));
        }
        if self.benchmarks.is_empty() || self.benchmarks.len() > MAX_BENCHMARKS {
            e.push(("benchmarks".into(), format!("give 1 to {MAX_BENCHMARKS} benchmarks, got {}", self.benchmarks.len())));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, b) in self.benchmarks.iter().enumerate() {
            if let Err(errs) = b.resolve() {
                for (f, m) in errs {
                    let at = if f.is_empty() { format!("benchmarks[{i}]") } else { format!("benchmarks[{i}].{f}") };
                    e.push((at, m));
                }
            }
            if !seen.insert(b.name()) {
                e.push((format!("benchmarks[{i}]"), format!("`{}` is named twice (names must differ)", b.name())));
            }
        }
        if let Some(rel) = &self.save_index {
            if let Err(m) = sluice_pipeline::recipe::check_relative_output(rel) {
                e.push(("save_index".into(), m));
            }
        }
        // `index` is loaded when it exists; anything there must be a
        // regular file (a link to /dev/zero would otherwise be read for ever).
        let index_exists = match &self.index {
            Some(p) => match std::fs::metadata(p) {
                Ok(m) if m.is_file() => true,
                Ok(_) => {
                    e.push(("index".into(), format!("{}: not a regular file", p.display())));
                    true
                }
                Err(_) => false,
            },
            None => false,
        };
        match &self.eval_dir {
            Some(d) if !d.is_dir() && !index_exists => e.push(("eval_dir".into(), format!("{} is not a directory", d.display()))),
            None if !index_exists => e.push(("eval_dir".into(), "give `eval_dir`, or an `index` file that exists".into())),
            _ => {}
        }
        e
    }

    /// Load or build the index, and the stage. Nothing is written here:
    /// `save_index` is written by the run ([`sluice_pipeline::DocStage::prepare`]).
    pub fn build(&self) -> Result<Filtered<Decontaminate>, Vec<(String, String)>> {
        Ok(Filtered::single(self.decontaminate()?, self.mode()))
    }

    /// The benchmarks' specs, sorted by name (the order of an index
    /// entry's bits).
    pub fn specs(&self) -> Result<Vec<BenchmarkSpec>, Vec<(String, String)>> {
        let mut specs = Vec::new();
        let mut errs = Vec::new();
        for (i, b) in self.benchmarks.iter().enumerate() {
            match b.resolve() {
                Ok(s) => specs.push(s),
                Err(e) => {
                    errs.extend(e.into_iter().map(|(f, m)| (format!("benchmarks[{i}]{}{f}", if f.is_empty() { "" } else { "." }), m)))
                }
            }
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        specs.sort_by(|a, b| a.name.cmp(&b.name));
        if specs.is_empty() || specs.len() > MAX_BENCHMARKS || specs.windows(2).any(|w| w[0].name == w[1].name) {
            return Err(vec![("benchmarks".into(), format!("give 1 to {MAX_BENCHMARKS} benchmarks with different names"))]);
        }
        Ok(specs)
    }

    /// The matcher itself, without the stage.
    pub fn decontaminate(&self) -> Result<Decontaminate, Vec<(String, String)>> {
        let err = |f: &str, m: String| vec![(f.to_string(), m)];
        let specs = self.specs()?;
        let want: BTreeMap<String, String> = specs.iter().map(|s| (s.name.clone(), s.fingerprint())).collect();
        let index = match &self.index {
            Some(p) if std::fs::symlink_metadata(p).is_ok() => {
                let idx = DecontamIndex::load(p).map_err(|m| err("index", m))?;
                let have: BTreeMap<String, String> = idx.info.iter().map(|(k, v)| (k.clone(), v.spec.clone())).collect();
                if idx.n != self.n || have.keys().ne(want.keys()) {
                    return Err(err(
                        "index",
                        format!(
                            "{} was built with n = {} for [{}], the recipe asks n = {} for [{}]; build a new one with `save_index`",
                            p.display(),
                            idx.n,
                            have.keys().cloned().collect::<Vec<_>>().join(", "),
                            self.n,
                            want.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
                if let Some((name, _)) = want.iter().find(|(k, v)| have.get(*k) != Some(*v)) {
                    return Err(err(
                        "index",
                        format!(
                            "{} was built from another spec of `{name}` (its files or fields changed); build a new one with `save_index`",
                            p.display()
                        ),
                    ));
                }
                idx
            }
            _ => {
                let dir = self.eval_dir.as_ref().ok_or_else(|| err("eval_dir", "no eval_dir to build the index from".into()))?;
                DecontamIndex::build(dir, &specs, self.n).map_err(|m| err("eval_dir", m))?
            }
        };
        let names: Vec<&String> = want.keys().collect();
        let attrs = names.iter().map(|b| format!("contam_{b}")).collect();
        let doc_attrs = names.iter().map(|b| format!("contam_docs_{b}")).collect();
        let reasons = names.iter().map(|b| Reason::Owned(format!("contaminated_{b}").into())).collect();
        Ok(Decontaminate { cfg: self.clone(), index, attrs, doc_attrs, reasons, saved: OnceLock::new() })
    }
}

// ---------------------------------------------------------------------------
// normalisation and hashing

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xAC00..=0xD7AF | 0x20000..=0x2FFFF)
}

#[inline]
fn mix(mut h: u64) -> u64 {
    // splitmix64's finaliser
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The normalised tokens of a text, each as a 64-bit hash.
pub fn token_hashes(text: &str) -> Vec<u64> {
    let mut out = Vec::with_capacity(text.len() / 5);
    let mut buf = String::new();
    let flush = |buf: &mut String, out: &mut Vec<u64>| {
        if !buf.is_empty() {
            out.push(xxhash_rust::xxh3::xxh3_64(buf.as_bytes()));
            buf.clear();
        }
    };
    for c in text.chars() {
        let c = narrow(c);
        if is_cjk(c) {
            flush(&mut buf, &mut out);
            let mut b = [0u8; 4];
            out.push(xxhash_rust::xxh3::xxh3_64(c.encode_utf8(&mut b).as_bytes()));
        } else if c.is_alphanumeric() {
            if c.is_ascii() {
                buf.push(c.to_ascii_lowercase());
            } else {
                buf.extend(c.to_lowercase());
            }
        } else {
            flush(&mut buf, &mut out);
        }
    }
    flush(&mut buf, &mut out);
    out
}

/// The hash of each window of `n` tokens.
pub fn ngram_hashes(tokens: &[u64], n: usize) -> impl Iterator<Item = u64> + '_ {
    tokens.windows(n).map(|w| mix(w.iter().fold(0x9e37_79b9_7f4a_7c15u64, |h, &t| (h.rotate_left(23) ^ t).wrapping_mul(0x0100_0000_01b3))))
}

/// Keys are already well-mixed hashes: use them as they are.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | b as u64;
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

// ---------------------------------------------------------------------------
// the index

/// Statistics of one benchmark in an index.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkInfo {
    pub items: usize,
    /// Segments with at least `n` tokens, indexed.
    pub segments: usize,
    /// Segments shorter than `n` tokens, not indexed.
    pub short_segments: usize,
    pub ngrams: usize,
    /// The spec's fingerprint ([`BenchmarkSpec::fingerprint`]): a saved
    /// index is used only for the same specs.
    pub spec: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Header {
    format: String,
    n: usize,
    benchmarks: BTreeMap<String, BenchmarkInfo>,
    entries: usize,
}

const FORMAT: &str = "sluice-decontam/2";

/// N-gram hash -> bit set of the benchmarks it occurs in (bit `i`: the
/// `i`-th benchmark by name, as `info` lists them).
pub struct DecontamIndex {
    pub n: usize,
    pub info: BTreeMap<String, BenchmarkInfo>,
    map: HashMap<u64, u16, BuildHasherDefault<IdHasher>>,
}

impl DecontamIndex {
    /// Build from an eval directory and the benchmarks' specs (at most
    /// [`MAX_BENCHMARKS`], names different); errors name the file, the
    /// record and the field.
    pub fn build(dir: &Path, specs: &[BenchmarkSpec], n: usize) -> Result<DecontamIndex, String> {
        let mut map: HashMap<u64, u16, BuildHasherDefault<IdHasher>> = HashMap::default();
        let mut info = BTreeMap::new();
        let mut sorted: Vec<&BenchmarkSpec> = specs.iter().collect();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        if sorted.is_empty() || sorted.len() > MAX_BENCHMARKS || sorted.windows(2).any(|w| w[0].name == w[1].name) {
            return Err(format!("give 1 to {MAX_BENCHMARKS} benchmarks with different names"));
        }
        for (i, spec) in sorted.iter().enumerate() {
            let bit = 1u16 << i;
            let mut bi = BenchmarkInfo { spec: spec.fingerprint(), ..Default::default() };
            for item in spec.read_all(dir).map_err(|e| format!("benchmark `{}`: {e}", spec.name))? {
                bi.items += 1;
                for seg in item.segments() {
                    let toks = token_hashes(&seg);
                    if toks.len() < n {
                        bi.short_segments += 1;
                        continue;
                    }
                    bi.segments += 1;
                    for h in ngram_hashes(&toks, n) {
                        let e = map.entry(h).or_insert(0);
                        if *e & bit == 0 {
                            bi.ngrams += 1;
                        }
                        *e |= bit;
                    }
                }
            }
            info.insert(spec.name.clone(), bi);
        }
        Ok(DecontamIndex { n, info, map })
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The benchmarks an n-gram hash occurs in.
    #[inline]
    pub fn get(&self, h: u64) -> u16 {
        self.map.get(&h).copied().unwrap_or(0)
    }

    /// The saved form of the index: one JSON header line, then the entries
    /// sorted by hash (8-byte hash, 2-byte benchmark bits, little-endian),
    /// so the same eval sets give the same bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = Header { format: FORMAT.into(), n: self.n, benchmarks: self.info.clone(), entries: self.map.len() };
        let mut entries: Vec<(u64, u16)> = self.map.iter().map(|(&k, &v)| (k, v)).collect();
        entries.sort_unstable();
        let mut buf = serde_json::to_vec(&header).expect("header serialises");
        buf.push(b'\n');
        buf.reserve(entries.len() * 10);
        for (k, v) in entries {
            buf.extend_from_slice(&k.to_le_bytes());
            buf.extend_from_slice(&v.to_le_bytes());
        }
        buf
    }

    /// Write the index ([`DecontamIndex::to_bytes`]) atomically.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let mut f = AtomicFile::create(path).map_err(|e| format!("cannot write {}", sluice_text::error_text(&e)))?;
        f.write_all(&self.to_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        f.commit().map_err(|e| format!("cannot write {}", sluice_text::error_text(&e)))
    }

    /// Load a saved index: a regular file of at most [`MAX_INDEX_BYTES`].
    pub fn load(path: &Path) -> Result<DecontamIndex, String> {
        let bytes = read_file_limited(path, MAX_INDEX_BYTES).map_err(|e| format!("cannot read {}", sluice_text::error_text(&e)))?;
        let nl =
            bytes.iter().position(|&b| b == b'\n').ok_or_else(|| format!("{}: not a decontamination index (no header)", path.display()))?;
        let header: Header =
            serde_json::from_slice(&bytes[..nl]).map_err(|e| format!("{}: not a decontamination index: {e}", path.display()))?;
        if header.format != FORMAT {
            return Err(format!("{}: format {:?}, expected {FORMAT:?}", path.display(), header.format));
        }
        if !(4..=64).contains(&header.n) {
            return Err(format!("{}: n = {} is outside 4 to 64", path.display(), header.n));
        }
        let body = &bytes[nl + 1..];
        if Some(body.len()) != header.entries.checked_mul(10) {
            return Err(format!("{}: truncated: {} bytes of entries, header says {} entries", path.display(), body.len(), header.entries));
        }
        let mut map: HashMap<u64, u16, BuildHasherDefault<IdHasher>> =
            HashMap::with_capacity_and_hasher(header.entries, Default::default());
        for c in body.chunks_exact(10) {
            map.insert(u64::from_le_bytes(c[..8].try_into().expect("8")), u16::from_le_bytes(c[8..].try_into().expect("2")));
        }
        if header.benchmarks.is_empty() || header.benchmarks.len() > MAX_BENCHMARKS {
            return Err(format!("{}: {} benchmarks, expected 1 to {MAX_BENCHMARKS}", path.display(), header.benchmarks.len()));
        }
        Ok(DecontamIndex { n: header.n, info: header.benchmarks, map })
    }

    /// Matching n-gram positions of a text, per benchmark (in `info`'s order).
    pub fn matches(&self, text: &str) -> Vec<usize> {
        let mut counts = vec![0usize; self.info.len()];
        let toks = token_hashes(text);
        if toks.len() < self.n {
            return counts;
        }
        for h in ngram_hashes(&toks, self.n) {
            let bits = self.get(h);
            if bits != 0 {
                for (i, c) in counts.iter_mut().enumerate() {
                    if bits & (1 << i) != 0 {
                        *c += 1;
                    }
                }
            }
        }
        counts
    }
}

/// The `decontaminate` stage.
pub struct Decontaminate {
    cfg: DecontamConfig,
    index: DecontamIndex,
    /// `contam_<b>`: matching n-gram positions.
    attrs: Vec<String>,
    /// `contam_docs_<b>`: 1 when the document is flagged for that benchmark,
    /// so the stats' sums give documents flagged per benchmark (the
    /// decontamination report's `docs_flagged`), in annotate mode too.
    doc_attrs: Vec<String>,
    /// `contaminated_<b>`: the drop reasons.
    reasons: Vec<Reason>,
    /// `save_index` written (or why not) by this process: every task calls
    /// `prepare`, one writes.
    saved: OnceLock<Result<(), String>>,
}

impl Decontaminate {
    pub fn index(&self) -> &DecontamIndex {
        &self.index
    }

    /// Write the index to `save_index` under `output`, unless the file
    /// there already holds these bytes (a re-run, or another process of the
    /// run). No existing component of the path may be a symbolic link, so a
    /// link planted in a shared output directory cannot redirect the write.
    pub fn save_into(&self, output: &Path) -> Result<(), String> {
        let Some(rel) = &self.cfg.save_index else { return Ok(()) };
        let rel = sluice_pipeline::recipe::check_relative_output(rel).map_err(|m| format!("save_index: {m}"))?;
        let mut path = output.to_path_buf();
        for c in rel.components() {
            path.push(c);
            if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(format!(
                    "save_index: {} is a symbolic link; sluice does not write through links in its output",
                    path.display()
                ));
            }
        }
        let bytes = self.index.to_bytes();
        if std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() == bytes.len() as u64)
            && read_file_limited(&path, bytes.len() as u64).is_ok_and(|b| b == bytes)
        {
            return Ok(());
        }
        let mut f = AtomicFile::create(&path).map_err(|e| format!("save_index: cannot write {}", sluice_text::error_text(&e)))?;
        f.write_all(&bytes).map_err(|e| format!("save_index: cannot write {}: {e}", path.display()))?;
        f.commit().map_err(|e| format!("save_index: cannot write {}", sluice_text::error_text(&e)))
    }
}

impl FilterConfig for DecontamConfig {
    type Filter = Decontaminate;

    fn mode(&self) -> Mode {
        Mode::of(self.annotate_only, false)
    }

    fn check(&self) -> Vec<(String, String)> {
        self.validate()
    }

    fn filter(&self) -> Result<Decontaminate, Vec<(String, String)>> {
        self.decontaminate()
    }
}

impl Filter for Decontaminate {
    fn prepare(&self, ctx: &TaskContext) -> sluice_pipeline::Result<()> {
        self.saved
            .get_or_init(|| self.save_into(&ctx.output))
            .clone()
            .map_err(|message| sluice_pipeline::Error::Stage { node: "decontaminate".into(), message })
    }

    /// The n-gram hits per benchmark are counts, written whatever the mode.
    fn evaluate(&self, doc: &mut Document, _: &mut Scratch, _: &mut Signals) -> Option<Reason> {
        let counts = self.index.matches(&doc.text);
        let total: usize = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let mut best = 0;
        for (i, &c) in counts.iter().enumerate() {
            if c > 0 {
                doc.attributes.insert(self.attrs[i].clone(), c as f64);
                if c >= self.cfg.min_matches {
                    doc.attributes.insert(self.doc_attrs[i].clone(), 1.0);
                }
                if c > counts[best] {
                    best = i;
                }
            }
        }
        if counts.iter().max().copied().unwrap_or(0) < self.cfg.min_matches {
            return None;
        }
        Some(self.reasons[best].clone())
    }

    fn counted_attributes(&self) -> Vec<String> {
        self.attrs.iter().chain(&self.doc_attrs).cloned().collect()
    }
}

impl sluice_pipeline::component::Component for DecontamConfig {
    const KIND: &'static str = "decontaminate";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Stage;
    const ABOUT: &'static str = "Drops or marks documents sharing 13-grams with benchmarks: built-ins (HellaSwag, LAMBADA, PIQA, ARC, Winogrande, MMLU, C-Eval, CMMLU, GSM8K) or any benchmark given by a spec (index built from the eval sets, or loaded; `save_index` keeps it in the output for later runs)";

    fn validate(&self) -> Vec<(String, String)> {
        DecontamConfig::validate(self)
    }

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        // `save_index` is a file the run writes under its output directory.
        if let Some(rel) = &self.save_index {
            cx.claim_output("save_index", rel).map_err(|d| vec![d])?;
        }
        DecontamConfig::build(self).map(sluice_pipeline::component::Built::doc).map_err(|e| sluice_pipeline::component::located(cx, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_pipeline::{DocStage, Verdict};

    fn tiny_eval() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "sluice-decontam-{}-{}",
            std::process::id(),
            xxhash_rust::xxh3::xxh3_64(format!("{:?}", std::thread::current().id()).as_bytes())
        ));
        std::fs::create_dir_all(d.join("mmlu/dev")).unwrap();
        std::fs::create_dir_all(d.join("mmlu/test")).unwrap();
        std::fs::write(d.join("mmlu/dev/x_dev.csv"), "question,choice0,choice1,choice2,choice3,answer\nq,a,b,c,d,0\n").unwrap();
        std::fs::write(
            d.join("mmlu/test/astro_test.csv"),
            "question,choice0,choice1,choice2,choice3,answer\n\"Which planet in our solar system has the largest number of confirmed natural satellites, as of the most recent count?\",Mars,Saturn,Venus,Mercury,1\n",
        )
        .unwrap();
        std::fs::write(
            d.join("lambada_openai.jsonl"),
            "{\"context\": \"她走进房间，看到桌子上放着一封没有署名的信，信封上只写着\", \"continuation\": \"她的名字\"}\n",
        )
        .unwrap();
        d
    }

    #[test]
    fn tokens_normalise_case_punctuation_width_and_cjk() {
        assert_eq!(token_hashes("The CAT, sat."), token_hashes("the cat sat"));
        assert_eq!(token_hashes("ＡＢＣ１２３"), token_hashes("abc123"));
        assert_eq!(token_hashes("中文，测试").len(), 4);
        assert_eq!(token_hashes("x—y").len(), 2);
    }

    #[test]
    fn build_save_load_and_match() {
        let d = tiny_eval();
        let cfg = DecontamConfig {
            eval_dir: Some(d.clone()),
            benchmarks: vec!["mmlu".into(), "lambada".into()],
            index: Some(d.join("idx.bin")),
            save_index: Some("idx.bin".into()),
            ..Default::default()
        };
        assert!(cfg.validate().is_empty(), "{:?}", cfg.validate());
        let s = cfg.build().unwrap();
        assert!(!d.join("idx.bin").exists(), "building writes nothing");
        s.save_into(&d).unwrap();
        assert!(d.join("idx.bin").is_file());
        let saved = std::fs::metadata(d.join("idx.bin")).unwrap().modified().unwrap();
        s.save_into(&d).unwrap();
        assert_eq!(std::fs::metadata(d.join("idx.bin")).unwrap().modified().unwrap(), saved, "same bytes: not rewritten");
        assert_eq!(s.index().info["mmlu"].items, 2);
        assert_eq!(s.index().info["mmlu"].short_segments, 5 + 4); // the dev item, every choice
                                                                  // loaded index equals the built one
        let again = DecontamConfig { eval_dir: None, ..cfg.clone() };
        assert!(again.validate().is_empty());
        let l = again.build().unwrap();
        assert_eq!(l.index().len(), s.index().len());
        assert_eq!(l.index().info, s.index().info);
        let text = "Quiz night! which planet in our Solar System has the largest number of confirmed natural satellites — as of the most recent count? Saturn.";
        for st in [&s, &l] {
            let mut doc = Document::new("1", text, "s".into());
            assert_eq!(st.process(&mut doc), Verdict::Drop("contaminated_mmlu".to_string().into()));
            assert_eq!(doc.attributes["contam_mmlu"], 9.0); // 21 tokens: 9 13-grams
            assert_eq!(doc.attributes["contam_docs_mmlu"], 1.0);
        }
        let mut zh = Document::new("2", "小说片段：她走进房间,看到桌子上放着一封没有署名的信。", "s".into());
        assert_eq!(s.process(&mut zh), Verdict::Drop("contaminated_lambada".to_string().into()));
        let mut clean = Document::new("3", "Saturn has many moons and Mars has two of them, which is a fact.", "s".into());
        assert_eq!(s.process(&mut clean), Verdict::Keep);
        assert!(clean.attributes.is_empty());
        // a different n is refused with the index file named
        let bad = DecontamConfig { n: 8, ..again };
        let e = bad.build().err().unwrap();
        assert!(e[0].1.contains("idx.bin") && e[0].1.contains("n = 13"), "{e:?}");
        std::fs::remove_dir_all(d).unwrap();
    }

    /// Issue 21, hole 2: `index:` created files anywhere. It is now only
    /// read; `save_index` writes inside the output directory only.
    #[test]
    fn the_index_is_never_written_outside_the_output_directory() {
        let d = tiny_eval();
        let elsewhere = d.join("elsewhere");
        let cfg = DecontamConfig {
            eval_dir: Some(d.clone()),
            benchmarks: vec!["mmlu".into()],
            index: Some(elsewhere.join("idx.bin")),
            ..Default::default()
        };
        assert!(cfg.validate().is_empty());
        let s = cfg.build().unwrap();
        s.save_into(&d.join("out")).unwrap();
        assert!(!elsewhere.exists(), "`index` is only read");
        for bad in ["/tmp/idx.bin", "../idx.bin", "reports/idx.bin", "_sluice/idx.bin"] {
            let c = DecontamConfig { save_index: Some(bad.into()), ..cfg.clone() };
            let e = c.validate();
            assert_eq!(e.len(), 1, "{bad}: {e:?}");
            assert_eq!(e[0].0, "save_index");
            // and a run that skipped validate refuses it too
            let e = c.build().unwrap().save_into(&d.join("out")).unwrap_err();
            assert!(e.starts_with("save_index:"), "{e}");
        }
        // a link planted in the output directory does not redirect the write
        let out = d.join("out2");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, out.join("sub")).unwrap();
        let c = DecontamConfig { save_index: Some("sub/idx.bin".into()), ..cfg.clone() };
        let e = c.build().unwrap().save_into(&out).unwrap_err();
        assert!(e.contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
        std::fs::remove_dir_all(d).unwrap();
    }

    /// Issue 21, hole 8: eval files and the index are read with a limit;
    /// `/dev/zero` fails at once with the file named.
    #[test]
    fn device_files_are_refused_at_once() {
        let t0 = std::time::Instant::now();
        let d = tiny_eval();
        std::os::unix::fs::symlink("/dev/zero", d.join("piqa.jsonl")).unwrap();
        let cfg = DecontamConfig { eval_dir: Some(d.clone()), benchmarks: vec!["piqa".into()], ..Default::default() };
        assert!(cfg.validate().is_empty());
        let e = cfg.build().err().unwrap();
        assert_eq!(e[0].0, "eval_dir");
        assert!(e[0].1.contains("piqa.jsonl") && e[0].1.contains("not a regular file"), "{e:?}");
        let cfg = DecontamConfig { index: Some("/dev/zero".into()), ..Default::default() };
        let e = cfg.validate();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, "index");
        assert!(e[0].1.contains("/dev/zero: not a regular file"), "{e:?}");
        let e = cfg.build().err().unwrap();
        assert!(e[0].1.contains("/dev/zero") && e[0].1.contains("not a regular file"), "{e:?}");
        assert!(t0.elapsed() < std::time::Duration::from_secs(5));
        std::fs::remove_dir_all(d).unwrap();
    }

    /// A saved index serves only the specs it was built from: another spec
    /// under the same name, or an index of the old format, is refused.
    #[test]
    fn a_saved_index_is_refused_for_other_specs() {
        let d = tiny_eval();
        std::fs::write(
            d.join("quiz.jsonl"),
            "{\"q\": \"which planet in our solar system has the largest number of confirmed moons\", \"a\": \"Saturn\"}\n",
        )
        .unwrap();
        let spec = |q: &str| {
            BenchmarkRef::Spec(Box::new(
                BenchmarkSpec::from_yaml(&format!(
                    "name: quiz\nformat: jsonl\nfiles: [quiz.jsonl]\nquestion: {q}\nanswer: a\nanswer_type: text\n"
                ))
                .unwrap(),
            ))
        };
        let cfg = DecontamConfig {
            eval_dir: Some(d.clone()),
            benchmarks: vec![spec("q"), "lambada".into()],
            save_index: Some("idx.bin".into()),
            ..Default::default()
        };
        let built = cfg.build().unwrap();
        built.filter().save_into(&d).unwrap();
        assert_eq!(built.filter().index().info.keys().collect::<Vec<_>>(), vec!["lambada", "quiz"]);
        let mut doc = Document::new("1", "Which planet in our Solar System has the largest number of confirmed moons? Saturn!", "s".into());
        assert_eq!(built.process(&mut doc), sluice_pipeline::Verdict::Drop("contaminated_quiz".to_string().into()));
        let load = |b: Vec<BenchmarkRef>| {
            DecontamConfig { eval_dir: None, index: Some(d.join("idx.bin")), benchmarks: b, ..Default::default() }.build()
        };
        assert!(load(vec![spec("q"), "lambada".into()]).is_ok());
        let e = load(vec![spec("a"), "lambada".into()]).err().unwrap();
        assert!(e[0].0 == "index" && e[0].1.contains("another spec of `quiz`"), "{e:?}");
        let e = load(vec![spec("q")]).err().unwrap();
        assert!(e[0].1.contains("for [lambada, quiz], the recipe asks n = 13 for [quiz]"), "{e:?}");
        let mut bytes = std::fs::read(d.join("idx.bin")).unwrap();
        let at = bytes.windows(17).position(|w| w == b"sluice-decontam/2").unwrap();
        bytes[at + 16] = b'1';
        std::fs::write(d.join("idx.bin"), bytes).unwrap();
        let e = load(vec![spec("q"), "lambada".into()]).err().unwrap();
        assert!(e[0].1.contains("format \"sluice-decontam/1\", expected \"sluice-decontam/2\""), "{e:?}");
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn bad_eval_files_are_named() {
        let d = tiny_eval();
        std::fs::write(d.join("piqa.jsonl"), "{\"query\": \"q\", \"choices\": [\"a\", \"b\"], \"gold\": 0}\nnot json\n").unwrap();
        let piqa = crate::benchmark::builtin("piqa").unwrap().clone();
        let e = DecontamIndex::build(&d, std::slice::from_ref(&piqa), 13).err().unwrap();
        assert!(e.contains("piqa.jsonl: line 2: invalid JSON"), "{e}");
        let cfg = DecontamConfig { benchmarks: vec!["gsm9k".into()], ..Default::default() };
        let e = cfg.validate();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].0 == "benchmarks[0]" && e[0].1.contains("unknown benchmark `gsm9k`") && e[0].1.contains("cmmlu"), "{e:?}");
        let cfg = DecontamConfig { benchmarks: vec!["mmlu".into(), "mmlu".into()], eval_dir: Some(d.clone()), ..Default::default() };
        assert!(cfg.validate().iter().any(|(f, m)| f == "benchmarks[1]" && m.contains("named twice")));
        std::fs::remove_dir_all(d).unwrap();
    }
}
