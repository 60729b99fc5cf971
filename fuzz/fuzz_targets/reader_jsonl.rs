//! The `jsonl` reader on arbitrary bytes. The first byte picks the case:
//! bits 0-1 the file type (`.jsonl`, `.jsonl.gz`, `.jsonl.zst`, or a
//! `.json` file read whole with a `records` path), bit 2 a small
//! `max_line_bytes` (the too-long path), bits 3-4 the records path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use sluice_fuzz::{check_bounded, config, drain, write_input};
use sluice_readers::JsonlReaderConfig;

const RECORDS: [&str; 4] = ["/", "/data/*/paragraphs/*", "/*", "/data/*"];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else { return };
    let (name, records) = match mode & 3 {
        0 => ("in.jsonl", None),
        1 => ("in.jsonl.gz", None),
        2 => ("in.jsonl.zst", None),
        _ => ("in.json", Some(RECORDS[(mode >> 3 & 3) as usize])),
    };
    let path = write_input(name, body);
    let mut opts = json!({ "text_key": if records.is_some() { "context" } else { "text" } });
    if mode & 4 != 0 {
        opts["max_line_bytes"] = json!(512);
    }
    if let Some(r) = records {
        opts["records"] = json!(r);
        opts["text_key"] = json!(if mode & 0x20 != 0 { "text" } else { "context" });
    }
    let cfg: JsonlReaderConfig = config(&path, opts);
    let reader = cfg.build("fuzz", 0).expect("the harness's options are valid");
    let d = drain(&reader);
    if mode & 3 == 0 || mode & 3 == 3 {
        check_bounded(&d, body.len());
    }
});
