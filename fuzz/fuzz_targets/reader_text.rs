//! The `text` reader on arbitrary bytes. The first byte picks the case:
//! bits 0-1 the file type (`.txt`, `.html`, `.md.gz`, `.txt.zst`), bit 2
//! `encoding: auto`, bit 3 `split` (target size from the second byte),
//! bit 4 `extract_html: false`, bit 5 a small `max_document_bytes`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use sluice_fuzz::{check_bounded, config, drain, write_input};
use sluice_readers::TextReaderConfig;

fuzz_target!(|data: &[u8]| {
    let [mode, size, body @ ..] = data else { return };
    let name = ["in.txt", "in.html", "in.md.gz", "in.txt.zst"][(mode & 3) as usize];
    let path = write_input(name, body);
    let mut opts = json!({});
    if mode & 4 != 0 {
        opts["encoding"] = json!("auto");
    }
    if mode & 8 != 0 {
        opts["split"] = json!({ "target_bytes": 1 + *size as u64 * 16 });
    }
    if mode & 16 != 0 {
        opts["extract_html"] = json!(false);
    }
    if mode & 32 != 0 {
        opts["max_document_bytes"] = json!(4096);
    }
    let cfg: TextReaderConfig = config(&path, opts);
    let reader = cfg.build("fuzz", 0).expect("the harness's options are valid");
    let d = drain(&reader);
    if mode & 3 < 2 {
        check_bounded(&d, body.len());
    }
});
