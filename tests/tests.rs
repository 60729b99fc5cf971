//! End-to-end tests of the `sluice` binary: recipes in, files out.
//!
//! Tests that read `../shared/data` (override with `SLUICE_TEST_DATA`) fail
//! with a clear message when it is missing; they never pass silently.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod classifier_cli;
mod cli_security;
mod edges;
mod strict;

fn sluice() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
}

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

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("sluice runs");
    assert!(
        out.status.success(),
        "command failed: {:?}\nstdout:\n{}\nstderr:\n{}",
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn write_recipe(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("recipe.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Every file under `root` except sluice's own bookkeeping, stats and the
/// report (which hold timings), with its bytes.
fn output_files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                if rel != "_sluice" {
                    stack.push(p);
                }
            } else if rel != "stats.json" && rel != "report.html" {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Decode every JSONL(.zst) document under `dir` into (id, full JSON line).
fn jsonl_docs(dir: &Path) -> Vec<(String, String)> {
    let mut docs = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "temporary file left behind: {name}");
        let r: Box<dyn std::io::Read> = if name.ends_with(".zst") {
            Box::new(zstd::stream::read::Decoder::new(std::fs::File::open(&f).unwrap()).unwrap())
        } else {
            Box::new(std::fs::File::open(&f).unwrap())
        };
        for line in BufReader::new(r).lines() {
            let line = line.unwrap();
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            docs.push((v["id"].as_str().unwrap().to_string(), line));
        }
    }
    docs
}

/// A corpus of `files` JSONL.zst files with `per_file` documents each,
/// including some that the length filter drops and a malformed line.
fn make_corpus(dir: &Path, files: usize, per_file: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = 0x9E3779B97F4A7C15u64;
    for f in 0..files {
        let file = std::fs::File::create(dir.join(format!("part-{f:03}.jsonl.zst"))).unwrap();
        let mut enc = zstd::stream::write::Encoder::new(file, 1).unwrap();
        for i in 0..per_file {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let words = 5 + (rng % 120) as usize;
            let text: Vec<String> = (0..words).map(|w| format!("w{}", (rng >> (w % 40)) % 5000)).collect();
            let doc =
                serde_json::json!({"id": format!("f{f}-d{i}"), "text": text.join(" "), "url": format!("https://example.org/{f}/{i}")});
            writeln!(enc, "{doc}").unwrap();
            if i == per_file / 2 && f % 3 == 0 {
                writeln!(enc, "{{\"id\": \"broken\", \"text\": ").unwrap();
            }
        }
        enc.finish().unwrap();
    }
}

fn corpus_recipe(input: &Path, out: &Path) -> String {
    format!(
        "seed: 3\noutput: {}\nbatch_size: 64\nchannel_capacity: 2\nreaders:\n  corpus: {{kind: jsonl, paths: [{}]}}\nstages:\n  len: {{kind: length, inputs: [corpus], min_chars: 200, exclusions: true}}\n  tag: {{kind: length, inputs: [len], annotate_only: true}}\nwriters:\n  kept: {{kind: jsonl, inputs: [tag], max_shard_bytes: 200kB}}\n  both: {{kind: parquet, inputs: [tag, len], max_shard_bytes: 300kB}}\n",
        out.display(),
        input.display()
    )
}

#[test]
fn validate_reports_every_mistake_and_is_silent_on_good_recipes() {
    let d = tempfile::tempdir().unwrap();
    let bad = write_recipe(
        d.path(),
        "output: out\nreaders:\n  web: {kind: jsonl, paths: [/nonexistent/data.jsonl]}\nstages:\n  len: {kind: length, inputs: [web, missing], min_chars: 10, min_charz: 20}\nwriters:\n  out: {kind: parquet, inputs: [len]}\n",
    );
    let out = sluice().arg("validate").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(text.contains("readers.web.paths[0]: `/nonexistent/data.jsonl` does not exist"), "{text}");
    assert!(text.contains("stages.len.inputs[1]: no reader or stage is named `missing`"), "{text}");
    assert!(text.contains("stages.len.min_charz: unknown key"), "{text}");

    for recipe in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes")).unwrap() {
        let recipe = recipe.unwrap().path();
        let out = sluice().arg("validate").arg(&recipe).env("SLUICE_DATA", data_dir()).output().unwrap();
        assert!(
            out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
            "{}: {}",
            recipe.display(),
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn thread_count_does_not_change_a_single_byte() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in");
    make_corpus(&input, 6, 700);
    let mut outs = Vec::new();
    for threads in ["1", "2", "3"] {
        let out = d.path().join(format!("out{threads}"));
        let recipe = write_recipe(d.path(), &corpus_recipe(&input, &out));
        run_ok(sluice().args(["run", "--progress", "off", "--threads", threads]).arg(&recipe));
        outs.push(output_files(&out));
    }
    assert!(outs[0].len() >= 5, "expected several shards: {:?}", outs[0].keys());
    for o in &outs[1..] {
        assert_eq!(o.keys().collect::<Vec<_>>(), outs[0].keys().collect::<Vec<_>>());
        for (k, v) in o {
            assert!(v == &outs[0][k], "{k} differs between thread counts");
        }
    }
}

#[test]
fn separate_task_processes_produce_the_same_documents() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in");
    make_corpus(&input, 7, 300);
    let one = d.path().join("one");
    let recipe = write_recipe(d.path(), &corpus_recipe(&input, &one));
    run_ok(sluice().args(["run", "--progress", "off"]).arg(&recipe));

    let three = d.path().join("three");
    let children: Vec<_> = (0..3)
        .map(|t| {
            sluice()
                .args(["run", "--progress", "off", "--tasks", "3", "--task", &t.to_string(), "--output"])
                .arg(&three)
                .arg(&recipe)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let mut a = jsonl_docs(&one.join("kept"));
    let mut b = jsonl_docs(&three.join("kept"));
    assert!(a.len() > 1000);
    a.sort();
    b.sort();
    assert_eq!(a, b);
    // The merged stats agree too.
    let stats = |p: &Path| {
        let o = run_ok(sluice().args(["stats", "--json"]).arg(p));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| (n["name"].clone(), n["docs_out"].clone(), n["malformed"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(stats(&one), stats(&three));
}

/// Total size of the files under `dir` (0 when it does not exist yet).
/// Every temporary in `root`: dot-files (sluice writes no other), `*.tmp`
/// (external-sort runs) and `*.spill` (merge spill files), relative paths.
fn temporaries(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            } else if name.starts_with('.') || name.ends_with(".tmp") || name.ends_with(".spill") {
                found.push(e.path().strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    found.sort();
    found
}

/// A recipe with every kind of phase: stream segments with exclusions and
/// two writers, exact dedup (partitioned steps, external sort), tokenizer
/// training (one step) and packing (one step writing shards and reports).
fn global_recipe(input: &Path, out: &Path) -> String {
    format!(
        r#"seed: 3
output: {}
batch_size: 64
channel_capacity: 2
readers:
  corpus: {{kind: jsonl, paths: [{}]}}
stages:
  len: {{kind: length, inputs: [corpus], min_chars: 200, exclusions: true}}
  exact: {{kind: exact_dedup, inputs: [len], exclusions: true, partitions: 2, memory_budget: 64KB}}
  tok: {{kind: tokenizer_train, inputs: [exact], vocab_size: 600, sample_bytes_per_source: 200KB, tokenize: true}}
  shards: {{kind: pack, inputs: [tok], tokenizer_from: tok, seq_len: 128, val_fraction: 0.05, shard_tokens: 20000}}
writers:
  kept: {{kind: jsonl, inputs: [shards], max_shard_bytes: 200kB}}
  filtered: {{kind: parquet, inputs: [len], max_shard_bytes: 300kB}}
"#,
        out.display(),
        input.display()
    )
}

/// A report's JSON without its timings (`*_seconds`, `*_secs` keys).
fn without_timings(bytes: &[u8]) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.retain(|k, _| !k.ends_with("seconds") && !k.ends_with("secs"));
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    strip(&mut v);
    v
}

/// The phases of `recipe` run with `tasks` tasks: (key, units).
fn phase_table(recipe: &Path, tasks: usize) -> Vec<(String, usize)> {
    let o = run_ok(sluice().args(["phases", "--tasks", &tasks.to_string()]).arg(recipe));
    let table = String::from_utf8(o.stdout).unwrap();
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.get(1)?.to_string(), f.get(2)?.parse().ok()?))
        })
        .collect()
}

fn unit_done(out: &Path, key: &str, unit: usize) -> bool {
    let tasks = out.join("_sluice/tasks");
    if key == "s0" {
        tasks.join(format!("{unit:05}.done")).is_file()
    } else {
        tasks.join(key).join(format!("{unit:05}.done")).is_file()
    }
}

/// The first phase with an unfinished unit (the one running), if any.
fn running_phase(out: &Path, phases: &[(String, usize)]) -> Option<usize> {
    phases.iter().position(|(k, n)| (0..*n).any(|u| !unit_done(out, k, u)))
}

/// Issue 21, hole 9 (leftovers after SIGKILL) and the resume promise.
/// Trial `k` starts a fresh run, kills it (SIGKILL) once phase `p_k` has
/// begun plus a few milliseconds, with `p_k` spread over every phase (stream
/// segments and global steps alike), then resumes it. After every resume,
/// no temporary is left anywhere in the output directory and the output
/// equals an uninterrupted run byte for byte. `SLUICE_KILL_TRIALS` sets the
/// number of trials (default 6; the figure quoted in the README uses 30).
#[test]
fn a_run_killed_at_any_moment_resumes_to_the_same_output() {
    let trials: usize = std::env::var("SLUICE_KILL_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(6).max(2);
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in");
    make_dup_corpus(&input, 8, 300);
    let reference = d.path().join("reference");
    let recipe = write_recipe(&d.path().join("ref-recipe").tap_mkdir(), &global_recipe(&input, &reference));
    let started = Instant::now();
    run_ok(sluice().args(["run", "--progress", "off", "--tasks", "4"]).arg(&recipe));
    let reference_secs = started.elapsed().as_secs_f64();
    let want = output_files(&reference);
    assert!(temporaries(&reference).is_empty(), "{:?}", temporaries(&reference));
    assert!(want.keys().any(|k| k.starts_with("shards/train-")), "{:?}", want.keys());
    let phases = phase_table(&recipe, 4);
    assert!(phases.len() >= 6, "{phases:?}");

    let mut kills = 0;
    let mut killed_in: BTreeMap<String, usize> = BTreeMap::new();
    let mut left_by_kill = 0;
    let mut leftovers_after_resume = 0;
    for k in 0..trials {
        let target = k * (phases.len() - 1) / (trials - 1);
        let delay = Duration::from_millis(((k as u64 * 7919) % 7) * 3);
        let out = d.path().join(format!("killed-{k}"));
        let mut child = sluice()
            .args(["run", "--progress", "off", "--tasks", "4", "--output"])
            .arg(&out)
            .arg(&recipe)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut phase_at_kill = None;
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if out.join("_sluice/run.json").is_file() && running_phase(&out, &phases).is_none_or(|p| p >= target) {
                std::thread::sleep(delay);
                if child.try_wait().unwrap().is_none() {
                    child.kill().unwrap(); // SIGKILL
                    child.wait().unwrap();
                    kills += 1;
                    phase_at_kill = Some(running_phase(&out, &phases).map_or("(all done)".to_string(), |p| phases[p].0.clone()));
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        child.wait().unwrap();
        let left = temporaries(&out);
        if !left.is_empty() {
            left_by_kill += 1;
        }
        if let Some(p) = &phase_at_kill {
            *killed_in.entry(p.clone()).or_default() += 1;
        }
        run_ok(sluice().args(["run", "--progress", "off", "--tasks", "4", "--output"]).arg(&out).arg(&recipe));
        let after = temporaries(&out);
        if !after.is_empty() {
            leftovers_after_resume += 1;
        }
        assert!(after.is_empty(), "trial {k} (killed in {phase_at_kill:?}): temporaries left after the resume: {after:?}");
        let got = output_files(&out);
        assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "trial {k}");
        for (name, v) in &got {
            let same = if name.starts_with("reports/") && name.ends_with(".json") {
                without_timings(v) == without_timings(&want[name])
            } else {
                v == &want[name]
            };
            assert!(same, "trial {k} (killed in {phase_at_kill:?}): {name} differs after kill and resume");
        }
        std::fs::remove_dir_all(&out).unwrap();
    }
    eprintln!(
        "kill-and-resume: {trials} trials, {kills} kills, killed in {killed_in:?}; {left_by_kill} kills left temporaries, \
         {leftovers_after_resume} resumes left any; outputs identical; uninterrupted run {reference_secs:.1} s"
    );
    assert!(kills * 2 >= trials, "only {kills} of {trials} runs could be killed before they finished");
    let steps_killed: usize = killed_in.iter().filter(|(p, _)| p.contains('.')).map(|(_, n)| n).sum();
    assert!(steps_killed > 0, "no kill landed in a global stage's step: {killed_in:?}");
}

/// Issue 21, hole 1: a symbolic link planted inside the output directory
/// (here the writer folder `kept`, pointing at a colleague's directory)
/// redirected the re-run of an unfinished task: it deleted that task's
/// files there and wrote its shards there. The re-run now refuses, naming
/// the link, and the colleague's directory is untouched.
#[test]
fn a_link_planted_in_the_output_directory_is_refused_not_followed() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in");
    make_corpus(&input, 4, 300);
    let out = d.path().join("out");
    let recipe = write_recipe(d.path(), &corpus_recipe(&input, &out));
    run_ok(sluice().args(["run", "--progress", "off", "--tasks", "2"]).arg(&recipe));
    assert!(out.join("kept/00001-00000.jsonl.zst").is_file());

    let colleague = d.path().join("colleague");
    std::fs::create_dir_all(&colleague).unwrap();
    std::fs::write(colleague.join("00001-00000.jsonl.zst"), "a colleague's shard").unwrap();
    std::fs::write(colleague.join("thesis.tex"), "\\chapter{One}").unwrap();
    let before = output_files(&colleague);
    // As an interrupted run leaves it: task 1 has no marker.
    std::fs::remove_file(out.join("_sluice/tasks/00001.done")).unwrap();
    std::fs::remove_dir_all(out.join("kept")).unwrap();
    std::os::unix::fs::symlink(&colleague, out.join("kept")).unwrap();

    for extra in [&[][..], &["--task", "1"][..]] {
        let o = sluice().args(["run", "--progress", "off", "--tasks", "2"]).args(extra).arg(&recipe).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "the re-run followed the link:\n{err}");
        assert!(err.contains(&out.join("kept").display().to_string()) && err.contains("symbolic link"), "{err}");
        assert_eq!(output_files(&colleague), before, "the link's target changed");
    }
    // Removing the link lets the run finish.
    std::fs::remove_file(out.join("kept")).unwrap();
    run_ok(sluice().args(["run", "--progress", "off", "--tasks", "2"]).arg(&recipe));
    assert!(out.join("kept/00001-00000.jsonl.zst").is_file());
    assert_eq!(output_files(&colleague), before);
}

#[test]
fn shared_crawl_data_runs_and_counts_broken_records() {
    let data = data_dir();
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out");
    let recipe = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/shared-data.yaml");
    run_ok(sluice().args(["run", "--progress", "off", "--output"]).arg(&out).arg(&recipe).env("SLUICE_DATA", &data));
    let o = run_ok(sluice().args(["stats", "--json"]).arg(&out));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let node = |name: &str| v["nodes"].as_array().unwrap().iter().find(|n| n["name"] == name).unwrap().clone();
    let warc = node("warc");
    assert_eq!(warc["malformed"]["truncated"], 1, "{warc}");
    // 16 responses in the CC excerpt, 22 wget pages, 1 one-page crawl
    assert_eq!(warc["docs_out"], 39, "{warc}");
    assert_eq!(node("cc_jsonl")["docs_out"], 697);
    assert_eq!(node("wet")["docs_out"], 1);
    // The malformed record is logged with its file, offset and reason.
    let log = std::fs::read_to_string(out.join("_sluice/errors/00000-errors.jsonl")).unwrap();
    assert!(log.contains("truncated.warc.gz") && log.contains("\"offset\"") && log.contains("Content-Length"), "{log}");
    // Dropped documents keep their reason.
    let excluded = jsonl_docs(&out.join("excluded/length"));
    assert!(!excluded.is_empty());
    assert!(excluded.iter().all(|(_, l)| l.contains("\"drop_reason\":\"too_few_chars\"")));

    // --strict turns the first malformed record into a failure naming it.
    let strict = sluice()
        .args(["run", "--strict", "--progress", "off", "--output"])
        .arg(d.path().join("strict"))
        .arg(&recipe)
        .env("SLUICE_DATA", &data)
        .output()
        .unwrap();
    assert!(!strict.status.success());
    let err = String::from_utf8_lossy(&strict.stderr);
    assert!(err.contains("truncated.warc.gz") && err.contains("byte offset 0"), "{err}");
}

#[test]
fn rerunning_a_finished_run_does_nothing_and_other_recipes_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in");
    make_corpus(&input, 2, 50);
    let out = d.path().join("out");
    let recipe = write_recipe(d.path(), &corpus_recipe(&input, &out));
    run_ok(sluice().args(["run", "--progress", "off"]).arg(&recipe));
    let before = output_files(&out);
    let o = run_ok(sluice().args(["run", "--progress", "off"]).arg(&recipe));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already complete"));
    assert_eq!(output_files(&out), before);

    let other = corpus_recipe(&input, &out).replace("min_chars: 200", "min_chars: 300");
    let recipe2 = write_recipe(d.path(), &other);
    let o = sluice().args(["run", "--progress", "off"]).arg(&recipe2).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("different recipe"));
}

#[test]
fn kinds_reference_documents_every_option() {
    let o = run_ok(sluice().args(["kinds"]));
    let text = String::from_utf8(o.stdout).unwrap();
    for k in ["jsonl", "parquet", "warc", "wet", "text", "length"] {
        assert!(text.contains(k), "{text}");
    }
    let o = run_ok(sluice().args(["kinds", "length"]));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("min_chars") && text.contains("Drop documents with fewer characters"), "{text}");
}

#[test]
fn help_documents_every_run_flag() {
    let o = run_ok(sluice().args(["run", "--help"]));
    let text = String::from_utf8(o.stdout).unwrap();
    for flag in ["--task", "--tasks", "--threads", "--strict", "--output", "--progress"] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
}

/// Is a Slurm cluster reachable (`.ci/slurm-setup.sh` starts one)? Under
/// `SLUICE_REQUIRE_SLURM=1` (set by `.ci/run`) its absence is a failure.
fn slurm_available() -> bool {
    let up = Command::new("sinfo").args(["--noheader", "--format=%T"]).output().is_ok_and(|o| {
        o.status.success() && String::from_utf8_lossy(&o.stdout).lines().any(|l| ["idle", "mixed", "allocated"].contains(&l.trim()))
    });
    if !up && std::env::var("SLUICE_REQUIRE_SLURM").is_ok_and(|v| v == "1") {
        panic!("SLUICE_REQUIRE_SLURM=1 but no Slurm node is up (run .ci/slurm-setup.sh)");
    }
    if !up {
        eprintln!("skipping: no Slurm cluster (run .ci/slurm-setup.sh, or set SLUICE_REQUIRE_SLURM=1 to make this a failure)");
    }
    up
}

fn status_json(out: &Path) -> serde_json::Value {
    // 0: complete, 3: jobs queued or running, 4: unfinished and idle.
    let o = sluice().arg("status").arg("--json").arg(out).output().unwrap();
    assert!(matches!(o.status.code(), Some(0 | 3 | 4)), "sluice status failed: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn wait_for_queue(out: &Path) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let s = status_json(out);
        let busy: u64 =
            s["phases"].as_array().unwrap().iter().map(|p| p["running"].as_u64().unwrap() + p["queued"].as_u64().unwrap()).sum();
        if busy == 0 {
            return s;
        }
        assert!(started.elapsed().as_secs() < 600, "Slurm jobs still queued after 10 min: {s}");
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

#[test]
fn slurm_array_jobs_match_the_local_run_and_recover_from_a_cancelled_task() {
    if !slurm_available() {
        return;
    }
    let data = data_dir();
    let d = tempfile::tempdir().unwrap();
    let recipe = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/recipes/slurm.yaml");
    let (local, cluster) = (d.path().join("local"), d.path().join("slurm"));
    let t0 = Instant::now();
    run_ok(sluice().args(["run", "--progress", "off", "--tasks", "4", "--output"]).arg(&local).arg(&recipe).env("SLUICE_DATA", &data));
    let local_secs = t0.elapsed().as_secs_f64();

    // Submit everything on hold, cancel one array element of the first
    // phase, release the rest: the run ends incomplete.
    let t0 = Instant::now();
    let submit = |extra: &[&str]| {
        let mut c = sluice();
        c.args(["run", "--executor", "slurm", "--tasks", "4", "--cpus-per-task", "1", "--output"]).arg(&cluster).arg(&recipe);
        c.args(extra).env("SLUICE_DATA", &data).current_dir(env!("CARGO_MANIFEST_DIR"));
        c
    };
    run_ok(&mut submit(&["--sbatch=--hold"]));
    let jobs: serde_json::Value = serde_json::from_slice(&std::fs::read(cluster.join("_sluice/slurm/jobs.json")).unwrap()).unwrap();
    let ids: Vec<String> = jobs["submissions"][0].as_array().unwrap().iter().map(|j| j["job"].as_str().unwrap().to_string()).collect();
    assert_eq!(jobs["submissions"][0][0]["phase"], "s0");
    run_ok(Command::new("scancel").arg(format!("{}_3", ids[0])));
    run_ok(Command::new("scontrol").arg("release").arg(ids.join(",")));
    let s = wait_for_queue(&cluster);
    let s0 = &s["phases"][0];
    assert_eq!((s0["done"].as_u64(), s0["failed"].as_u64()), (Some(3), Some(1)), "{s}");
    // the later phases (dedup buckets, clusters, filter) were cancelled with it
    let later: u64 = s["phases"].as_array().unwrap()[1..].iter().map(|p| p["failed"].as_u64().unwrap()).sum();
    assert!(later > 0 && s["phases"].as_array().unwrap().len() == 4, "{s}");
    assert!(!cluster.join("stats.json").exists(), "an incomplete run has no merged stats");

    // The same command again submits only what is missing.
    let o = run_ok(&mut submit(&["--wait"]));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("phase s0 (1 unit(s))") && text.contains("run complete"), "{text}");
    let cluster_secs = t0.elapsed().as_secs_f64();
    eprintln!("local executor: {local_secs:.1} s; slurm executor (with a cancelled task and a re-submission): {cluster_secs:.1} s");

    let (a, b) = (output_files(&local), output_files(&cluster));
    assert!(!a.is_empty());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, v) in &a {
        assert!(v == &b[k], "{k} differs between the local and the Slurm run");
    }
}

/// Issue 6 end to end: tokenizer training, tokenization, a token-weighted
/// mix and packing into shards, byte-identical whatever --tasks/--threads.
#[test]
fn tokens_recipe_gives_identical_shards_whatever_the_task_split() {
    let data = data_dir();
    let d = tempfile::tempdir().unwrap();
    let recipe = |out: &Path| {
        r#"seed: 5
output: OUT
readers:
  web:
    kind: jsonl
    paths: ["DATA/web"]
  zh:
    kind: text
    paths: ["DATA/reference/zh"]
stages:
  tok:
    kind: tokenizer_train
    inputs: [web, zh]
    vocab_size: 1000
    sample_bytes_per_source: 300KB
    tokenize: true
  mix:
    kind: mix
    inputs: [tok]
    target_tokens: 300000
    sources: {web: {weight: 0.7}, zh: {weight: 0.3}}
  shards:
    kind: pack
    inputs: [mix]
    tokenizer_from: tok
    seq_len: 128
    val_fraction: 0.05
    shard_tokens: 50000
writers:
  docs:
    kind: jsonl
    inputs: [shards]
"#
        .replace("OUT", &out.display().to_string())
        .replace("DATA", &data.display().to_string())
    };
    let a = d.path().join("a");
    let b = d.path().join("b");
    let ra = write_recipe(&d.path().join("ra").tap_mkdir(), &recipe(&a));
    let rb = write_recipe(&d.path().join("rb").tap_mkdir(), &recipe(&b));
    run_ok(sluice().args(["run", "--progress", "off", "--tasks", "1", "--threads", "1"]).arg(&ra));
    run_ok(sluice().args(["run", "--progress", "off", "--tasks", "3", "--threads", "2"]).arg(&rb));
    let pick = |root: &Path| -> BTreeMap<String, Vec<u8>> {
        output_files(root)
            .into_iter()
            .filter(|(k, _)| {
                k.starts_with("shards/") || k.starts_with("reports/mix/") || k.starts_with("reports/shards/") || k == "tok/tokenizer.json"
            })
            .collect()
    };
    let (fa, fb) = (pick(&a), pick(&b));
    assert!(fa.keys().filter(|k| k.ends_with(".bin")).count() >= 2, "{:?}", fa.keys());
    assert_eq!(fa, fb);
    let mix: serde_json::Value = serde_json::from_slice(&fa["reports/mix/mix.json"]).unwrap();
    for s in mix["sources"].as_array().unwrap() {
        assert_eq!(s["requested_tokens"], s["achieved_tokens"], "{s}");
    }
    let o = run_ok(sluice().args(["inspect", "--count", "50"]).arg(a.join("shards/train-00000.bin")));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("llm.c header ok") && text.contains("sha256 match") && text.contains("--- decoded ---"), "{text}");
}

trait TapMkdir {
    fn tap_mkdir(self) -> Self;
}

impl TapMkdir for PathBuf {
    fn tap_mkdir(self) -> Self {
        std::fs::create_dir_all(&self).unwrap();
        self
    }
}

/// A corpus for the dedup stages: unique documents, exact copies (case and
/// punctuation changed) and near copies (one word in ~100 changed), across
/// files, so the first copy of a cluster is often in another task's file.
fn make_dup_corpus(dir: &Path, files: usize, per_file: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = 0x2545F4914F6CDD1Du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let word = |i: u64| -> String { (0..3).map(|k| (b'a' + ((i >> (5 * k)) % 26) as u8) as char).collect::<String>() + "x" };
    let mut texts: Vec<String> = Vec::new();
    for f in 0..files {
        let mut out = String::new();
        for i in 0..per_file {
            let r = next() % 10;
            let text = if r < 2 && !texts.is_empty() {
                let base = texts[(next() as usize) % texts.len()].clone();
                base.split(' ').map(|w| if next() % 100 == 0 { word(next()) } else { w.to_string() }).collect::<Vec<_>>().join(" ")
            } else if r < 3 && !texts.is_empty() {
                format!("{}!!", texts[(next() as usize) % texts.len()].to_uppercase())
            } else {
                (0..120).map(|_| word(next())).collect::<Vec<_>>().join(" ")
            };
            texts.push(text.clone());
            out.push_str(&serde_json::json!({"id": format!("f{f}-d{i}"), "text": text}).to_string());
            out.push('\n');
        }
        std::fs::write(dir.join(format!("part-{f:03}.jsonl")), out).unwrap();
    }
}

/// Run every phase of `recipe` with `tasks` processes per phase (one per
/// unit), the way a Slurm array would.
fn run_phases_as_processes(recipe: &Path, out: &Path, tasks: usize) {
    let o = run_ok(sluice().args(["phases", "--tasks", &tasks.to_string()]).arg(recipe));
    let table = String::from_utf8(o.stdout).unwrap();
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (key, units): (&str, usize) = (f[1], f[2].parse().unwrap());
        let children: Vec<_> = (0..units)
            .map(|u| {
                sluice()
                    .args([
                        "run",
                        "--progress",
                        "off",
                        "--threads",
                        "1",
                        "--tasks",
                        &tasks.to_string(),
                        "--phase",
                        key,
                        "--task",
                        &u.to_string(),
                        "--output",
                    ])
                    .arg(out)
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
}

#[test]
fn dedup_stages_remove_the_same_documents_whatever_the_tasks_and_threads() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in");
    make_dup_corpus(&input, 6, 120);
    let recipe_for = |out: &Path| {
        format!(
            "seed: 5\noutput: {}\nbatch_size: 32\nreaders:\n  corpus: {{kind: jsonl, paths: [{}]}}\nstages:\n  exact: {{kind: exact_dedup, inputs: [corpus], exclusions: true, partitions: 3}}\n  minhash: {{kind: minhash_dedup, inputs: [exact], exclusions: true, band_groups: 4}}\n  lines: {{kind: line_dedup, inputs: [minhash], unit: paragraph}}\nwriters:\n  kept: {{kind: jsonl, inputs: [lines]}}\n",
            out.display(),
            input.display()
        )
    };
    let ids = |dir: &Path| {
        let mut v: Vec<String> = jsonl_docs(dir).into_iter().map(|x| x.0).collect();
        v.sort();
        v
    };
    let mut runs = Vec::new();
    for (name, tasks, threads) in [("t1", 1, 1), ("t1x2", 1, 2), ("t4x2", 4, 2)] {
        let out = d.path().join(name);
        let dir = d.path().join(format!("{name}-recipe"));
        std::fs::create_dir_all(&dir).unwrap();
        let recipe = write_recipe(&dir, &recipe_for(&out));
        run_ok(sluice().args(["run", "--progress", "off", "--tasks", &tasks.to_string(), "--threads", &threads.to_string()]).arg(&recipe));
        runs.push(out);
    }
    // 4 processes per phase
    let out = d.path().join("procs");
    let dir = d.path().join("procs-recipe");
    std::fs::create_dir_all(&dir).unwrap();
    let recipe = write_recipe(&dir, &recipe_for(&out));
    run_phases_as_processes(&recipe, &out, 4);
    runs.push(out);

    let base = &runs[0];
    let exact = ids(&base.join("excluded/exact"));
    let minhash = ids(&base.join("excluded/minhash"));
    assert!(exact.len() > 40 && minhash.len() > 80, "exact {} minhash {}", exact.len(), minhash.len());
    let mut kept = jsonl_docs(&base.join("kept"));
    kept.sort();
    for other in &runs[1..] {
        assert_eq!(ids(&other.join("excluded/exact")), exact, "{}", other.display());
        assert_eq!(ids(&other.join("excluded/minhash")), minhash, "{}", other.display());
        let mut k = jsonl_docs(&other.join("kept"));
        k.sort();
        assert_eq!(k, kept, "{}", other.display());
        for node in ["exact", "minhash", "lines"] {
            let r = |o: &Path| std::fs::read(o.join(format!("reports/{node}/clusters.json"))).unwrap();
            assert_eq!(r(other), r(base), "{node} report differs in {}", other.display());
        }
    }
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(base.join("reports/minhash/clusters.json")).unwrap()).unwrap();
    assert_eq!(report["kind"], "dedup_clusters");
    assert_eq!(report["removed"].as_u64().unwrap() as usize, minhash.len());
}

/// `recipes/dclm.yaml` as shipped, on the shared data, with the output at `out`.
fn run_dclm(out: &Path, tasks: &str, threads: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    run_ok(
        sluice()
            .current_dir(root)
            .env("OUT", out)
            .env("SLUICE_DATA", data_dir())
            .args(["run", "--progress", "off", "--tasks", tasks, "--threads", threads])
            .arg(root.join("recipes/dclm.yaml")),
    );
}

#[test]
fn dclm_recipe_trains_scores_and_keeps_the_same_documents_whatever_tasks_and_threads() {
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    run_dclm(&a, "1", "1");
    run_dclm(&b, "3", "2");
    // the model and the scoring report are byte-identical
    let pick = |root: &Path| -> BTreeMap<String, Vec<u8>> {
        output_files(root).into_iter().filter(|(k, _)| k.starts_with("quality_model/") || k == "reports/quality/classifier.json").collect()
    };
    let (fa, fb) = (pick(&a), pick(&b));
    assert!(fa.contains_key("quality_model/model.bin") && fa.contains_key("reports/quality/classifier.json"), "{:?}", fa.keys());
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (k, v) in &fa {
        assert!(&fb[k] == v, "{k} differs between --tasks 1 --threads 1 and --tasks 3 --threads 2");
    }
    // and so are the documents kept, dropped by the score, and kept by the heuristics alone
    for dir in ["kept", "excluded/quality", "heuristics_only"] {
        let docs = |root: &Path| {
            let mut v: Vec<String> = jsonl_docs(&root.join(dir)).into_iter().map(|(_, line)| line).collect();
            v.sort();
            v
        };
        assert_eq!(docs(&a), docs(&b), "{dir} differs between --tasks 1 --threads 1 and --tasks 3 --threads 2");
    }
    // the training report matches too, but for its timing
    let train = |root: &Path| {
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(root.join("reports/quality_model/classifier_train.json")).unwrap()).unwrap();
        v.as_object_mut().unwrap().remove("train_seconds");
        v.as_object_mut().unwrap().remove("train");
        v
    };
    let ta = train(&a);
    assert_eq!(ta, train(&b));
    // the classifier separates reference text from crawl on held-out documents
    let auc = ta["heldout"]["positive"]["roc_auc"].as_f64().unwrap();
    assert!(auc > 0.9, "held-out ROC AUC {auc}: {ta}");
    // the top 10% of what passed the heuristics is kept, the rest excluded with its reason
    let rep: serde_json::Value = serde_json::from_slice(&fa["reports/quality/classifier.json"]).unwrap();
    let (n, kept) = (rep["documents"].as_u64().unwrap(), rep["kept"].as_u64().unwrap());
    assert!(n > 100 && kept >= n / 10 && kept <= n / 10 + 3, "{n} scored, {kept} kept");
    assert_eq!(jsonl_docs(&a.join("kept")).len() as u64, kept);
    assert_eq!(jsonl_docs(&a.join("heuristics_only")).len() as u64, n);
    let dropped = jsonl_docs(&a.join("excluded/quality"));
    assert_eq!(dropped.len() as u64, n - kept);
    assert!(!rep["examples"]["kept"].as_array().unwrap().is_empty() && !rep["examples"]["dropped"].as_array().unwrap().is_empty());
    // the report renders the classifier section
    run_ok(sluice().arg("report").arg(&a));
    let html = std::fs::read_to_string(a.join("report.html")).unwrap();
    assert!(html.contains("Classifiers") && html.contains("Dropped by the score") && html.contains("ROC AUC"), "no classifier section");
}

#[test]
fn a_numeric_field_trains_a_score_that_a_later_stage_applies() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let words = [
        "lol click here buy now",
        "news today sports weather",
        "the theorem follows from the lemma",
        "proof by induction on the derivation",
    ];
    let mut lines = String::new();
    for i in 0..400 {
        let edu = i % 4;
        let text = format!("{} {} and {}\nsecond line {}", words[edu], i, words[edu], words[edu]);
        lines.push_str(&serde_json::json!({"id": i.to_string(), "text": text, "edu": edu as f64 + 0.2}).to_string());
        lines.push('\n');
    }
    std::fs::write(input.join("a.jsonl"), lines).unwrap();
    let out = d.path().join("out");
    let recipe = format!(
        r#"seed: 3
output: {out}
readers:
  web: {{kind: jsonl, paths: ["{input}"]}}
stages:
  edu_model:
    kind: classifier_train
    inputs: [web]
    labels: {{field: {{name: edu, numeric: true}}}}
    preprocess: {{lowercase: true, newlines: eos}}
    dim: 16
    bucket: 0
    epoch: 10
    lr: 0.5
  edu:
    kind: classifier
    inputs: [edu_model]
    model_from: edu_model
    min_score: 1.5
    exclusions: true
writers:
  kept: {{kind: jsonl, inputs: [edu]}}
"#,
        out = out.display(),
        input = input.display()
    );
    let r = write_recipe(d.path(), &recipe);
    run_ok(sluice().args(["run", "--progress", "off"]).arg(&r));
    let rep: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("reports/edu_model/classifier_train.json")).unwrap()).unwrap();
    assert_eq!(rep["labels"].as_array().unwrap().len(), 4, "{rep}");
    assert!(rep["heldout"]["expected_value_mae"].as_f64().unwrap() < 0.5, "{rep}");
    let card: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("edu_model/model.json")).unwrap()).unwrap();
    assert_eq!(card["numeric"], true);
    // documents annotated 2 and 3 are kept, with their expected-value score
    let kept = jsonl_docs(&out.join("kept"));
    assert!((180..=220).contains(&kept.len()), "{} kept", kept.len());
    for (_, line) in &kept {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["metadata"]["edu"].as_f64().unwrap() >= 2.0 && v["attributes"]["edu_score"].as_f64().unwrap() >= 1.5, "{line}");
    }
    assert_eq!(jsonl_docs(&out.join("excluded/edu")).len() + kept.len(), 400);
    // the threshold is a signal rule on the stage's own attribute: --what-if re-evaluates it
    let o = run_ok(sluice().args(["stats", "--what-if", "edu.min_score=2.5", "--json"]).arg(&out));
    let w: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let text = w.to_string();
    assert!(text.contains("edu_score") && text.contains("classifier_low_score"), "{text}");
}

/// Issue 17, acceptance 3 (decontamination): benchmarks that sluice has no
/// code for are decontaminated from their specs only, and hits are reported
/// under each benchmark's own name. A CMMLU-layout CSV (`,Question,A,B,C,D,Answer`,
/// filled with real Chinese exam questions from C-Eval's val split) and a
/// private JSONL quiz in a made-up layout are planted into real documents.
#[test]
fn benchmarks_given_by_spec_are_decontaminated_under_their_own_names() {
    let data = data_dir();
    let d = tempfile::tempdir().unwrap();
    let eval = d.path().join("eval");
    let csv_field = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    // CMMLU layout from C-Eval's val questions
    let ceval = std::fs::read_to_string(data.join("eval/ceval/val/accountant_val.csv")).unwrap();
    let rows = sluice_safety::benchmark::csv_records(&ceval);
    assert_eq!(rows[0].1, ["id", "question", "A", "B", "C", "D", "answer"]);
    let mut cmmlu = String::from(",Question,A,B,C,D,Answer\n");
    let mut planted_cmmlu = Vec::new();
    for (_, r) in rows.iter().skip(1).take(20) {
        cmmlu.push_str(&format!("{},{}\n", r[0], r[1..].iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",")));
        let gold = (r[6].as_bytes()[0] - b'A') as usize;
        planted_cmmlu.push(format!("{} {}", r[1], r[2 + gold]));
    }
    std::fs::create_dir_all(eval.join("cmmlu/test")).unwrap();
    std::fs::create_dir_all(eval.join("cmmlu/dev")).unwrap();
    std::fs::write(eval.join("cmmlu/test/accountant.csv"), &cmmlu).unwrap();
    std::fs::write(eval.join("cmmlu/dev/accountant.csv"), ",Question,A,B,C,D,Answer\n0,短题,一,二,三,四,A\n").unwrap();
    // a private quiz: {"stem", "options": [...], "key": letter}
    let quiz = [
        (
            "Which instrument did the fictional composer Ilse Marrow play at the 1911 Lisbon harbour festival according to the archive?",
            ["viola", "oboe", "harp"],
            "C",
        ),
        (
            "How many lanterns were hung along the old Varnholt bridge on the night the river froze in the winter of 1887?",
            ["forty", "sixty", "ninety"],
            "A",
        ),
    ];
    std::fs::create_dir_all(eval.join("private")).unwrap();
    let quiz_lines: String =
        quiz.iter().map(|(q, o, k)| serde_json::json!({"stem": q, "options": o, "key": k}).to_string() + "\n").collect();
    std::fs::write(eval.join("private/quiz.jsonl"), &quiz_lines).unwrap();

    // real documents: pairs of English Wikipedia paragraphs (WikiText-2);
    // plants go between the two
    let wiki = std::fs::read_to_string(data.join("reference/en/wiki.test.raw")).unwrap();
    let paras: Vec<&str> = wiki.lines().map(str::trim).filter(|l| !l.starts_with('=') && l.len() > 300).take(120).collect();
    assert_eq!(paras.len(), 120);
    let mut lines = String::new();
    let mut want = BTreeMap::new();
    for i in 0..60 {
        let mut text = format!("{}\n{}", paras[2 * i], paras[2 * i + 1]);
        let plant = match i % 10 {
            3 => Some((planted_cmmlu[i / 10].clone(), "contaminated_cmmlu")),
            7 => Some((
                format!("{} {}", quiz[i / 10 % 2].0, quiz[i / 10 % 2].1[(quiz[i / 10 % 2].2.as_bytes()[0] - b'A') as usize]),
                "contaminated_quiz",
            )),
            _ => None,
        };
        if let Some((p, reason)) = plant {
            let at = text.find('\n').map_or(text.len(), |k| k + 1);
            text.insert_str(at, &format!("{p}\n"));
            want.insert(format!("d{i}"), reason);
        }
        lines.push_str(&(serde_json::json!({"id": format!("d{i}"), "text": text}).to_string() + "\n"));
    }
    let input = d.path().join("in.jsonl");
    std::fs::write(&input, lines).unwrap();
    let out = d.path().join("out");
    let recipe = |benchmarks: &str| {
        format!(
            "seed: 1\noutput: {}\nreaders:\n  web: {{kind: jsonl, paths: [{}]}}\nstages:\n  decontam:\n    kind: decontaminate\n    inputs: [web]\n    eval_dir: {}\n    exclusions: true\n    benchmarks:\n{benchmarks}writers:\n  kept: {{kind: jsonl, inputs: [decontam]}}\n",
            out.display(),
            input.display(),
            eval.display()
        )
    };
    let quiz_spec = "      - name: quiz\n        format: jsonl\n        files: [private/quiz.jsonl]\n        question: stem\n        choices: options\n        answer: key\n        answer_type: letter\n";
    let r = write_recipe(d.path(), &recipe(&format!("      - cmmlu\n{quiz_spec}")));
    run_ok(sluice().args(["validate"]).arg(&r));
    run_ok(sluice().args(["run", "--progress", "off"]).arg(&r));
    let excluded = jsonl_docs(&out.join("excluded/decontam"));
    let got: BTreeMap<String, String> = excluded
        .iter()
        .map(|(id, l)| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let reason = v["metadata"]["drop_reason"].as_str().unwrap().to_string();
            let b = reason.trim_start_matches("contaminated_");
            assert!(v["attributes"][format!("contam_{b}")].as_f64().unwrap() >= 1.0, "{l}");
            (id.clone(), reason)
        })
        .collect();
    let want: BTreeMap<String, String> = want.into_iter().map(|(k, v)| (k, v.to_string())).collect();
    assert_eq!(got, want);
    assert_eq!(jsonl_docs(&out.join("kept")).len() + excluded.len(), 60);
    let stats = String::from_utf8(run_ok(sluice().args(["stats", "--json"]).arg(&out)).stdout).unwrap();
    assert!(stats.contains("contaminated_cmmlu") && stats.contains("contaminated_quiz") && stats.contains("contam_docs_quiz"), "{stats}");

    // Strict specs: the C-Eval spec on CMMLU's capitalised header names the
    // file, the header line and the field; an unknown key and a field the
    // data lacks are refused the same way.
    let ceval_on_cmmlu = "      - name: ceval_slot\n        format: csv\n        files: [\"cmmlu/test/*.csv\"]\n        question: question\n        choices: [A, B, C, D]\n        answer: answer\n        answer_type: letter\n";
    for (spec, wants) in [
        (ceval_on_cmmlu.to_string(), vec!["accountant.csv: line 1 (header): no field `question`", "ignore_header_case"]),
        (quiz_spec.replace("answer_type: letter", "answer_typ: letter"), vec!["unknown field `answer_typ`"]),
        (quiz_spec.replace("answer: key", "answer: solution"), vec!["private/quiz.jsonl: line 1: no field `solution`"]),
        ("      - cmmlu\n      - cmmlu\n".to_string(), vec!["stages.decontam.benchmarks[1]", "named twice"]),
    ] {
        let r = write_recipe(d.path(), &recipe(&spec));
        let o = sluice().args(["validate"]).arg(&r).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(!o.status.success(), "{spec}: {text}");
        for w in wants {
            assert!(text.contains(w), "{spec}: want {w:?} in {text}");
        }
    }
}

/// Issue 17: one spec serves decontamination and eval. The `train:`
/// section's eval may name a benchmark that a `decontaminate` stage gives by
/// spec, or give specs of its own; `validate` checks them all before any
/// data is read.
#[test]
fn train_eval_names_a_decontaminate_spec_and_validate_checks_eval_specs() {
    let d = tempfile::tempdir().unwrap();
    let eval = d.path().join("eval");
    std::fs::create_dir_all(eval.join("private")).unwrap();
    std::fs::write(
        eval.join("private/quiz.jsonl"),
        "{\"stem\": \"Which instrument did the fictional composer Ilse Marrow play in Lisbon in 1911?\", \"options\": [\"viola\", \"harp\"], \"key\": \"B\"}\n",
    )
    .unwrap();
    let input = d.path().join("in.jsonl");
    std::fs::write(&input, "{\"id\": \"1\", \"text\": \"some text\"}\n").unwrap();
    let recipe = |eval_section: &str| {
        format!(
            "seed: 1\noutput: {out}\nreaders:\n  web: {{kind: jsonl, paths: [{input}]}}\nstages:\n  decontam:\n    kind: decontaminate\n    inputs: [web]\n    eval_dir: {eval}\n    benchmarks:\n      - name: quiz\n        format: jsonl\n        files: [private/quiz.jsonl]\n        question: stem\n        choices: options\n        answer: key\n        answer_type: letter\n  tok: {{kind: tokenizer_train, inputs: [decontam], vocab_size: 300, tokenize: true}}\n  shards: {{kind: pack, inputs: [tok], tokenizer_from: tok}}\nwriters:\n  kept: {{kind: jsonl, inputs: [shards]}}\ntrain:\n  shards: shards\n  preset: tiny\n  steps: 2\n  eval:\n{eval_section}",
            out = d.path().join("out").display(),
            input = input.display(),
            eval = eval.display()
        )
    };
    let inline = "      - {name: quiz2, format: jsonl, files: [private/quiz.jsonl], question: stem, choices: options, answer: key, answer_type: letter}\n";
    let ok = write_recipe(d.path(), &recipe(&format!("    tasks: [quiz, quiz2, hellaswag]\n    benchmarks:\n{inline}")));
    let o = sluice().arg("validate").arg(&ok).output().unwrap();
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    for (section, wants) in [
        ("    tasks: [quiz, nope]\n".to_string(), vec!["train.eval: unknown task \"nope\""]),
        (format!("    tasks: [quiz]\n    benchmarks:\n{inline}"), vec!["`quiz2` is given but --tasks does not name it"]),
        (
            format!("    benchmarks:\n{}", inline.replace("answer_type: letter", "answer_type: letters")),
            vec!["train.eval.benchmarks[0]", "letters"],
        ),
        (
            format!("    benchmarks:\n{}", inline.replace("question: stem", "question: stem, prompt: '{context}'")),
            vec!["train.eval.benchmarks[0].prompt", "no `context` field"],
        ),
    ] {
        let r = write_recipe(d.path(), &recipe(&section));
        let o = sluice().arg("validate").arg(&r).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(!o.status.success(), "{section}: {text}");
        for w in wants {
            assert!(text.contains(w), "{section}: want {w:?} in {text}");
        }
    }
}
