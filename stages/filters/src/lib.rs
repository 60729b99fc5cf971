//! Document-wise stages: filters that keep or drop a document with a
//! reason, and annotators that add attributes.

pub mod length;

pub use length::{LengthFilter, LengthFilterConfig, Passthrough, PassthroughConfig};
