//! The Slurm executor: one sbatch array job per phase, chained with
//! `--dependency=afterok`, each array element running
//! `sluice run ... --phase P --task $SLURM_ARRAY_TASK_ID` on the same binary.
//!
//! Nothing here schedules: Slurm does. What sluice adds is the phase graph,
//! the completion markers that make a re-submission run only what is
//! missing, and `sluice status`, which reads those markers and asks
//! `squeue` about the jobs it submitted.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _};
use serde::{Deserialize, Serialize};
use sluice_pipeline::output::{write_atomic, OutputDir};
use sluice_pipeline::phase::Phase;
use sluice_pipeline::recipe::SlurmSettings;
use sluice_pipeline::Recipe;

/// Command-line overrides of the recipe's `slurm:` settings, and what only
/// the command line may choose: the program the jobs run and any sbatch
/// option outside the recipe's allow-list.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct SlurmArgs {
    /// Slurm partition (overrides `slurm.partition`).
    #[arg(long, value_name = "NAME")]
    pub partition: Option<String>,
    /// CPUs per array task (overrides `slurm.cpus_per_task`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub cpus_per_task: Option<u32>,
    /// Memory per array task, e.g. 8G (overrides `slurm.mem`).
    #[arg(long, value_name = "SIZE")]
    pub mem: Option<String>,
    /// Time limit per array task, e.g. 02:00:00 (overrides `slurm.time`).
    #[arg(long, value_name = "TIME")]
    pub time: Option<String>,
    /// Any other sbatch option for every job, e.g. `--sbatch=--hold` or
    /// `--sbatch=--export=NONE` (repeatable). Passed to sbatch as one
    /// argument each; a recipe cannot set these.
    #[arg(long = "sbatch", visible_alias = "sbatch-arg", value_name = "OPTION", allow_hyphen_values = true)]
    pub sbatch: Vec<String>,
    /// The sluice binary the jobs run; it must exist at this path on the
    /// compute nodes (default: the binary running this command). A recipe
    /// cannot choose it.
    #[arg(long, value_name = "PATH")]
    pub slurm_binary: Option<PathBuf>,
}

impl SlurmArgs {
    /// Whether no Slurm flag was given.
    pub fn is_empty(&self) -> bool {
        let SlurmArgs { partition, cpus_per_task, mem, time, sbatch, slurm_binary } = self;
        partition.is_none() && cpus_per_task.is_none() && mem.is_none() && time.is_none() && sbatch.is_empty() && slurm_binary.is_none()
    }
}

/// The effective settings: recipe first (already checked by `compile`),
/// command line over it, every value checked against its option's pattern.
pub fn settings(recipe: &Recipe, args: &SlurmArgs) -> anyhow::Result<SlurmSettings> {
    let mut s = recipe.slurm.clone();
    if args.partition.is_some() {
        s.partition = args.partition.clone();
    }
    if args.cpus_per_task.is_some() {
        s.cpus_per_task = args.cpus_per_task;
    }
    if args.mem.is_some() {
        s.mem = args.mem.clone();
    }
    if args.time.is_some() {
        s.time = args.time.clone();
    }
    s.resolved().map_err(|errs| {
        let list: Vec<String> = errs.into_iter().map(|(f, m)| format!("slurm.{f}: {m}")).collect();
        anyhow::anyhow!("invalid Slurm settings:\n  {}", list.join("\n  "))
    })
}

/// The sbatch options given with `--sbatch`: each must be an option, and
/// none may hold a control character (sbatch would read a newline as the
/// end of the option).
pub fn sbatch_args(args: &SlurmArgs) -> anyhow::Result<Vec<String>> {
    for a in &args.sbatch {
        if !a.starts_with('-') || a.chars().any(char::is_control) {
            bail!("--sbatch {a:?}: must be one sbatch option starting with `-`, without control characters");
        }
    }
    Ok(args.sbatch.clone())
}

/// The program the jobs run: `--slurm-binary`, made absolute, or the
/// binary running now.
pub fn binary(args: &SlurmArgs, cwd: &Path) -> anyhow::Result<PathBuf> {
    let b = match &args.slurm_binary {
        Some(b) => cwd.join(b),
        None => std::env::current_exe().context("cannot find the sluice binary (give it with --slurm-binary)")?,
    };
    quoted_path("sluice binary", &b)?;
    Ok(b)
}

/// One submitted array job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmittedJob {
    pub phase: String,
    pub job: String,
    pub units: Vec<usize>,
    pub script: String,
}

/// `_sluice/slurm/jobs.json`: every submission, oldest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JobLog {
    pub submissions: Vec<Vec<SubmittedJob>>,
}

fn slurm_dir(out: &OutputDir) -> PathBuf {
    out.meta().join("slurm")
}

fn read_jobs(out: &OutputDir) -> anyhow::Result<JobLog> {
    let p = slurm_dir(out).join("jobs.json");
    match std::fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b).with_context(|| format!("corrupt {}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(JobLog::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", p.display())),
    }
}

/// Quote for bash: single quotes, with embedded ones closed and escaped.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Array ranges for sbatch: `0-3,5,7-9`.
pub fn array_spec(units: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < units.len() {
        let start = units[i];
        let mut end = start;
        while i + 1 < units.len() && units[i + 1] == end + 1 {
            i += 1;
            end = units[i];
        }
        parts.push(if start == end { start.to_string() } else { format!("{start}-{end}") });
        i += 1;
    }
    parts.join(",")
}

/// What a submission needs to write its scripts.
pub struct Submission<'a> {
    pub recipe_path: &'a Path,
    pub out: &'a OutputDir,
    pub phases: &'a [Phase],
    pub tasks: usize,
    /// Checked and resolved ([`SlurmSettings::resolved`]): `extra` is empty.
    pub settings: SlurmSettings,
    /// Options from `--sbatch`, passed to every sbatch call as arguments.
    pub sbatch_args: Vec<String>,
    /// The program every job runs.
    pub binary: PathBuf,
    /// The directory the jobs run in (the submission directory).
    pub cwd: PathBuf,
    pub strict: bool,
    /// Override of the output directory given on the command line.
    pub output_flag: bool,
}

/// A path written into an `#SBATCH` line: sbatch splits those lines on
/// whitespace and reads quotes, backslashes and `#` specially, and expands
/// `%` in log file names, so such paths are refused rather than quoted.
fn sbatch_path(what: &str, p: &Path) -> anyhow::Result<String> {
    let s = p.to_str().with_context(|| format!("the Slurm executor needs UTF-8 paths; the {what} is {:?}", p.display().to_string()))?;
    if let Some(c) = s.chars().find(|&c| c.is_whitespace() || c.is_control() || "'\"\\#%".contains(c)) {
        bail!("the Slurm executor cannot use the {what} {s:?}: {c:?} has a special meaning in #SBATCH lines; use a path without it");
    }
    Ok(s.to_string())
}

/// A path for the job's command line, shell-quoted: UTF-8 and without
/// control characters, so the script says exactly what runs.
fn quoted_path(what: &str, p: &Path) -> anyhow::Result<String> {
    match p.to_str() {
        Some(s) if !s.chars().any(char::is_control) => Ok(shell_quote(s)),
        _ => bail!("the Slurm executor needs a UTF-8 path without control characters for the {what}: {:?}", p.display().to_string()),
    }
}

/// The batch script of one phase. Every value in it is either checked
/// against a strict pattern (the `#SBATCH` options, see
/// [`SlurmSettings::resolved`] and [`sbatch_path`]) or shell-quoted (the
/// command the job runs).
pub fn script(sub: &Submission, phase: &Phase, units: &[usize]) -> anyhow::Result<String> {
    let logs = sbatch_path("output directory", &slurm_dir(sub.out).join("logs"))?;
    let cwd = sbatch_path("submission directory", &sub.cwd)?;
    // Phase keys are node names (ASCII letters, digits, `_`, `-`) and step names.
    if !phase.key.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) {
        bail!("internal error (this is a bug in sluice): phase key {:?} is not a plain name", phase.key);
    }
    let s = &sub.settings;
    let mut t = String::from("#!/bin/bash\n");
    let _ = writeln!(t, "# Written by `sluice run --executor slurm`: phase {} ({}), {} unit(s).", phase.key, phase.index, units.len());
    let _ = writeln!(t, "#SBATCH --job-name=sluice-{}", phase.key);
    let _ = writeln!(t, "#SBATCH --array={}", array_spec(units));
    let _ = writeln!(t, "#SBATCH --output={logs}/{}-%a.log", phase.key);
    let _ = writeln!(t, "#SBATCH --chdir={cwd}");
    let _ = writeln!(t, "#SBATCH --cpus-per-task={}", s.cpus_per_task.unwrap_or(1));
    for (flag, v) in [
        ("partition", &s.partition),
        ("mem", &s.mem),
        ("time", &s.time),
        ("account", &s.account),
        ("qos", &s.qos),
        ("gres", &s.gres),
        ("constraint", &s.constraint),
    ] {
        if let Some(v) = v {
            // Checked by `resolved`; checked again, as this line is what
            // the cluster obeys.
            sluice_pipeline::recipe::check_slurm_value(flag, v).map_err(|m| anyhow::anyhow!("slurm.{flag}: {m}"))?;
            let _ = writeln!(t, "#SBATCH --{flag}={v}");
        }
    }
    t.push_str("set -euo pipefail\n");
    let mut cmd = vec![
        quoted_path("sluice binary", &sub.binary)?,
        "run".into(),
        quoted_path("recipe", sub.recipe_path)?,
        "--tasks".into(),
        sub.tasks.to_string(),
        "--phase".into(),
        shell_quote(&phase.key),
        "--task".into(),
        "\"$SLURM_ARRAY_TASK_ID\"".into(),
        "--threads".into(),
        "\"${SLURM_CPUS_PER_TASK:-1}\"".into(),
        "--progress".into(),
        "log".into(),
    ];
    if sub.output_flag {
        cmd.push("--output".into());
        cmd.push(quoted_path("output directory", sub.out.root())?);
    }
    if sub.strict {
        cmd.push("--strict".into());
    }
    let _ = writeln!(t, "exec {}", cmd.join(" "));
    Ok(t)
}

/// Submit every phase that has unfinished units, chained with
/// `afterok`. Returns what was submitted.
pub fn submit(sub: &Submission) -> anyhow::Result<Vec<SubmittedJob>> {
    let out = sub.out;
    let dir = slurm_dir(out);
    std::fs::create_dir_all(dir.join("logs")).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut log = read_jobs(out)?;

    // Never run a unit twice at once: refuse while jobs of this run are queued.
    let ours: Vec<String> = log.submissions.iter().flatten().map(|j| j.job.clone()).collect();
    if !ours.is_empty() {
        let live = queue_states(&ours)?;
        if !live.is_empty() {
            let mut ids: Vec<&String> = live.keys().collect();
            ids.sort();
            bail!(
                "jobs of this run are still queued or running ({}); wait for them, or cancel them with scancel, then re-run",
                ids.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            );
        }
    }

    // Every script first, so that a refused value submits nothing.
    let mut scripts = Vec::new();
    for phase in sub.phases {
        let units: Vec<usize> = (0..phase.units).filter(|&u| !out.is_unit_done(&phase.key, u)).collect();
        if !units.is_empty() {
            let text = script(sub, phase, &units)?;
            scripts.push((phase, units, text));
        }
    }
    let mut submitted: Vec<SubmittedJob> = Vec::new();
    let mut previous: Option<String> = None;
    for (phase, units, text) in scripts {
        let path = dir.join(format!("{:02}-{}.sbatch", phase.index, phase.key));
        write_atomic(&path, text.as_bytes())?;
        let mut cmd = Command::new("sbatch");
        cmd.arg("--parsable");
        // Command-line options: after the script's own lines in effect
        // (sbatch lets its arguments override `#SBATCH` lines).
        cmd.args(&sub.sbatch_args);
        if let Some(prev) = &previous {
            cmd.arg(format!("--dependency=afterok:{prev}")).arg("--kill-on-invalid-dep=yes");
        }
        cmd.arg(&path);
        let o = cmd.output().context("cannot run sbatch (is Slurm installed and on PATH?)")?;
        if !o.status.success() {
            bail!("sbatch {} failed: {}", path.display(), String::from_utf8_lossy(&o.stderr).trim());
        }
        let stdout = String::from_utf8_lossy(&o.stdout);
        let job = stdout.trim().split(';').next().unwrap_or("").to_string();
        if job.is_empty() || !job.chars().all(|c| c.is_ascii_digit()) {
            bail!("sbatch printed no job id for {}: {stdout:?}", path.display());
        }
        submitted.push(SubmittedJob { phase: phase.key.clone(), job: job.clone(), units, script: path.display().to_string() });
        previous = Some(job);
    }
    if !submitted.is_empty() {
        log.submissions.push(submitted.clone());
        write_atomic(&dir.join("jobs.json"), &serde_json::to_vec_pretty(&log)?)?;
    }
    Ok(submitted)
}

/// States of the queued elements of `jobs`, keyed by element
/// (`123_4`, or `123` for a pending array not yet split). Empty when
/// nothing is queued.
fn queue_states(jobs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let o = Command::new("squeue")
        .args(["--noheader", "--array", "--format=%i %T", "--jobs"])
        .arg(jobs.join(","))
        .output()
        .context("cannot run squeue")?;
    // squeue fails with "Invalid job id" once every listed job has left
    // the queue: that means nothing is queued.
    let mut states = BTreeMap::new();
    if o.status.success() {
        for line in String::from_utf8_lossy(&o.stdout).lines() {
            if let Some((id, state)) = line.trim().split_once(' ') {
                states.insert(id.to_string(), state.to_string());
            }
        }
    }
    Ok(states)
}

/// Per-phase unit counts for `sluice status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PhaseStatus {
    pub phase: String,
    pub units: usize,
    pub done: usize,
    pub running: usize,
    pub queued: usize,
    pub failed: usize,
    pub not_submitted: usize,
}

#[derive(Deserialize)]
struct PhasesFile {
    tasks: usize,
    phases: Vec<PhaseEntry>,
}

#[derive(Deserialize)]
struct PhaseEntry {
    key: String,
    units: usize,
}

/// Read markers, and ask Slurm about the jobs this run submitted.
pub fn status(out: &OutputDir) -> anyhow::Result<(usize, Vec<PhaseStatus>)> {
    let p = out.meta().join("phases.json");
    let bytes =
        std::fs::read(&p).with_context(|| format!("{} is not a sluice output directory (no {})", out.root().display(), p.display()))?;
    let phases: PhasesFile = serde_json::from_slice(&bytes).with_context(|| format!("corrupt {}", p.display()))?;
    let log = read_jobs(out)?;
    // The latest submission of each unit.
    let mut latest: BTreeMap<(String, usize), String> = BTreeMap::new();
    for sub in &log.submissions {
        for j in sub {
            for &u in &j.units {
                latest.insert((j.phase.clone(), u), j.job.clone());
            }
        }
    }
    let jobs: Vec<String> = {
        let mut v: Vec<String> = latest.values().cloned().collect();
        v.sort();
        v.dedup();
        v
    };
    let queue = if jobs.is_empty() || which("squeue").is_none() { BTreeMap::new() } else { queue_states(&jobs)? };
    let mut rows = Vec::new();
    for ph in &phases.phases {
        let mut st = PhaseStatus { phase: ph.key.clone(), units: ph.units, ..Default::default() };
        for u in 0..ph.units {
            if out.is_unit_done(&ph.key, u) {
                st.done += 1;
                continue;
            }
            let Some(job) = latest.get(&(ph.key.clone(), u)) else {
                st.not_submitted += 1;
                continue;
            };
            // An element is listed as `job_unit` once started or split off,
            // otherwise the whole pending array is listed under `job` or
            // `job_[a-b]`.
            let state = queue
                .get(&format!("{job}_{u}"))
                .cloned()
                .or_else(|| queue.iter().find(|(k, _)| k.as_str() == job || k.starts_with(&format!("{job}_["))).map(|(_, v)| v.clone()));
            match state.as_deref() {
                Some("RUNNING") | Some("COMPLETING") => st.running += 1,
                Some(_) => st.queued += 1,
                None => st.failed += 1,
            }
        }
        rows.push(st);
    }
    Ok((phases.tasks, rows))
}

fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(bin)).find(|p| p.is_file()))
}

/// Wait until none of `jobs` is queued or running.
pub fn wait(jobs: &[SubmittedJob]) -> anyhow::Result<()> {
    let ids: Vec<String> = jobs.iter().map(|j| j.job.clone()).collect();
    while !queue_states(&ids)?.is_empty() {
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
    Ok(())
}

/// `sluice status`'s exit status (documented in its `--help`): 0 when
/// every unit is done, 3 while some are queued or running, 4 when the run
/// is unfinished and nothing of it is queued or running.
pub fn status_code(rows: &[PhaseStatus]) -> u8 {
    if rows.iter().all(|r| r.done == r.units) {
        0
    } else if rows.iter().any(|r| r.running + r.queued > 0) {
        3
    } else {
        4
    }
}

/// `sluice status` as a table.
pub fn status_table(tasks: usize, rows: &[PhaseStatus]) -> String {
    let mut s = format!("tasks: {tasks}\n");
    let _ = writeln!(
        s,
        "{:<32} {:>6} {:>6} {:>8} {:>7} {:>7} {:>14}",
        "phase", "units", "done", "running", "queued", "failed", "not submitted"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{:<32} {:>6} {:>6} {:>8} {:>7} {:>7} {:>14}",
            r.phase, r.units, r.done, r.running, r.queued, r.failed, r.not_submitted
        );
    }
    let complete = rows.iter().all(|r| r.done == r.units);
    let failed: usize = rows.iter().map(|r| r.failed).sum();
    let busy: usize = rows.iter().map(|r| r.running + r.queued).sum();
    if complete {
        s.push_str("run complete\n");
    } else if failed > 0 {
        s.push_str("some units failed or were cancelled (logs in _sluice/slurm/logs); re-run the same command to submit what is missing\n");
    } else if busy > 0 {
        let _ = writeln!(s, "run unfinished: {busy} unit(s) queued or running");
    } else {
        s.push_str("run unfinished: re-run the same command to run what is missing\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_specs_compress_ranges() {
        assert_eq!(array_spec(&[0, 1, 2, 3]), "0-3");
        assert_eq!(array_spec(&[0, 2, 3, 4, 7]), "0,2-4,7");
        assert_eq!(array_spec(&[5]), "5");
    }

    #[test]
    fn shell_quoting_survives_hostile_paths() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's $(rm -rf /)"), r"'it'\''s $(rm -rf /)'");
    }

    fn phase() -> Phase {
        Phase { index: 0, key: "s0".into(), kind: sluice_pipeline::phase::PhaseKind::Stream { segment: 0 }, units: 4 }
    }

    fn submission<'a>(out: &'a OutputDir, phases: &'a [Phase], recipe: &'a Path, settings: SlurmSettings, binary: &str) -> Submission<'a> {
        Submission {
            recipe_path: recipe,
            out,
            phases,
            tasks: 4,
            settings,
            sbatch_args: vec![],
            binary: PathBuf::from(binary),
            cwd: PathBuf::from("/work/dir"),
            strict: true,
            output_flag: true,
        }
    }

    #[test]
    fn the_job_script_quotes_every_value_and_runs_the_chosen_binary() {
        let phases = [phase()];
        let out = OutputDir::new("/runs/out");
        let recipe = Path::new("/recipes/it's $(id).yaml");
        let settings = SlurmSettings {
            partition: Some("cpu".into()),
            mem: Some("8G".into()),
            extra: vec!["--constraint=intel&ib".into()],
            ..Default::default()
        }
        .resolved()
        .unwrap();
        let sub = submission(&out, &phases, recipe, settings, "/opt/sluice `id`/bin/sluice");
        let t = script(&sub, &phases[0], &[0, 1, 3]).unwrap();
        let exec: Vec<&str> = t.lines().filter(|l| l.starts_with("exec ")).collect();
        assert_eq!(
            exec,
            [
                r#"exec '/opt/sluice `id`/bin/sluice' run '/recipes/it'\''s $(id).yaml' --tasks 4 --phase 's0' --task "$SLURM_ARRAY_TASK_ID" --threads "${SLURM_CPUS_PER_TASK:-1}" --progress log --output '/runs/out' --strict"#
            ],
            "{t}"
        );
        let sbatch: Vec<&str> = t.lines().filter(|l| l.starts_with("#SBATCH")).collect();
        assert_eq!(
            sbatch,
            [
                "#SBATCH --job-name=sluice-s0",
                "#SBATCH --array=0-1,3",
                "#SBATCH --output=/runs/out/_sluice/slurm/logs/s0-%a.log",
                "#SBATCH --chdir=/work/dir",
                "#SBATCH --cpus-per-task=1",
                "#SBATCH --partition=cpu",
                "#SBATCH --mem=8G",
                "#SBATCH --constraint=intel&ib",
            ]
        );
        // Only the first line, the comment, the options and the command.
        assert_eq!(t.lines().count(), 1 + 1 + sbatch.len() + 1 + 1, "{t}");
    }

    #[test]
    fn paths_that_would_break_an_sbatch_line_are_refused() {
        let phases = [phase()];
        let recipe = Path::new("/r.yaml");
        for bad in ["/runs/my out", "/runs/a%j", "/runs/a#b", "/runs/a\"b", "/runs/a\nb"] {
            let out = OutputDir::new(bad);
            let sub = submission(&out, &phases, recipe, SlurmSettings::default(), "/bin/sluice");
            let e = script(&sub, &phases[0], &[0]).unwrap_err().to_string();
            assert!(e.contains("the Slurm executor cannot use the output directory"), "{bad:?}: {e}");
        }
        // A value that did not go through `resolved` is still checked.
        let out = OutputDir::new("/runs/out");
        let evil = SlurmSettings { partition: Some("cpu --export=ALL".into()), ..Default::default() };
        let e = script(&submission(&out, &phases, recipe, evil, "/bin/sluice"), &phases[0], &[0]).unwrap_err().to_string();
        assert!(e.contains("slurm.partition"), "{e}");
    }

    #[test]
    fn the_binary_is_this_one_or_the_flag_never_the_recipe() {
        let cwd = Path::new("/work/dir");
        assert_eq!(binary(&SlurmArgs::default(), cwd).unwrap(), std::env::current_exe().unwrap());
        let args = SlurmArgs { slurm_binary: Some("bin/sluice".into()), ..Default::default() };
        assert_eq!(binary(&args, cwd).unwrap(), Path::new("/work/dir/bin/sluice"));
        let args = SlurmArgs { slurm_binary: Some("/shared/sluice".into()), ..Default::default() };
        assert_eq!(binary(&args, cwd).unwrap(), Path::new("/shared/sluice"));
        let args = SlurmArgs { slurm_binary: Some("/a\nb".into()), ..Default::default() };
        assert!(binary(&args, cwd).is_err());

        let from_recipe = SlurmSettings { binary: Some(serde_json::json!("/tmp/evil")), ..Default::default() };
        let errs = from_recipe.check();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].0, "binary");
        assert!(errs[0].1.contains("--slurm-binary"), "{errs:?}");
    }

    #[test]
    fn only_allowed_sbatch_options_come_from_a_recipe() {
        let s = |extra: &[&str]| SlurmSettings { extra: extra.iter().map(|e| e.to_string()).collect(), ..Default::default() };
        let r = s(&[
            "--partition=a,b",
            "--cpus-per-task=8",
            "--mem=16g",
            "--time=1-00:00:00",
            "--account=x",
            "--qos=y",
            "--gres=gpu:2",
            "--constraint=[a|b]",
        ])
        .resolved()
        .unwrap();
        assert_eq!(r.partition.as_deref(), Some("a,b"));
        assert_eq!(r.cpus_per_task, Some(8));
        assert_eq!(r.gres.as_deref(), Some("gpu:2"));
        assert!(r.extra.is_empty());
        for bad in [
            "--export=ALL,LD_PRELOAD=/x",
            "--wrap=id",
            "--output=/etc/x",
            "--chdir=/",
            "--array=0",
            "-p cpu",
            "--partition",
            "--mem=8G --export=ALL",
        ] {
            assert!(s(&[bad]).resolved().is_err(), "{bad} accepted");
        }
        assert_eq!(status_code(&[]), 0);
    }

    #[test]
    fn status_codes_say_complete_busy_or_idle() {
        let row = |done, running, failed| PhaseStatus { phase: "s0".into(), units: 4, done, running, failed, ..Default::default() };
        assert_eq!(status_code(&[row(4, 0, 0)]), 0);
        assert_eq!(status_code(&[row(4, 0, 0), row(2, 1, 1)]), 3);
        assert_eq!(status_code(&[row(3, 0, 1)]), 4);
        assert_eq!(status_code(&[row(0, 0, 0)]), 4);
    }
}
