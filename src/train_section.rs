//! The recipe's `train:` section: once every phase of a run is done, train a
//! model on the run's own token shards and evaluate it, so one recipe goes
//! from crawl to checkpoint.
//!
//! ```yaml
//! train:
//!   shards: pack            # the `pack` stage whose shards to train on
//!   preset: tiny            # any `sluice train` option, snake_case
//!   steps: 300
//!   eval:                   # optional: any `sluice eval` option
//!     tasks: [hellaswag, my_test]
//!     limit: 100
//!     benchmarks:           # optional: benchmark specs, as `--benchmark` files hold them
//!       - {name: my_test, format: jsonl, files: [/data/my_test.jsonl], question: q, answer: a, answer_type: text}
//! ```
//!
//! Options are exactly the flags of `sluice train` and `sluice eval` (parsed
//! by the same clap definitions), so the two cannot drift apart. `tasks` may
//! also name a benchmark that a `decontaminate` stage of the recipe gives by
//! its spec, so one spec serves both (its relative files are then read from
//! that stage's `eval_dir`, as the stage reads them). The run
//! directory is always `OUT/train`; a re-run continues an unfinished training
//! from its latest checkpoint and skips a finished one. `steps: 0` skips
//! training and evaluation (the quickstart's `QUICKSTART_TRAIN_STEPS=0`).
//!
//! `sluice validate` (and `sluice run`, before any stage runs) checks the
//! whole section: unknown keys, every value's range, the preset, the checks
//! between options, and those that involve the shards' `seq_len`, which the
//! recipe's `pack` stage fixes.

use std::path::{Path, PathBuf};

use clap::{Args, FromArgMatches};
use serde_json::{Map, Value};
use sluice_pipeline::{Diagnostic, Recipe};
use sluice_train::cli::{EvalArgs, TrainArgs};

/// Keys the section itself owns (not passed to `sluice train`).
const OWN_KEYS: &[&str] = &["shards", "eval"];
/// Flags the section sets itself.
const FIXED_FLAGS: &[&str] = &["shards", "out", "resume", "checkpoint", "json"];

/// The parsed section.
pub struct TrainSection {
    pub shards_node: String,
    /// `steps: 0`: neither train nor evaluate.
    pub skip: bool,
    pub train: TrainArgs,
    pub eval: Option<EvalArgs>,
}

/// Where the run keeps its training run.
pub fn run_dir(out: &Path) -> PathBuf {
    out.join("train")
}

/// Turn `{steps: 300, doc_mask: true, tasks: [a, b]}` into clap arguments,
/// reporting every key the command does not have.
fn argv(map: &Map<String, Value>, path: &str, cmd: &clap::Command, skip: &[&str], diags: &mut Vec<Diagnostic>) -> Vec<String> {
    let longs: Vec<String> = cmd.get_arguments().filter_map(|a| a.get_long().map(str::to_string)).collect();
    let mut out = Vec::new();
    for (k, v) in map {
        if skip.contains(&k.as_str()) {
            continue;
        }
        let flag = k.replace('_', "-");
        let p = format!("{path}.{k}");
        if FIXED_FLAGS.contains(&flag.as_str()) {
            diags.push(Diagnostic::new(p, "is set by sluice (the run directory is OUT/train; a re-run resumes it)"));
            continue;
        }
        if !longs.contains(&flag) {
            let mut known: Vec<String> =
                longs.iter().filter(|l| !FIXED_FLAGS.contains(&l.as_str()) && *l != "help").map(|l| l.replace('-', "_")).collect();
            known.sort();
            diags.push(Diagnostic::new(p, format!("unknown key (expected one of: {})", known.join(", "))));
            continue;
        }
        match v {
            Value::Bool(true) => out.push(format!("--{flag}")),
            Value::Bool(false) => {}
            // `--flag=value`: a negative number is a value, not a flag.
            Value::Number(n) => out.push(format!("--{flag}={n}")),
            Value::String(s) => out.push(format!("--{flag}={s}")),
            Value::Array(items) => {
                let parts: Option<Vec<String>> = items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    })
                    .collect();
                match parts {
                    Some(p) => out.push(format!("--{flag}={}", p.join(","))),
                    None => diags.push(Diagnostic::new(p, "must be a list of strings or numbers")),
                }
            }
            _ => diags.push(Diagnostic::new(p, "must be a string, number, boolean or list")),
        }
    }
    out
}

fn parse_args<T: Args + FromArgMatches>(name: &'static str, path: &str, mut args: Vec<String>, diags: &mut Vec<Diagnostic>) -> Option<T> {
    let cmd = T::augment_args(clap::Command::new(name)).no_binary_name(true);
    args.retain(|a| !a.is_empty());
    match cmd.try_get_matches_from(args) {
        Ok(m) => match T::from_arg_matches(&m) {
            Ok(t) => Some(t),
            Err(e) => {
                diags.push(Diagnostic::new(path, first_line(&e.to_string())));
                None
            }
        },
        Err(e) => {
            diags.push(Diagnostic::new(path, first_line(&e.to_string())));
            None
        }
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim_start_matches("error: ").to_string()
}

/// Parse and check the section against the compiled recipe. `out` is the
/// run's output directory (the recipe's, or `--output`).
pub fn parse(v: &Value, recipe: &Recipe, out: &Path) -> Result<TrainSection, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let Some(map) = v.as_object() else {
        return Err(vec![Diagnostic::new("train", "must be a mapping of `sluice train` options plus `shards` (and optional `eval`)")]);
    };
    let shards_node = match map.get("shards") {
        Some(Value::String(s)) => match recipe.node(s) {
            Some(n) if n.kind == "pack" => s.clone(),
            Some(n) => {
                diags.push(Diagnostic::new("train.shards", format!("`{s}` is a `{}`; name a `pack` stage", n.kind)));
                String::new()
            }
            None => {
                diags.push(Diagnostic::new("train.shards", format!("no stage is named `{s}`; name the recipe's `pack` stage")));
                String::new()
            }
        },
        _ => {
            diags.push(Diagnostic::new("train.shards", "missing: the name of the `pack` stage whose shards to train on"));
            String::new()
        }
    };
    // `steps: 0` skips training; the other options are still checked (with
    // the default step count standing in).
    let skip = map.get("steps").is_some_and(|v| v.as_u64() == Some(0) || v.as_str().is_some_and(|s| s.trim() == "0"));
    let mut own: Vec<&str> = OWN_KEYS.to_vec();
    if skip {
        own.push("steps");
    }
    let train_cmd = TrainArgs::augment_args(clap::Command::new("train"));
    let mut targs = vec!["--shards".to_string(), shards_dir(out, recipe, &shards_node).display().to_string()];
    targs.extend(["--out".to_string(), run_dir(out).display().to_string()]);
    targs.extend(argv(map, "train", &train_cmd, &own, &mut diags));
    let train = parse_args::<TrainArgs>("train", "train", targs, &mut diags);
    // Checks between options (min_lr <= lr, micro-batch size, ...): reported
    // by `validate`, not after the pipeline has run.
    for m in train.iter().flat_map(TrainArgs::check) {
        diags.push(Diagnostic::new("train", m));
    }
    if let Some(t) = &train {
        diags.extend(check_with_shards(t, recipe, &shards_node));
        if let Some(tok) = t.tokenizer.as_ref().filter(|p| !p.is_file()) {
            diags.push(Diagnostic::new("train.tokenizer", format!("`{}` is not a file", tok.display())));
        }
    }
    let eval = match map.get("eval") {
        None => None,
        Some(Value::Object(e)) => {
            let eval_cmd = EvalArgs::augment_args(clap::Command::new("eval"));
            let mut eargs = vec!["--checkpoint".to_string(), run_dir(out).display().to_string()];
            eargs.extend(argv(e, "train.eval", &eval_cmd, &["benchmarks"], &mut diags));
            let mut args = parse_args::<EvalArgs>("eval", "train.eval", eargs, &mut diags);
            if let Some(a) = &mut args {
                a.specs = inline_specs(e.get("benchmarks"), &mut diags);
                a.known_specs = decontaminate_specs(recipe);
                if let Err(errs) = a.resolve_tasks() {
                    diags.extend(errs.into_iter().map(|m| Diagnostic::new("train.eval", m)));
                }
            }
            args
        }
        Some(_) => {
            diags.push(Diagnostic::new("train.eval", "must be a mapping of `sluice eval` options"));
            None
        }
    };
    match (diags.is_empty(), train) {
        (true, Some(train)) => Ok(TrainSection { shards_node, skip, train, eval }),
        _ => Err(diags),
    }
}

/// Without `seq_len`, training takes the shards' (the `pack` stage's
/// `seq_len` option): check the options against that value now, rather
/// than when the shards exist.
fn check_with_shards(t: &TrainArgs, recipe: &Recipe, node: &str) -> Vec<Diagnostic> {
    if t.seq_len.is_some() || node.is_empty() {
        return Vec::new();
    }
    let Some(pack) = recipe.resolved.get("stages").and_then(|s| s.get(node)).and_then(|n| n.get("seq_len")).and_then(Value::as_u64) else {
        return Vec::new();
    };
    let before = t.check();
    let with = TrainArgs { seq_len: Some(pack as usize), ..t.clone() };
    with.check()
        .into_iter()
        .filter(|m| !before.contains(m))
        .map(|m| {
            Diagnostic::new(
                "train",
                format!(
                    "{m} (without train.seq_len, training uses the shards' seq_len: stages.{node}.seq_len = {pack}; set train.seq_len)"
                ),
            )
        })
        .collect()
}

/// `train.eval.benchmarks`: a list of benchmark specs.
fn inline_specs(v: Option<&Value>, diags: &mut Vec<Diagnostic>) -> Vec<sluice_safety::BenchmarkSpec> {
    let mut out = Vec::new();
    match v {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let at = format!("train.eval.benchmarks[{i}]");
                match serde_json::from_value::<sluice_safety::BenchmarkSpec>(item.clone()) {
                    Ok(s) => {
                        let errs = s.validate();
                        if errs.is_empty() {
                            out.push(s);
                        }
                        diags.extend(errs.into_iter().map(|(f, m)| Diagnostic::new(format!("{at}.{f}"), m)));
                    }
                    Err(e) => diags.push(Diagnostic::new(at, e.to_string())),
                }
            }
        }
        Some(_) => diags.push(Diagnostic::new("train.eval.benchmarks", "must be a list of benchmark specs")),
    }
    out
}

/// The benchmark specs that the recipe's `decontaminate` stages give inline
/// (their mistakes are the stages' to report), their relative files made
/// relative to the stage's `eval_dir`, so that eval reads the same files.
fn decontaminate_specs(recipe: &Recipe) -> Vec<sluice_safety::BenchmarkSpec> {
    let Some(Value::Object(stages)) = recipe.resolved.get("stages") else { return Vec::new() };
    let mut out = Vec::new();
    for node in stages.values().filter(|n| n.get("kind").and_then(Value::as_str) == Some("decontaminate")) {
        let dir = node.get("eval_dir").and_then(Value::as_str).map(PathBuf::from);
        let at = |f: &str| match &dir {
            Some(d) if Path::new(f).is_relative() => d.join(f).display().to_string(),
            _ => f.to_string(),
        };
        for b in node.get("benchmarks").and_then(Value::as_array).into_iter().flatten().filter(|b| b.is_object()) {
            let Ok(mut s) = serde_json::from_value::<sluice_safety::BenchmarkSpec>(b.clone()) else { continue };
            if !s.validate().is_empty() {
                continue;
            }
            s.files = s.files.iter().map(|f| at(f)).collect();
            s.fewshot_files = s.fewshot_files.as_deref().map(at);
            out.push(s);
        }
    }
    out
}

/// The shard directory a `pack` stage writes: its `dir` option, or its name.
pub fn shards_dir(out: &Path, recipe: &Recipe, node: &str) -> PathBuf {
    let dir = recipe.resolved.get("stages").and_then(|s| s.get(node)).and_then(|n| n.get("dir")).and_then(|d| d.as_str());
    out.join(dir.unwrap_or(node))
}

/// Train (or finish training) and evaluate.
pub fn run(section: &mut TrainSection, stdout: &mut impl std::io::Write) -> anyhow::Result<()> {
    let dir = section.train.out.clone();
    if section.skip {
        writeln!(
            stdout,
            "training skipped: train.steps is 0, so the `train:` section neither trains nor evaluates; set steps above 0 and run \
             the same command again to train on these shards"
        )?;
        return Ok(());
    }
    let done = match sluice_train::checkpoint::latest(&dir)? {
        Some(ck) => {
            let state = sluice_train::checkpoint::load_state(&ck)?;
            if state.step >= section.train.steps {
                true
            } else {
                section.train.resume = true;
                false
            }
        }
        None => false,
    };
    if done {
        writeln!(stdout, "training already finished: {}", dir.display())?;
    } else {
        writeln!(
            stdout,
            "training `{}` on the shards of `{}` ({} steps): {}",
            section.train.preset,
            section.shards_node,
            section.train.steps,
            dir.display()
        )?;
        stdout.flush()?;
        sluice_train::cli::run_train(&section.train)?;
    }
    if let Some(e) = &section.eval {
        stdout.flush()?;
        sluice_train::cli::run_eval(e)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_map_to_flags_and_unknown_keys_are_all_reported() {
        let cmd = TrainArgs::augment_args(clap::Command::new("train"));
        let mut diags = Vec::new();
        let m = serde_json::json!({"steps": 300, "doc_mask": true, "lr": 0.001, "stepz": 1, "out": "x", "warmupp": 2});
        let a = argv(m.as_object().unwrap(), "train", &cmd, &[], &mut diags);
        assert_eq!(a, vec!["--steps=300", "--doc-mask", "--lr=0.001"]);
        let paths: Vec<String> = diags.iter().map(|d| d.path.clone()).collect();
        assert_eq!(paths, vec!["train.stepz", "train.out", "train.warmupp"]);
        assert!(diags[0].message.contains("batch_tokens"), "{}", diags[0].message);
    }

    /// Issue 17: eval reads a decontaminate stage's spec from the stage's
    /// `eval_dir`, the files the stage indexed.
    #[test]
    fn decontaminate_specs_read_the_stages_eval_dir() {
        let d = std::env::temp_dir().join(format!("sluice-train-section-{}", std::process::id()));
        std::fs::create_dir_all(d.join("eval/q")).unwrap();
        let item = "{\"q\": \"a question long enough to be indexed by the stage\", \"a\": \"yes\"}\n";
        std::fs::write(d.join("eval/q/items.jsonl"), item).unwrap();
        std::fs::write(d.join("abs.jsonl"), item).unwrap();
        std::fs::write(d.join("in.jsonl"), "{\"id\": \"1\", \"text\": \"x\"}\n").unwrap();
        let text = format!(
            "output: {out}\nreaders:\n  web: {{kind: jsonl, paths: [{input}]}}\nstages:\n  dc:\n    kind: decontaminate\n    inputs: [web]\n    eval_dir: {eval}\n    benchmarks:\n      - {{name: quiz, format: jsonl, files: [q/items.jsonl, {abs}], question: q, answer: a, answer_type: text}}\nwriters:\n  w: {{kind: jsonl, inputs: [dc]}}\n",
            out = d.join("out").display(),
            input = d.join("in.jsonl").display(),
            eval = d.join("eval").display(),
            abs = d.join("abs.jsonl").display()
        );
        let recipe = sluice_pipeline::compile(&text, &crate::registry::kinds()).expect("recipe compiles");
        let specs = decontaminate_specs(&recipe);
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].name, "quiz");
        assert_eq!(specs[0].files, vec![d.join("eval/q/items.jsonl").display().to_string(), d.join("abs.jsonl").display().to_string()]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// Issue 21, hole 7: the section's values are range-checked at `validate`
    /// time, like `sluice train`'s flags (the same clap definitions).
    #[test]
    fn out_of_range_values_are_diagnostics() {
        let cmd = TrainArgs::augment_args(clap::Command::new("train"));
        for (v, want) in [
            (serde_json::json!({"seq_len": 0}), "--seq-len"),
            (serde_json::json!({"batch_tokens": 1000000000000u64}), "--batch-tokens"),
            (serde_json::json!({"lr": -1.0}), "--lr"),
            (serde_json::json!({"steps": 0}), "--steps"),
            (serde_json::json!({"lr": 0.001, "min_lr": 0.1}), "min_lr"),
            (serde_json::json!({"seq_len": 512, "micro_batch": 4096}), "tokens per pass"),
        ] {
            let mut diags = Vec::new();
            let mut args = vec!["--shards".to_string(), "s".into(), "--out".into(), "o".into()];
            args.extend(argv(v.as_object().unwrap(), "train", &cmd, OWN_KEYS, &mut diags));
            if let Some(t) = parse_args::<TrainArgs>("train", "train", args, &mut diags) {
                diags.extend(t.check().into_iter().map(|m| Diagnostic::new("train", m)));
            }
            assert!(
                diags.iter().any(|d| d.path == "train" && d.message.contains(want)),
                "{v}: {:?}",
                diags.iter().map(|d| &d.message).collect::<Vec<_>>()
            );
        }
    }
}
