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
