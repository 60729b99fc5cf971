//! Recipes: YAML that declares a DAG of readers, stages and writers.
//!
//! Compiling a recipe happens in passes, each collecting *every* error it
//! finds into one list before the next pass runs (a pass only runs on parts
//! the earlier passes accepted):
//!
//! 1. parse the YAML and expand `${ENV:-default}` in every string;
//! 2. check the top-level keys and each node's common keys (`kind`,
//!    `inputs`, `exclusions`, `source`, `enabled`); a stage with
//!    `enabled: false` is taken out and its consumers read its inputs
//!    (`enabled: ${SLUICE_PPL:-false}` makes a stage optional);
//! 3. build each component from its configuration (the registry rejects
//!    unknown keys and bad values, with their paths);
//! 4. check the graph: dangling inputs, cycles, outputs nobody reads.
//!
//! ```yaml
//! seed: 42
//! output: ${OUT:-out/example}
//! readers:
//!   web: {kind: jsonl, paths: [data/web.jsonl.gz]}
//! stages:
//!   long_enough: {kind: length, inputs: [web], min_chars: 200}
//! writers:
//!   kept: {kind: parquet, inputs: [long_enough]}
//! ```

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::env;
use crate::error::{Error, Result};
use crate::stage::{Reader, SinkFactory, StageImpl};

/// One problem in a recipe, located by its path (`stages.dedup.inputs[1]`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    pub path: String,
    pub message: String,
}

impl Diagnostic {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic { path: path.into(), message: message.into() }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "(top level): {}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// The three roles a node can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Reader,
    Stage,
    Writer,
}

impl Role {
    pub fn section(self) -> &'static str {
        match self {
            Role::Reader => "readers",
            Role::Stage => "stages",
            Role::Writer => "writers",
        }
    }
}

/// What a component's builder learns about its place in the recipe.
#[derive(Debug, Clone)]
pub struct BuildContext<'a> {
    pub name: &'a str,
    /// Path of the node in the recipe (`readers.web`), for diagnostics.
    pub path: &'a str,
    /// The recipe seed mixed with the node's name.
    pub seed: u64,
    /// The source name documents of this reader carry (readers only).
    pub source: &'a str,
    /// Paths under the output directory that options of the recipe write;
    /// filled by [`BuildContext::claim_output`], checked for collisions by
    /// [`compile`].
    pub claims: &'a OutputClaims,
}

/// Top-level names under the output directory that sluice itself writes.
pub const RESERVED_OUTPUT_NAMES: &[&str] = &["_sluice", "excluded", "reports", "stats.json", "report.html"];

/// The paths under the output directory that a recipe's options write
/// (a `pack` stage's `dir`, a saved Bloom filter, ...), with the option
/// that claimed each.
#[derive(Debug, Default)]
pub struct OutputClaims(RefCell<Vec<(PathBuf, String)>>);

impl OutputClaims {
    /// The claims so far: `(relative path, recipe path of the option)`.
    pub fn list(&self) -> Vec<(PathBuf, String)> {
        self.0.borrow().clone()
    }
}

impl BuildContext<'_> {
    /// Check and record a path that the option `option` of this node
    /// writes, relative to the run's output directory.
    ///
    /// Recipes are untrusted: whatever they say, a run writes only inside
    /// its output directory. So `rel` must be relative, made of plain names
    /// (no `..`, no `.`, no hidden names, no empty components) and must not
    /// lie in sluice's own folders ([`RESERVED_OUTPUT_NAMES`]). The returned
    /// path is relative: join it with the output directory at run time.
    /// [`compile`] reports every two claims that overlap, and claims that
    /// overlap a writer's folder.
    pub fn claim_output(&self, option: &str, rel: &str) -> Result<PathBuf, Diagnostic> {
        let at = format!("{}.{option}", self.path);
        let rel_path = check_relative_output(rel).map_err(|m| Diagnostic::new(&at, m))?;
        self.claims.0.borrow_mut().push((rel_path.clone(), at));
        Ok(rel_path)
    }
}

/// Check that `rel` names a path inside the output directory: relative,
/// plain names only, not in sluice's own folders.
pub fn check_relative_output(rel: &str) -> Result<PathBuf, String> {
    let explain = "must be a relative path of plain names inside the output directory (no `..`, no absolute path, no hidden names)";
    if rel.is_empty() || rel.len() > 1024 {
        return Err(format!("`{rel}` {explain}"));
    }
    let p = Path::new(rel);
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => {
                let n = n.to_str().ok_or_else(|| format!("`{rel}` is not valid UTF-8"))?;
                let ok = !n.starts_with('.') && !n.is_empty() && n.chars().all(|c| !c.is_control() && c != '\\');
                if !ok {
                    return Err(format!("`{rel}` {explain}"));
                }
                out.push(n);
            }
            _ => return Err(format!("`{rel}` {explain}")),
        }
    }
    if rel.ends_with('/') || rel.contains("//") {
        return Err(format!("`{rel}` {explain}"));
    }
    let first = out.components().next().and_then(|c| c.as_os_str().to_str()).unwrap_or_default().to_string();
    if RESERVED_OUTPUT_NAMES.contains(&first.as_str()) {
        return Err(format!("`{rel}` is inside `{first}`, which sluice itself writes; choose another name"));
    }
    Ok(out)
}

/// Report claims that overlap each other or a writer's folder. Two paths
/// overlap when one is a prefix of the other, component by component.
fn check_claims(claims: &[(PathBuf, String)], writers: &[(String, String)], diags: &mut Vec<Diagnostic>) {
    // Writers first, so a collision is reported at the option to change.
    let mut all: Vec<(PathBuf, String)> =
        writers.iter().map(|(name, path)| (PathBuf::from(name), format!("{path} (the writer's folder)"))).collect();
    all.extend(claims.iter().cloned());
    for i in 0..all.len() {
        for j in 0..i {
            let (a, pa) = &all[i];
            let (b, pb) = &all[j];
            if a.starts_with(b) || b.starts_with(a) {
                diags.push(Diagnostic::new(
                    pa,
                    format!(
                        "writes `{}` in the output directory, which collides with `{}` written by {pb}; give one of them another name",
                        a.display(),
                        b.display()
                    ),
                ));
            }
        }
    }
}

/// The closed set of component kinds. Implemented once, by the `sluice`
/// binary, as a `match` over kind names; the engine only calls it.
pub trait Registry {
    /// Kind names for a role, for "unknown kind" messages.
    fn kinds(&self, role: Role) -> Vec<&'static str>;
    fn build_reader(&self, kind: &str, config: &Value, cx: &BuildContext) -> Result<Arc<dyn Reader>, Vec<Diagnostic>>;
    fn build_stage(&self, kind: &str, config: &Value, cx: &BuildContext) -> Result<StageImpl, Vec<Diagnostic>>;
    fn build_writer(&self, kind: &str, config: &Value, cx: &BuildContext) -> Result<Arc<dyn SinkFactory>, Vec<Diagnostic>>;
    /// The writer kind used for `exclusions: true`.
    fn default_exclusion_writer(&self) -> &'static str {
        "jsonl"
    }
    /// Check the recipe's `train:` section (what to train on the run's
    /// shards once every phase is done). The engine does not run it; the
    /// registry that understands it does.
    fn check_train(&self, config: &Value, recipe: &Recipe) -> Vec<Diagnostic> {
        let _ = (config, recipe);
        vec![Diagnostic::new("train", "this build of sluice cannot train")]
    }
}

/// Deserialize a component's configuration, reporting *every* unknown key
/// (not only the first, as `deny_unknown_fields` would) plus the first type
/// error, each with its full path.
pub fn parse_config<T: DeserializeOwned>(value: &Value, path: &str) -> Result<T, Vec<Diagnostic>> {
    let mut unknown = Vec::new();
    let join = |p: String| if p.is_empty() || p == "?" { path.to_string() } else { format!("{path}.{p}") };
    let result = {
        let mut record = |p: serde_ignored::Path| unknown.push(p.to_string());
        let ignored = serde_ignored::Deserializer::new(value, &mut record);
        serde_path_to_error::deserialize::<_, T>(ignored)
    };
    let mut diags: Vec<Diagnostic> = unknown.into_iter().map(|p| Diagnostic::new(join(p), "unknown key")).collect();
    match result {
        Ok(v) if diags.is_empty() => Ok(v),
        Ok(_) => Err(diags),
        Err(e) => {
            let p = e.path().to_string();
            diags.push(Diagnostic::new(join(if p == "." { String::new() } else { p }), e.into_inner().to_string()));
            Err(diags)
        }
    }
}

/// [`parse_config`], after checking the numeric ranges that `T`'s schema
/// declares. Every registry builds its components through this, so a range
/// written once on a config field (`#[schemars(range(min = 1, max = 64))]`)
/// is enforced by `validate`, documented by `sluice kinds`, and walked by
/// the strictness test.
pub fn parse_checked<T: DeserializeOwned + schemars::JsonSchema>(value: &Value, path: &str) -> Result<T, Vec<Diagnostic>> {
    let schema = schemars::schema_for!(T);
    let mut diags = check_ranges(value, schema.as_value(), path);
    match parse_config::<T>(value, path) {
        Ok(v) if diags.is_empty() => Ok(v),
        Ok(_) => Err(diags),
        Err(d) => {
            for x in d {
                if !diags.contains(&x) {
                    diags.push(x);
                }
            }
            Err(diags)
        }
    }
}

/// Check `value` against the numeric bounds of `schema` (a JSON Schema as
/// schemars writes it, with `$defs` at its root): `minimum`, `maximum`,
/// `exclusiveMinimum`, `exclusiveMaximum`, and for sizes (`"64MB"`) the
/// extension keys `x-min-bytes` and `x-max-bytes`. Only bounds are checked
/// here; types, unknown keys and the rest are the deserialiser's.
pub fn check_ranges(value: &Value, schema: &Value, path: &str) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    walk_ranges(value, schema, schema, path, 0, &mut diags);
    diags
}

fn walk_ranges(value: &Value, node: &Value, root: &Value, path: &str, depth: usize, diags: &mut Vec<Diagnostic>) {
    let Some(obj) = node.as_object() else { return };
    if depth > 64 {
        return; // a recursive schema; values this deep are the parser's problem
    }
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        if let Some(target) = r.strip_prefix("#/$defs/").and_then(|name| root.get("$defs").and_then(|d| d.get(name))) {
            walk_ranges(value, target, root, path, depth + 1, diags);
        } else if r == "#" {
            walk_ranges(value, root, root, path, depth + 1, diags);
        }
    }
    check_bounds(value, obj, path, diags);
    if let Some(all) = obj.get("allOf").and_then(Value::as_array) {
        for s in all {
            walk_ranges(value, s, root, path, depth + 1, diags);
        }
    }
    for key in ["anyOf", "oneOf"] {
        let Some(branches) = obj.get(key).and_then(Value::as_array) else { continue };
        // The branches whose type admits the value; the value is in range
        // if one of them accepts it.
        let mut first: Option<Vec<Diagnostic>> = None;
        for b in branches.iter().filter(|b| type_admits(b, root, value)) {
            let mut d = Vec::new();
            walk_ranges(value, b, root, path, depth + 1, &mut d);
            if d.is_empty() {
                first = None;
                break;
            }
            first.get_or_insert(d);
        }
        diags.extend(first.unwrap_or_default());
    }
    match value {
        Value::Object(m) => {
            let props = obj.get("properties").and_then(Value::as_object);
            for (k, v) in m {
                let sub = format!("{path}.{k}");
                match props.and_then(|p| p.get(k)) {
                    Some(s) => walk_ranges(v, s, root, &sub, depth + 1, diags),
                    None => {
                        if let Some(s) = obj.get("additionalProperties").filter(|s| s.is_object()) {
                            walk_ranges(v, s, root, &sub, depth + 1, diags);
                        }
                    }
                }
            }
        }
        Value::Array(items) => {
            let prefix = obj.get("prefixItems").and_then(Value::as_array);
            for (i, v) in items.iter().enumerate() {
                let sub = format!("{path}[{i}]");
                match prefix.and_then(|p| p.get(i)) {
                    Some(s) => walk_ranges(v, s, root, &sub, depth + 1, diags),
                    None => {
                        if let Some(s) = obj.get("items").filter(|s| s.is_object()) {
                            walk_ranges(v, s, root, &sub, depth + 1, diags);
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

/// Whether a schema's `type` (after one `$ref`) admits the JSON type of
/// `value`. A schema without `type` admits anything.
fn type_admits(schema: &Value, root: &Value, value: &Value) -> bool {
    let resolved = match schema.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/$defs/")) {
        Some(name) => root.get("$defs").and_then(|d| d.get(name)).unwrap_or(schema),
        None => schema,
    };
    let name = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let ok = |t: &str| t == name || (t == "number" && name == "integer");
    match resolved.get("type") {
        None => !matches!(resolved.get("const"), Some(c) if c != value),
        Some(Value::String(t)) => ok(t),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).any(ok),
        Some(_) => true,
    }
}

fn check_bounds(value: &Value, obj: &Map<String, Value>, path: &str, diags: &mut Vec<Diagnostic>) {
    if let Value::Number(n) = value {
        let bound = |k: &str| obj.get(k).and_then(Value::as_number);
        if let Some(b) = bound("minimum").filter(|b| cmp_num(n, b).is_lt()) {
            diags.push(Diagnostic::new(path, format!("must be at least {b} (got {n})")));
        }
        if let Some(b) = bound("maximum").filter(|b| cmp_num(n, b).is_gt()) {
            diags.push(Diagnostic::new(path, format!("must be at most {b} (got {n})")));
        }
        if let Some(b) = bound("exclusiveMinimum").filter(|b| cmp_num(n, b).is_le()) {
            diags.push(Diagnostic::new(path, format!("must be greater than {b} (got {n})")));
        }
        if let Some(b) = bound("exclusiveMaximum").filter(|b| cmp_num(n, b).is_ge()) {
            diags.push(Diagnostic::new(path, format!("must be less than {b} (got {n})")));
        }
    }
    let (min, max) = (obj.get("x-min-bytes").and_then(Value::as_u64), obj.get("x-max-bytes").and_then(Value::as_u64));
    if min.is_some() || max.is_some() {
        let size = match value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => crate::size::ByteSize::parse(s).ok().map(|b| b.0),
            _ => None,
        };
        if let Some(v) = size {
            if let Some(m) = min.filter(|m| v < *m) {
                diags.push(Diagnostic::new(path, format!("must be at least {m} bytes (got {v})")));
            }
            if let Some(m) = max.filter(|m| v > *m) {
                diags.push(Diagnostic::new(path, format!("must be at most {m} bytes (got {v})")));
            }
        }
    }
}

/// Compare two JSON numbers exactly where both are integers.
fn cmp_num(a: &serde_json::Number, b: &serde_json::Number) -> std::cmp::Ordering {
    let int = |n: &serde_json::Number| n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
    match (int(a), int(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => a.as_f64().unwrap_or(f64::NAN).partial_cmp(&b.as_f64().unwrap_or(f64::NAN)).unwrap_or(std::cmp::Ordering::Equal),
    }
}

/// How a node is implemented.
#[derive(Clone)]
pub enum NodeImpl {
    Reader(Arc<dyn Reader>),
    Stage { stage: StageImpl, exclusions: Option<Arc<dyn SinkFactory>> },
    Writer(Arc<dyn SinkFactory>),
}

/// A compiled node. Ids index [`Recipe::nodes`].
#[derive(Clone)]
pub struct Node {
    pub id: usize,
    pub name: String,
    pub kind: String,
    pub role: Role,
    /// For readers: the source name their documents carry.
    pub source: Arc<str>,
    pub inputs: Vec<usize>,
    pub outputs: Vec<usize>,
    pub seed: u64,
    /// Two of this node's inputs share an ancestor (a diamond), so its
    /// merge must keep draining while it waits (see `merge.rs`).
    pub reconverges: bool,
    /// The stream segment the node runs in: 0 from the readers, one more
    /// after each global stage (see [`crate::phase`]). A global stage
    /// observes in its own segment and replays into the next.
    pub segment: usize,
    pub imp: NodeImpl,
}

impl Node {
    /// Is this a [`crate::stage::GlobalStage`]?
    pub fn is_global(&self) -> bool {
        matches!(&self.imp, NodeImpl::Stage { stage: StageImpl::Global(_), .. })
    }

    /// The segment in which this node's output flows.
    pub fn output_segment(&self) -> usize {
        self.segment + usize::from(self.is_global())
    }
}

/// A compiled, checked recipe.
#[derive(Clone)]
pub struct Recipe {
    pub description: Option<String>,
    pub seed: u64,
    pub output: PathBuf,
    /// Documents per batch.
    pub batch_size: usize,
    /// Batches buffered per edge before the producer blocks.
    pub channel_capacity: usize,
    /// Memory a reconvergent merge may use for early batches before it
    /// spills them to disk.
    pub merge_buffer: u64,
    /// Settings of the Slurm executor.
    pub slurm: SlurmSettings,
    /// The `train:` section, checked by [`Registry::check_train`].
    pub train: Option<Value>,
    /// Readers, then stages, then writers, each in recipe order.
    pub nodes: Vec<Node>,
    /// Hash of the expanded recipe minus `output` and `description`: a
    /// re-run into an existing output directory must match it.
    pub hash: String,
    /// The recipe after environment expansion.
    pub resolved: Value,
    /// The paths under the output directory this recipe writes besides
    /// sluice's own folders ([`RESERVED_OUTPUT_NAMES`]): each writer's
    /// folder and every path an option claims ([`BuildContext::claim_output`]),
    /// relative. `sluice run --restart` removes exactly these.
    pub outputs: Vec<PathBuf>,
}

impl Recipe {
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn readers(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.role == Role::Reader)
    }

    pub fn writers(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.role == Role::Writer)
    }
}

/// The most nodes a recipe may have. Every node is a thread with its own
/// bounded channel and buffers, so the count bounds the run's memory; 10,000
/// fanned-out writers would otherwise take gigabytes.
pub const MAX_NODES: usize = 2048;

const TOP_KEYS: &[&str] =
    &["description", "seed", "output", "batch_size", "channel_capacity", "merge_buffer", "slurm", "train", "readers", "stages", "writers"];

/// How `sluice run --executor slurm` submits this recipe's phases. Command
/// line flags override each field. Not part of the recipe hash: moving a
/// run to another partition does not change its output.
///
/// A recipe is data, not code: it may only choose *where* and *with what
/// resources* the jobs run, from a fixed list of sbatch options whose values
/// are checked against strict patterns. The program the jobs run, and any
/// other sbatch option (`--export`, `--wrap`, ...), come from the command
/// line only (`--slurm-binary`, `--sbatch`).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlurmSettings {
    /// Partition (`--partition`): a name, or a comma-separated list of names.
    pub partition: Option<String>,
    /// CPUs per array task (`--cpus-per-task`); each task runs with as many
    /// worker threads.
    #[schemars(range(min = 1, max = 65536))]
    pub cpus_per_task: Option<u32>,
    /// Memory per array task (`--mem`): a number with an optional unit
    /// `K`, `M`, `G` or `T`, e.g. `8G`.
    pub mem: Option<String>,
    /// Time limit per array task (`--time`), e.g. `02:00:00`, `90`, `1-12`
    /// or `UNLIMITED`.
    pub time: Option<String>,
    /// Account to charge (`--account`).
    pub account: Option<String>,
    /// Quality of service (`--qos`).
    pub qos: Option<String>,
    /// Generic resources (`--gres`), e.g. `gpu:1` or `gpu:a100:2`.
    pub gres: Option<String>,
    /// Node features (`--constraint`), e.g. `avx512` or `intel&ib`.
    pub constraint: Option<String>,
    /// Further sbatch options as `--NAME=VALUE`, where NAME is one of the
    /// options above (`--partition`, `--cpus-per-task`, `--mem`, `--time`,
    /// `--account`, `--qos`, `--gres`, `--constraint`), e.g.
    /// `--constraint=avx2`. Any other sbatch option must be given on the
    /// command line (`sluice run --sbatch OPTION`).
    #[serde(default)]
    pub extra: Vec<String>,
    /// Not accepted: the jobs run the sluice binary that submits them, or
    /// the one named by `sluice run --slurm-binary PATH`. Kept only to
    /// explain that in the error.
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    pub binary: Option<Value>,
}

/// The sbatch options a recipe may set, as `(recipe field, sbatch option)`.
pub const SLURM_RECIPE_OPTIONS: &[(&str, &str)] = &[
    ("partition", "partition"),
    ("cpus_per_task", "cpus-per-task"),
    ("mem", "mem"),
    ("time", "time"),
    ("account", "account"),
    ("qos", "qos"),
    ("gres", "gres"),
    ("constraint", "constraint"),
];

impl SlurmSettings {
    /// Every error of these settings, as `(field, message)`. The values end
    /// up in `#SBATCH` lines of a batch script, so each is checked against
    /// the pattern of its option: no whitespace, quotes, `=`, `$` or other
    /// characters that could end the value or start another option.
    pub fn check(&self) -> Vec<(String, String)> {
        match self.resolved() {
            Ok(_) => Vec::new(),
            Err(errs) => errs,
        }
    }

    /// The settings with every `extra` entry folded into its field (and
    /// `extra` empty), after checking every value; or every error.
    pub fn resolved(&self) -> Result<SlurmSettings, Vec<(String, String)>> {
        let mut errs = Vec::new();
        let mut out = SlurmSettings { extra: Vec::new(), binary: None, ..self.clone() };
        if self.binary.is_some() {
            errs.push((
                "binary".to_string(),
                "a recipe cannot choose the program the cluster runs: the jobs run the sluice binary that submits them; \
                 to run another one, pass `--slurm-binary PATH` to `sluice run --executor slurm`"
                    .to_string(),
            ));
        }
        for (i, e) in self.extra.iter().enumerate() {
            let field = format!("extra[{i}]");
            let Some((name, value)) = e.strip_prefix("--").and_then(|o| o.split_once('=')) else {
                errs.push((field, format!("{:?} is not of the form `--NAME=VALUE` with NAME one of {}", e, allowed_slurm_options())));
                continue;
            };
            let Some(&(key, _)) = SLURM_RECIPE_OPTIONS.iter().find(|(_, opt)| *opt == name) else {
                errs.push((
                    field,
                    format!(
                        "`--{}` is not an sbatch option a recipe may set (allowed: {}); give other sbatch options on the command line \
                         with `sluice run --executor slurm --sbatch OPTION`",
                        name.chars().filter(|c| !c.is_control()).take(64).collect::<String>(),
                        allowed_slurm_options()
                    ),
                ));
                continue;
            };
            let taken = match key {
                "cpus_per_task" => {
                    let was = out.cpus_per_task.is_some();
                    match value.parse::<u32>() {
                        Ok(n) if value.bytes().all(|b| b.is_ascii_digit()) => out.cpus_per_task = Some(n),
                        _ => {
                            errs.push((field, format!("--cpus-per-task: {value:?} is not a whole number")));
                            continue;
                        }
                    }
                    was
                }
                _ => {
                    let slot = out.text_field(key);
                    let was = slot.is_some();
                    *slot = Some(value.to_string());
                    was
                }
            };
            if taken {
                errs.push((field, format!("sets `--{name}`, which this `slurm:` block already sets")));
            }
        }
        if let Some(n) = out.cpus_per_task {
            if !(1..=65536).contains(&n) {
                errs.push(("cpus_per_task".to_string(), format!("{n} is out of range: must be between 1 and 65536")));
            }
        }
        for (key, opt) in SLURM_RECIPE_OPTIONS {
            if *key == "cpus_per_task" {
                continue;
            }
            if let Some(v) = out.text_field(key).as_deref() {
                if let Err(m) = check_slurm_value(opt, v) {
                    errs.push((key.to_string(), m));
                }
            }
        }
        if errs.is_empty() {
            Ok(out)
        } else {
            Err(errs)
        }
    }

    /// The string field behind an sbatch option other than `cpus-per-task`.
    fn text_field(&mut self, key: &str) -> &mut Option<String> {
        match key {
            "partition" => &mut self.partition,
            "mem" => &mut self.mem,
            "time" => &mut self.time,
            "account" => &mut self.account,
            "qos" => &mut self.qos,
            "gres" => &mut self.gres,
            "constraint" => &mut self.constraint,
            _ => unreachable!("not a text option: {key}"),
        }
    }
}

fn allowed_slurm_options() -> String {
    SLURM_RECIPE_OPTIONS.iter().map(|(_, o)| format!("--{o}")).collect::<Vec<_>>().join(", ")
}

/// Check one value of an allowed sbatch option (`partition`, `mem`, ...,
/// named as sbatch names it) against its pattern. The message quotes the
/// value with its control characters escaped.
pub fn check_slurm_value(option: &str, v: &str) -> Result<(), String> {
    let name = |s: &str| {
        !s.is_empty() && s.len() <= 128 && !s.starts_with('-') && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    };
    let digits = |s: &str, max: usize| !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit());
    let (ok, what) = match option {
        // One name or a comma-separated list of names.
        "partition" => (v.split(',').all(name), "a partition name or a comma-separated list of them (letters, digits, `_`, `.`, `-`)"),
        "account" | "qos" => (name(v), "a name (letters, digits, `_`, `.`, `-`)"),
        // 8G, 512M, 1024 (megabytes), 0 (all of the node's memory).
        "mem" => {
            let num = v.strip_suffix(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']).unwrap_or(v);
            (digits(num, 12), "a number with an optional unit K, M, G or T, e.g. `8G`")
        }
        // minutes, minutes:seconds, hours:minutes:seconds, days-hours,
        // days-hours:minutes, days-hours:minutes:seconds; or no limit.
        "time" => {
            let ok = v == "UNLIMITED"
                || v == "INFINITE"
                || match v.split_once('-') {
                    Some((days, rest)) => digits(days, 5) && rest.split(':').count() <= 3 && rest.split(':').all(|p| digits(p, 6)),
                    None => v.split(':').count() <= 3 && v.split(':').all(|p| digits(p, 6)),
                };
            (ok, "a time limit such as `90`, `02:00:00`, `1-12:00:00` or `UNLIMITED`")
        }
        // gpu, gpu:2, gpu:a100:2, several separated by commas.
        "gres" => {
            let ok = v.split(',').all(|g| {
                let parts: Vec<&str> = g.split(':').collect();
                parts.len() <= 3 && parts.iter().all(|p| name(p))
            });
            (ok, "generic resources such as `gpu:2` or `gpu:a100:2`, separated by commas")
        }
        // Feature names joined by Slurm's operators: `&` (and), `|` (or),
        // `,`, `*N` (count), `[...]` and `(...)`. The value only ever sits in
        // an `#SBATCH` line, which the shell never reads, and has no
        // whitespace, quote, `=`, `$`, `#` or backslash to end it early.
        "constraint" => {
            let ok = !v.is_empty()
                && v.len() <= 512
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-&|,*[]()".contains(&b))
                && v.bytes().any(|b| b.is_ascii_alphanumeric());
            (ok, "node features joined by `&`, `|` or `,` (letters, digits, `_`, `.`, `-`, `*`, `[]`, `()`)")
        }
        _ => (false, "an sbatch option a recipe may set"),
    };
    if ok && !v.starts_with('-') {
        Ok(())
    } else {
        let shown: String = v.chars().take(80).flat_map(char::escape_debug).collect();
        Err(format!("\"{shown}\" is not a valid --{option} value: expected {what}"))
    }
}

/// Names become directory names, so they are restricted.
fn check_name(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
        && !name.starts_with('-');
    if !ok {
        return Some(format!("invalid name `{name}`: use 1-64 ASCII letters, digits, `_` or `-` (names become directory names)"));
    }
    if name == "excluded" || name == "_sluice" || name == "reports" {
        return Some(format!("`{name}` is reserved for sluice's own output directories"));
    }
    None
}

/// Parse the YAML text into a JSON value, expanding the environment.
pub fn load_yaml(text: &str) -> Result<Value, Vec<Diagnostic>> {
    let value: Value = serde_saphyr::from_str(text).map_err(|e| vec![Diagnostic::new("", format!("invalid YAML: {e}"))])?;
    let mut diags = Vec::new();
    let value = expand_value(value, String::new(), &mut diags);
    if diags.is_empty() {
        Ok(value)
    } else {
        Err(diags)
    }
}

fn expand_value(v: Value, path: String, diags: &mut Vec<Diagnostic>) -> Value {
    match v {
        Value::String(s) => match env::expand_env(&s) {
            // A value that is one whole `${...}` expression may stand for a
            // number or a boolean (`max_files: ${N:-100}`).
            Ok(e) if s.starts_with("${") && s.ends_with('}') && s.matches("${").count() == 1 => {
                if let Ok(n) = e.parse::<u64>() {
                    Value::from(n)
                } else if let Ok(n) = e.parse::<i64>() {
                    Value::from(n)
                } else if let Some(f) = e.parse::<f64>().ok().filter(|f| f.is_finite()) {
                    Value::from(f)
                } else if e == "true" || e == "false" {
                    Value::Bool(e == "true")
                } else {
                    Value::String(e)
                }
            }
            Ok(e) => Value::String(e),
            Err(m) => {
                diags.push(Diagnostic::new(path, m));
                Value::String(s)
            }
        },
        Value::Array(a) => Value::Array(a.into_iter().enumerate().map(|(i, x)| expand_value(x, format!("{path}[{i}]"), diags)).collect()),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, x)| {
                    let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                    let x = expand_value(x, p, diags);
                    (k, x)
                })
                .collect(),
        ),
        other => other,
    }
}

/// Compile recipe text. Returns every error found.
pub fn compile(text: &str, registry: &dyn Registry) -> Result<Recipe> {
    compile_inner(text, registry).map_err(|mut d| {
        d.dedup();
        Error::Recipe(d)
    })
}

struct RawNode {
    name: String,
    path: String,
    role: Role,
    kind: String,
    inputs: Vec<(String, String)>, // (name, path of the entry)
    exclusions: Option<Value>,
    source: String,
    enabled: bool,
    config: Value,
}

/// Take out the stages with `enabled: false`: every node that read one reads
/// its inputs instead (through chains of disabled stages). A disabled stage
/// is not built, so its options are not checked (a model it would load need
/// not exist).
fn bypass_disabled(raw: &mut Vec<RawNode>) {
    let disabled: HashMap<String, Vec<(String, String)>> =
        raw.iter().filter(|r| !r.enabled).map(|r| (r.name.clone(), r.inputs.clone())).collect();
    if disabled.is_empty() {
        return;
    }
    fn resolve(
        input: &(String, String),
        disabled: &HashMap<String, Vec<(String, String)>>,
        seen: &mut BTreeSet<String>,
        out: &mut Vec<(String, String)>,
    ) {
        match disabled.get(&input.0) {
            // a cycle of disabled stages has no inputs: the graph check
            // then reports the consumer's missing input
            Some(inner) => {
                if seen.insert(input.0.clone()) {
                    for i in inner {
                        resolve(&(i.0.clone(), input.1.clone()), disabled, seen, out);
                    }
                }
            }
            None => {
                if !out.iter().any(|(n, _)| n == &input.0) {
                    out.push(input.clone());
                }
            }
        }
    }
    for r in raw.iter_mut().filter(|r| r.enabled) {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        for i in &r.inputs {
            resolve(i, &disabled, &mut seen, &mut out);
        }
        r.inputs = out;
    }
    raw.retain(|r| r.enabled);
}

fn compile_inner(text: &str, registry: &dyn Registry) -> Result<Recipe, Vec<Diagnostic>> {
    let resolved = load_yaml(text)?;
    let mut diags = Vec::new();
    let Some(top) = resolved.as_object() else {
        return Err(vec![Diagnostic::new("", "a recipe must be a mapping with `readers`, `stages` and `writers`")]);
    };
    for k in top.keys() {
        if !TOP_KEYS.contains(&k.as_str()) {
            diags.push(Diagnostic::new(k.clone(), format!("unknown key (expected one of: {})", TOP_KEYS.join(", "))));
        }
    }
    let seed = match top.get("seed") {
        None => 0,
        Some(v) => v.as_u64().unwrap_or_else(|| {
            diags.push(Diagnostic::new("seed", "must be a non-negative integer"));
            0
        }),
    };
    let output = match top.get("output") {
        Some(Value::String(s)) if !s.is_empty() => PathBuf::from(s),
        Some(_) => {
            diags.push(Diagnostic::new("output", "must be a non-empty path string"));
            PathBuf::new()
        }
        None => {
            diags.push(Diagnostic::new("output", "missing: the output directory is required"));
            PathBuf::new()
        }
    };
    let description = top.get("description").and_then(|v| v.as_str()).map(String::from);
    let mut positive = |key: &str, default: usize, max: usize| match top.get(key) {
        None => default,
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 && n as usize <= max => n as usize,
            _ => {
                diags.push(Diagnostic::new(key, format!("must be an integer between 1 and {max}")));
                default
            }
        },
    };
    let batch_size = positive("batch_size", 1024, 1 << 20);
    let channel_capacity = positive("channel_capacity", 4, 1024);
    let merge_buffer = match top.get("merge_buffer") {
        None => 256 << 20,
        Some(v) => match serde_json::from_value::<crate::size::ByteSize>(v.clone()) {
            Ok(b) => b.0,
            Err(e) => {
                diags.push(Diagnostic::new("merge_buffer", e.to_string()));
                0
            }
        },
    };
    let slurm = match top.get("slurm") {
        None => SlurmSettings::default(),
        Some(v) => match parse_config::<SlurmSettings>(v, "slurm") {
            Ok(s) => {
                diags.extend(s.check().into_iter().map(|(f, m)| Diagnostic::new(format!("slurm.{f}"), m)));
                s
            }
            Err(d) => {
                diags.extend(d);
                SlurmSettings::default()
            }
        },
    };

    // Pass 2: common node keys.
    let mut raw = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    for role in [Role::Reader, Role::Stage, Role::Writer] {
        let section = role.section();
        let Some(v) = top.get(section) else {
            if role != Role::Stage {
                diags.push(Diagnostic::new(section, format!("missing: a recipe needs at least one entry in `{section}`")));
            }
            continue;
        };
        let Some(m) = v.as_object() else {
            diags.push(Diagnostic::new(section, "must be a mapping from names to components"));
            continue;
        };
        if m.is_empty() && role != Role::Stage {
            diags.push(Diagnostic::new(section, "is empty"));
        }
        for (name, node) in m {
            let path = format!("{section}.{name}");
            if let Some(msg) = check_name(name) {
                diags.push(Diagnostic::new(&path, msg));
            }
            if let Some(prev) = seen.insert(name.clone(), path.clone()) {
                diags.push(Diagnostic::new(&path, format!("duplicate name: `{prev}` is also called `{name}`")));
            }
            if let Some(n) = parse_node(name, &path, role, node, &mut diags) {
                raw.push(n);
            }
        }
    }

    bypass_disabled(&mut raw);

    if raw.len() > MAX_NODES {
        diags.push(Diagnostic::new(
            "",
            format!("the recipe has {} nodes; at most {MAX_NODES} are allowed (each node is a thread with its own buffers)", raw.len()),
        ));
        return Err(diags);
    }

    // Pass 3: build components.
    let claims = OutputClaims::default();
    if top.contains_key("train") {
        // `sluice run` trains into OUT/train when the recipe has a `train:`
        // section.
        claims.0.borrow_mut().push((PathBuf::from("train"), "train".to_string()));
    }
    let mut nodes: Vec<Node> = Vec::new();
    for (id, r) in raw.iter().enumerate() {
        let node_seed = xxhash_rust::xxh3::xxh3_64_with_seed(r.name.as_bytes(), seed);
        let cx = BuildContext { name: &r.name, path: &r.path, seed: node_seed, source: &r.source, claims: &claims };
        let kind_path = format!("{}.kind", r.path);
        let known = registry.kinds(r.role);
        if !known.contains(&r.kind.as_str()) {
            diags
                .push(Diagnostic::new(kind_path, format!("unknown {} kind `{}` (known: {})", role_word(r.role), r.kind, known.join(", "))));
            continue;
        }
        let imp = match r.role {
            Role::Reader => registry.build_reader(&r.kind, &r.config, &cx).map(NodeImpl::Reader),
            Role::Writer => registry.build_writer(&r.kind, &r.config, &cx).map(NodeImpl::Writer),
            Role::Stage => {
                let stage = registry.build_stage(&r.kind, &r.config, &cx);
                let excl = match &r.exclusions {
                    None | Some(Value::Bool(false)) => Ok(None),
                    Some(Value::Bool(true)) => {
                        registry.build_writer(registry.default_exclusion_writer(), &Value::Object(Map::new()), &cx).map(Some)
                    }
                    Some(Value::Object(m)) => {
                        let epath = format!("{}.exclusions", r.path);
                        let mut m = m.clone();
                        let kind = match m.remove("kind") {
                            None => Ok(registry.default_exclusion_writer().to_string()),
                            Some(Value::String(k)) if registry.kinds(Role::Writer).contains(&k.as_str()) => Ok(k),
                            Some(other) => Err(vec![Diagnostic::new(
                                format!("{epath}.kind"),
                                format!("unknown writer kind {other} (known: {})", registry.kinds(Role::Writer).join(", ")),
                            )]),
                        };
                        let ecx = BuildContext { path: &epath, ..cx.clone() };
                        kind.and_then(|k| registry.build_writer(&k, &Value::Object(m), &ecx)).map(Some)
                    }
                    Some(_) => Err(vec![Diagnostic::new(
                        format!("{}.exclusions", r.path),
                        "must be true, false or a writer configuration such as {kind: parquet}",
                    )]),
                };
                match (stage, excl) {
                    (Ok(stage), Ok(exclusions)) => Ok(NodeImpl::Stage { stage, exclusions }),
                    (Err(mut a), Err(b)) => {
                        a.extend(b);
                        Err(a)
                    }
                    (Err(a), _) | (_, Err(a)) => Err(a),
                }
            }
        };
        match imp {
            Ok(imp) => nodes.push(Node {
                id,
                name: r.name.clone(),
                kind: r.kind.clone(),
                role: r.role,
                source: Arc::from(r.source.as_str()),
                inputs: Vec::new(),
                outputs: Vec::new(),
                seed: node_seed,
                reconverges: false,
                segment: 0,
                imp,
            }),
            Err(d) => diags.extend(d),
        }
    }

    let writers: Vec<(String, String)> = raw.iter().filter(|r| r.role == Role::Writer).map(|r| (r.name.clone(), r.path.clone())).collect();
    check_claims(&claims.list(), &writers, &mut diags);

    // Pass 4: the graph (on names, so it runs even when a build failed).
    check_graph(&raw, &mut diags);
    if !diags.is_empty() {
        return Err(diags);
    }
    let index: HashMap<&str, usize> = raw.iter().enumerate().map(|(i, r)| (r.name.as_str(), i)).collect();
    for (i, r) in raw.iter().enumerate() {
        for (inp, _) in &r.inputs {
            let j = index[inp.as_str()];
            nodes[i].inputs.push(j);
            nodes[j].outputs.push(i);
        }
    }

    mark_reconvergence(&mut nodes);
    assign_segments(&mut nodes, &raw, &mut diags);
    if !diags.is_empty() {
        return Err(diags);
    }

    let mut hashed = top.clone();
    hashed.remove("output");
    hashed.remove("description");
    hashed.remove("slurm");
    // Training reads the finished run; changing it does not change the data.
    hashed.remove("train");
    let canonical = serde_json::to_string(&Value::Object(hashed)).expect("JSON values serialise");
    let hash = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(canonical.as_bytes()));
    let train = top.get("train").cloned();
    let mut outputs: Vec<PathBuf> = writers.iter().map(|(name, _)| PathBuf::from(name)).collect();
    outputs.extend(claims.list().into_iter().map(|(p, _)| p));
    let mut recipe = Recipe {
        description,
        seed,
        output,
        batch_size,
        channel_capacity,
        merge_buffer,
        slurm,
        train: None,
        nodes,
        hash,
        resolved,
        outputs,
    };
    if let Some(t) = train {
        let diags = registry.check_train(&t, &recipe);
        if !diags.is_empty() {
            return Err(diags);
        }
        recipe.train = Some(t);
    }
    Ok(recipe)
}

/// Give every node its stream segment: readers are in segment 0, a node is
/// in the segment its inputs' output flows in. A node whose inputs flow in
/// different segments would mix documents from before and after a global
/// stage, which no single phase can feed: that is a recipe error.
fn assign_segments(nodes: &mut [Node], raw: &[RawNode], diags: &mut Vec<Diagnostic>) {
    fn seg(i: usize, nodes: &[Node], memo: &mut Vec<Option<usize>>) -> usize {
        if let Some(s) = memo[i] {
            return s;
        }
        let s = nodes[i]
            .inputs
            .iter()
            .map(|&p| {
                let sp = seg(p, nodes, memo);
                sp + usize::from(nodes[p].is_global())
            })
            .max()
            .unwrap_or(0);
        memo[i] = Some(s);
        s
    }
    let mut memo = vec![None; nodes.len()];
    for i in 0..nodes.len() {
        let s = seg(i, nodes, &mut memo);
        nodes[i].segment = s;
    }
    for i in 0..nodes.len() {
        let outs: Vec<(usize, usize)> = nodes[i].inputs.iter().map(|&p| (p, nodes[p].output_segment())).collect();
        if let (Some(lo), Some(hi)) = (outs.iter().min_by_key(|x| x.1), outs.iter().max_by_key(|x| x.1)) {
            if lo.1 != hi.1 {
                diags.push(Diagnostic::new(
                    format!("{}.inputs", raw[i].path),
                    format!(
                        "mixes documents from before and after a global stage (`{}` and `{}`); route both through the same global stages",
                        nodes[lo.0].name, nodes[hi.0].name
                    ),
                ));
            }
        }
    }
}

/// Flag nodes two of whose inputs share an ancestor. The graph is acyclic
/// here (checked), so ancestor sets are computed by memoised DFS.
fn mark_reconvergence(nodes: &mut [Node]) {
    fn ancestors(i: usize, nodes: &[Node], memo: &mut Vec<Option<Vec<bool>>>) -> Vec<bool> {
        if let Some(a) = &memo[i] {
            return a.clone();
        }
        let mut set = vec![false; nodes.len()];
        set[i] = true;
        for &p in &nodes[i].inputs {
            for (s, x) in set.iter_mut().zip(ancestors(p, nodes, memo)) {
                *s |= x;
            }
        }
        memo[i] = Some(set.clone());
        set
    }
    let mut memo = vec![None; nodes.len()];
    for i in 0..nodes.len() {
        let sets: Vec<Vec<bool>> = nodes[i].inputs.iter().map(|&p| ancestors(p, nodes, &mut memo)).collect();
        let shared = (0..sets.len()).any(|a| (a + 1..sets.len()).any(|b| sets[a].iter().zip(&sets[b]).any(|(x, y)| *x && *y)));
        nodes[i].reconverges = shared;
    }
}

fn role_word(role: Role) -> &'static str {
    match role {
        Role::Reader => "reader",
        Role::Stage => "stage",
        Role::Writer => "writer",
    }
}

fn parse_node(name: &str, path: &str, role: Role, node: &Value, diags: &mut Vec<Diagnostic>) -> Option<RawNode> {
    let Some(m) = node.as_object() else {
        diags.push(Diagnostic::new(path, "must be a mapping with at least `kind`"));
        return None;
    };
    let mut config = m.clone();
    let kind = match config.remove("kind") {
        Some(Value::String(k)) => k,
        Some(_) => {
            diags.push(Diagnostic::new(format!("{path}.kind"), "must be a string"));
            return None;
        }
        None => {
            diags.push(Diagnostic::new(format!("{path}.kind"), "missing: every component needs a `kind`"));
            return None;
        }
    };
    let mut inputs = Vec::new();
    match (role, config.remove("inputs")) {
        (Role::Reader, Some(_)) => {
            diags.push(Diagnostic::new(format!("{path}.inputs"), "readers have no inputs"));
        }
        (Role::Reader, None) => {}
        (_, None) => diags.push(Diagnostic::new(format!("{path}.inputs"), "missing: list the nodes this one reads")),
        (_, Some(Value::String(s))) => inputs.push((s, format!("{path}.inputs"))),
        (_, Some(Value::Array(a))) => {
            if a.is_empty() {
                diags.push(Diagnostic::new(format!("{path}.inputs"), "is empty"));
            }
            let mut dup = BTreeSet::new();
            for (i, v) in a.into_iter().enumerate() {
                let p = format!("{path}.inputs[{i}]");
                match v {
                    Value::String(s) if !dup.insert(s.clone()) => {
                        diags.push(Diagnostic::new(p, format!("`{s}` is listed twice")));
                    }
                    Value::String(s) => inputs.push((s, p)),
                    _ => diags.push(Diagnostic::new(p, "must be a node name")),
                }
            }
        }
        (_, Some(_)) => diags.push(Diagnostic::new(format!("{path}.inputs"), "must be a list of node names")),
    }
    let enabled = match config.remove("enabled") {
        None => true,
        Some(Value::Bool(_)) if role != Role::Stage => {
            diags.push(Diagnostic::new(format!("{path}.enabled"), "only stages can be disabled"));
            true
        }
        Some(Value::Bool(b)) => b,
        Some(_) => {
            diags.push(Diagnostic::new(format!("{path}.enabled"), "must be true or false"));
            true
        }
    };
    let exclusions = config.remove("exclusions");
    if exclusions.is_some() && role != Role::Stage {
        diags.push(Diagnostic::new(format!("{path}.exclusions"), "only stages drop documents, so only stages take `exclusions`"));
    }
    let source = match config.remove("source") {
        None => name.to_string(),
        Some(Value::String(s)) if role == Role::Reader && !s.is_empty() => s,
        Some(_) if role != Role::Reader => {
            diags.push(Diagnostic::new(format!("{path}.source"), "only readers take `source`"));
            name.to_string()
        }
        Some(_) => {
            diags.push(Diagnostic::new(format!("{path}.source"), "must be a non-empty string"));
            name.to_string()
        }
    };
    Some(RawNode {
        name: name.to_string(),
        path: path.to_string(),
        role,
        kind,
        inputs,
        exclusions,
        source,
        enabled,
        config: Value::Object(config),
    })
}

fn check_graph(raw: &[RawNode], diags: &mut Vec<Diagnostic>) {
    let index: HashMap<&str, usize> = raw.iter().enumerate().map(|(i, r)| (r.name.as_str(), i)).collect();
    let mut ok_edges: Vec<Vec<usize>> = vec![Vec::new(); raw.len()];
    let mut consumed = vec![false; raw.len()];
    for (i, r) in raw.iter().enumerate() {
        for (inp, p) in &r.inputs {
            match index.get(inp.as_str()) {
                None => diags.push(Diagnostic::new(p, format!("no reader or stage is named `{inp}`"))),
                Some(&j) if raw[j].role == Role::Writer => {
                    diags.push(Diagnostic::new(p, format!("`{inp}` is a writer; writers have no output to read")))
                }
                Some(&j) if j == i => diags.push(Diagnostic::new(p, "a node cannot read its own output")),
                Some(&j) => {
                    ok_edges[i].push(j);
                    consumed[j] = true;
                }
            }
        }
    }
    for (i, r) in raw.iter().enumerate() {
        if r.role != Role::Writer && !consumed[i] {
            diags.push(Diagnostic::new(&r.path, format!("the output of `{}` is not read by any stage or writer", r.name)));
        }
    }
    // Cycles: iterative DFS with colours; report each cycle once, at the
    // node that closes it.
    let mut colour = vec![0u8; raw.len()]; // 0 new, 1 on stack, 2 done
    for start in 0..raw.len() {
        if colour[start] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        colour[start] = 1;
        while let Some(&mut (n, ref mut next)) = stack.last_mut() {
            if *next < ok_edges[n].len() {
                let m = ok_edges[n][*next];
                *next += 1;
                match colour[m] {
                    0 => {
                        colour[m] = 1;
                        stack.push((m, 0));
                    }
                    1 => {
                        let pos = stack.iter().position(|&(x, _)| x == m).unwrap_or(0);
                        let mut names: Vec<&str> = stack[pos..].iter().map(|&(x, _)| raw[x].name.as_str()).collect();
                        names.reverse();
                        names.push(raw[n].name.as_str());
                        diags.push(Diagnostic::new(format!("{}.inputs", raw[n].path), format!("cycle: {}", names.join(" <- "))));
                    }
                    _ => {}
                }
            } else {
                colour[n] = 2;
                stack.pop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::Document;
    use crate::stage::{DocStage, InputFile, RecordIter, Sink, SinkContext, Verdict};
    use crate::RecordError;

    struct NoReader;
    impl Reader for NoReader {
        fn files(&self) -> Result<Vec<InputFile>> {
            Ok(vec![])
        }
        fn open<'a>(&'a self, _: &'a InputFile) -> Result<RecordIter<'a>, RecordError> {
            Ok(Box::new(std::iter::empty()))
        }
    }
    struct Pass;
    impl DocStage for Pass {
        fn process(&self, _: &mut Document) -> Verdict {
            Verdict::Keep
        }
    }
    struct NoSink;
    impl SinkFactory for NoSink {
        fn open(&self, _: &SinkContext) -> Result<Box<dyn Sink>> {
            Err(Error::Internal("unused".into()))
        }
        fn extension(&self) -> &str {
            "x"
        }
    }

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct MinChars {
        #[serde(default)]
        #[schemars(range(min = 1, max = 1000))]
        min_chars: usize,
        #[serde(default)]
        dir: Option<String>,
        #[serde(default)]
        #[schemars(extend("x-max-bytes" = 1000000))]
        budget: Option<crate::size::ByteSize>,
        #[serde(default)]
        nested: Option<Nested>,
        #[serde(default)]
        ratios: Vec<Ratio>,
    }
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Nested {
        #[schemars(range(max = 10))]
        depth: u32,
    }
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Ratio(#[schemars(range(min = 0.0, max = 1.0))] f64);

    struct TestRegistry;
    impl Registry for TestRegistry {
        fn kinds(&self, role: Role) -> Vec<&'static str> {
            match role {
                Role::Reader => vec!["fake"],
                Role::Stage => vec!["pass"],
                Role::Writer => vec!["jsonl"],
            }
        }
        fn build_reader(&self, _: &str, _: &Value, _: &BuildContext) -> Result<Arc<dyn Reader>, Vec<Diagnostic>> {
            Ok(Arc::new(NoReader))
        }
        fn build_stage(&self, _: &str, v: &Value, cx: &BuildContext) -> Result<StageImpl, Vec<Diagnostic>> {
            let c = parse_checked::<MinChars>(v, cx.path)?;
            if let Some(d) = &c.dir {
                cx.claim_output("dir", d).map_err(|d| vec![d])?;
            }
            Ok(StageImpl::Doc(Arc::new(Pass)))
        }
        fn build_writer(&self, _: &str, _: &Value, _: &BuildContext) -> Result<Arc<dyn SinkFactory>, Vec<Diagnostic>> {
            Ok(Arc::new(NoSink))
        }
    }

    fn errors(text: &str) -> Vec<Diagnostic> {
        match compile(text, &TestRegistry) {
            Err(Error::Recipe(d)) => d,
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("recipe compiled"),
        }
    }

    #[test]
    fn schema_ranges_are_checked_everywhere_in_a_config() {
        let at = |opts: &str| {
            errors(&format!("output: o\nreaders:\n  a: {{kind: fake}}\nstages:\n  s: {{kind: pass, inputs: [a], {opts}}}\nwriters:\n  w: {{kind: jsonl, inputs: [s]}}\n"))
        };
        let d = at("min_chars: 18446744073709551615");
        assert!(d.iter().any(|d| d.path == "stages.s.min_chars" && d.message.contains("at most 1000")), "{d:?}");
        let d = at("min_chars: 0");
        assert!(d.iter().any(|d| d.path == "stages.s.min_chars" && d.message.contains("at least 1")), "{d:?}");
        let d = at("budget: 2MB");
        assert!(d.iter().any(|d| d.path == "stages.s.budget" && d.message.contains("at most 1000000 bytes")), "{d:?}");
        let d = at("nested: {depth: 11}");
        assert!(d.iter().any(|d| d.path == "stages.s.nested.depth" && d.message.contains("at most 10")), "{d:?}");
        let d = at("ratios: [0.5, 1.5]");
        assert!(d.iter().any(|d| d.path == "stages.s.ratios[1]" && d.message.contains("at most 1")), "{d:?}");
        // In range: compiles.
        compile(
            "output: o\nreaders:\n  a: {kind: fake}\nstages:\n  s: {kind: pass, inputs: [a], min_chars: 1000, budget: 1MB, nested: {depth: 10}, ratios: [0, 1]}\nwriters:\n  w: {kind: jsonl, inputs: [s]}\n",
            &TestRegistry,
        )
        .unwrap();
    }

    #[test]
    fn output_claims_stay_inside_and_do_not_collide() {
        let with = |stages: &str| {
            errors(&format!("output: o\nreaders:\n  a: {{kind: fake}}\nstages:\n{stages}writers:\n  w: {{kind: jsonl, inputs: [s]}}\n"))
        };
        for bad in ["/etc", "../x", "a/../../b", ".hidden", "reports", "_sluice/x", "excluded/s", "stats.json", "a//b", ""] {
            let d = with(&format!("  s: {{kind: pass, inputs: [a], min_chars: 5, dir: '{bad}'}}\n"));
            assert!(d.iter().any(|d| d.path == "stages.s.dir"), "{bad}: {d:?}");
        }
        // Two stages claiming the same folder, or one inside the other.
        let d = with(
            "  s: {kind: pass, inputs: [a], dir: shards}\n  t: {kind: pass, inputs: [s], dir: shards/x}\n  u: {kind: pass, inputs: [t]}\n",
        );
        assert!(d.iter().any(|d| d.path == "stages.t.dir" && d.message.contains("collides")), "{d:?}");
        // A claim on a writer's folder.
        let d = with("  s: {kind: pass, inputs: [a], dir: w}\n");
        assert!(d.iter().any(|d| d.message.contains("collides") && d.message.contains("writers.w")), "{d:?}");
        // The train section's folder.
        let d = errors("output: o\ntrain: {}\nreaders:\n  a: {kind: fake}\nstages:\n  s: {kind: pass, inputs: [a], dir: train}\nwriters:\n  w: {kind: jsonl, inputs: [s]}\n");
        assert!(d.iter().any(|d| d.path == "stages.s.dir" && d.message.contains("collides")), "{d:?}");
        compile("output: o\nreaders:\n  a: {kind: fake}\nstages:\n  s: {kind: pass, inputs: [a], dir: shards/en}\n  t: {kind: pass, inputs: [s], dir: shards/zh}\nwriters:\n  w: {kind: jsonl, inputs: [t]}\n", &TestRegistry).unwrap();
    }

    #[test]
    fn too_many_nodes_are_refused_at_validation() {
        let mut text = String::from("output: o\nreaders:\n  a: {kind: fake}\nwriters:\n");
        for i in 0..MAX_NODES {
            text.push_str(&format!("  w{i}: {{kind: jsonl, inputs: [a]}}\n"));
        }
        let d = errors(&text);
        assert!(d.iter().any(|d| d.message.contains(&format!("at most {MAX_NODES}"))), "{d:?}");
    }

    #[test]
    fn good_recipe_compiles_with_fan_in_and_fan_out() {
        let r = compile(
            "seed: 7\noutput: /tmp/x\nreaders:\n  a: {kind: fake}\n  b: {kind: fake}\nstages:\n  s: {kind: pass, inputs: [a, b]}\n  t: {kind: pass, inputs: s}\nwriters:\n  w1: {kind: jsonl, inputs: [s]}\n  w2: {kind: jsonl, inputs: [t, s]}\n",
            &TestRegistry,
        )
        .unwrap();
        let s = r.node("s").unwrap();
        assert_eq!(s.inputs, vec![0, 1]);
        assert_eq!(s.outputs.len(), 3);
        assert_eq!(r.seed, 7);
        assert_eq!(r.nodes.len(), 6);
        // w2 reads t and s, and t reads s: a diamond. s reads two readers.
        assert!(r.node("w2").unwrap().reconverges);
        assert!(!r.node("s").unwrap().reconverges);
        assert!(!r.node("w1").unwrap().reconverges);
    }

    #[test]
    fn disabled_stages_are_bypassed_and_not_built() {
        // t is off (its bad option is not even checked), u reads s through
        // it; w reads a chain of two disabled stages, and s once only.
        let text = |flag: &str| {
            format!(
                "output: o\nreaders:\n  a: {{kind: fake}}\n  b: {{kind: fake}}\nstages:\n  s: {{kind: pass, inputs: [a]}}\n  t: {{kind: pass, inputs: [s, b], enabled: {flag}, min_chars: lots}}\n  t2: {{kind: pass, inputs: [t], enabled: {flag}}}\n  u: {{kind: pass, inputs: [t]}}\nwriters:\n  w: {{kind: jsonl, inputs: [t2, s, u]}}\n"
            )
        };
        let r = compile(&text("false"), &TestRegistry).unwrap();
        assert!(r.node("t").is_none() && r.node("t2").is_none());
        let names = |n: &Node| n.inputs.iter().map(|&i| r.nodes[i].name.clone()).collect::<Vec<_>>();
        assert_eq!(names(r.node("u").unwrap()), vec!["s", "b"]);
        assert_eq!(names(r.node("w").unwrap()), vec!["s", "b", "u"]);
        // enabled, the stage is built and its bad option reported
        assert!(errors(&text("true")).iter().any(|d| d.path == "stages.t.min_chars"));
        // and the recipe hash differs
        let on = text("true").replace(", min_chars: lots", "");
        assert_ne!(compile(&on, &TestRegistry).unwrap().hash, r.hash);
        let d = errors("output: o\nreaders:\n  a: {kind: fake, enabled: false}\nstages:\n  s: {kind: pass, inputs: [a], enabled: maybe}\nwriters:\n  w: {kind: jsonl, inputs: [s]}\n");
        let text: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        assert!(text.iter().any(|t| t.contains("readers.a.enabled: only stages")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("stages.s.enabled: must be true or false")), "{text:?}");
    }

    #[test]
    fn reports_every_error_with_its_path() {
        let d = errors(
            "output: o\nbogus: 1\nreaders:\n  a: {kind: fake}\nstages:\n  s: {kind: pass, inputs: [a, nope], min_chars: x, typo: 1, typo2: 2}\n  c1: {kind: pass, inputs: [c2]}\n  c2: {kind: pass, inputs: [c1]}\n  k: {kind: nokind, inputs: [a]}\nwriters:\n  w: {kind: jsonl, inputs: [s, c2, k]}\n",
        );
        let text: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        let has = |needle: &str| text.iter().any(|t| t.contains(needle));
        assert!(has("bogus: unknown key"), "{text:#?}");
        assert!(has("stages.s.inputs[1]: no reader or stage is named `nope`"), "{text:#?}");
        assert!(has("stages.s.typo: unknown key"), "{text:#?}");
        assert!(has("stages.s.typo2: unknown key"), "{text:#?}");
        assert!(has("cycle"), "{text:#?}");
        assert!(has("stages.k.kind: unknown stage kind `nokind`"), "{text:#?}");
    }

    #[test]
    fn type_errors_carry_the_field_path() {
        let d = errors("output: o\nreaders:\n  a: {kind: fake}\nstages:\n  s: {kind: pass, inputs: [a], min_chars: lots}\nwriters:\n  w: {kind: jsonl, inputs: [s]}\n");
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].path == "stages.s.min_chars", "{d:?}");
    }

    #[test]
    fn unread_outputs_and_writer_inputs_are_errors() {
        let d = errors("output: o\nreaders:\n  a: {kind: fake}\n  b: {kind: fake}\nwriters:\n  w: {kind: jsonl, inputs: [a]}\n  v: {kind: jsonl, inputs: [w]}\n");
        let text: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        assert!(text.iter().any(|t| t.contains("readers.b: the output of `b` is not read")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("writers.v.inputs[0]: `w` is a writer")), "{text:?}");
    }

    #[test]
    fn names_cannot_escape_the_output_directory() {
        let d = errors("output: o\nreaders:\n  ../../etc: {kind: fake}\nwriters:\n  _sluice: {kind: jsonl, inputs: [../../etc]}\n");
        assert!(d.iter().any(|d| d.message.contains("invalid name")), "{d:?}");
        assert!(d.iter().any(|d| d.message.contains("reserved")), "{d:?}");
    }

    #[test]
    fn env_errors_are_located() {
        let d = errors("output: ${SLUICE_SURELY_UNSET_VAR}\nreaders:\n  a: {kind: fake}\nwriters:\n  w: {kind: jsonl, inputs: [a]}\n");
        assert_eq!(d[0].path, "output");
        assert!(d[0].message.contains("SLUICE_SURELY_UNSET_VAR"));
    }

    #[test]
    fn whole_value_expressions_can_be_numbers() {
        let v = load_yaml("a: ${SLUICE_UNSET_X:-12}\nb: x${SLUICE_UNSET_X:-12}\nc: ${SLUICE_UNSET_X:-true}\nd: ${SLUICE_UNSET_X:-0.5}\n")
            .unwrap();
        assert_eq!(v["a"], Value::from(12u64));
        assert_eq!(v["b"], Value::from("x12"));
        assert_eq!(v["c"], Value::Bool(true));
        assert_eq!(v["d"], Value::from(0.5));
    }

    #[test]
    fn hash_ignores_output_but_not_config() {
        let a = compile("output: o1\nreaders:\n  a: {kind: fake}\nwriters:\n  w: {kind: jsonl, inputs: [a]}\n", &TestRegistry).unwrap();
        let b = compile("output: o2\nreaders:\n  a: {kind: fake}\nwriters:\n  w: {kind: jsonl, inputs: [a]}\n", &TestRegistry).unwrap();
        let c = compile("seed: 1\noutput: o2\nreaders:\n  a: {kind: fake}\nwriters:\n  w: {kind: jsonl, inputs: [a]}\n", &TestRegistry)
            .unwrap();
        assert_eq!(a.hash, b.hash);
        assert_ne!(a.hash, c.hash);
    }
}
