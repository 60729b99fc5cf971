//! Object storage end to end (issue 17, acceptance 2), against a real
//! S3-compatible server (moto; see `sluice_objstore::testing`: skipped
//! without `SLUICE_MOTO_SERVER`, a failure with `SLUICE_REQUIRE_S3=1`).
//!
//! A recipe reads WARC and JSONL from `s3://` and writes to `s3://`; its
//! output equals the same recipe on local paths byte for byte, run in one
//! process, as three processes (`--tasks 3 --phase P --task I`), and after
//! being killed (SIGKILL) in the middle of an upload and resumed, with no
//! stray object left under the prefix.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sluice_objstore::testing::Moto;
use sluice_objstore::Store;

const BUCKET: &str = "sluice-e2e";

fn data_dir() -> PathBuf {
    let p = std::env::var_os("SLUICE_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    assert!(
        p.join("README.md").is_file(),
        "real test data not found at {} (set SLUICE_TEST_DATA to the shared data directory)",
        p.display()
    );
    p
}

/// WARC and JSONL through a length filter and exact dedup (a global stage:
/// its later phases read every task's files), to JSONL and Parquet.
fn recipe(warc: &str, web: &str, out: &str) -> String {
    format!(
        r#"seed: 5
output: {out}
batch_size: 64
readers:
  warc: {{kind: warc, paths: ["{warc}"]}}
  cc: {{kind: jsonl, paths: ["{web}"]}}
stages:
  len: {{kind: length, inputs: [warc, cc], min_chars: 200, exclusions: true}}
  exact: {{kind: exact_dedup, inputs: [len], exclusions: true, partitions: 2, memory_budget: 64KB}}
writers:
  kept: {{kind: jsonl, inputs: [exact], max_shard_bytes: 200kB}}
  all: {{kind: parquet, inputs: [len], max_shard_bytes: 300kB}}
"#
    )
}

struct Env {
    vars: Vec<(&'static str, String)>,
    staging: PathBuf,
}

impl Env {
    fn sluice(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sluice"));
        c.envs(self.vars.iter().map(|(k, v)| (k, v))).env("SLUICE_S3_STAGING", &self.staging);
        c
    }
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().expect("sluice runs");
    assert!(
        out.status.success(),
        "command failed: {:?}\nstdout:\n{}\nstderr:\n{}",
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn local_files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(root).unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn remote_keys(store: &Store, prefix: &str) -> Vec<String> {
    let skip = if prefix.is_empty() { 0 } else { prefix.len() + 1 };
    store.list(prefix).unwrap().into_iter().map(|o| o.key[skip..].to_string()).collect()
}

fn remote_files(store: &std::sync::Arc<Store>, prefix: &str) -> BTreeMap<String, Vec<u8>> {
    remote_keys(store, prefix)
        .into_iter()
        .map(|rel| {
            let mut b = Vec::new();
            store.open(&format!("{prefix}/{rel}")).unwrap().read_to_end(&mut b).unwrap();
            (rel, b)
        })
        .collect()
}

/// What must be byte-identical: everything but the bookkeeping under
/// `_sluice/` (input paths, timings), `stats.json` and the report (timings).
fn comparable(files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    files
        .iter()
        .filter(|(k, _)| !k.starts_with("_sluice/") && *k != "stats.json" && *k != "report.html")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Every completion marker on the prefix covers files that are there.
fn markers_cover_published_files(store: &std::sync::Arc<Store>, prefix: &str) {
    let keys = remote_keys(store, prefix);
    for m in keys.iter().filter(|k| k.starts_with("_sluice/tasks/") && k.ends_with(".done")) {
        let mut b = Vec::new();
        store.open(&format!("{prefix}/{m}")).unwrap().read_to_end(&mut b).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        for f in v["files"].as_array().unwrap() {
            let f = f.as_str().unwrap();
            assert!(keys.iter().any(|k| k == f), "marker {m} is published but the file {f} it covers is not");
        }
    }
}

/// The `pending.json` files (pushes not finished) of the staging
/// directories of outputs whose name contains `name`.
fn pending_lists(staging: &Path, name: &str) -> Vec<PathBuf> {
    slot_files(staging, name, "pending.json")
}

/// `file` in every staging slot of the output whose directory names `name`.
fn slot_files(staging: &Path, name: &str, file: &str) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(staging) else { return Vec::new() };
    let mut found = Vec::new();
    for url_dir in rd.flatten().filter(|e| e.file_name().to_string_lossy().contains(name)) {
        for slot in std::fs::read_dir(url_dir.path()).unwrap().flatten() {
            let p = slot.path().join(file);
            if p.exists() {
                found.push(p);
            }
        }
    }
    found
}

/// Each phase of the recipe as `--tasks 3` processes, one per unit, all
/// units of a phase at once.
fn run_phases_as_processes(env: &Env, recipe: &Path, out: &str) {
    let o = env.sluice().args(["phases", "--tasks", "3"]).arg(recipe).output().unwrap();
    let table = String::from_utf8(o.stdout).unwrap();
    let mut phases = 0;
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (key, units): (&str, usize) = (f[1], f[2].parse().unwrap());
        phases += 1;
        let children: Vec<_> = (0..units)
            .map(|u| {
                env.sluice()
                    .args(["run", "--progress", "off", "--threads", "1", "--tasks", "3", "--phase", key, "--task", &u.to_string()])
                    .args(["--output", out])
                    .arg(recipe)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let o = c.wait_with_output().unwrap();
            assert!(o.status.success(), "phase {key}: {}", String::from_utf8_lossy(&o.stderr));
        }
    }
    assert!(phases >= 3, "{table}");
}

#[test]
fn s3_inputs_and_output_match_local_paths_across_processes_and_kills() {
    let data = data_dir();
    let Some(moto) = Moto::start() else { return };
    let started = Instant::now();
    for (k, v) in moto.env() {
        std::env::set_var(k, v);
    }
    moto.create_bucket(BUCKET);
    let store = Store::for_bucket(BUCKET).unwrap();
    for sub in ["warc", "web"] {
        for e in std::fs::read_dir(data.join(sub)).unwrap() {
            let p = e.unwrap().path();
            store.upload_file(&p, &format!("in/{sub}/{}", p.file_name().unwrap().to_str().unwrap())).unwrap();
        }
    }
    let d = tempfile::tempdir().unwrap();
    let env = Env { vars: moto.env(), staging: d.path().join("staging") };
    let s3_recipe = |out: &str| {
        let p = d.path().join(format!("{}.yaml", out.replace('/', "_").replace(':', "")));
        std::fs::write(&p, recipe(&format!("s3://{BUCKET}/in/warc"), &format!("s3://{BUCKET}/in/web"), out)).unwrap();
        p
    };

    // The reference: local paths in, a local directory out.
    let local_out = d.path().join("local");
    let local_recipe = d.path().join("local.yaml");
    std::fs::write(
        &local_recipe,
        recipe(&data.join("warc").display().to_string(), &data.join("web").display().to_string(), &local_out.display().to_string()),
    )
    .unwrap();
    run_ok(env.sluice().args(["run", "--progress", "off", "--tasks", "3"]).arg(&local_recipe));
    let local = local_files(&local_out);
    assert!(local.keys().any(|k| k.starts_with("kept/")) && local.keys().any(|k| k.starts_with("excluded/exact")), "{:?}", local.keys());

    // s3:// in and out, one process.
    let one = format!("s3://{BUCKET}/out/one");
    run_ok(env.sluice().args(["run", "--progress", "off", "--tasks", "3"]).arg(s3_recipe(&one)));
    let one_files = remote_files(&store, "out/one");
    assert_eq!(one_files.keys().collect::<Vec<_>>(), local.keys().collect::<Vec<_>>(), "the prefix holds exactly the local run's files");
    assert!(comparable(&one_files) == comparable(&local), "s3 output differs from the local run's");
    markers_cover_published_files(&store, "out/one");

    // Three processes per phase, each in its own staging directory.
    let three = format!("s3://{BUCKET}/out/three");
    run_phases_as_processes(&env, &s3_recipe(&three), &three);
    let three_files = remote_files(&store, "out/three");
    assert_eq!(three_files.keys().collect::<Vec<_>>(), local.keys().collect::<Vec<_>>());
    assert!(comparable(&three_files) == comparable(&local), "--tasks 3 as processes differs from the local run");

    // Killed in the middle of an upload, then resumed: with the same
    // staging directory (the interrupted upload is finished) and with a
    // fresh one (another machine: the unit without a published marker runs
    // again). The process stops itself inside a push after `at` uploads and
    // says so (`test-paused`), so the kill always lands in one; timing the
    // kill by polling the prefix raced with the end of a push on a loaded
    // CI machine.
    let total = one_files.len();
    for (trial, at, fresh) in [(0, total / 4, false), (1, total * 2 / 3, true)] {
        let out = format!("s3://{BUCKET}/out/kill-{trial}");
        let prefix = format!("out/kill-{trial}");
        let recipe = s3_recipe(&out);
        let mut child = env
            .sluice()
            .args(["run", "--progress", "off", "--tasks", "3"])
            .arg(&recipe)
            .env(sluice_objstore::mirror::TEST_PAUSE_AFTER_ENV, at.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        let name = format!("kill-{trial}");
        while slot_files(&env.staging, &name, "test-paused").is_empty() {
            assert!(child.try_wait().unwrap().is_none(), "trial {trial}: the run finished before {at} uploads");
            assert!(t0.elapsed() < Duration::from_secs(300), "trial {trial}: stuck");
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let published = remote_keys(&store, &prefix).len();
        assert!(published < total, "trial {trial}: killed after everything was published");
        markers_cover_published_files(&store, &prefix);
        // The kill interrupted a push: its list is waiting to be finished.
        let pending = pending_lists(&env.staging, &format!("kill-{trial}"));
        assert_eq!(pending.len(), 1, "trial {trial}: no interrupted push in the staging directory");
        let mut resume = env.sluice();
        if fresh {
            resume.env("SLUICE_S3_STAGING", d.path().join(format!("staging-{trial}")));
        }
        run_ok(resume.args(["run", "--progress", "off", "--tasks", "3"]).arg(&recipe));
        // Resumed in the same staging directory, the push was finished (on
        // a fresh one, the unit without a published marker ran again).
        if !fresh {
            assert!(pending.iter().all(|p| !p.exists()), "trial {trial}: {pending:?} left after the resume");
        }
        let got = remote_files(&store, &prefix);
        assert_eq!(got.keys().collect::<Vec<_>>(), local.keys().collect::<Vec<_>>(), "trial {trial}: stray or missing objects");
        assert!(comparable(&got) == comparable(&local), "trial {trial}: output differs after kill and resume");
        eprintln!("trial {trial}: killed with {published} of {total} objects published; resumed to the same output");
    }

    // Nothing was written anywhere but the inputs and the output prefixes.
    let stray: Vec<String> = remote_keys(&store, "").into_iter().filter(|k| !k.starts_with("in/") && !k.starts_with("out/")).collect();
    assert!(stray.is_empty(), "{stray:?}");
    eprintln!("s3 end to end: {:.1} s", started.elapsed().as_secs_f64());
}
