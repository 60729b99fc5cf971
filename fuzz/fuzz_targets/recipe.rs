//! The recipe compiler (`sluice validate`): YAML, environment expansion,
//! the graph and every component's options, against the registry of this
//! build (`sluice_fuzz::registry`: the binary's own with `--features full`).
//! A recipe that compiles is also cut into phases, as `sluice run` does
//! next (not planned: planning lists the readers' files, and seed recipes
//! read whole directory trees).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match sluice_pipeline::compile(text, sluice_fuzz::registry::registry()) {
        Ok(recipe) => {
            for tasks in [1, 3] {
                std::hint::black_box(sluice_pipeline::phase::phases(&recipe, tasks).len());
            }
        }
        Err(e) => {
            std::hint::black_box(e.to_string());
        }
    }
});
