//! The registry the `recipe` target compiles against.
//!
//! With the `full` feature it is the `sluice` binary's own registry
//! (`src/registry.rs` and `src/train_section.rs`, included by path: the
//! binary crate cannot be a dependency). Without it, a registry of the
//! real readers, writers and token stages, built exactly as the binary
//! builds them, and a `passthrough` stage; recipes naming other stage kinds
//! then fail with "unknown kind", which still exercises YAML loading,
//! environment expansion, the graph checks and every reader's options.

use sluice_pipeline::Registry;

/// The registry of this build (see the module docs).
pub fn registry() -> &'static dyn Registry {
    #[cfg(feature = "full")]
    {
        &crate::builtins::Builtins
    }
    #[cfg(not(feature = "full"))]
    {
        &small::Small
    }
}

#[cfg(not(feature = "full"))]
mod small {
    use std::sync::Arc;

    use serde_json::Value;
    use sluice_pipeline::{
        parse_checked, BuildContext, Diagnostic, DocStage, Document, Reader, Registry, Role, SinkFactory, StageImpl, Verdict,
    };
    use sluice_readers::{Flavor, JsonlReaderConfig, ParquetReaderConfig, TextReaderConfig, WarcReaderConfig};
    use sluice_tokens::{MixConfig, PackConfig, TokenizeConfig, TokenizerTrainConfig};
    use sluice_writers::{JsonlWriterConfig, ParquetWriterConfig};

    pub struct Small;

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct NoOptions {}

    struct Passthrough;
    impl DocStage for Passthrough {
        fn process(&self, _: &mut Document) -> Verdict {
            Verdict::Keep
        }
    }

    fn located<T>(cx: &BuildContext, r: Result<T, Vec<(String, String)>>) -> Result<T, Vec<Diagnostic>> {
        r.map_err(|errs| errs.into_iter().map(|(f, m)| Diagnostic::new(format!("{}.{f}", cx.path), m)).collect())
    }

    fn checked<T>(cx: &BuildContext, errs: Vec<(String, String)>, ok: impl FnOnce() -> T) -> Result<T, Vec<Diagnostic>> {
        if errs.is_empty() {
            Ok(ok())
        } else {
            located(cx, Err(errs))
        }
    }

    impl Registry for Small {
        fn kinds(&self, role: Role) -> Vec<&'static str> {
            match role {
                Role::Reader => vec!["jsonl", "parquet", "warc", "wet", "text"],
                Role::Stage => vec!["passthrough", "tokenizer_train", "tokenize", "mix", "pack"],
                Role::Writer => vec!["jsonl", "parquet"],
            }
        }

        fn build_reader(&self, kind: &str, v: &Value, cx: &BuildContext) -> Result<Arc<dyn Reader>, Vec<Diagnostic>> {
            let p = cx.path;
            Ok(match kind {
                "jsonl" => Arc::new(located(cx, parse_checked::<JsonlReaderConfig>(v, p)?.build(cx.source, cx.seed))?),
                "parquet" => Arc::new(located(cx, parse_checked::<ParquetReaderConfig>(v, p)?.build(cx.source, cx.seed))?),
                "warc" => Arc::new(located(cx, parse_checked::<WarcReaderConfig>(v, p)?.build(Flavor::Warc, cx.source, cx.seed))?),
                "wet" => Arc::new(located(cx, parse_checked::<WarcReaderConfig>(v, p)?.build(Flavor::Wet, cx.source, cx.seed))?),
                "text" => Arc::new(located(cx, parse_checked::<TextReaderConfig>(v, p)?.build(cx.source, cx.seed))?),
                other => return Err(vec![Diagnostic::new(p, format!("unknown reader kind `{other}`"))]),
            })
        }

        fn build_stage(&self, kind: &str, v: &Value, cx: &BuildContext) -> Result<StageImpl, Vec<Diagnostic>> {
            let p = cx.path;
            Ok(match kind {
                "passthrough" => {
                    parse_checked::<NoOptions>(v, p)?;
                    StageImpl::Doc(Arc::new(Passthrough))
                }
                "tokenize" => {
                    let c: TokenizeConfig = parse_checked(v, p)?;
                    checked(cx, c.validate(), || ())?;
                    StageImpl::Doc(Arc::new(located(cx, c.build())?))
                }
                "tokenizer_train" => {
                    let c: TokenizerTrainConfig = parse_checked(v, p)?;
                    StageImpl::Global(Arc::new(checked(cx, c.validate(), || c.build(cx.name))?))
                }
                "mix" => {
                    let c: MixConfig = parse_checked(v, p)?;
                    StageImpl::Global(Arc::new(checked(cx, c.validate(), || c.build(cx.name))?))
                }
                "pack" => {
                    let c: PackConfig = parse_checked(v, p)?;
                    StageImpl::Global(Arc::new(checked(cx, c.validate(), || c.build(cx.name))?))
                }
                other => return Err(vec![Diagnostic::new(p, format!("unknown stage kind `{other}`"))]),
            })
        }

        fn build_writer(&self, kind: &str, v: &Value, cx: &BuildContext) -> Result<Arc<dyn SinkFactory>, Vec<Diagnostic>> {
            let p = cx.path;
            Ok(match kind {
                "jsonl" => {
                    let c: JsonlWriterConfig = parse_checked(v, p)?;
                    Arc::new(checked(cx, c.validate(), || c.build())?)
                }
                "parquet" => {
                    let c: ParquetWriterConfig = parse_checked(v, p)?;
                    Arc::new(checked(cx, c.validate(), || c.build())?)
                }
                other => return Err(vec![Diagnostic::new(p, format!("unknown writer kind `{other}`"))]),
            })
        }
    }
}
