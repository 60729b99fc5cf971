//! Benchmarks as data. A [`BenchmarkSpec`] names a benchmark's files (JSONL,
//! CSV, or records of a fixed number of lines) and says which of their
//! fields are the context, the question, the choices and the answer, and how
//! `sluice eval` turns an item into a prompt. The `decontaminate` stage and
//! `sluice eval` read every benchmark through this one module: the
//! built-ins ([`BUILTINS`]) are spec files under `benchmarks/` in the
//! repository, embedded in the binary and parsed and validated exactly like
//! a spec written in a recipe.
//!
//! Relative paths in `files` and `fewshot_files` are resolved against the
//! eval directory (`decontaminate`'s `eval_dir`, `sluice eval`'s
//! `<data>/eval`); absolute paths are used as they are. A `*` in a file name
//! matches any run of characters; what it matched is the item's *subject*
//! (`_` read as a space), which pairs a test file with its few-shot file and
//! fills `{subject}` in `header`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_pipeline::limits::{read_file_limited, MAX_OPTION_FILE};

/// At most this many files may match one `files` or `fewshot_files` pattern.
pub const MAX_FILES: usize = 10_000;
/// At most this many choices per item (the letters A-Z).
pub const MAX_CHOICES: usize = 26;
/// Longest benchmark name.
pub const MAX_NAME: usize = 48;

/// How a benchmark's files are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DataFormat {
    /// One JSON object per line; fields are its top-level keys.
    Jsonl,
    /// RFC 4180 CSV with a header row; fields are column names.
    Csv,
    /// Records of `lines_per_record` lines; fields are line numbers, "1" first.
    Lines,
}

/// How the `answer` field gives the gold choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnswerType {
    /// A 0-based index into the choices (a JSON number or a string of digits).
    #[default]
    Index,
    /// A capital letter: A is the first choice.
    Letter,
    /// The text of the gold choice; without choices, the answer text itself.
    Text,
}

/// Text cleanup applied to every field before use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Clean {
    /// Fields are only trimmed.
    #[default]
    None,
    /// lm-eval-harness's HellaSwag cleanup: ` [title]` becomes a sentence
    /// break, other `[tags]` are removed, double spaces collapse.
    Hellaswag,
}

/// The choices of an item: one field holding a list of strings (JSONL), or
/// one field per choice (any format), in order.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Choices {
    /// A field holding a list of strings (JSONL only).
    List(String),
    /// One field per choice: at least 2, at most 26.
    Fields(Vec<String>),
}

impl<'de> Deserialize<'de> for Choices {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(Choices::List(s)),
            serde_json::Value::Array(a) => a
                .into_iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .map(Choices::Fields)
                .ok_or_else(|| serde::de::Error::custom("`choices` is a field name or a list of field names (strings)")),
            _ => Err(serde::de::Error::custom("`choices` is a field name or a list of field names")),
        }
    }
}

/// A benchmark: where its data is, which fields mean what, and the prompt
/// `sluice eval` builds from an item. Templates (`header`, `prompt`,
/// `target`) may use `{context}`, `{question}`, `{choices}` (the choices as
/// `A. text` lines), `{choice}` and `{letter}` (the choice being scored),
/// `{answer}` (benchmarks without choices), `{continuation}` and `{subject}`;
/// `{{` and `}}` are literal braces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BenchmarkSpec {
    /// The benchmark's name: 1-48 lower-case ASCII letters, digits or `_`,
    /// starting with a letter. Decontamination reports hits as
    /// `contaminated_<name>` and `contam_<name>`; eval reports it as the task.
    pub name: String,
    /// `jsonl`, `csv` or `lines`.
    pub format: DataFormat,
    /// For `lines`: lines per record, 2 to 64. Not allowed otherwise.
    #[serde(default)]
    #[schemars(range(min = 2, max = 64))]
    pub lines_per_record: Option<usize>,
    /// The scored (test) files: 1-64 paths, relative to the eval directory
    /// or absolute; a `*` in the file name (one at most, none in
    /// directories) matches any run of characters and names the subject.
    pub files: Vec<String>,
    /// Few-shot examples for eval (`--shots`), read from the file this
    /// pattern gives for the test file's subject (`*` replaced by it).
    /// Decontamination indexes these files too. Default: none (zero-shot).
    #[serde(default)]
    pub fewshot_files: Option<String>,
    /// Field of a passage that comes before the question. Default: none.
    #[serde(default)]
    pub context: Option<String>,
    /// Field of the question. Default: none.
    #[serde(default)]
    pub question: Option<String>,
    /// The choices: a field holding a list (JSONL), or a list of fields
    /// (columns, keys or line numbers). Without choices the benchmark is not
    /// multiple choice: the answer is a text that follows the prompt.
    #[serde(default)]
    pub choices: Option<Choices>,
    /// Field of the answer (the gold choice, or the answer text).
    pub answer: String,
    /// How `answer` gives the gold choice: `index` (0-based), `letter`
    /// (A-Z) or `text` (the choice's text). Must be `text` without choices.
    /// Default `index`.
    #[serde(default)]
    pub answer_type: AnswerType,
    /// Field of a text that follows every choice (Winogrande): eval scores
    /// only it, after each choice. Needs choices. Default: none.
    #[serde(default)]
    pub continuation: Option<String>,
    /// `none` or `hellaswag` (lm-eval-harness's cleanup of WikiHow tags).
    /// Default `none`; fields are always trimmed.
    #[serde(default)]
    pub clean: Clean,
    /// CSV only: match column names ignoring case. Default false: a column
    /// name must equal the field name exactly.
    #[serde(default)]
    pub ignore_header_case: bool,
    /// Eval: text before the few-shot examples, once per prompt (may use
    /// `{subject}` only). Default: empty.
    #[serde(default)]
    pub header: String,
    /// Eval: the prompt (scored as context). Default `{question}`.
    #[serde(default = "d_prompt")]
    pub prompt: String,
    /// Eval: the scored text for each choice (`{choice}` or `{letter}`), or
    /// the answer (`{answer}`) without choices; with `{choice}` in `prompt`
    /// instead (partial scoring), typically ` {continuation}`. Default:
    /// ` {choice}` with choices, ` {answer}` without.
    #[serde(default)]
    pub target: Option<String>,
    /// Eval: also report `acc_norm` (log-likelihood per character of the
    /// target). Needs choices. Default false.
    #[serde(default)]
    pub acc_norm: bool,
}

fn d_prompt() -> String {
    "{question}".into()
}

/// The built-in benchmark specs, as shipped in `benchmarks/*.yaml`.
pub const BUILTINS: [(&str, &str); 11] = [
    ("hellaswag", include_str!("../../../benchmarks/hellaswag.yaml")),
    ("lambada", include_str!("../../../benchmarks/lambada.yaml")),
    ("piqa", include_str!("../../../benchmarks/piqa.yaml")),
    ("arc", include_str!("../../../benchmarks/arc.yaml")),
    ("arc_easy", include_str!("../../../benchmarks/arc_easy.yaml")),
    ("arc_challenge", include_str!("../../../benchmarks/arc_challenge.yaml")),
    ("winogrande", include_str!("../../../benchmarks/winogrande.yaml")),
    ("mmlu", include_str!("../../../benchmarks/mmlu.yaml")),
    ("ceval", include_str!("../../../benchmarks/ceval.yaml")),
    ("cmmlu", include_str!("../../../benchmarks/cmmlu.yaml")),
    ("gsm8k", include_str!("../../../benchmarks/gsm8k.yaml")),
];

/// The names of the built-in benchmarks.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTINS.iter().map(|(n, _)| *n).collect()
}

/// A built-in spec by name.
pub fn builtin(name: &str) -> Option<&'static BenchmarkSpec> {
    static PARSED: OnceLock<Vec<BenchmarkSpec>> = OnceLock::new();
    let all = PARSED.get_or_init(|| {
        BUILTINS
            .iter()
            .map(|(n, text)| {
                let s = BenchmarkSpec::from_yaml(text).unwrap_or_else(|e| panic!("built-in benchmark {n}: {e}"));
                assert_eq!(&s.name, n, "built-in benchmark file name and spec name differ");
                s
            })
            .collect()
    });
    all.iter().find(|s| s.name == name)
}

/// A built-in name or a spec, as a recipe's `benchmarks:` list holds them.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum BenchmarkRef {
    /// A built-in benchmark: hellaswag, lambada, piqa, arc, arc_easy,
    /// arc_challenge, winogrande, mmlu, ceval, cmmlu, gsm8k.
    Name(String),
    /// A benchmark given by its spec.
    Spec(Box<BenchmarkSpec>),
}

impl<'de> Deserialize<'de> for BenchmarkRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(BenchmarkRef::Name(s)),
            v @ serde_json::Value::Object(_) => {
                serde_json::from_value(v).map(|s| BenchmarkRef::Spec(Box::new(s))).map_err(serde::de::Error::custom)
            }
            _ => Err(serde::de::Error::custom("a benchmark is a built-in's name or a spec (a mapping with `name`, `format`, ...)")),
        }
    }
}

impl From<&str> for BenchmarkRef {
    fn from(name: &str) -> Self {
        BenchmarkRef::Name(name.to_string())
    }
}

impl BenchmarkRef {
    /// The name the benchmark is reported under.
    pub fn name(&self) -> &str {
        match self {
            BenchmarkRef::Name(n) => n,
            BenchmarkRef::Spec(s) => &s.name,
        }
    }

    /// The spec: a built-in's, or the one given. Errors are (field, message).
    pub fn resolve(&self) -> Result<BenchmarkSpec, Vec<(String, String)>> {
        match self {
            BenchmarkRef::Name(n) => builtin(n).cloned().ok_or_else(|| {
                vec![(String::new(), format!("unknown benchmark `{n}` (built-in: {}; or give a spec)", builtin_names().join(", ")))]
            }),
            BenchmarkRef::Spec(s) => {
                let e = s.validate();
                if e.is_empty() {
                    Ok((**s).clone())
                } else {
                    Err(e)
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// templates

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Var(Var),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    Context,
    Question,
    Choices,
    Choice,
    Letter,
    Answer,
    Continuation,
    Subject,
}

const VARS: [(&str, Var); 8] = [
    ("context", Var::Context),
    ("question", Var::Question),
    ("choices", Var::Choices),
    ("choice", Var::Choice),
    ("letter", Var::Letter),
    ("answer", Var::Answer),
    ("continuation", Var::Continuation),
    ("subject", Var::Subject),
];

fn parse_template(t: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut rest = t;
    while let Some(i) = rest.find(['{', '}']) {
        lit.push_str(&rest[..i]);
        let c = rest.as_bytes()[i];
        rest = &rest[i + 1..];
        if rest.as_bytes().first() == Some(&c) {
            lit.push(c as char);
            rest = &rest[1..];
            continue;
        }
        if c == b'}' {
            return Err("a lone `}` (write `}}` for a brace)".into());
        }
        let close = rest.find('}').ok_or("a `{` without `}` (write `{{` for a brace)")?;
        let name = &rest[..close];
        let var = VARS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v).ok_or_else(|| {
            format!(
                "unknown placeholder `{{{name}}}` (known: {})",
                VARS.iter().map(|(n, _)| format!("{{{n}}}")).collect::<Vec<_>>().join(", ")
            )
        })?;
        if !lit.is_empty() {
            parts.push(Part::Lit(std::mem::take(&mut lit)));
        }
        parts.push(Part::Var(var));
        rest = &rest[close + 1..];
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        parts.push(Part::Lit(lit));
    }
    Ok(parts)
}

fn uses(parts: &[Part], v: Var) -> bool {
    parts.contains(&Part::Var(v))
}

/// The letter of choice `i`.
pub fn letter(i: usize) -> char {
    (b'A' + i as u8) as char
}

// ---------------------------------------------------------------------------
// validation

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= MAX_NAME
        && n.as_bytes()[0].is_ascii_lowercase()
        && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn check_pattern(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err("empty path".into());
    }
    let path = Path::new(p);
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| format!("`{p}` has no file name"))?;
    if p.matches('*').count() > 1 || (p.contains('*') && !name.contains('*')) {
        return Err(format!("`{p}`: one `*` at most, in the file name only"));
    }
    Ok(())
}

impl BenchmarkSpec {
    /// Parse a spec from YAML (or JSON) text and validate it.
    pub fn from_yaml(text: &str) -> Result<BenchmarkSpec, String> {
        let v = sluice_pipeline::recipe::load_yaml(text).map_err(|d| d.iter().map(|d| d.message.clone()).collect::<Vec<_>>().join("; "))?;
        let s: BenchmarkSpec = serde_json::from_value(v).map_err(|e| e.to_string())?;
        let errs = s.validate();
        if errs.is_empty() {
            Ok(s)
        } else {
            Err(errs.iter().map(|(f, m)| format!("{f}: {m}")).collect::<Vec<_>>().join("; "))
        }
    }

    /// Read and validate a spec file (YAML or JSON, at most 1 MiB).
    pub fn from_file(path: &Path) -> Result<BenchmarkSpec, String> {
        let bytes = read_file_limited(path, 1 << 20).map_err(|e| format!("cannot read {}", sluice_text::error_text(&e)))?;
        let text = String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8", path.display()))?;
        BenchmarkSpec::from_yaml(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Whether items have choices.
    pub fn is_multiple_choice(&self) -> bool {
        self.choices.is_some()
    }

    fn target_template(&self) -> &str {
        match &self.target {
            Some(t) => t,
            None if self.is_multiple_choice() => " {choice}",
            None => " {answer}",
        }
    }

    /// Every field the spec reads.
    fn fields(&self) -> Vec<(&'static str, &str)> {
        let mut f = Vec::new();
        for (k, v) in [("context", &self.context), ("question", &self.question)] {
            if let Some(v) = v {
                f.push((k, v.as_str()));
            }
        }
        match &self.choices {
            Some(Choices::List(l)) => f.push(("choices", l.as_str())),
            Some(Choices::Fields(fs)) => f.extend(fs.iter().map(|x| ("choices", x.as_str()))),
            None => {}
        }
        f.push(("answer", self.answer.as_str()));
        if let Some(c) = &self.continuation {
            f.push(("continuation", c.as_str()));
        }
        f
    }

    /// Every mistake, as (field, message).
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e: Vec<(String, String)> = Vec::new();
        let mut err = |f: &str, m: String| e.push((f.to_string(), m));
        if !valid_name(&self.name) {
            err("name", format!("`{}`: use 1-{MAX_NAME} lower-case ASCII letters, digits or `_`, starting with a letter", self.name));
        }
        match (self.format, self.lines_per_record) {
            (DataFormat::Lines, None) => err("lines_per_record", "required with `format: lines`".into()),
            (DataFormat::Lines, Some(n)) if !(2..=64).contains(&n) => err("lines_per_record", format!("must be between 2 and 64, got {n}")),
            (DataFormat::Jsonl | DataFormat::Csv, Some(_)) => err("lines_per_record", "only for `format: lines`".into()),
            _ => {}
        }
        if self.files.is_empty() || self.files.len() > 64 {
            err("files", format!("give 1 to 64 files, got {}", self.files.len()));
        }
        for (i, p) in self.files.iter().enumerate() {
            if let Err(m) = check_pattern(p) {
                err(&format!("files[{i}]"), m);
            }
        }
        if let Some(p) = &self.fewshot_files {
            if let Err(m) = check_pattern(p) {
                err("fewshot_files", m);
            }
        }
        if self.ignore_header_case && self.format != DataFormat::Csv {
            err("ignore_header_case", "only for `format: csv`".into());
        }
        for (k, f) in self.fields() {
            if f.is_empty() {
                err(k, "empty field name".into());
            } else if self.format == DataFormat::Lines {
                let n = self.lines_per_record.unwrap_or(0);
                if !f.parse::<usize>().is_ok_and(|l| (1..=n).contains(&l)) {
                    err(k, format!("`{f}`: with `format: lines` a field is a line number, 1 to {n}"));
                }
            }
        }
        match &self.choices {
            Some(Choices::List(_)) if self.format != DataFormat::Jsonl => {
                err("choices", "a list field is JSONL only; give one field (column, line) per choice".into())
            }
            Some(Choices::Fields(fs)) if !(2..=MAX_CHOICES).contains(&fs.len()) => {
                err("choices", format!("give 2 to {MAX_CHOICES} fields, got {}", fs.len()))
            }
            Some(Choices::Fields(fs)) if fs.iter().collect::<BTreeSet<_>>().len() != fs.len() => {
                err("choices", "a field is named twice".into())
            }
            None if self.answer_type != AnswerType::Text => {
                err("answer_type", "must be `text` without `choices` (the answer is the text that follows the prompt)".into())
            }
            _ => {}
        }
        let mc = self.is_multiple_choice();
        if !mc && self.continuation.is_some() {
            err("continuation", "needs `choices` (a text scored after each choice)".into());
        }
        if !mc && self.acc_norm {
            err("acc_norm", "needs `choices`".into());
        }
        if !mc && self.context.is_none() && self.question.is_none() {
            err("question", "give `question` or `context`: without choices the answer is scored after them".into());
        }
        // templates
        let given = |v: Var| match v {
            Var::Context => self.context.is_some(),
            Var::Question => self.question.is_some(),
            Var::Choices | Var::Choice | Var::Letter => mc,
            Var::Answer => !mc,
            Var::Continuation => self.continuation.is_some(),
            Var::Subject => true,
        };
        let name_of = |v: Var| VARS.iter().find(|(_, x)| *x == v).map(|(n, _)| *n).unwrap_or("");
        let mut parsed = Vec::new();
        for (k, t) in [("header", self.header.as_str()), ("prompt", self.prompt.as_str()), ("target", self.target_template())] {
            match parse_template(t) {
                Ok(p) => {
                    for part in &p {
                        if let Part::Var(v) = part {
                            if k == "header" && *v != Var::Subject {
                                err(k, format!("may use `{{subject}}` only, not `{{{}}}`", name_of(*v)));
                            } else if !given(*v) {
                                let why = match v {
                                    Var::Answer => "with choices the answer is the gold choice: use `{choice}` or `{letter}`".to_string(),
                                    Var::Choices | Var::Choice | Var::Letter => "the spec has no `choices`".to_string(),
                                    other => format!("the spec has no `{}` field", name_of(*other)),
                                };
                                err(k, format!("uses `{{{}}}`, but {why}", name_of(*v)));
                            }
                        }
                    }
                    parsed.push(p);
                }
                Err(m) => err(k, m),
            }
        }
        if let [_, prompt, target] = parsed.as_slice() {
            let per_choice = |p: &[Part]| uses(p, Var::Choice) || uses(p, Var::Letter);
            if target.is_empty() {
                err("target", "must not be empty: it is the text eval scores".into());
            }
            if mc && !per_choice(prompt) && !per_choice(target) {
                err("target", "use `{choice}` or `{letter}` here (or in `prompt`): otherwise every choice scores the same".into());
            }
            if !mc && !uses(target, Var::Answer) {
                err("target", "must use `{answer}`: it is the text eval scores".into());
            }
            if mc && per_choice(prompt) && per_choice(target) {
                err("target", "`{choice}`/`{letter}` go in `prompt` (partial scoring) or in `target`, not both".into());
            }
        }
        e
    }

    /// A fingerprint of everything that decides the indexed text (hex).
    pub fn fingerprint(&self) -> String {
        let json = serde_json::to_vec(self).expect("spec serialises");
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&json))
    }
}

// ---------------------------------------------------------------------------
// files

fn resolve(dir: &Path, p: &str) -> PathBuf {
    let path = Path::new(p);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        dir.join(path)
    }
}

/// The files a pattern names, with their subjects, sorted by path. A
/// pattern without `*` must name an existing file.
pub fn expand(dir: &Path, pattern: &str) -> Result<Vec<(PathBuf, String)>, String> {
    let full = resolve(dir, pattern);
    let name = full.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
    let Some((pre, post)) = name.split_once('*') else {
        let subject = full.file_stem().map(|s| s.to_string_lossy().replace('_', " ")).unwrap_or_default();
        if !full.exists() {
            return Err(format!("{}: no such file", full.display()));
        }
        return Ok(vec![(full, subject)]);
    };
    let parent = full.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut out = Vec::new();
    for e in std::fs::read_dir(&parent).map_err(|e| format!("cannot list {}: {e}", parent.display()))? {
        let e = e.map_err(|e| format!("cannot list {}: {e}", parent.display()))?;
        let n = e.file_name();
        let Some(n) = n.to_str() else { continue };
        if n.len() >= pre.len() + post.len() && n.starts_with(pre) && n.ends_with(post) {
            out.push((e.path(), n[pre.len()..n.len() - post.len()].replace('_', " ")));
            if out.len() > MAX_FILES {
                return Err(format!("{}: more than {MAX_FILES} files match `{name}`", parent.display()));
            }
        }
    }
    if out.is_empty() {
        return Err(format!("{}: no file matches `{name}`", parent.display()));
    }
    out.sort();
    Ok(out)
}

/// One item of a benchmark, its fields cleaned and trimmed.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// What the file pattern's `*` matched (`_` read as a space), else the file's stem.
    pub subject: String,
    pub context: String,
    pub question: String,
    /// Empty for a benchmark without choices.
    pub choices: Vec<String>,
    /// The gold choice's index (0 without choices).
    pub gold: usize,
    /// The gold choice's text, or the answer text.
    pub answer: String,
    pub continuation: String,
}

fn join(parts: &[&str]) -> String {
    parts.iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>().join(" ")
}

impl Item {
    /// The texts decontamination indexes, the main one first: context,
    /// question, gold answer and continuation together, then each choice
    /// (with the continuation) on its own. Without context and question the
    /// gold choice's segment is the main one.
    pub fn segments(&self) -> Vec<String> {
        if self.choices.is_empty() {
            return vec![join(&[&self.context, &self.question, &self.answer])];
        }
        let with = |c: &str| join(&[c, &self.continuation]);
        let mut segs = Vec::with_capacity(self.choices.len() + 1);
        if self.context.is_empty() && self.question.is_empty() {
            segs.push(with(&self.choices[self.gold]));
            segs.extend(self.choices.iter().enumerate().filter(|&(i, _)| i != self.gold).map(|(_, c)| with(c)));
        } else {
            segs.push(join(&[&self.context, &self.question, &self.answer, &self.continuation]));
            segs.extend(self.choices.iter().map(|c| with(c)));
        }
        segs
    }
}

/// lm-eval-harness's HellaSwag cleanup: ` [title]` becomes a sentence break,
/// `[...]` tags go, double spaces collapse.
pub fn hellaswag_clean(text: &str) -> String {
    let t = text.trim().replace(" [title]", ". ");
    let mut out = String::with_capacity(t.len());
    let mut rest = t.as_str();
    while let Some(open) = rest.find('[') {
        match rest[open..].find(']') {
            Some(close) => {
                out.push_str(&rest[..open]);
                rest = &rest[open + close + 1..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out.replace("  ", " ")
}

/// RFC 4180 CSV: quoted fields may hold commas, newlines and `""`. Each
/// record comes with the line it starts on.
pub fn csv_records(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let (mut line, mut start) = (1, 1);
    let mut it = text.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\n' {
            line += 1;
        }
        if quoted {
            match c {
                '"' if it.peek() == Some(&'"') => {
                    field.push('"');
                    it.next();
                }
                '"' => quoted = false,
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push((start, std::mem::take(&mut row)));
                start = line;
            }
            '\r' => {}
            c => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push((start, row));
    }
    rows
}

/// One record's fields, however the format stores them.
enum Record<'a> {
    Json(serde_json::Value),
    Csv(&'a [String], &'a [(String, usize)]),
    Lines(&'a [&'a str]),
}

impl BenchmarkSpec {
    fn clean(&self, s: &str) -> String {
        match self.clean {
            Clean::None => s.trim().to_string(),
            Clean::Hellaswag => hellaswag_clean(s).trim().to_string(),
        }
    }

    /// The text of a field; `at` names the file and record in errors.
    fn get(&self, r: &Record, f: &str, at: &str) -> Result<String, String> {
        let raw = match r {
            Record::Json(v) => match v.get(f) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                Some(other) => return Err(format!("{at}: field `{f}` is not a string (found {})", json_kind(other))),
                None => return Err(format!("{at}: no field `{f}`")),
            },
            Record::Csv(row, cols) => {
                let i = cols.iter().find(|(c, _)| c == f).map(|(_, i)| *i).expect("columns resolved from the header");
                match row.get(i) {
                    Some(s) => s.clone(),
                    None => return Err(format!("{at}: no field `{f}` (the record has {} fields, `{f}` is column {})", row.len(), i + 1)),
                }
            }
            Record::Lines(ls) => ls[f.parse::<usize>().expect("validated line number") - 1].to_string(),
        };
        Ok(self.clean(&raw))
    }

    fn get_list(&self, r: &Record, f: &str, at: &str) -> Result<Vec<String>, String> {
        let Record::Json(v) = r else { unreachable!("a list field is JSONL only (validated)") };
        match v.get(f) {
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .map(|x| {
                    x.as_str().map(|s| self.clean(s)).ok_or_else(|| format!("{at}: field `{f}` holds a {}, not a string", json_kind(x)))
                })
                .collect(),
            Some(other) => Err(format!("{at}: field `{f}` is not a list of strings (found {})", json_kind(other))),
            None => Err(format!("{at}: no field `{f}`")),
        }
    }

    fn item(&self, r: &Record, at: &str, subject: &str) -> Result<Item, String> {
        let opt = |f: &Option<String>| f.as_ref().map_or(Ok(String::new()), |f| self.get(r, f, at));
        let context = opt(&self.context)?;
        let question = opt(&self.question)?;
        let continuation = opt(&self.continuation)?;
        let choices = match &self.choices {
            None => Vec::new(),
            Some(Choices::List(f)) => self.get_list(r, f, at)?,
            Some(Choices::Fields(fs)) => fs.iter().map(|f| self.get(r, f, at)).collect::<Result<_, _>>()?,
        };
        if self.is_multiple_choice() && !(2..=MAX_CHOICES).contains(&choices.len()) {
            return Err(format!("{at}: {} choices; an item needs 2 to {MAX_CHOICES}", choices.len()));
        }
        let ans = self.get(r, &self.answer, at)?;
        let f = &self.answer;
        let gold = match (self.answer_type, self.is_multiple_choice()) {
            (_, false) => 0,
            (AnswerType::Index, true) => ans
                .parse::<usize>()
                .ok()
                .filter(|&g| g < choices.len())
                .ok_or_else(|| format!("{at}: `{f}` is {ans:?}, not an index 0 to {}", choices.len() - 1))?,
            (AnswerType::Letter, true) => Some(ans.as_str())
                .filter(|a| a.len() == 1 && (b'A'..b'A' + choices.len() as u8).contains(&a.as_bytes()[0]))
                .map(|a| (a.as_bytes()[0] - b'A') as usize)
                .ok_or_else(|| format!("{at}: `{f}` is {ans:?}, not a letter A to {}", letter(choices.len() - 1)))?,
            (AnswerType::Text, true) => {
                choices.iter().position(|c| *c == ans).ok_or_else(|| format!("{at}: `{f}` {ans:?} is none of the choices"))?
            }
        };
        let answer = if self.is_multiple_choice() { choices[gold].clone() } else { ans };
        Ok(Item { subject: subject.to_string(), context, question, choices, gold, answer, continuation })
    }

    /// Read the items of one file. Errors name the file, the record and the field.
    pub fn read_file(&self, path: &Path, subject: &str) -> Result<Vec<Item>, String> {
        let bytes = read_file_limited(path, MAX_OPTION_FILE).map_err(|e| format!("cannot read {}", sluice_text::error_text(&e)))?;
        let text =
            String::from_utf8(bytes).map_err(|e| format!("{}: not UTF-8 (byte {})", path.display(), e.utf8_error().valid_up_to()))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let p = path.display();
        let mut items = Vec::new();
        match self.format {
            DataFormat::Jsonl => {
                for (i, l) in text.lines().enumerate() {
                    if l.trim().is_empty() {
                        continue;
                    }
                    let at = format!("{p}: line {}", i + 1);
                    let v: serde_json::Value = serde_json::from_str(l).map_err(|e| format!("{at}: invalid JSON: {e}"))?;
                    if !v.is_object() {
                        return Err(format!("{at}: not a JSON object"));
                    }
                    items.push(self.item(&Record::Json(v), &at, subject)?);
                }
            }
            DataFormat::Csv => {
                let rows = csv_records(text);
                let (_, header) = rows.first().ok_or_else(|| format!("{p}: empty file (a CSV benchmark needs a header row)"))?;
                let mut cols = Vec::new();
                for (_, f) in self.fields() {
                    let found: Vec<usize> = (0..header.len())
                        .filter(|&i| if self.ignore_header_case { header[i].trim().eq_ignore_ascii_case(f) } else { header[i].trim() == f })
                        .collect();
                    match found.as_slice() {
                        [i] => cols.push((f.to_string(), *i)),
                        [] => {
                            let hint = if !self.ignore_header_case && header.iter().any(|h| h.trim().eq_ignore_ascii_case(f)) {
                                " (names match exactly; the case differs: fix the spec or set `ignore_header_case: true`)"
                            } else {
                                ""
                            };
                            return Err(format!("{p}: line 1 (header): no field `{f}`; the columns are {}{hint}", header.join(", ")));
                        }
                        _ => return Err(format!("{p}: line 1 (header): {} columns are named `{f}`", found.len())),
                    }
                }
                for (k, (line, row)) in rows.iter().enumerate().skip(1) {
                    if row.len() == 1 && row[0].trim().is_empty() {
                        continue;
                    }
                    let at = format!("{p}: record {k} (line {line})");
                    items.push(self.item(&Record::Csv(row, &cols), &at, subject)?);
                }
            }
            DataFormat::Lines => {
                let n = self.lines_per_record.unwrap_or(1);
                let lines: Vec<&str> = text.lines().collect();
                if !lines.len().is_multiple_of(n) {
                    return Err(format!("{p}: {} lines, not a multiple of lines_per_record = {n}", lines.len()));
                }
                for (k, rec) in lines.chunks(n).enumerate() {
                    let at = format!("{p}: record {} (line {})", k + 1, k * n + 1);
                    items.push(self.item(&Record::Lines(rec), &at, subject)?);
                }
            }
        }
        Ok(items)
    }

    /// The test files with their subjects, in order.
    pub fn test_files(&self, dir: &Path) -> Result<Vec<(PathBuf, String)>, String> {
        let mut out = Vec::new();
        for p in &self.files {
            out.extend(expand(dir, p)?);
        }
        Ok(out)
    }

    /// The few-shot file for a subject, if the spec has one.
    pub fn fewshot_file(&self, dir: &Path, subject: &str) -> Option<PathBuf> {
        self.fewshot_files.as_ref().map(|p| resolve(dir, &p.replace('*', &subject.replace(' ', "_"))))
    }

    /// Every item of the benchmark, test and few-shot files, as
    /// decontamination indexes them.
    pub fn read_all(&self, dir: &Path) -> Result<Vec<Item>, String> {
        let mut files = self.test_files(dir)?;
        if let Some(p) = &self.fewshot_files {
            files.extend(expand(dir, p)?);
        }
        let mut items = Vec::new();
        for (f, subject) in files {
            items.extend(self.read_file(&f, &subject)?);
        }
        Ok(items)
    }

    fn render_parts(&self, parts: &[Part], it: &Item, choice: Option<usize>) -> String {
        let mut s = String::new();
        for p in parts {
            match p {
                Part::Lit(l) => s.push_str(l),
                Part::Var(v) => match v {
                    Var::Context => s.push_str(&it.context),
                    Var::Question => s.push_str(&it.question),
                    Var::Choices => {
                        for (i, c) in it.choices.iter().enumerate() {
                            s.push_str(&format!("{}. {c}\n", letter(i)));
                        }
                    }
                    Var::Choice => s.push_str(&it.choices[choice.unwrap_or(it.gold)]),
                    Var::Letter => s.push(letter(choice.unwrap_or(it.gold))),
                    Var::Answer => s.push_str(&it.answer),
                    Var::Continuation => s.push_str(&it.continuation),
                    Var::Subject => s.push_str(&it.subject),
                },
            }
        }
        s
    }

    /// The header for a subject.
    pub fn render_header(&self, subject: &str) -> String {
        let it = Item {
            subject: subject.into(),
            context: String::new(),
            question: String::new(),
            choices: Vec::new(),
            gold: 0,
            answer: String::new(),
            continuation: String::new(),
        };
        self.render_parts(&parse_template(&self.header).expect("validated"), &it, None)
    }

    /// The prompt of an item, for choice `choice` (the gold one if `None`).
    pub fn render_prompt(&self, it: &Item, choice: Option<usize>) -> String {
        self.render_parts(&parse_template(&self.prompt).expect("validated"), it, choice)
    }

    /// The scored text of an item, for choice `choice` (the gold one if `None`).
    pub fn render_target(&self, it: &Item, choice: Option<usize>) -> String {
        self.render_parts(&parse_template(self.target_template()).expect("validated"), it, choice)
    }

    /// Whether the prompt differs per choice (partial scoring).
    pub fn prompt_per_choice(&self) -> bool {
        parse_template(&self.prompt).is_ok_and(|p| uses(&p, Var::Choice) || uses(&p, Var::Letter))
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "list",
        serde_json::Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> BenchmarkSpec {
        BenchmarkSpec::from_yaml(yaml).unwrap()
    }

    #[test]
    fn every_builtin_parses_validates_and_is_named_after_its_file() {
        for (n, _) in BUILTINS {
            let s = builtin(n).unwrap();
            assert_eq!(s.name, n);
            assert!(s.validate().is_empty());
        }
        assert!(builtin("cmmlu").unwrap().is_multiple_choice());
        assert!(!builtin("gsm8k").unwrap().is_multiple_choice());
        assert!(builtin("nope").is_none());
    }

    #[test]
    fn unknown_keys_and_bad_options_are_refused() {
        let e = BenchmarkSpec::from_yaml("name: x\nformat: jsonl\nfiles: [a.jsonl]\nanswer: a\nquestoin: q\n").unwrap_err();
        assert!(e.contains("unknown field `questoin`"), "{e}");
        let e = BenchmarkSpec::from_yaml("name: x\nformat: xml\nfiles: [a]\nanswer: a\n").unwrap_err();
        assert!(e.contains("xml"), "{e}");
        for (yaml, field, want) in [
            ("name: Bad-Name\nformat: jsonl\nfiles: [a]\nquestion: q\nanswer: a\nanswer_type: text", "name", "lower-case"),
            ("name: x\nformat: lines\nfiles: [a]\nquestion: '1'\nanswer: '2'\nanswer_type: text", "lines_per_record", "required"),
            (
                "name: x\nformat: lines\nlines_per_record: 100\nfiles: [a]\nquestion: '1'\nanswer: '2'\nanswer_type: text",
                "lines_per_record",
                "between 2 and 64",
            ),
            (
                "name: x\nformat: lines\nlines_per_record: 3\nfiles: [a]\nquestion: '4'\nanswer: '2'\nanswer_type: text",
                "question",
                "line number",
            ),
            (
                "name: x\nformat: csv\nlines_per_record: 3\nfiles: [a]\nquestion: q\nanswer: a\nanswer_type: text",
                "lines_per_record",
                "only for",
            ),
            ("name: x\nformat: jsonl\nfiles: []\nquestion: q\nanswer: a\nanswer_type: text", "files", "1 to 64"),
            ("name: x\nformat: jsonl\nfiles: ['d*/a*.jsonl']\nquestion: q\nanswer: a\nanswer_type: text", "files[0]", "one `*`"),
            ("name: x\nformat: csv\nfiles: [a]\nquestion: q\nchoices: c\nanswer: a", "choices", "JSONL only"),
            ("name: x\nformat: csv\nfiles: [a]\nquestion: q\nchoices: [A]\nanswer: a", "choices", "2 to 26"),
            ("name: x\nformat: csv\nfiles: [a]\nquestion: q\nchoices: [A, A]\nanswer: a", "choices", "twice"),
            ("name: x\nformat: jsonl\nfiles: [a]\nquestion: q\nanswer: a", "answer_type", "must be `text`"),
            ("name: x\nformat: jsonl\nfiles: [a]\nanswer: a\nanswer_type: text", "question", "give `question`"),
            ("name: x\nformat: jsonl\nfiles: [a]\nquestion: q\nanswer: a\nanswer_type: text\nacc_norm: true", "acc_norm", "needs"),
            ("name: x\nformat: jsonl\nfiles: [a]\nquestion: q\nanswer: a\nanswer_type: text\ncontinuation: c", "continuation", "needs"),
            (
                "name: x\nformat: jsonl\nfiles: [a]\nquestion: q\nanswer: a\nanswer_type: text\nignore_header_case: true",
                "ignore_header_case",
                "csv",
            ),
            (
                "name: x\nformat: jsonl\nfiles: [a]\nquestion: q\nchoices: c\nanswer: a\nprompt: '{questoin}'",
                "prompt",
                "unknown placeholder",
            ),
            (
                "name: x\nformat: jsonl\nfiles: [a]\nquestion: q\nchoices: c\nanswer: a\nprompt: '{context} {question}'",
                "prompt",
                "no `context` field",
            ),
            ("name: x\nformat: jsonl\nfiles: [a]\nquestion: q\nchoices: c\nanswer: a\ntarget: ' {answer}'", "target", "gold choice"),
            (
                "name: x\nformat: jsonl\nfiles: [a]\nquestion: q\nchoices: c\nanswer: a\ntarget: ' yes'",
                "target",
                "every choice scores the same",
            ),
            (
                "name: x\nformat: jsonl\nfiles: [a]\nquestion: q\nanswer: a\nanswer_type: text\ntarget: ' {question}'",
                "target",
                "must use `{answer}`",
            ),
            ("name: x\nformat: jsonl\nfiles: [a]\nquestion: q\nchoices: c\nanswer: a\nheader: '{question}'", "header", "`{subject}` only"),
            ("name: x\nformat: jsonl\nfiles: [a]\nquestion: q\nchoices: c\nanswer: a\nprompt: '{question'", "prompt", "without `}`"),
            ("name: x\nformat: jsonl\nfiles: [a]\nquestion: q\nchoices: c\nanswer: a\nprompt: '{choice}'", "target", "not both"),
        ] {
            let s: BenchmarkSpec = serde_json::from_value(sluice_pipeline::recipe::load_yaml(yaml).unwrap()).unwrap();
            let e = s.validate();
            assert!(e.iter().any(|(f, m)| f == field && m.contains(want)), "{yaml}: {e:?}");
        }
        // braces escape
        let s = spec("name: x\nformat: jsonl\nfiles: [a]\nquestion: q\nchoices: c\nanswer: a\nprompt: '{{{question}}}'\n");
        let it = Item { question: "Q".into(), choices: vec!["a".into(), "b".into()], answer: "a".into(), ..empty_item() };
        assert_eq!(s.render_prompt(&it, None), "{Q}");
    }

    fn empty_item() -> Item {
        Item {
            subject: String::new(),
            context: String::new(),
            question: String::new(),
            choices: vec![],
            gold: 0,
            answer: String::new(),
            continuation: String::new(),
        }
    }

    #[test]
    fn csv_header_matches_exactly_and_errors_name_file_record_and_field() {
        let d = tempfile_dir("csv");
        let f = d.join("x_test.csv");
        std::fs::write(&f, ",Question,A,B,C,D,Answer\n0,\"Q, one\",a,b,c,d,B\n\n1,Q2,a,b,c,d,D\n").unwrap();
        let items = builtin("cmmlu").unwrap().read_file(&f, "x").unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!((items[0].question.as_str(), items[0].gold, items[0].answer.as_str()), ("Q, one", 1, "b"));
        assert_eq!(items[1].gold, 3);
        // the C-Eval layout is lower-case: exact matching refuses it, and says why
        let e = builtin("ceval").unwrap().read_file(&f, "x").unwrap_err();
        assert!(e.contains("x_test.csv: line 1 (header): no field `question`") && e.contains("ignore_header_case"), "{e}");
        let mut loose = builtin("ceval").unwrap().clone();
        loose.ignore_header_case = true;
        assert_eq!(loose.read_file(&f, "x").unwrap(), items);
        // a short record and a bad answer are named by file, record and field
        std::fs::write(&f, "Question,A,B,C,D,Answer\nq,a,b,c,d,A\n\"multi\nline\",a,b\n").unwrap();
        let e = builtin("cmmlu").unwrap().read_file(&f, "x").unwrap_err();
        assert!(e.contains("x_test.csv: record 2 (line 3): no field `C`"), "{e}");
        std::fs::write(&f, "Question,A,B,C,D,Answer\nq,a,b,c,d,E\n").unwrap();
        let e = builtin("cmmlu").unwrap().read_file(&f, "x").unwrap_err();
        assert!(e.contains("record 1 (line 2): `Answer` is \"E\", not a letter A to D"), "{e}");
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn jsonl_fields_lists_and_answers() {
        let d = tempfile_dir("jsonl");
        let f = d.join("t.jsonl");
        std::fs::write(
            &f,
            "{\"q\": \" Which? \", \"opts\": [\"x\", \"y\", \"z\"], \"label\": \"y\"}\n\n{\"q\": \"W2\", \"opts\": [\"x\", \"y\"]}\n",
        )
        .unwrap();
        let s = spec("name: t\nformat: jsonl\nfiles: [t.jsonl]\nquestion: q\nchoices: opts\nanswer: label\nanswer_type: text\n");
        let e = s.read_file(&f, "t").unwrap_err();
        assert!(e.contains("t.jsonl: line 3: no field `label`"), "{e}");
        std::fs::write(&f, "{\"q\": \" Which? \", \"opts\": [\"x\", \"y\", \"z\"], \"label\": \"y\"}\n").unwrap();
        let it = &s.read_file(&f, "t").unwrap()[0];
        assert_eq!((it.question.as_str(), it.gold), ("Which?", 1));
        assert_eq!(it.segments(), vec!["Which? y", "x", "y", "z"]);
        assert_eq!(s.render_prompt(it, None), "Which?");
        assert_eq!(s.render_target(it, Some(2)), " z");
        std::fs::write(&f, "{\"q\": 3, \"opts\": [\"x\", \"y\"], \"label\": \"y\"}\n").unwrap();
        assert!(s.read_file(&f, "t").is_ok(), "a number is read as its text");
        std::fs::write(&f, "{\"q\": [1], \"opts\": [\"x\", \"y\"], \"label\": \"y\"}\n").unwrap();
        let e = s.read_file(&f, "t").unwrap_err();
        assert!(e.contains("line 1: field `q` is not a string (found list)"), "{e}");
        std::fs::write(&f, "{\"q\": \"a\", \"opts\": [\"x\", 2], \"label\": \"y\"}\n").unwrap();
        assert!(s.read_file(&f, "t").unwrap_err().contains("field `opts` holds a number"));
        // GSM8K: no choices, the question and the solution are one segment
        std::fs::write(&f, "{\"question\": \"Tom has 3 apples.\", \"answer\": \"3 + 2 = 5\\n#### 5\"}\n").unwrap();
        let mut g = builtin("gsm8k").unwrap().clone();
        g.files = vec!["t.jsonl".into()];
        let it = &g.read_all(&d).unwrap()[0];
        assert_eq!(it.segments(), vec!["Tom has 3 apples. 3 + 2 = 5\n#### 5"]);
        assert_eq!(g.render_prompt(it, None), "Question: Tom has 3 apples.\nAnswer:");
        assert_eq!(g.render_target(it, None), " 3 + 2 = 5\n#### 5");
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn patterns_give_subjects_and_fewshot_files() {
        let d = tempfile_dir("glob");
        std::fs::create_dir_all(d.join("m/test")).unwrap();
        std::fs::create_dir_all(d.join("m/dev")).unwrap();
        for s in ["high_school_math", "art"] {
            std::fs::write(d.join(format!("m/test/{s}_test.csv")), "question,choice0,choice1,choice2,choice3,answer\nq,a,b,c,d,2\n")
                .unwrap();
            std::fs::write(d.join(format!("m/dev/{s}_dev.csv")), "question,choice0,choice1,choice2,choice3,answer\ndq,a,b,c,d,0\n")
                .unwrap();
        }
        let mut s = builtin("mmlu").unwrap().clone();
        s.files = vec!["m/test/*_test.csv".into()];
        s.fewshot_files = Some("m/dev/*_dev.csv".into());
        let files = s.test_files(&d).unwrap();
        assert_eq!(files.iter().map(|(_, s)| s.as_str()).collect::<Vec<_>>(), vec!["art", "high school math"]);
        assert_eq!(s.fewshot_file(&d, "high school math").unwrap(), d.join("m/dev/high_school_math_dev.csv"));
        assert_eq!(s.read_all(&d).unwrap().len(), 4);
        let it = &s.read_file(&files[1].0, &files[1].1).unwrap()[0];
        assert_eq!(s.render_header(&it.subject), "The following are multiple choice questions (with answers) about high school math.\n\n");
        assert_eq!(s.render_prompt(it, None), "q\nA. a\nB. b\nC. c\nD. d\nAnswer:");
        assert_eq!(s.render_target(it, Some(1)), " B");
        s.files = vec!["m/test/*_nothing.csv".into()];
        assert!(s.test_files(&d).unwrap_err().contains("no file matches `*_nothing.csv`"));
        s.files = vec!["m/test/absent.csv".into()];
        assert!(s.test_files(&d).unwrap_err().contains("absent.csv: no such file"));
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn hellaswag_and_winogrande_layouts() {
        let d = tempfile_dir("lines");
        std::fs::create_dir_all(d.join("hellaswag")).unwrap();
        std::fs::write(d.join("hellaswag/hellaswag_val_full.txt"), "Label: ctx [title] Do it [step] now\n1\ne0\n[header] e1\ne2\ne3\n")
            .unwrap();
        let h = builtin("hellaswag").unwrap();
        let it = &h.read_all(&d).unwrap()[0];
        assert_eq!((it.question.as_str(), it.gold, it.choices[1].as_str()), ("Label: ctx. Do it now", 1, "e1"));
        assert_eq!(h.render_target(it, Some(0)), " e0");
        std::fs::write(d.join("hellaswag/hellaswag_val_full.txt"), "a\n1\n").unwrap();
        assert!(h.read_all(&d).unwrap_err().contains("2 lines, not a multiple of lines_per_record = 6"));
        std::fs::write(
            d.join("winogrande.jsonl"),
            "{\"context_options\": [\"A so A\", \"A so B\"], \"continuation\": \"won.\", \"gold\": 1}\n",
        )
        .unwrap();
        let w = builtin("winogrande").unwrap();
        assert!(w.prompt_per_choice());
        let it = &w.read_all(&d).unwrap()[0];
        assert_eq!(it.segments(), vec!["A so B won.", "A so A won."]);
        assert_eq!((w.render_prompt(it, Some(0)).as_str(), w.render_target(it, Some(0)).as_str()), ("A so A", " won."));
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn csv_quotes_and_line_numbers() {
        assert_eq!(
            csv_records("a,\"b, \"\"c\"\"\nd\"\n1,2\n"),
            vec![(1, vec!["a".to_string(), "b, \"c\"\nd".into()]), (3, vec!["1".into(), "2".into()])]
        );
        assert_eq!(hellaswag_clean("[header] How to x [title] Do it [step] now"), " How to x. Do it now");
    }

    fn tempfile_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sluice-bench-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
