//! The sluice engine: the data model, the stage traits, the recipe compiler,
//! the executor and the stats.
//!
//! A run goes: YAML text → [`recipe::compile`] (every error at once) →
//! [`plan::plan`] (files split between tasks) → [`exec::run`] (one thread
//! per node, bounded channels, rayon inside nodes) → per-task outputs,
//! stats and completion markers under the output directory.

pub mod component;
pub mod doc;
pub mod env;
pub mod error;
pub mod exec;
pub mod filter;
pub mod fuse;
pub mod limits;
mod merge;
pub mod output;
pub mod phase;
pub mod plan;
pub mod recipe;
pub mod scratch;
pub mod size;
pub mod stage;
pub mod stats;
pub mod tokens;

pub use component::{Built, Component, Kind, Kinds, SignalRule, Test};
pub use doc::{Batch, DocPos, Document, Dropped, Metadata, Reason};
pub use error::{Error, Locator, RecordError, Result};
pub use exec::{run, Progress, RunOptions, RunSummary};
pub use recipe::{compile, parse_checked, parse_config, BuildContext, Diagnostic, OutputClaims, Recipe, Registry, Role};
pub use scratch::Scratch;
pub use stage::{
    Decoded, DocStage, GlobalContext, GlobalStage, GlobalStep, InputFile, Observer, Payload, RawRecord, Reader, RecordIter, Sink,
    SinkContext, SinkFactory, StageImpl, StageOutput, StreamStage, StreamStageFactory, TaskContext, Verdict,
};
pub use tokens::{Tokens, TOKENS_KEY};
