//! Issue 21, the command line's share: a recipe cannot choose the program
//! a Slurm cluster runs or smuggle sbatch options; `status` and errors tell
//! scripts and people the truth, once.
//!
//! The Slurm submissions here run against a stand-in `sbatch` and `squeue`
//! (shell scripts on `PATH` that record their arguments), so they need no
//! cluster; the real cluster test is `slurm_array_jobs_match_the_local_run_...`.

use std::path::{Path, PathBuf};

use super::{run_ok, sluice, write_recipe};

/// A small JSONL run: `files` files of `docs` documents each.
fn small_run(dir: &Path, files: usize, docs: usize, slurm: &str) -> PathBuf {
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    for f in 0..files {
        let lines: String = (0..docs)
            .map(|i| {
                serde_json::json!({"id": format!("f{f}-{i}"), "text": format!("document {i} of file {f}, long enough to keep")}).to_string()
                    + "\n"
            })
            .collect();
        std::fs::write(input.join(format!("part-{f}.jsonl")), lines).unwrap();
    }
    write_recipe(
        dir,
        &format!(
            "output: {}\nreaders:\n  docs: {{kind: jsonl, paths: [{}]}}\nstages:\n  len: {{kind: length, inputs: [docs], min_chars: 10}}\nwriters:\n  kept: {{kind: jsonl, inputs: [len]}}\n{slurm}",
            dir.join("out").display(),
            input.display()
        ),
    )
}

fn validate(recipe: &Path) -> (Option<i32>, String) {
    let o = sluice().arg("validate").arg(recipe).output().unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr))
}

#[test]
fn a_recipe_cannot_choose_the_binary_slurm_runs() {
    let d = tempfile::tempdir().unwrap();
    let recipe = small_run(d.path(), 1, 3, "slurm:\n  partition: cpu\n  binary: /tmp/evil\n");
    let (code, text) = validate(&recipe);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("slurm.binary: a recipe cannot choose the program the cluster runs"), "{text}");
    assert!(text.contains("--slurm-binary PATH"), "{text}");
    // `run` refuses it too, before anything is submitted, with the
    // message once.
    let o = sluice().args(["run", "--executor", "slurm"]).arg(&recipe).env("PATH", "/nonexistent").output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("a recipe cannot choose the program").count(), 1, "{err}");
    assert!(!d.path().join("out").exists(), "nothing may be written for a refused recipe");
}

#[test]
fn a_recipe_cannot_pass_other_sbatch_options() {
    let d = tempfile::tempdir().unwrap();
    for (slurm, path, needle) in [
        ("extra: [--export=ALL,LD_PRELOAD=/x]", "slurm.extra[0]", "`--export` is not an sbatch option a recipe may set"),
        ("extra: [\"--wrap=sh -c id\"]", "slurm.extra[0]", "`--wrap` is not an sbatch option a recipe may set"),
        ("extra: [--exp=ALL]", "slurm.extra[0]", "`--exp` is not an sbatch option"),
        ("extra: [-A, lab]", "slurm.extra[0]", "is not of the form `--NAME=VALUE`"),
        ("extra: [--hold]", "slurm.extra[0]", "is not of the form `--NAME=VALUE`"),
        // a value that smuggles a second option, with a space or a newline
        ("extra: [\"--partition=cpu --export=ALL,LD_PRELOAD=/x\"]", "slurm.partition", "is not a valid --partition value"),
        ("partition: \"cpu\\n#SBATCH --export=ALL\"", "slurm.partition", "is not a valid --partition value"),
        ("partition: cpu=x", "slurm.partition", "is not a valid --partition value"),
        ("partition: --export", "slurm.partition", "is not a valid --partition value"),
        ("mem: 8G;id", "slurm.mem", "is not a valid --mem value"),
        ("time: \"$(id)\"", "slurm.time", "is not a valid --time value"),
        ("account: \"lab'x\"", "slurm.account", "is not a valid --account value"),
        ("qos: high,--export=ALL", "slurm.qos", "is not a valid --qos value"),
        ("gres: gpu:1,x=y", "slurm.gres", "is not a valid --gres value"),
        ("constraint: \"avx`id`\"", "slurm.constraint", "is not a valid --constraint value"),
        ("cpus_per_task: 0", "slurm.cpus_per_task", "must be between 1 and 65536"),
        ("extra: [--cpus-per-task=4x]", "slurm.extra[0]", "is not a whole number"),
        ("partition: a\n  extra: [--partition=b]", "slurm.extra[0]", "already sets"),
    ] {
        let recipe = small_run(d.path(), 1, 3, &format!("slurm:\n  {slurm}\n"));
        let (code, text) = validate(&recipe);
        assert_eq!(code, Some(1), "{slurm}: {text}");
        assert!(text.contains(&format!("{path}: ")) && text.contains(needle), "{slurm}: expected `{path}: ...{needle}` in:\n{text}");
    }
}

#[test]
fn allowed_sbatch_options_pass_validation() {
    let d = tempfile::tempdir().unwrap();
    for slurm in [
        "partition: cpu\n  cpus_per_task: 16\n  mem: 32G\n  time: \"04:00:00\"\n  account: my-lab\n  qos: high\n  gres: gpu:a100:2\n  constraint: intel&ib",
        "partition: cpu,gpu_short\n  time: 1-12:30\n  mem: \"4096\"\n  constraint: \"[rack1|rack2]*2\"",
        "time: UNLIMITED\n  gres: gpu:1,nvme:1",
        "extra: [--constraint=avx2, --account=lab.x, --qos=low, --mem=512M, --cpus-per-task=4, --time=90, --gres=gpu]",
        "extra: [--partition=cpu]",
    ] {
        let recipe = small_run(d.path(), 1, 3, &format!("slurm:\n  {slurm}\n"));
        let (code, text) = validate(&recipe);
        assert_eq!(code, Some(0), "{slurm}: {text}");
        assert_eq!(text, "", "validate prints nothing for a good recipe");
    }
}

/// A directory with stand-in `sbatch` and `squeue`: `sbatch` appends its
/// arguments (one per line, then `--`) to `sbatch.log` and prints a job id.
fn fake_slurm(dir: &Path) -> (PathBuf, PathBuf) {
    let bin = dir.join("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("sbatch.log");
    let sbatch = format!(
        "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\" >> '{}'; done\necho -- >> '{}'\necho 4242\n",
        log.display(),
        log.display()
    );
    for (name, body) in [("sbatch", sbatch.as_str()), ("squeue", "#!/bin/sh\nexit 0\n")] {
        let p = bin.join(name);
        std::fs::write(&p, body).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    (PathBuf::from(path), log)
}

/// The `exec` line of a generated job script.
fn exec_line(script: &Path) -> String {
    let text = std::fs::read_to_string(script).unwrap();
    text.lines().find(|l| l.starts_with("exec ")).unwrap_or_else(|| panic!("no exec line in:\n{text}")).to_string()
}

#[test]
fn slurm_jobs_run_this_binary_or_the_flag_and_command_line_options_reach_sbatch() {
    let d = tempfile::tempdir().unwrap();
    let (path, log) = fake_slurm(d.path());
    let recipe = small_run(d.path(), 2, 3, "slurm:\n  partition: cpu\n  constraint: intel&ib\n");

    // Default: the binary that submits.
    let out = d.path().join("a");
    run_ok(sluice().args(["run", "--executor", "slurm", "--tasks", "2", "--output"]).arg(&out).arg(&recipe).env("PATH", &path));
    let script = out.join("_sluice/slurm/00-s0.sbatch");
    let text = std::fs::read_to_string(&script).unwrap();
    let me = std::fs::canonicalize(env!("CARGO_BIN_EXE_sluice")).unwrap();
    let exec = exec_line(&script);
    assert!(exec.starts_with(&format!("exec '{}' run '", me.display())), "{exec}");
    assert!(text.contains("#SBATCH --partition=cpu\n") && text.contains("#SBATCH --constraint=intel&ib\n"), "{text}");
    assert!(!text.contains("--export"), "{text}");

    // --slurm-binary chooses another, shell-quoted however hostile its name;
    // --sbatch options reach sbatch as single arguments, not the script.
    std::fs::write(log.as_path(), "").unwrap();
    let out = d.path().join("b");
    let odd = "/opt/it's $(id) `id`/sluice";
    run_ok(
        sluice()
            .args([
                "run",
                "--executor",
                "slurm",
                "--tasks",
                "2",
                "--slurm-binary",
                odd,
                "--sbatch=--export=NONE",
                "--sbatch",
                "--comment=a b",
            ])
            .arg("--output")
            .arg(&out)
            .arg(&recipe)
            .env("PATH", &path),
    );
    let exec = exec_line(&out.join("_sluice/slurm/00-s0.sbatch"));
    assert!(exec.starts_with(r#"exec '/opt/it'\''s $(id) `id`/sluice' run '"#), "{exec}");
    let args = std::fs::read_to_string(&log).unwrap();
    assert!(args.starts_with("--parsable\n--export=NONE\n--comment=a b\n"), "{args}");
    assert!(!std::fs::read_to_string(out.join("_sluice/slurm/00-s0.sbatch")).unwrap().contains("--export"));

    // Slurm flags without `--executor slurm` are a mistake, not ignored.
    let o = sluice().args(["run", "--slurm-binary", "/x"]).arg(&recipe).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("apply to `--executor slurm` only"));
}

#[test]
fn status_exits_non_zero_until_the_run_is_complete() {
    let d = tempfile::tempdir().unwrap();
    let recipe = small_run(d.path(), 2, 3, "");
    let out = d.path().join("out");
    // Task 0 of 2 only: unfinished, and nothing of it is queued.
    run_ok(sluice().args(["run", "--progress", "off", "--tasks", "2", "--task", "0"]).arg(&recipe));
    for json in [false, true] {
        let mut c = sluice();
        c.arg("status").arg(&out);
        if json {
            c.arg("--json");
        }
        let o = c.output().unwrap();
        assert_eq!(o.status.code(), Some(4), "{}", String::from_utf8_lossy(&o.stdout));
    }
    let o = sluice().arg("status").arg(&out).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("run unfinished"), "{}", String::from_utf8_lossy(&o.stdout));
    // The rest of the run: complete, exit 0.
    run_ok(sluice().args(["run", "--progress", "off", "--tasks", "2"]).arg(&recipe));
    let o = run_ok(sluice().arg("status").arg(&out));
    assert!(String::from_utf8_lossy(&o.stdout).contains("run complete"));
    // Not a run: an error, exit 1.
    let o = sluice().arg("status").arg(d.path()).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    // The codes are documented.
    let help = String::from_utf8(run_ok(sluice().args(["status", "--help"])).stdout).unwrap();
    assert!(help.contains("Exit status: 0 when every unit") && help.contains("3 when") && help.contains("4 when"), "{help}");
}

#[test]
fn a_strict_error_is_printed_once() {
    let d = tempfile::tempdir().unwrap();
    let recipe = small_run(d.path(), 1, 3, "");
    std::fs::write(d.path().join("in/part-0.jsonl"), "{\"id\": \"a\", \"text\": \"long enough to keep\"}\n{\"id\": \"b\", \"text\": \n")
        .unwrap();
    let o = sluice().args(["run", "--strict", "--progress", "off"]).arg(&recipe).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("part-0.jsonl: line 2: "), "{err}");
    assert_eq!(err.matches("part-0.jsonl: line 2").count(), 1, "the error is printed more than once:\n{err}");
    assert_eq!(err.matches("error: ").count(), 1, "{err}");
}

#[test]
fn a_recipe_error_is_one_message_and_exit_1() {
    let d = tempfile::tempdir().unwrap();
    let recipe = small_run(d.path(), 1, 3, "slurm:\n  extra: [--export=ALL]\n");
    let o = sluice().args(["run", "--progress", "off"]).arg(&recipe).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with(&format!("error: recipe {}: the recipe has 1 error(s):\n", recipe.display())), "{err}");
    assert_eq!(err.matches("`--export` is not an sbatch option").count(), 1, "{err}");
    assert_eq!(err.matches("error: ").count(), 1, "{err}");
}
