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
use sluice_pipeline::exec::Prepared;
use sluice_pipeline::output::{write_atomic, OutputDir};
use sluice_pipeline::phase::Phase;
use sluice_pipeline::recipe::SlurmSettings;
use sluice_pipeline::Recipe;

/// Command-line overrides of the recipe's `slurm:` settings.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct SlurmArgs {
    /// Slurm partition (overrides `slurm.partition`).
    #[arg(long, value_name = "NAME")]
    pub partition: Option<String>,
    /// CPUs per array task (overrides `slurm.cpus_per_task`).
    #[arg(long, value_name = "N")]
    pub cpus_per_task: Option<u32>,
    /// Memory per array task, e.g. 8G (overrides `slurm.mem`).
    #[arg(long, value_name = "SIZE")]
    pub mem: Option<String>,
    /// Time limit per array task, e.g. 02:00:00 (overrides `slurm.time`).
    #[arg(long, value_name = "TIME")]
    pub time: Option<String>,
    /// An extra sbatch option for every job, e.g. `--sbatch=--qos=high`
    /// (repeatable; added after `slurm.extra`).
    #[arg(long = "sbatch", value_name = "OPTION", allow_hyphen_values = true)]
    pub sbatch: Vec<String>,
}

/// The effective settings: recipe first, command line over it.
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
    s.extra.extend(args.sbatch.iter().cloned());
    let errs = s.check();
    if !errs.is_empty() {
        let list: Vec<String> = errs.into_iter().map(|(f, m)| format!("slurm.{f}: {m}")).collect();
        bail!("invalid Slurm settings:\n  {}", list.join("\n  "));
    }
    Ok(s)
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
    pub prepared: &'a Prepared,
    pub tasks: usize,
    pub settings: SlurmSettings,
    pub strict: bool,
    /// Override of the output directory given on the command line.
    pub output_flag: bool,
}

/// The batch script of one phase.
pub fn script(sub: &Submission, phase: &Phase, units: &[usize], binary: &Path, cwd: &Path) -> String {
    let out = sub.prepared.out.root();
    let logs = slurm_dir(&sub.prepared.out).join("logs");
    let s = &sub.settings;
    let mut t = String::from("#!/bin/bash\n");
    let _ = writeln!(t, "# Written by `sluice run --executor slurm`: phase {} ({}), {} unit(s).", phase.key, phase.index, units.len());
    let _ = writeln!(t, "#SBATCH --job-name=sluice-{}", phase.key);
    let _ = writeln!(t, "#SBATCH --array={}", array_spec(units));
    let _ = writeln!(t, "#SBATCH --output={}/{}-%a.log", logs.display(), phase.key);
    let _ = writeln!(t, "#SBATCH --chdir={}", cwd.display());
    let _ = writeln!(t, "#SBATCH --cpus-per-task={}", s.cpus_per_task.unwrap_or(1));
    for (flag, v) in [("partition", &s.partition), ("mem", &s.mem), ("time", &s.time), ("account", &s.account), ("qos", &s.qos)] {
        if let Some(v) = v {
            let _ = writeln!(t, "#SBATCH --{flag}={v}");
        }
    }
    for e in &s.extra {
        let _ = writeln!(t, "#SBATCH {e}");
    }
    t.push_str("set -euo pipefail\n");
    let mut cmd = vec![
        shell_quote(&binary.display().to_string()),
        "run".into(),
        shell_quote(&sub.recipe_path.display().to_string()),
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
        cmd.push(shell_quote(&out.display().to_string()));
    }
    if sub.strict {
        cmd.push("--strict".into());
    }
    let _ = writeln!(t, "exec {}", cmd.join(" "));
    t
}

/// Submit every phase that has unfinished units, chained with
/// `afterok`. Returns what was submitted.
pub fn submit(sub: &Submission) -> anyhow::Result<Vec<SubmittedJob>> {
    let out = &sub.prepared.out;
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

    let binary = match &sub.settings.binary {
        Some(b) => PathBuf::from(b),
        None => std::env::current_exe().context("cannot find the sluice binary")?,
    };
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    // These paths go into `#SBATCH` lines, which sbatch splits on
    // whitespace and which end at a newline.
    for p in [out.root(), cwd.as_path(), binary.as_path()] {
        let s = p.display().to_string();
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            bail!("the Slurm executor needs paths without spaces or control characters: {s:?}");
        }
    }
    let mut submitted: Vec<SubmittedJob> = Vec::new();
    let mut previous: Option<String> = None;
    for phase in &sub.prepared.phases {
        let units: Vec<usize> = (0..phase.units).filter(|&u| !out.is_unit_done(&phase.key, u)).collect();
        if units.is_empty() {
            continue;
        }
        let text = script(sub, phase, &units, &binary, &cwd);
        let path = dir.join(format!("{:02}-{}.sbatch", phase.index, phase.key));
        write_atomic(&path, text.as_bytes())?;
        let mut cmd = Command::new("sbatch");
        cmd.arg("--parsable");
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
    if complete {
        s.push_str("run complete\n");
    } else if failed > 0 {
        s.push_str("some units failed or were cancelled (logs in _sluice/slurm/logs); re-run the same command to submit what is missing\n");
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
}
