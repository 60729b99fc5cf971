//! Issue 17's rough edges, as a new user met them: a run that cannot be
//! continued and `--restart`, `steps: 0`, the `train:` section at `validate`
//! time, file modes and the umask, a closed stdout, `inspect`'s slice and the
//! README's command reference.

use std::os::fd::FromRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::{corpus_recipe, data_dir, make_corpus, output_files, run_ok, sluice, write_recipe};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Every entry under `root`, relative, sorted.
fn tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if p.symlink_metadata().unwrap().is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The outputs under `a` and `b` are the same files with the same bytes.
#[track_caller]
fn same_files(a: &Path, b: &Path) {
    let (fa, fb) = (output_files(a), output_files(b));
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (k, v) in &fa {
        assert!(v == &fb[k], "{k} differs between {} and {}", a.display(), b.display());
    }
}

/// Run `cmd` with umask `mask` (set in the child only).
fn with_umask(cmd: &mut Command, mask: u32) -> &mut Command {
    // SAFETY: `umask` is async-signal-safe and touches nothing shared with
    // the parent.
    unsafe {
        cmd.pre_exec(move || {
            libc::umask(mask as libc::mode_t);
            Ok(())
        })
    }
}

/// The permission bits of every regular file and folder under `root`.
fn modes(root: &Path) -> Vec<(String, u32, bool)> {
    tree(root)
        .into_iter()
        .map(|rel| {
            let m = std::fs::symlink_metadata(root.join(&rel)).unwrap();
            (rel, m.permissions().mode() & 0o777, m.is_dir())
        })
        .collect()
}

/// Issue 17: after the quickstart's inputs changed, re-running it failed
/// with "use a new output directory", naming neither `--output` nor a way
/// to start over. The error now names the recipe and both ways out, and
/// `--restart` starts the directory over, deleting only what sluice wrote.
#[test]
fn restart_starts_a_run_over_and_deletes_only_what_sluice_wrote() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in");
    make_corpus(&input, 2, 60);
    let out = d.path().join("out");
    // `output:` from a variable, as the quickstart's `${SLUICE_OUT:-...}`.
    let text =
        corpus_recipe(&input, &out).replace(&format!("output: {}", out.display()), &format!("output: ${{EDGES_OUT:-{}}}", out.display()));
    let recipe = write_recipe(d.path(), &text);
    let run = || {
        let mut c = sluice();
        c.args(["run", "--progress", "off"]).arg(&recipe).env_remove("EDGES_OUT");
        c
    };
    run_ok(&mut run());
    let fresh = output_files(&out);

    // The inputs change: the run cannot be continued.
    make_corpus(&input.join("more"), 1, 10);
    let o = run().output().unwrap();
    assert!(!o.status.success());
    let e = stderr(&o);
    for want in [&format!("recipe {}", recipe.display()), "input files changed", "--restart", "--output DIR", "or set EDGES_OUT=DIR"] {
        assert!(e.contains(want), "{want:?} missing from: {e}");
    }

    // Something sluice did not write is in the way: nothing is removed.
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let before = tree(&out);
    let o = run().arg("--restart").output().unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("notes.txt") && stderr(&o).contains("nothing was removed"), "{}", stderr(&o));
    assert_eq!(tree(&out), before);
    std::fs::remove_file(out.join("notes.txt")).unwrap();

    // A link planted in a folder of sluice's goes, not what it points to.
    let precious = d.path().join("precious");
    std::fs::create_dir_all(&precious).unwrap();
    std::fs::write(precious.join("keep.txt"), "keep").unwrap();
    std::os::unix::fs::symlink(&precious, out.join("kept/planted")).unwrap();
    std::os::unix::fs::symlink(precious.join("keep.txt"), out.join("excluded/planted.txt")).unwrap();
    // --restart is for the whole run, not one task of it.
    let o = run().args(["--restart", "--task", "0"]).output().unwrap();
    assert!(!o.status.success() && stderr(&o).contains("--restart"), "{}", stderr(&o));

    let o = run_ok(run().arg("--restart"));
    assert!(stderr(&o).contains("--restart: removed"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(precious.join("keep.txt")).unwrap(), "keep");
    assert!(!out.join("kept/planted").exists());
    // The same result as a first run on the new inputs.
    let other = d.path().join("other");
    run_ok(sluice().args(["run", "--progress", "off", "--output"]).arg(&other).arg(&recipe));
    same_files(&out, &other);
    assert_ne!(output_files(&out), fresh);

    // A changed recipe (a writer renamed): --restart also removes what the
    // earlier recipe wrote (recorded in _sluice/outputs.json).
    std::fs::create_dir_all(d.path().join("renamed")).unwrap();
    let renamed = write_recipe(&d.path().join("renamed"), &text.replace("  kept:", "  kept2:"));
    let o = sluice().args(["run", "--progress", "off"]).arg(&renamed).output().unwrap();
    assert!(!o.status.success() && stderr(&o).contains("different recipe") && stderr(&o).contains("--restart"), "{}", stderr(&o));
    run_ok(sluice().args(["run", "--progress", "off", "--restart"]).arg(&renamed));
    assert!(!out.join("kept").exists() && out.join("kept2").is_dir());

    // A directory that is not sluice's is refused and left alone; an empty
    // or missing one is fine.
    let foreign = d.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("data.txt"), "x").unwrap();
    let o = sluice().args(["run", "--progress", "off", "--restart", "--output"]).arg(&foreign).arg(&recipe).output().unwrap();
    assert!(!o.status.success() && stderr(&o).contains("not a sluice output directory"), "{}", stderr(&o));
    assert_eq!(tree(&foreign), vec!["data.txt"]);
    let empty = d.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    run_ok(sluice().args(["run", "--progress", "off", "--restart", "--output"]).arg(&empty).arg(&recipe));
    same_files(&empty, &other);

    let help = stdout(&run_ok(sluice().args(["run", "--help"])));
    assert!(help.contains("--restart") && help.contains("Start the output directory over"), "{help}");
}

/// A recipe that tokenizes the shared web sample into llm.c shards and
/// trains on them.
fn train_recipe(out: &Path, train: &str) -> String {
    format!(
        r#"seed: 7
output: {}
readers:
  web: {{kind: jsonl, paths: ["{}/web"]}}
stages:
  tok: {{kind: tokenizer_train, inputs: [web], vocab_size: 300, sample_bytes_per_source: 200KB, tokenize: true}}
  shards: {{kind: pack, inputs: [tok], tokenizer_from: tok, seq_len: 64, val_fraction: 0.05, shard_tokens: 2000000}}
writers:
  docs: {{kind: jsonl, inputs: [shards]}}
  table: {{kind: parquet, inputs: [shards]}}
train:
{train}"#,
        out.display(),
        data_dir().display()
    )
}

/// Issue 17: `QUICKSTART_TRAIN_STEPS=0` ended in an error instead of
/// skipping training; `validate` accepted `train: {preset: tinyy}`.
#[test]
fn train_section_is_checked_by_validate_and_zero_steps_skip_training() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out");
    for (train, want) in [
        ("  shards: shards\n  preset: tinyy\n", "unknown preset \"tinyy\""),
        ("  shards: shards\n  stepz: 3\n", "train.stepz: unknown key"),
        ("  shards: shards\n  lr: -1\n", "--lr"),
        ("  shards: shards\n  steps: 5\n  warmup: 10\n", "warmup 10 is more than the 5 steps"),
        ("  shards: tok\n", "train.shards: `tok` is a `tokenizer_train`"),
        ("  shards: shards\n  tokenizer: /nonexistent/tokenizer.json\n", "train.tokenizer: `/nonexistent/tokenizer.json` is not a file"),
        ("  shards: shards\n  eval: {limitt: 3}\n", "train.eval.limitt: unknown key"),
    ] {
        let recipe = write_recipe(d.path(), &train_recipe(&out, train));
        let o = sluice().arg("validate").arg(&recipe).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{train}");
        assert!(stdout(&o).contains(want), "{want:?} missing for {train:?}: {}", stdout(&o));
        // `run` refuses it before any stage runs.
        let o = sluice().args(["run", "--progress", "off"]).arg(&recipe).output().unwrap();
        assert!(!o.status.success() && stderr(&o).contains(want), "{}", stderr(&o));
        assert!(!out.exists(), "a stage ran for {train:?}");
    }
    // Without train.seq_len, the shards' seq_len (the pack stage's) must fit the preset.
    let long = train_recipe(&out, "  shards: shards\n  preset: tiny\n").replace("seq_len: 64", "seq_len: 1024");
    let o = sluice().arg("validate").arg(write_recipe(d.path(), &long)).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("seq_len 1024 is over the `tiny` preset's window of 256") && stdout(&o).contains("stages.shards.seq_len"),
        "{}",
        stdout(&o)
    );

    // steps: 0 (as `${QUICKSTART_TRAIN_STEPS:-200}` gives) skips training and eval.
    let zero =
        train_recipe(&out, "  shards: shards\n  preset: tiny\n  steps: ${EDGES_STEPS:-200}\n  eval: {tasks: [hellaswag], limit: 2}\n");
    let recipe = write_recipe(d.path(), &zero);
    let o = sluice().arg("validate").arg(&recipe).env("EDGES_STEPS", "0").output().unwrap();
    assert!(o.status.success() && o.stdout.is_empty(), "{}", stdout(&o));
    let o = run_ok(sluice().args(["run", "--progress", "off"]).arg(&recipe).env("EDGES_STEPS", "0"));
    assert!(stdout(&o).contains("training skipped: train.steps is 0"), "{}", stdout(&o));
    assert!(out.join("shards/manifest.json").is_file());
    assert!(!out.join("train").exists());
    assert!(out.join("report.html").is_file());
}

/// A pipe whose reader has already gone: every write to it fails with EPIPE.
fn closed_pipe() -> Stdio {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) returns.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors were just opened and are owned here.
    unsafe {
        libc::close(fds[0]);
        Stdio::from(std::os::fd::OwnedFd::from_raw_fd(fds[1]))
    }
}

/// Issue 17: `export` and checkpoints wrote `model.safetensors` with mode
/// 0600, `sluice stats OUT | head` printed "Broken pipe", and `inspect
/// --count 60` showed 32 ids with no ellipsis and `(Uint16)`.
#[test]
fn outputs_follow_the_umask_a_closed_stdout_is_no_error_and_inspect_shows_what_was_asked() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out");
    let train = "  shards: shards\n  preset: tiny\n  steps: 2\n  seq_len: 32\n  batch_tokens: 64\n  eval_every: 1\n  eval_batches: 1\n  ckpt_every: 1\n";
    let recipe = write_recipe(d.path(), &train_recipe(&out, train));
    // The whole run (pipeline, training, checkpoints, report) under umask
    // 002, with its stdout closed: it finishes all the same.
    let o = with_umask(sluice().args(["run", "--progress", "off"]).arg(&recipe), 0o002).stdout(closed_pipe()).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join("report.html").is_file() && out.join("train/checkpoints/latest").is_file(), "{:?}", tree(&out));
    let all = modes(&out);
    assert!(all.iter().any(|(p, _, _)| p.ends_with("model.safetensors")), "{all:?}");
    for (p, mode, dir) in &all {
        assert_eq!(*mode, if *dir { 0o775 } else { 0o664 }, "{p}: {mode:o}");
    }

    // Export and a training run of its own under umask 022: 0644.
    let hf = d.path().join("hf");
    run_ok(with_umask(sluice().args(["export", "--checkpoint"]).arg(out.join("train")).arg("--out").arg(&hf), 0o022));
    let run2 = d.path().join("run2");
    run_ok(with_umask(
        sluice()
            .args([
                "train",
                "--preset",
                "tiny",
                "--steps",
                "1",
                "--seq-len",
                "32",
                "--batch-tokens",
                "64",
                "--eval-batches",
                "1",
                "--shards",
            ])
            .arg(out.join("shards"))
            .arg("--out")
            .arg(&run2),
        0o022,
    ));
    for root in [&hf, &run2] {
        let all = modes(root);
        assert!(all.iter().any(|(p, _, _)| p.ends_with("model.safetensors")), "{all:?}");
        for (p, mode, dir) in &all {
            assert_eq!(*mode, if *dir { 0o755 } else { 0o644 }, "{}: {p}: {mode:o}", root.display());
        }
    }

    // Every command that prints, into a closed pipe: status 0, no message.
    let shard = std::fs::read_dir(out.join("shards"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("train") && p.extension().is_some_and(|e| e == "bin"))
        .expect("a train shard");
    let o = out.to_str().unwrap();
    let s = shard.to_str().unwrap();
    let r = recipe.to_str().unwrap();
    for args in [
        vec!["stats", o],
        vec!["stats", o, "--json"],
        vec!["stats", o, "--signals"],
        vec!["status", o],
        vec!["phases", r],
        vec!["kinds"],
        vec!["kinds", "--json"],
        vec!["inspect", s],
        vec!["report", o, "--out", d.path().join("r.html").to_str().unwrap()],
        vec!["--help"],
    ] {
        let res = sluice().args(&args).stdout(closed_pipe()).output().unwrap();
        assert!(res.status.success() && res.stderr.is_empty(), "{args:?}: {:?} {}", res.status, stderr(&res));
    }

    // inspect: every id asked for, the dtype as numpy and the manifest spell it.
    let text = stdout(&run_ok(sluice().args(["inspect", s, "--count", "60"])));
    assert!(text.contains("llm.c header ok (uint16)"), "{text}");
    let ids = |text: &str| -> usize {
        let line = text.lines().find(|l| l.starts_with("tokens [")).unwrap().to_string();
        let list = &line[line.rfind('[').unwrap() + 1..line.rfind(']').unwrap()];
        list.split(", ").filter(|x| !x.is_empty()).count()
    };
    assert_eq!(ids(&text), 60, "{text}");
    assert!(text.contains("tokens [0, 60) of "), "{text}");
    // Past the end: the slice is cut, and it says so.
    let total: usize = text.lines().next().unwrap().split(", ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    let start = (total - 10).to_string();
    let text = stdout(&run_ok(sluice().args(["inspect", s, "--start", &start, "--count", "60"])));
    assert_eq!(ids(&text), 10, "{text}");
    assert!(text.contains(&format!("(60 asked from {start}; the shard has {total} tokens)")), "{text}");
}

/// The subcommands `sluice --help` lists.
fn subcommands() -> Vec<String> {
    let help = stdout(&run_ok(sluice().arg("--help")));
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect()
}

/// Issue 17: the README's "Command line" block omitted train, eval, export,
/// tokenizer, inspect and ppl. It names every subcommand `--help` lists,
/// and every one it names exists.
#[test]
fn readme_command_block_names_every_subcommand() {
    let readme = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme.split("\n## Command line\n").nth(1).expect("a Command line section");
    let block = section.split("```").nth(1).expect("a code block");
    let named: Vec<&str> = block.lines().filter_map(|l| l.strip_prefix("sluice ")).filter_map(|l| l.split_whitespace().next()).collect();
    let commands = subcommands();
    assert!(commands.len() >= 14, "{commands:?}");
    for c in &commands {
        assert!(named.contains(&c.as_str()), "README's command block lacks `sluice {c}`");
    }
    for n in &named {
        assert!(commands.iter().any(|c| c == n), "README names `sluice {n}`, which `sluice --help` does not list");
    }
    // How `sluice` gets on the PATH.
    let top = readme.split("\n## ").next().unwrap();
    assert!(top.contains("cargo install --path ."), "the README's opening does not say how to install `sluice`");
}
