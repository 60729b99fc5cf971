//! The no-op stage used to measure the bare engine.

use sluice_pipeline::{DocStage, Document, Verdict};

/// A stage that keeps every document unchanged. Useful to measure the
/// engine itself, or as a named junction in a graph.
#[derive(Debug, Clone, Copy, Default)]
pub struct Passthrough;

impl DocStage for Passthrough {
    fn process(&self, _: &mut Document) -> Verdict {
        Verdict::Keep
    }
}

/// The `passthrough` stage takes no options.
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PassthroughConfig {}

impl sluice_pipeline::component::Component for PassthroughConfig {
    const KIND: &'static str = "passthrough";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Stage;
    const ABOUT: &'static str = "Keeps every document unchanged (measures the bare engine)";

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        let _ = cx;
        Ok(sluice_pipeline::component::Built::doc(Passthrough))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn keeps_the_document_unchanged() {
        let mut d = Document::new("d", "some text", Arc::from("s"));
        assert_eq!(Passthrough.process(&mut d), Verdict::Keep);
        assert_eq!(d.text, "some text");
        assert!(d.attributes.is_empty() && d.metadata.is_empty());
    }
}
