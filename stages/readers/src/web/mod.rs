//! WARC/WET parsing, HTTP payload decoding, charset detection and HTML main-text
//! extraction: the web front end of sluice.
//!
//! - [`warc`]: a streaming reader of `.warc(.gz)` / `.wet(.gz)` records.
//! - [`http`]: HTTP status/headers of `response` records, de-chunking and gunzipping.
//! - [`charset`]: BOM, HTTP, `<meta>`, then `chardetng`; WHATWG label resolution.
//! - [`extract`](mod@extract): boilerplate removal and main-text extraction from HTML (over a
//!   private arena DOM built by html5ever).
//! - [`document`]: all of the above, turning a record into a [`WebDocument`].
//!
//! ```
//! use sluice_readers::web::extract::{extract, ExtractOptions};
//!
//! let html = r#"<html lang="en"><head><title>Hello</title></head><body>
//!   <nav><a href="/">Home</a> <a href="/about">About</a></nav>
//!   <article><h1>A headline</h1>
//!     <p>The first paragraph of the story, long enough to count as real prose.</p>
//!     <p>A second paragraph, with a <a href="/x">link</a> inside it.</p>
//!   </article>
//!   <footer>Copyright 2024, all rights reserved</footer>
//! </body></html>"#;
//! let out = extract(html, &ExtractOptions::default());
//! assert_eq!(out.title.as_deref(), Some("Hello"));
//! assert_eq!(out.lang.as_deref(), Some("en"));
//! assert!(out.text.contains("The first paragraph of the story"));
//! assert!(out.text.contains("\n\nA second paragraph, with a link inside it."));
//! assert!(!out.text.contains("Copyright"));
//! assert!(!out.text.contains("About"));
//! ```
//!
//! From a WARC stream to documents (files: [`WarcReader::open`], which also
//! handles `.warc.gz` / `.wet.gz`):
//!
//! ```
//! use sluice_readers::web::{response_to_document, DocumentOptions, WarcReader};
//!
//! let page = "<html><body><article><p>Hello from a crawled page, long enough to be prose.</p></article></body></html>";
//! let http = format!("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{page}");
//! let warc = format!(
//!     "WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:42>\r\n\
//!      WARC-Target-URI: http://example.com/\r\nWARC-Date: 2024-01-01T00:00:00Z\r\n\
//!      Content-Type: application/http; msgtype=response\r\nContent-Length: {}\r\n\r\n{http}\r\n\r\n",
//!     http.len()
//! );
//! for rec in WarcReader::new(std::io::Cursor::new(warc.into_bytes())) {
//!     let doc = response_to_document(&rec?, &DocumentOptions::default())?.expect("a 200 HTML page");
//!     assert_eq!(doc.id, "42");
//!     assert_eq!(doc.url, "http://example.com/");
//!     assert_eq!(doc.text, "Hello from a crawled page, long enough to be prose.");
//!     assert_eq!(doc.charset.as_deref(), Some("UTF-8"));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Extraction quality and speed against trafilatura are measured by
//! `examples/extract_eval.rs` and `benches/extract/compare_trafilatura.py` (see
//! this crate's README, "Web: WARC/WET and HTML extraction").

#![warn(missing_docs)]

pub mod charset;
pub mod document;
mod dom;
pub mod extract;
pub mod http;
pub mod warc;

pub use document::{response_to_document, DocumentOptions, WebDocument};
pub use extract::{extract, ExtractOptions, Extracted};
pub use warc::{WarcError, WarcReader, WarcRecord};
