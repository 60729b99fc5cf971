//! The `warc` reader (record framing, HTTP decoding, charset detection, HTML
//! main-text extraction) on arbitrary bytes, plain or gzip (detected by its
//! magic bytes, as the reader does). The first byte: bit 0 small
//! `max_record_bytes`, bit 1 small `max_body_bytes`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use sluice_fuzz::{check_bounded, config, drain, write_input};
use sluice_readers::{Flavor, WarcReaderConfig};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else { return };
    let path = write_input("in.warc", body);
    let mut opts = json!({});
    if mode & 1 != 0 {
        opts["max_record_bytes"] = json!(2048);
    }
    if mode & 2 != 0 {
        opts["max_body_bytes"] = json!(1024);
    }
    let cfg: WarcReaderConfig = config(&path, opts);
    let reader = cfg.build(Flavor::Warc, "fuzz", 0).expect("the harness's options are valid");
    let d = drain(&reader);
    if !body.starts_with(&[0x1f, 0x8b]) {
        check_bounded(&d, body.len());
    }
});
