//! Safety stages: PII scrubbing ([`PiiConfig`], kind `pii`), toxicity and
//! adult-content filtering ([`ToxicityConfig`], kind `toxicity`) and
//! benchmark decontamination ([`DecontamConfig`], kind `decontaminate`),
//! and the benchmark specs that decontamination and `sluice eval` share
//! ([`BenchmarkSpec`]).
//!
//! ```
//! use sluice_pipeline::{DocStage, Document};
//! use sluice_safety::PiiConfig;
//!
//! let pii = PiiConfig::default().build(42);
//! let mut doc = Document::new("1", "Mail jane@corp.com or call +86 138 1234 5678.", "s".into());
//! pii.process(&mut doc);
//! assert_eq!(doc.text, "Mail <EMAIL> or call <PHONE>.");
//! assert_eq!(doc.attributes["pii_phone"], 1.0);
//! ```

pub mod benchmark;
pub mod decontam;
pub mod pii;
pub mod testset;
pub mod toxicity;

pub use benchmark::{BenchmarkRef, BenchmarkSpec};
pub use decontam::{DecontamConfig, DecontamIndex, Decontaminate};
pub use pii::{Action, Pii, PiiConfig, PiiKind, PiiMatch};
pub use toxicity::{Toxicity, ToxicityConfig};
