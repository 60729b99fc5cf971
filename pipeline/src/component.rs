//! A recipe component is one type: [`Component`].
//!
//! A reader, stage or writer kind is its configuration type. The type
//! carries the kind's name, its one-line description, its option schema (from
//! `schemars`), the thresholds `--what-if` and the report read
//! ([`SignalRule`]), its own checks, and how it builds its runtime. The
//! registry is then a plain list, [`Kinds`], built with [`Kind::of`] once per
//! type: `sluice kinds`, `validate`, the compiler, the what-if engine and the
//! report all read that one list.
//!
//! ```
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//! use sluice_pipeline::component::{Built, Component, Kind, Kinds};
//! use sluice_pipeline::{BuildContext, Diagnostic, DocStage, Document, Role, Verdict};
//!
//! /// Options of a stage that drops empty documents.
//! #[derive(Deserialize, JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct NonEmptyConfig {}
//!
//! struct NonEmpty;
//! impl DocStage for NonEmpty {
//!     fn process(&self, doc: &mut Document) -> Verdict {
//!         if doc.text.is_empty() { Verdict::Drop("empty".into()) } else { Verdict::Keep }
//!     }
//! }
//!
//! impl Component for NonEmptyConfig {
//!     const KIND: &'static str = "non_empty";
//!     const ROLE: Role = Role::Stage;
//!     const ABOUT: &'static str = "Drops empty documents";
//!     fn build(&self, _cx: &BuildContext) -> Result<Built, Vec<Diagnostic>> {
//!         Ok(Built::doc(NonEmpty))
//!     }
//! }
//!
//! let kinds = Kinds::new(vec![Kind::of::<NonEmptyConfig>()]);
//! assert_eq!(kinds.get(Role::Stage, "non_empty").unwrap().about, "Drops empty documents");
//! ```

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::recipe::{parse_checked, BuildContext, Diagnostic, Recipe, Registry, Role};
use crate::stage::{DocStage, GlobalStage, Reader, SinkFactory, StageImpl, StreamStageFactory};

/// How a threshold option is tested against a recorded signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Test {
    /// The document is dropped when the signal is below the threshold.
    DropBelow,
    /// The document is dropped when the signal is above the threshold.
    DropAbove,
}

/// A threshold option of a stage kind, the attribute (signal) it is tested
/// on and the drop reason it gives. `sluice stats --what-if` re-evaluates
/// the option on recorded signals; the report draws it on the attribute's
/// histogram. An `attribute` with `{n}` belongs to an option whose value is
/// a list of `[n, threshold]` pairs (the Gopher n-gram rules); the reason
/// then has `{n}` too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignalRule {
    pub option: &'static str,
    pub attribute: &'static str,
    pub test: Test,
    pub reason: &'static str,
}

impl SignalRule {
    /// The attribute this rule tests at the node `node`, whose resolved
    /// options are `options`: `{attribute}` in [`SignalRule::attribute`]
    /// stands for the node's `attribute` option, or its name when that is
    /// unset (a classifier's `<attribute>_score`).
    pub fn attribute_at(&self, node: &str, options: &Value) -> String {
        if !self.attribute.contains("{attribute}") {
            return self.attribute.to_string();
        }
        let a = options.get("attribute").and_then(Value::as_str).unwrap_or(node);
        self.attribute.replace("{attribute}", a)
    }

    /// Whether a signal value passes a threshold (`None`: rule disabled).
    pub fn passes(&self, value: f64, threshold: Option<f64>) -> bool {
        match (threshold, self.test) {
            (None, _) => true,
            (Some(t), Test::DropBelow) => value >= t || value.is_nan(),
            (Some(t), Test::DropAbove) => value <= t || value.is_nan(),
        }
    }
}

/// The runtime a component builds, by role.
pub enum Built {
    Reader(Arc<dyn Reader>),
    Stage(StageImpl),
    Writer(Arc<dyn SinkFactory>),
}

impl Built {
    pub fn reader(r: impl Reader + 'static) -> Self {
        Built::Reader(Arc::new(r))
    }
    /// A document-wise stage.
    pub fn doc(s: impl DocStage + 'static) -> Self {
        Built::Stage(StageImpl::Doc(Arc::new(s)))
    }
    /// A stage that sees each task's whole stream.
    pub fn stream(s: impl StreamStageFactory + 'static) -> Self {
        Built::Stage(StageImpl::Stream(Arc::new(s)))
    }
    /// A global stage (every task's documents before any decision).
    pub fn global(s: impl GlobalStage + 'static) -> Self {
        Built::Stage(StageImpl::Global(Arc::new(s)))
    }
    pub fn writer(w: impl SinkFactory + 'static) -> Self {
        Built::Writer(Arc::new(w))
    }
    fn role(&self) -> Role {
        match self {
            Built::Reader(_) => Role::Reader,
            Built::Stage(_) => Role::Stage,
            Built::Writer(_) => Role::Writer,
        }
    }
}

/// A reader, stage or writer kind: its configuration type.
///
/// The options of a recipe node are parsed into `Self` with
/// [`parse_checked`] (unknown keys, types, and the ranges the schema
/// declares), then [`Component::validate`] runs the checks that involve
/// several fields, then [`Component::build`] makes the runtime.
pub trait Component: DeserializeOwned + schemars::JsonSchema + 'static {
    /// The `kind:` a recipe names.
    const KIND: &'static str;
    const ROLE: Role;
    /// One line for `sluice kinds`.
    const ABOUT: &'static str;
    /// The threshold options `--what-if` and the report read.
    const SIGNAL_RULES: &'static [SignalRule] = &[];

    /// Checks beyond the schema, as `(option path, message)` pairs.
    fn validate(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Build the runtime. Called only when [`Component::validate`] found
    /// nothing. `cx` names the node, seeds it, and takes the output paths
    /// the options write ([`BuildContext::claim_output`]).
    fn build(&self, cx: &BuildContext) -> Result<Built, Vec<Diagnostic>>;

    /// The options with every default filled in, for `--what-if` and the
    /// report (which must compare against the thresholds the run used).
    /// Kinds with [`Component::SIGNAL_RULES`] return `Some`; see
    /// [`resolved_options`].
    fn resolved(&self) -> Option<Value> {
        None
    }
}

/// [`Component::resolved`] for a configuration that serialises.
pub fn resolved_options<C: serde::Serialize>(c: &C) -> Option<Value> {
    serde_json::to_value(c).ok()
}

/// `(option, message)` pairs as diagnostics under the node's recipe path.
pub fn located(cx: &BuildContext, errs: Vec<(String, String)>) -> Vec<Diagnostic> {
    errs.into_iter().map(|(f, m)| Diagnostic::new(format!("{}.{f}", cx.path), m)).collect()
}

type BuildFn = fn(&Value, &BuildContext) -> Result<Built, Vec<Diagnostic>>;
type ResolveFn = fn(&Value) -> Result<Value, String>;

/// One kind in the registry: what [`Kind::of`] reads off a [`Component`].
#[derive(Clone, Copy)]
pub struct Kind {
    pub role: Role,
    pub name: &'static str,
    pub about: &'static str,
    pub schema: fn() -> schemars::Schema,
    pub signal_rules: &'static [SignalRule],
    build: BuildFn,
    resolve: ResolveFn,
}

impl std::fmt::Debug for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} {}", self.role, self.name)
    }
}

fn build_of<C: Component>(v: &Value, cx: &BuildContext) -> Result<Built, Vec<Diagnostic>> {
    let c: C = parse_checked(v, cx.path)?;
    let errs = c.validate();
    if !errs.is_empty() {
        return Err(located(cx, errs));
    }
    let built = c.build(cx)?;
    if built.role() != C::ROLE {
        return Err(vec![Diagnostic::new(
            cx.path,
            format!("internal: kind `{}` built a {:?}, not a {:?}", C::KIND, built.role(), C::ROLE),
        )]);
    }
    Ok(built)
}

fn resolve_of<C: Component>(v: &Value) -> Result<Value, String> {
    let c: C = parse_checked(v, "").map_err(|d| d.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("; "))?;
    let errs = c.validate();
    if !errs.is_empty() {
        return Err(errs.iter().map(|(f, m)| format!("{f}: {m}")).collect::<Vec<_>>().join("; "));
    }
    c.resolved().ok_or_else(|| format!("kind `{}` does not report its resolved options", C::KIND))
}

impl Kind {
    /// The registry entry of a component type.
    pub fn of<C: Component>() -> Kind {
        Kind {
            role: C::ROLE,
            name: C::KIND,
            about: C::ABOUT,
            schema: || schemars::schema_for!(C),
            signal_rules: C::SIGNAL_RULES,
            build: build_of::<C>,
            resolve: resolve_of::<C>,
        }
    }

    /// Parse, check and build a node's options (`v` without the engine's
    /// keys).
    pub fn build(&self, v: &Value, cx: &BuildContext) -> Result<Built, Vec<Diagnostic>> {
        (self.build)(v, cx)
    }

    /// The options with every default filled in, checked; an error when
    /// they do not parse or the kind does not report them.
    pub fn resolve(&self, options: &Value) -> Result<Value, String> {
        (self.resolve)(options)
    }
}

/// The kinds a build of sluice knows: the registry. The default is empty.
#[derive(Debug, Clone, Default)]
pub struct Kinds {
    kinds: Vec<Kind>,
    /// The `train:` section's checker, where the build can train.
    train: Option<fn(&Value, &Recipe) -> Vec<Diagnostic>>,
}

impl Kinds {
    /// # Panics
    /// When two kinds of one role share a name (a programming error that
    /// every test run would catch).
    pub fn new(kinds: Vec<Kind>) -> Self {
        for (i, a) in kinds.iter().enumerate() {
            assert!(!kinds[..i].iter().any(|b| b.role == a.role && b.name == a.name), "kind {a:?} is registered twice");
        }
        Kinds { kinds, train: None }
    }

    /// Accept a recipe's `train:` section, checked by `check`.
    pub fn with_train(mut self, check: fn(&Value, &Recipe) -> Vec<Diagnostic>) -> Self {
        self.train = Some(check);
        self
    }

    pub fn iter(&self) -> impl Iterator<Item = &Kind> {
        self.kinds.iter()
    }

    pub fn get(&self, role: Role, name: &str) -> Option<&Kind> {
        self.kinds.iter().find(|k| k.role == role && k.name == name)
    }

    /// The stage kind named `name`.
    pub fn stage(&self, name: &str) -> Option<&Kind> {
        self.get(Role::Stage, name)
    }

    /// The threshold rules of a stage kind (none for an unknown kind).
    pub fn signal_rules(&self, kind: &str) -> &'static [SignalRule] {
        self.stage(kind).map(|k| k.signal_rules).unwrap_or(&[])
    }

    fn build(&self, role: Role, kind: &str, v: &Value, cx: &BuildContext) -> Result<Built, Vec<Diagnostic>> {
        match self.get(role, kind) {
            Some(k) => k.build(v, cx),
            None => Err(vec![Diagnostic::new(cx.path, format!("internal: unhandled {role:?} kind `{kind}`"))]),
        }
    }
}

impl Registry for Kinds {
    fn kinds(&self, role: Role) -> Vec<&'static str> {
        self.kinds.iter().filter(|k| k.role == role).map(|k| k.name).collect()
    }

    fn build_reader(&self, kind: &str, v: &Value, cx: &BuildContext) -> Result<Arc<dyn Reader>, Vec<Diagnostic>> {
        match self.build(Role::Reader, kind, v, cx)? {
            Built::Reader(r) => Ok(r),
            _ => unreachable!("Kind::build checks the role"),
        }
    }

    fn build_stage(&self, kind: &str, v: &Value, cx: &BuildContext) -> Result<StageImpl, Vec<Diagnostic>> {
        match self.build(Role::Stage, kind, v, cx)? {
            Built::Stage(s) => Ok(s),
            _ => unreachable!("Kind::build checks the role"),
        }
    }

    fn build_writer(&self, kind: &str, v: &Value, cx: &BuildContext) -> Result<Arc<dyn SinkFactory>, Vec<Diagnostic>> {
        match self.build(Role::Writer, kind, v, cx)? {
            Built::Writer(w) => Ok(w),
            _ => unreachable!("Kind::build checks the role"),
        }
    }

    fn check_train(&self, config: &Value, recipe: &Recipe) -> Vec<Diagnostic> {
        match self.train {
            Some(check) => check(config, recipe),
            None => vec![Diagnostic::new("train", "this build of sluice cannot train")],
        }
    }
}
