//! The `sluice` command line.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use sluice_pipeline::output::OutputDir;
use sluice_pipeline::stats::RunStats;
use sluice_pipeline::{Error, Progress, RunOptions};

mod classifier_cli;
mod registry;
mod s3_output;
mod slurm;
mod train_section;

/// sluice: crawled data in, pretraining data out. Streaming, deterministic,
/// resumable.
#[derive(Parser)]
#[command(name = "sluice", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a recipe (all unfinished tasks, or one with --task).
    Run(RunArgs),
    /// Check a recipe. Prints every error with its path and exits 1; prints
    /// nothing and exits 0 when the recipe is fine.
    Validate {
        /// The recipe (YAML).
        recipe: PathBuf,
    },
    /// List the phases of a recipe run with N tasks: stream segments and the
    /// steps of its global stages, each with its number of units.
    Phases {
        /// The recipe (YAML).
        recipe: PathBuf,
        /// The task count the run uses.
        #[arg(long, value_name = "N", default_value_t = 1)]
        tasks: usize,
    },
    /// Per phase, the units of a run that are done, running, queued, failed
    /// or not submitted (completion markers, and squeue for Slurm runs).
    ///
    /// Exit status: 0 when every unit of every phase is done; 3 when the
    /// run is unfinished and some of its jobs are still queued or running;
    /// 4 when it is unfinished and nothing of it is queued or running (units
    /// failed, were cancelled or never ran: run the same command again to
    /// finish it); 1 on an error (not a sluice output directory, unreadable
    /// files); 2 on a usage error.
    Status {
        /// The run's output directory.
        out_dir: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the funnel of a run: documents and bytes per node, drop reasons.
    Stats {
        /// The run's output directory.
        out_dir: PathBuf,
        /// Print the merged stats as JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Quantiles of every numeric attribute, per source and language.
        #[arg(long)]
        signals: bool,
        /// Re-evaluate a threshold on the recorded signals, e.g.
        /// `gopher_quality.min_doc_words=80` (repeatable).
        #[arg(long = "what-if", value_name = "STAGE.OPTION=VALUE")]
        what_if: Vec<String>,
        /// The writer whose documents --signals/--what-if read (default: the first parquet writer).
        #[arg(long, value_name = "NAME")]
        writer: Option<String>,
    },
    /// Train a model on token shards (CPU; GPU with `--features cuda`).
    Train(sluice_train::cli::TrainArgs),
    /// Evaluate a checkpoint on HellaSwag, LAMBADA, PIQA, ARC, Winogrande, MMLU, C-Eval.
    Eval(sluice_train::cli::EvalArgs),
    /// Export a checkpoint to Hugging Face Llama format.
    Export(sluice_train::cli::ExportArgs),
    /// Write a self-contained HTML report of a run (funnel, signals, mixes, drops, training).
    Report(sluice_report::ReportArgs),
    /// Train or evaluate a BPE tokenizer.
    Tokenizer(sluice_tokens::cli::TokenizerArgs),
    /// Check a token shard's header (and manifest entry) and decode a slice.
    Inspect(sluice_tokens::cli::InspectArgs),
    /// Perplexity with a reference LM: calibrate CCNet buckets, score, AUC, bench.
    Ppl(sluice_perplexity::cli::PplArgs),
    /// Train, apply or evaluate a fastText classifier (`.bin`/`.ftz` models).
    Classifier(classifier_cli::ClassifierArgs),
    /// List component kinds, or describe one kind's options.
    Kinds {
        /// A kind name (e.g. `jsonl`); without it, list every kind.
        name: Option<String>,
        /// Print role, name and JSON schema of each kind as a JSON list.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ProgressArg {
    /// A progress bar on a terminal, log lines every 10 s otherwise.
    Auto,
    /// Log lines every 10 s.
    Log,
    /// Nothing.
    Off,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The recipe (YAML).
    recipe: PathBuf,
    /// Run only task I (0-based) of --tasks N; e.g. `--task $SLURM_ARRAY_TASK_ID`.
    /// Without it, every unfinished task runs here, one after another.
    #[arg(long, value_name = "I")]
    task: Option<usize>,
    /// Run only phase P (a key from `sluice phases`, or its index): the
    /// earlier phases must be complete. With --task, runs one unit of it.
    #[arg(long, value_name = "P")]
    phase: Option<String>,
    /// Split the input files into N tasks. Every process of a run must use
    /// the same N.
    #[arg(long, value_name = "N", default_value_t = 1)]
    tasks: usize,
    /// Worker threads for parallel stages (default: all cores). Output is
    /// byte-identical whatever the thread count.
    #[arg(long, value_name = "T")]
    threads: Option<usize>,
    /// Fail on the first malformed record instead of counting and skipping it.
    #[arg(long)]
    strict: bool,
    /// Write here instead of the recipe's `output` (a directory, or an
    /// `s3://bucket/prefix` URL).
    #[arg(long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// With an `s3://` output: the local staging directory (default: under
    /// ~/.cache/sluice/s3).
    #[arg(long, value_name = "DIR", env = "SLUICE_S3_STAGING")]
    staging: Option<PathBuf>,
    /// Start the output directory over: first delete what an earlier run of
    /// sluice wrote there (its writers' folders, stages' outputs, reports,
    /// `train/`, `_sluice/`), then run from scratch. Use it when a re-run
    /// is refused because the recipe, the task count or the input files
    /// changed. Deletes nothing else: a directory that is not a sluice
    /// output directory, or that holds files sluice did not write, is
    /// refused (and left untouched); symbolic links are never followed.
    /// Not with --task or --phase: restart once, then run the tasks.
    #[arg(long)]
    restart: bool,
    /// How to show progress.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    progress: ProgressArg,
    /// Where the tasks run: here, or as Slurm array jobs (one per phase,
    /// chained with afterok).
    #[arg(long, value_enum, default_value_t = ExecutorArg::Local)]
    executor: ExecutorArg,
    /// With `--executor slurm`: wait until the submitted jobs have left
    /// the queue, then print the status (exit 1 if the run is incomplete).
    #[arg(long)]
    wait: bool,
    #[command(flatten)]
    slurm: slurm::SlurmArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExecutorArg {
    /// Run the tasks in this process, one after another.
    Local,
    /// Submit sbatch array jobs; each element runs one unit of one phase.
    Slurm,
}

// # A closed standard output
//
// `sluice stats OUT | head`: once `head` has its lines it closes the pipe,
// and the next write to stdout fails with EPIPE (Rust ignores SIGPIPE). That
// is not an error: the reader has what it wanted. sluice then stops quietly
// with exit status 0, as ripgrep does, rather than 141 (death by SIGPIPE, as
// `cat` does): nothing failed, and status 0 keeps a `set -o pipefail`
// script that trims sluice's output with `head` from failing. Two commands
// keep going instead: `run`, whose stdout is commentary on work that should
// finish (the rest of its output is discarded), and `status`, whose exit
// status is its answer.

/// Set once a write to stdout failed because its reader went away.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Standard output that notices a closed pipe (see above).
struct Stdout {
    inner: io::StdoutLock<'static>,
    /// On a closed pipe, discard the rest of the output instead of failing.
    keep_going: bool,
}

impl Stdout {
    fn closed<T>(&self, len: T, e: io::Error) -> io::Result<T> {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if self.keep_going {
            Ok(len)
        } else {
            Err(e)
        }
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if STDOUT_CLOSED.load(Ordering::Relaxed) {
            return self.closed(buf.len(), io::ErrorKind::BrokenPipe.into());
        }
        match self.inner.write(buf) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => self.closed(buf.len(), e),
            r => r,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if STDOUT_CLOSED.load(Ordering::Relaxed) {
            return self.closed((), io::ErrorKind::BrokenPipe.into());
        }
        match self.inner.flush() {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => self.closed((), e),
            r => r,
        }
    }
}

/// Is `e` a write to a closed pipe (however a library wrapped it)?
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>().is_some_and(|j| j.io_error_kind() == Some(io::ErrorKind::BrokenPipe))
    })
}

/// `println!` in library code panics when stdout is a closed pipe; that
/// panic ends the process quietly with status 0 too.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let p = info.payload();
        let msg = p.downcast_ref::<String>().map(String::as_str).or_else(|| p.downcast_ref::<&str>().copied()).unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info)
    }));
}

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = Cli::parse();
    // Every write of `run` to stdout goes through [`Stdout`]; a broken pipe
    // elsewhere in a run (a subprocess's) is a real error.
    let is_run = matches!(cli.command, Command::Run(_));
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            // A closed pipe (`sluice stats out | head`) is not an error.
            if STDOUT_CLOSED.load(Ordering::Relaxed) || (!is_run && is_broken_pipe(&e)) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", error_text(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, `: `-separated, each said once: a cause whose
/// text its parent already contains (`malformed input (--strict): F: line
/// 3: ...` wrapping the record error `F: line 3: ...`) is left out.
fn error_text(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || parts.last().is_some_and(|p| p.contains(&text)) {
            continue;
        }
        parts.push(text);
    }
    parts.join(": ")
}

fn read_recipe(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read recipe {}", path.display()))
}

/// The environment variables a recipe's top-level `output:` reads
/// (`output: ${SLUICE_OUT:-out/quickstart}` gives `SLUICE_OUT`).
fn output_vars(text: &str) -> Vec<String> {
    let Some(line) = text.lines().find(|l| l.starts_with("output:")) else { return Vec::new() };
    let mut vars = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("${") {
        rest = &rest[at + 2..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !name.is_empty() && !vars.contains(&name) {
            vars.push(name);
        }
    }
    vars
}

/// Name the recipe in an error of its run, and for an output directory that
/// cannot be continued, the variable that moves it.
fn run_error(e: impl Into<anyhow::Error>, recipe: &Path, text: &str) -> anyhow::Error {
    let mut e: anyhow::Error = e.into();
    let vars = output_vars(text);
    if let (Some(Error::Output { .. }), Some(var)) = (e.downcast_ref::<Error>(), vars.first()) {
        e = anyhow::anyhow!("{e} (or set {var}=DIR: this recipe's `output:` reads ${var})");
    }
    e.context(format!("recipe {}", recipe.display()))
}

fn dispatch(cmd: Command) -> anyhow::Result<ExitCode> {
    let keep_going = matches!(cmd, Command::Run(_) | Command::Status { .. });
    let mut stdout = Stdout { inner: io::stdout().lock(), keep_going };
    match cmd {
        Command::Validate { recipe } => {
            let text = read_recipe(&recipe)?;
            match sluice_pipeline::compile(&text, &registry::kinds()) {
                Ok(_) => Ok(ExitCode::SUCCESS),
                Err(Error::Recipe(diags)) => {
                    for d in diags {
                        writeln!(stdout, "{}: {d}", recipe.display())?;
                    }
                    Ok(ExitCode::FAILURE)
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Run(a) => {
            let text = read_recipe(&a.recipe)?;
            let recipe = sluice_pipeline::compile(&text, &registry::kinds()).with_context(|| format!("recipe {}", a.recipe.display()))?;
            if a.restart {
                restart(&a, &recipe, &text)?;
            }
            if a.executor == ExecutorArg::Slurm {
                return submit_slurm(&a, &recipe, &mut stdout).map_err(|e| run_error(e, &a.recipe, &text));
            }
            if a.wait || !a.slurm.is_empty() {
                anyhow::bail!(
                    "--wait, --partition, --cpus-per-task, --mem, --time, --sbatch and --slurm-binary apply to `--executor slurm` only"
                );
            }
            let threads = a.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
            let out = s3_output::open(a.output.as_deref(), &recipe.output, a.staging.as_deref(), a.phase.as_deref(), a.task)?;
            let (output, mirror) = match &out {
                s3_output::Output::Local(p) => (p.clone(), None),
                s3_output::Output::S3(m) => {
                    (Some(m.stage().to_path_buf()), Some(m.clone() as std::sync::Arc<dyn sluice_pipeline::exec::OutputMirror>))
                }
            };
            let opts = RunOptions {
                task: a.task,
                phase: a.phase,
                tasks: a.tasks,
                threads,
                strict: a.strict,
                progress: match a.progress {
                    ProgressArg::Auto => Progress::Auto,
                    ProgressArg::Log => Progress::Log,
                    ProgressArg::Off => Progress::Off,
                },
                output,
                fuse: true,
                mirror,
            };
            let summary = sluice_pipeline::run(&recipe, &opts).map_err(|e| run_error(e, &a.recipe, &text))?;
            if !summary.skipped.is_empty() {
                eprintln!("skipped {} unit(s) already complete: {}", summary.skipped.len(), summary.skipped.join(", "));
            }
            write!(stdout, "{}", summary.stats.funnel_table())?;
            let shown = match &out {
                s3_output::Output::S3(m) => m.url().to_string(),
                s3_output::Output::Local(_) => summary.output.display().to_string(),
            };
            if summary.complete {
                writeln!(stdout, "\nrun complete: {shown}")?;
                if let (Some(_), s3_output::Output::S3(m)) = (&recipe.train, &out) {
                    // Training reads every writer's shards.
                    m.pull_everything();
                    sluice_pipeline::exec::OutputMirror::pull(&**m, &OutputDir::new(m.stage()))?;
                }
                if let Some(t) = &recipe.train {
                    let mut section = train_section::parse(t, &recipe, &summary.output).map_err(|d| {
                        anyhow::anyhow!("recipe {}: {}", a.recipe.display(), d.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))
                    })?;
                    train_section::run(&mut section, &mut stdout).with_context(|| {
                        format!(
                            "recipe {}: train (the data is complete; fix the cause and run the same command again to train)",
                            a.recipe.display()
                        )
                    })?;
                }
                match sluice_report::write_report(
                    &summary.output,
                    None,
                    &sluice_report::ReportOptions { kinds: registry::kinds(), ..Default::default() },
                ) {
                    Ok(p) => writeln!(stdout, "report: {}", p.display())?,
                    Err(e) => eprintln!("warning: no report written: {e:#}"),
                }
                if let s3_output::Output::S3(m) = &out {
                    sluice_pipeline::exec::OutputMirror::push(&**m, &OutputDir::new(m.stage()))?;
                }
            } else {
                writeln!(
                    stdout,
                    "\nran {}; other units of this run are not finished yet: {}",
                    if summary.ran.is_empty() { "nothing".to_string() } else { summary.ran.join(", ") },
                    shown
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Phases { recipe, tasks } => {
            let text = read_recipe(&recipe)?;
            let recipe = sluice_pipeline::compile(&text, &registry::kinds()).with_context(|| format!("recipe {}", recipe.display()))?;
            writeln!(stdout, "{:<5} {:<32} {:>6}  runs", "index", "phase", "units")?;
            for p in sluice_pipeline::phase::phases(&recipe, tasks) {
                let what = match p.kind {
                    sluice_pipeline::phase::PhaseKind::Stream { segment } => {
                        let names: Vec<&str> = recipe
                            .nodes
                            .iter()
                            .filter(|n| n.segment == segment || (n.is_global() && n.segment + 1 == segment))
                            .map(|n| n.name.as_str())
                            .collect();
                        format!("stream: {}", names.join(", "))
                    }
                    sluice_pipeline::phase::PhaseKind::Step { node, .. } => format!("step of global stage `{}`", recipe.nodes[node].name),
                };
                writeln!(stdout, "{:<5} {:<32} {:>6}  {what}", p.index, p.key, p.units)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { out_dir, json } => {
            let (tasks, rows) = slurm::status(&OutputDir::new(&out_dir))?;
            if json {
                serde_json::to_writer_pretty(&mut stdout, &serde_json::json!({"tasks": tasks, "phases": rows}))?;
                writeln!(stdout)?;
            } else {
                write!(stdout, "{}", slurm::status_table(tasks, &rows))?;
            }
            Ok(ExitCode::from(slurm::status_code(&rows)))
        }
        Command::Stats { out_dir, json, signals, what_if, writer } if signals || !what_if.is_empty() => {
            sluice_quality::signals::run_cli(&registry::kinds(), &out_dir, signals, &what_if, writer.as_deref(), json, &mut stdout)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Stats { out_dir, json, .. } => {
            let stats = RunStats::load(&OutputDir::new(&out_dir))?;
            if json {
                serde_json::to_writer_pretty(&mut stdout, &stats)?;
                writeln!(stdout)?;
            } else {
                write!(stdout, "{}", stats.funnel_table())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Train(a) => {
            sluice_train::cli::run_train(&a)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval(a) => {
            sluice_train::cli::run_eval(&a)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Export(a) => {
            sluice_train::cli::run_export(&a)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Report(a) => {
            writeln!(stdout, "report: {}", sluice_report::run_cli(&a, &registry::kinds())?.display())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Tokenizer(a) => {
            match &a.command {
                sluice_tokens::cli::TokenizerCommand::Train(t) => sluice_tokens::cli::train(t)?,
                sluice_tokens::cli::TokenizerCommand::Eval(e) => sluice_tokens::cli::eval(e)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Inspect(a) => {
            sluice_tokens::cli::inspect(&a, &mut stdout)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ppl(a) => {
            sluice_perplexity::cli::run(&a)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Classifier(a) => {
            classifier_cli::run(&a)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Kinds { name, json } => {
            if json {
                writeln!(stdout, "{}", registry::kinds_json(name.as_deref()))?;
                return Ok(ExitCode::SUCCESS);
            }
            match name {
                None => {
                    for k in registry::kinds().iter() {
                        writeln!(stdout, "{:<7} {:<12} {}", format!("{:?}", k.role).to_lowercase(), k.name, k.about)?;
                    }
                    writeln!(stdout, "\n`sluice kinds NAME` describes a kind's options.")?;
                }
                Some(n) => {
                    let kinds = registry::kinds();
                    let found: Vec<_> = kinds.iter().filter(|k| k.name == n).collect();
                    if found.is_empty() {
                        anyhow::bail!("no kind named `{n}` (see `sluice kinds`)");
                    }
                    for k in found {
                        writeln!(stdout, "{}", registry::describe(k))?;
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `sluice run --restart`: remove what earlier runs wrote in the output
/// directory (see [`OutputDir::restart`]).
fn restart(a: &RunArgs, recipe: &sluice_pipeline::Recipe, text: &str) -> anyhow::Result<()> {
    if a.task.is_some() || a.phase.is_some() {
        anyhow::bail!(
            "--restart starts the whole run over, so it cannot run as one task or phase of it (the other tasks' work would be \
             deleted under them): run `sluice run {} --restart` once, then the tasks",
            a.recipe.display()
        );
    }
    let root = a.output.clone().unwrap_or_else(|| recipe.output.clone());
    if root.to_str().is_some_and(sluice_objstore::is_url) {
        anyhow::bail!(
            "--restart does not delete an s3:// output yet: remove the prefix (e.g. `aws s3 rm --recursive {}`), then run again",
            root.display()
        );
    }
    let out = OutputDir::new(&root);
    let mut outputs = out.recorded_outputs().map_err(|e| run_error(e, &a.recipe, text))?;
    outputs.extend(recipe.outputs.iter().cloned());
    let removed = out.restart(&outputs).map_err(|e| run_error(e, &a.recipe, text))?;
    if removed.is_empty() {
        eprintln!("--restart: nothing to remove in {}", root.display());
    } else {
        eprintln!("--restart: removed {} from {}", removed.join(", "), root.display());
    }
    Ok(())
}

fn submit_slurm(a: &RunArgs, recipe: &sluice_pipeline::Recipe, stdout: &mut impl Write) -> anyhow::Result<ExitCode> {
    if a.task.is_some() || a.phase.is_some() {
        anyhow::bail!("--executor slurm submits every unfinished unit of every phase; --task and --phase are for the jobs it runs");
    }
    let settings = slurm::settings(recipe, &a.slurm)?;
    let sbatch_args = slurm::sbatch_args(&a.slurm)?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let binary = slurm::binary(&a.slurm, &cwd)?;
    let root = a.output.clone().unwrap_or_else(|| recipe.output.clone());
    if root.to_str().is_some_and(sluice_objstore::is_url) {
        anyhow::bail!(
            "--executor slurm does not take an s3:// output yet; run `sluice run --tasks N --task I` in your own job script instead"
        );
    }
    let prepared = sluice_pipeline::exec::prepare(recipe, a.tasks, &root)?;
    let sub = slurm::Submission {
        recipe_path: &std::fs::canonicalize(&a.recipe).with_context(|| format!("cannot resolve {}", a.recipe.display()))?,
        out: &prepared.out,
        phases: &prepared.phases,
        tasks: a.tasks,
        settings,
        sbatch_args,
        binary,
        cwd,
        strict: a.strict,
        output_flag: a.output.is_some(),
    };
    let jobs = slurm::submit(&sub)?;
    if jobs.is_empty() {
        writeln!(stdout, "nothing to submit: every unit of every phase is done ({})", root.display())?;
        return Ok(ExitCode::SUCCESS);
    }
    for j in &jobs {
        writeln!(stdout, "submitted job {} for phase {} ({} unit(s)): {}", j.job, j.phase, j.units.len(), j.script)?;
    }
    if !a.wait {
        writeln!(stdout, "follow it with: sluice status {}", root.display())?;
        return Ok(ExitCode::SUCCESS);
    }
    stdout.flush()?;
    slurm::wait(&jobs)?;
    let (tasks, rows) = slurm::status(&prepared.out)?;
    write!(stdout, "{}", slurm::status_table(tasks, &rows))?;
    let complete = rows.iter().all(|r| r.done == r.units);
    if complete {
        writeln!(stdout, "\nrun complete: {}", root.display())?;
    }
    Ok(if complete { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
