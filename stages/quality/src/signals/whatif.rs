//! `--what-if NODE.OPTION=VALUE`: re-evaluate one threshold on the signals
//! the run recorded, against what the run actually kept.

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::{Map, Value};

use super::{err, num, Record, Result, RunOutput, SignalsError};
use crate::Test;
use sluice_pipeline::Kinds;

/// Keys of a stage's recipe entry that belong to the engine, not the config.
const ENGINE_KEYS: &[&str] = &["kind", "inputs", "exclusions"];

/// One rule of an assignment, with its configured and changed thresholds.
#[derive(Debug, Clone)]
struct Rule {
    attribute: String,
    test: Test,
    reason: String,
    /// n of an n-gram rule (`top_n_grams`, `dup_n_grams`)
    n: Option<usize>,
    base: Option<f64>,
    new: Option<f64>,
}

/// A parsed `--what-if` assignment.
#[derive(Debug, Clone)]
pub struct Assignment {
    /// As given on the command line.
    pub text: String,
    pub node: String,
    pub kind: String,
    pub option: String,
    /// The configured value (defaults filled in) and the changed one.
    pub base: Value,
    pub new: Value,
    /// The node ran with `annotate_only: true` (dropped nothing).
    pub annotate: bool,
    /// Per-language values of the option (`languages: {zh: {...}}`), which
    /// the assignment does not change.
    overrides: BTreeMap<String, Value>,
    rules: Vec<Rule>,
}

/// A scalar threshold, or the one for `n` in a list of `[n, threshold]`.
fn threshold(v: &Value, n: Option<usize>) -> Option<f64> {
    match n {
        None => v.as_f64(),
        Some(n) => v.as_array()?.iter().find(|p| p[0].as_u64() == Some(n as u64)).and_then(|p| p[1].as_f64()),
    }
}

/// Parse `NODE.OPTION=VALUE` against the run's recipe. NODE is a stage
/// name, or a kind that exactly one stage has; VALUE is JSON (`80`,
/// `0.5`, `null` to disable, `[[2, 0.25]]` for the n-gram lists).
pub fn parse_assignment(kinds: &Kinds, recipe: &Value, text: &str) -> Result<Assignment> {
    let bad = |m: String| SignalsError(format!("--what-if `{text}`: {m}"));
    let (lhs, rhs) = text.split_once('=').ok_or_else(|| bad("expected NODE.OPTION=VALUE".into()))?;
    let (node, option) = lhs.trim().split_once('.').ok_or_else(|| bad("expected NODE.OPTION=VALUE".into()))?;
    let stages = recipe["stages"].as_object().cloned().unwrap_or_default();
    let node = if stages.contains_key(node) {
        node.to_string()
    } else {
        let of_kind: Vec<&String> = stages.iter().filter(|(_, s)| s["kind"] == node).map(|(n, _)| n).collect();
        match of_kind.as_slice() {
            [one] => (*one).clone(),
            [] => {
                return Err(bad(format!(
                    "no stage or kind `{node}` in the run's recipe (stages: {})",
                    stages.keys().cloned().collect::<Vec<_>>().join(", ")
                )))
            }
            many => {
                return Err(bad(format!(
                    "{} stages are of kind `{node}`: name one of {}",
                    many.len(),
                    many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                )))
            }
        }
    };
    let stage = &stages[&node];
    let kind = stage["kind"].as_str().unwrap_or_default().to_string();
    let rules = kinds.signal_rules(&kind);
    if !rules.iter().any(|r| r.option == option) {
        let mut opts: Vec<&str> = rules.iter().map(|r| r.option).collect();
        opts.dedup();
        return Err(bad(if opts.is_empty() {
            format!("stage `{node}` (kind `{kind}`) records no re-evaluable signal")
        } else {
            format!("`{option}` is not a re-evaluable option of `{kind}` (options: {})", opts.join(", "))
        }));
    }
    let value: Value = serde_json::from_str(rhs.trim()).map_err(|e| bad(format!("the value is not JSON: {e}")))?;
    let mut cfg: Map<String, Value> = stage.as_object().cloned().unwrap_or_default();
    for k in ENGINE_KEYS {
        cfg.remove(*k);
    }
    let resolved = |v: Value| kinds.stage(&kind).ok_or_else(|| format!("unknown stage kind `{kind}`"))?.resolve(&v);
    let base = resolved(Value::Object(cfg.clone())).map_err(|e| bad(format!("the run's configuration of `{node}`: {e}")))?;
    let mut changed = cfg.clone();
    changed.insert(option.to_string(), value);
    let new = resolved(Value::Object(changed)).map_err(bad)?;
    let overrides = cfg
        .get("languages")
        .and_then(|l| l.as_object())
        .map(|l| l.iter().filter_map(|(lang, o)| o.get(option).map(|v| (lang.clone(), v.clone()))).collect())
        .unwrap_or_default();
    let (bv, nv) = (base[option].clone(), new[option].clone());
    let mut out = Vec::new();
    for r in rules.iter().filter(|r| r.option == option) {
        if r.attribute.contains("{n}") {
            let mut ns: Vec<usize> = [&bv, &nv]
                .iter()
                .flat_map(|v| v.as_array().into_iter().flatten().filter_map(|p| p[0].as_u64().map(|n| n as usize)))
                .collect();
            ns.sort();
            ns.dedup();
            for n in ns {
                out.push(Rule {
                    attribute: r.attribute.replace("{n}", &n.to_string()),
                    test: r.test,
                    reason: r.reason.replace("{n}", &n.to_string()),
                    n: Some(n),
                    base: threshold(&bv, Some(n)),
                    new: threshold(&nv, Some(n)),
                });
            }
        } else {
            out.push(Rule {
                attribute: r.attribute_at(&node, &base),
                test: r.test,
                reason: r.reason.into(),
                n: None,
                base: threshold(&bv, None),
                new: threshold(&nv, None),
            });
        }
    }
    Ok(Assignment {
        text: text.to_string(),
        node,
        annotate: base["annotate_only"] == Value::Bool(true),
        kind,
        option: option.to_string(),
        base: bv,
        new: nv,
        overrides,
        rules: out,
    })
}

impl Assignment {
    /// The value of the option for a document's language.
    fn value_for<'a>(&'a self, lang: Option<&str>) -> Option<&'a Value> {
        let l = lang?;
        self.overrides.get(l).or_else(|| l.split(['-', '_']).next().and_then(|b| self.overrides.get(b)))
    }

    /// Whether the document passes every rule of the assignment, with the
    /// configured (`new` false) or changed thresholds; `None` when a
    /// signal the rules need was not recorded.
    fn passes(&self, r: &Record, new: bool) -> Option<bool> {
        let over = self.value_for(r.language.as_deref());
        let mut ok = true;
        for rule in &self.rules {
            let thr = match over {
                Some(v) => threshold(v, rule.n),
                None if new => rule.new,
                None => rule.base,
            };
            if thr.is_none() {
                continue;
            }
            let v = r.attribute(&rule.attribute)?;
            let sig = crate::SignalRule { option: "", attribute: "", test: rule.test, reason: "" };
            ok &= sig.passes(v, thr);
        }
        Some(ok)
    }

    /// Whether the run dropped the document by one of these rules.
    fn dropped_here(&self, r: &Record) -> bool {
        matches!(&r.dropped, Some((by, reason)) if *by == self.node && self.rules.iter().any(|x| x.reason == *reason))
    }
}

/// Documents and bytes.
#[derive(Debug, Default, Clone, Copy)]
pub struct Count {
    pub docs: u64,
    pub bytes: u64,
}

impl Count {
    fn add(&mut self, r: &Record) {
        self.docs += 1;
        self.bytes += r.bytes;
    }
}

/// The outcome of one scenario for one source.
#[derive(Debug, Default, Clone)]
pub struct Row {
    /// Documents read (written and excluded).
    pub seen: Count,
    /// Kept by the run; for an annotate-only stage, kept under its
    /// configured thresholds.
    pub before: Count,
    /// Kept with the changed threshold(s).
    pub after: Count,
    /// In `before`, not in `after`.
    pub newly_dropped: Count,
    /// Dropped by the run by the changed rule, passing it now (later rules
    /// and stages never saw these: an upper bound).
    pub rescued: Count,
    /// Written documents without the signal (counted as kept).
    pub no_signal: u64,
}

/// Per scenario (each assignment alone, then all together when there are
/// several), per source.
pub struct WhatIf {
    pub assignments: Vec<Assignment>,
    pub scenarios: Vec<(String, BTreeMap<String, Row>)>,
}

/// Read the writer's documents and the excluded ones once, and evaluate
/// every scenario.
pub fn evaluate(run: &RunOutput, writer: &str, assignments: &[Assignment]) -> Result<WhatIf> {
    let mut scenarios: Vec<Vec<usize>> = (0..assignments.len()).map(|i| vec![i]).collect();
    if assignments.len() > 1 {
        scenarios.push((0..assignments.len()).collect());
    }
    let mut rows: Vec<BTreeMap<String, Row>> = vec![BTreeMap::new(); scenarios.len()];
    run.scan(writer, true, |r| {
        let written = r.dropped.is_none();
        for (s, idx) in scenarios.iter().enumerate() {
            let row = rows[s].entry(r.source.clone()).or_default();
            row.seen.add(&r);
            let sel = || idx.iter().map(|&i| &assignments[i]);
            if written {
                let before = sel().all(|a| !a.annotate || a.passes(&r, false) != Some(false));
                let news: Vec<Option<bool>> = sel().map(|a| a.passes(&r, true)).collect();
                let after = news.iter().all(|p| *p != Some(false));
                if news.iter().any(|p| p.is_none()) {
                    row.no_signal += 1;
                }
                if before {
                    row.before.add(&r);
                }
                if after {
                    row.after.add(&r);
                }
                if before && !after {
                    row.newly_dropped.add(&r);
                }
            } else if sel().any(|a| a.dropped_here(&r))
                && sel().all(|a| a.passes(&r, true) == Some(true) || (!a.dropped_here(&r) && a.passes(&r, true).is_none()))
            {
                row.rescued.add(&r);
                row.after.add(&r);
            }
        }
    })?;
    if rows.iter().all(|m| m.values().all(|r| r.seen.docs == 0)) {
        return err(format!("no documents under {}/{writer}", run.root.display()));
    }
    let scenarios = scenarios
        .iter()
        .zip(rows)
        .map(|(idx, mut m)| {
            let mut total = Row::default();
            for r in m.values() {
                for (t, x) in [
                    (&mut total.seen, r.seen),
                    (&mut total.before, r.before),
                    (&mut total.after, r.after),
                    (&mut total.newly_dropped, r.newly_dropped),
                    (&mut total.rescued, r.rescued),
                ] {
                    t.docs += x.docs;
                    t.bytes += x.bytes;
                }
                total.no_signal += r.no_signal;
            }
            m.insert("(all)".into(), total);
            let name = if idx.len() == 1 { assignments[idx[0]].text.clone() } else { "all of the above together".to_string() };
            (name, m)
        })
        .collect();
    Ok(WhatIf { assignments: assignments.to_vec(), scenarios })
}

fn count_json(c: &Count) -> Value {
    serde_json::json!({"docs": c.docs, "bytes": c.bytes})
}

impl WhatIf {
    pub fn to_json(&self) -> Value {
        let assignments: Vec<Value> = self
            .assignments
            .iter()
            .map(|a| serde_json::json!({"assignment": a.text, "node": a.node, "kind": a.kind, "option": a.option, "configured": a.base, "new": a.new, "annotate_only": a.annotate,
                "rules": a.rules.iter().map(|r| serde_json::json!({"attribute": r.attribute, "drops_when": match r.test { Test::DropBelow => "below", Test::DropAbove => "above" }, "reason": r.reason, "configured": r.base, "new": r.new})).collect::<Vec<_>>()}))
            .collect();
        let scenarios: Vec<Value> = self
            .scenarios
            .iter()
            .map(|(name, m)| {
                let sources: Vec<Value> = m
                    .iter()
                    .map(|(s, r)| serde_json::json!({"source": s, "seen": count_json(&r.seen), "before": count_json(&r.before), "after": count_json(&r.after),
                        "newly_dropped": count_json(&r.newly_dropped), "rescued": count_json(&r.rescued), "no_signal_docs": r.no_signal}))
                    .collect();
                serde_json::json!({"scenario": name, "sources": sources})
            })
            .collect();
        serde_json::json!({"kind": "what_if", "assignments": assignments, "scenarios": scenarios})
    }

    pub fn table(&self, w: &mut dyn Write) -> std::io::Result<()> {
        for a in &self.assignments {
            let how: Vec<String> = a
                .rules
                .iter()
                .map(|r| {
                    let op = if r.test == Test::DropBelow { "<" } else { ">" };
                    format!("drops `{}` when {} {op} threshold: {} -> {}", r.reason, r.attribute, num(r.base), num(r.new))
                })
                .collect();
            writeln!(w, "what-if {} (stage `{}`{}):", a.text, a.node, if a.annotate { ", annotate_only" } else { "" })?;
            for h in how {
                writeln!(w, "  {h}")?;
            }
            if !a.overrides.is_empty() {
                writeln!(w, "  languages with their own value keep it: {}", a.overrides.keys().cloned().collect::<Vec<_>>().join(", "))?;
            }
        }
        for (name, m) in &self.scenarios {
            writeln!(w, "\n{name}:")?;
            writeln!(
                w,
                "{:<20} {:>8} {:>10} {:>11} {:>10} {:>11} {:>9} {:>11} {:>9} {:>9}",
                "source", "docs", "kept now", "MB now", "kept then", "MB then", "dropped", "MB dropped", "rescued", "no signal"
            )?;
            for (s, r) in m {
                writeln!(
                    w,
                    "{:<20} {:>8} {:>10} {:>11.3} {:>10} {:>11.3} {:>9} {:>11.3} {:>9} {:>9}",
                    s,
                    r.seen.docs,
                    r.before.docs,
                    r.before.bytes as f64 / 1e6,
                    r.after.docs,
                    r.after.bytes as f64 / 1e6,
                    r.newly_dropped.docs,
                    r.newly_dropped.bytes as f64 / 1e6,
                    r.rescued.docs,
                    r.no_signal
                )?;
            }
        }
        writeln!(
            w,
            "\n`kept now`: kept by the run (for an annotate_only stage: passing its configured thresholds); `kept then`: with the change.\n\
             `dropped`: kept now, dropped then. `rescued`: dropped by the run by the changed rule and passing it now; later rules and\n\
             stages never saw them, so this is an upper bound (needs `exclusions: true`). `no signal`: written without the attribute\n\
             (run the stage with `record_signals: true` or `annotate_only: true`); counted as kept."
        )
    }
}
