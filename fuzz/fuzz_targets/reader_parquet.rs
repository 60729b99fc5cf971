//! The `parquet` reader on arbitrary bytes (seeds: real Parquet files that
//! `scripts/fuzz.sh` has this target write at start-up, see
//! `sluice_fuzz::seeds`). The first byte picks the batch size and the text
//! and id columns.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use sluice_fuzz::{config, drain, write_input};
use sluice_readers::ParquetReaderConfig;

fuzz_target!(
    init: {
        // `scripts/fuzz.sh` asks for the seed files once, then fuzzes.
        if let (Some(out), Some(src)) = (std::env::var_os("SLUICE_FUZZ_PARQUET_SEEDS"), std::env::var_os("SLUICE_FUZZ_JSONL")) {
            let n = sluice_fuzz::seeds::write_parquet_seeds(out.as_ref(), src.as_ref()).expect("write the Parquet seeds");
            eprintln!("wrote {n} Parquet seeds to {}", std::path::Path::new(&out).display());
            std::process::exit(0);
        }
    },
    |data: &[u8]| {
        let Some((&mode, body)) = data.split_first() else { return };
        let path = write_input("in.parquet", body);
        let batch = [1024, 1, 2, 7][(mode & 3) as usize];
        let id = if mode & 4 != 0 { "url" } else { "id" };
        let text = if mode & 8 != 0 { "url" } else { "text" };
        let cfg: ParquetReaderConfig = config(&path, json!({ "batch_rows": batch, "id_column": id, "text_column": text }));
        let reader = cfg.build("fuzz", 0).expect("the harness's options are valid");
        drain(&reader);
    }
);
