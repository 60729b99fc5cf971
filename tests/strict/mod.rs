//! Issue 21, "strict everywhere": every kind's options are checked by
//! `sluice validate`, and a future kind cannot forget.
//!
//! The kinds and their JSON schemas come from `sluice kinds --json` (the
//! registry's `KINDS`). For every kind:
//! - a minimal valid configuration (the table below) validates; a kind with
//!   no entry fails the test, so a new kind must be added here;
//! - the same configuration plus an unknown key fails with "unknown key"
//!   (or serde's "unknown field"), naming it;
//! - every integer or number property of its schema (through `$ref`,
//!   `anyOf`/`oneOf`/`allOf`, nested objects, lists, tuples and maps) has a
//!   `maximum` and a `minimum`, and a byte size (`$ref: ByteSize`) has
//!   `x-max-bytes`; setting the property just past its maximum (and below a
//!   minimum above zero) fails, naming that option.
//!
//! Also here: the attacks of holes 2, 5 and 8 as whole recipes, checked
//! through `sluice validate` and `sluice run`.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::{sluice, write_recipe};

/// Fixtures the minimal configurations point at.
struct Fixtures {
    _dir: tempfile::TempDir,
    root: PathBuf,
    input: PathBuf,
    eval: PathBuf,
    tokenizer: PathBuf,
    model: PathBuf,
}

fn fixtures() -> Fixtures {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let input = root.join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(input.join("a.jsonl"), "{\"id\": \"1\", \"text\": \"hello world\"}\n").unwrap();
    let eval = root.join("eval");
    std::fs::create_dir_all(&eval).unwrap();
    std::fs::write(
        eval.join("piqa.jsonl"),
        "{\"query\": \"how do you open a jar\", \"choices\": [\"twist the lid\", \"eat it\"], \"gold\": 0}\n",
    )
    .unwrap();
    let model = root.join("model");
    std::fs::create_dir_all(&model).unwrap();
    let tokenizer = root.join("tokenizer.json");
    std::fs::write(&tokenizer, TOKENIZER).unwrap();
    Fixtures { _dir: dir, root, input, eval, tokenizer, model }
}

/// A small byte-level BPE tokenizer in the Hugging Face format.
const TOKENIZER: &str = r#"{
  "version": "1.0", "truncation": null, "padding": null,
  "added_tokens": [{"id": 0, "content": "<|endoftext|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
  "normalizer": null,
  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
  "post_processor": null,
  "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
  "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null, "end_of_word_suffix": null,
            "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": {"<|endoftext|>": 0, "h": 1, "e": 2, "l": 3, "o": 4, "Ġ": 5, "w": 6, "r": 7, "d": 8}, "merges": []}
}"#;

/// The smallest valid configuration of each kind, by (role, kind).
fn minimal(role: &str, kind: &str, f: &Fixtures) -> Option<Value> {
    let input = f.input.to_str().unwrap();
    Some(match (role, kind) {
        ("reader", "jsonl" | "parquet" | "warc" | "wet" | "text") => json!({"paths": [input]}),
        ("stage", "url_blocklist") => json!({"entries": ["example.com"]}),
        ("stage", "decontaminate") => json!({"eval_dir": f.eval, "benchmarks": ["piqa"]}),
        ("stage", "tokenize") => json!({"tokenizer": f.tokenizer}),
        ("stage", "pack") => json!({"tokenizer": f.tokenizer}),
        ("stage", "mix") => json!({"target_tokens": 1000, "sources": {"in": {"weight": 1.0}}}),
        ("stage", "perplexity") => json!({"model": f.model}),
        ("stage", "regex_filter") => json!({"patterns": {"lorem": "(?i)lorem ipsum"}}),
        ("stage", "classifier_train") => json!({"labels": {"by_source": {"a": ["in"], "b": ["other"]}}}),
        ("stage", "classifier") => json!({"model_from": "trainer"}),
        (
            "stage",
            "passthrough" | "length" | "language" | "gopher_repetition" | "gopher_quality" | "c4" | "c4_badwords" | "fineweb" | "pii"
            | "toxicity" | "tokenizer_train" | "minhash_dedup" | "exact_dedup" | "line_dedup",
        ) => json!({}),
        ("writer", "jsonl" | "parquet") => json!({}),
        _ => return None,
    })
}

/// A recipe with the node under test (`x`) and whatever it needs around it.
fn recipe_for(role: &str, kind: &str, config: &Value, f: &Fixtures) -> String {
    let mut node = config.as_object().unwrap().clone();
    node.insert("kind".into(), kind.into());
    let input = f.input.to_str().unwrap();
    let reader = json!({"kind": "jsonl", "paths": [input]});
    let recipe = match role {
        "reader" => json!({"output": f.root.join("out"), "readers": {"x": node}, "writers": {"w": {"kind": "jsonl", "inputs": ["x"]}}}),
        "stage" => {
            node.insert("inputs".into(), json!(["in"]));
            json!({"output": f.root.join("out"), "readers": {"in": reader}, "stages": {"x": node},
                   "writers": {"w": {"kind": "jsonl", "inputs": ["x"]}}})
        }
        _ => {
            node.insert("inputs".into(), json!(["in"]));
            json!({"output": f.root.join("out"), "readers": {"in": reader}, "writers": {"x": node}})
        }
    };
    // JSON is YAML.
    serde_json::to_string_pretty(&recipe).unwrap()
}

fn section(role: &str) -> &'static str {
    match role {
        "reader" => "readers",
        "stage" => "stages",
        _ => "writers",
    }
}

/// `sluice validate` on a recipe: (success, stdout).
fn validate(dir: &Path, text: &str) -> (bool, String) {
    let p = write_recipe(dir, text);
    let out = sluice().arg("validate").arg(&p).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success() || !stdout.is_empty(), "validate failed without a diagnostic: {}", String::from_utf8_lossy(&out.stderr));
    (out.status.success(), stdout)
}

/// One step of a path into a configuration.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    /// Element `i` of a list (`of` elements: the arity of a tuple, or 1).
    Index {
        i: usize,
        of: Vec<Value>,
    },
    /// A value of a map with free keys.
    MapValue,
}

#[derive(Debug, Clone, PartialEq)]
enum Bound {
    Int { min: Option<Value>, max: Option<Value> },
    Number { min: Option<Value>, max: Option<Value> },
    Bytes { min: Option<u64>, max: Option<u64> },
}

#[derive(Debug, Clone)]
struct Leaf {
    path: Vec<Step>,
    bound: Bound,
}

fn path_text(path: &[Step]) -> String {
    let mut s = String::new();
    for st in path {
        match st {
            Step::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Step::Index { i, .. } => s.push_str(&format!("[{i}]")),
            Step::MapValue => s.push_str(".x"),
        }
    }
    s
}

fn resolve<'a>(r: &str, root: &'a Value) -> Option<&'a Value> {
    r.strip_prefix("#/$defs/").and_then(|n| root.get("$defs")?.get(n))
}

fn types(node: &Value) -> Vec<String> {
    match node.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts.iter().filter_map(|t| t.as_str().map(String::from)).collect(),
        _ => vec![],
    }
}

/// A value that the schema accepts, for tuple elements around the one
/// under test.
fn sample(node: &Value, root: &Value) -> Value {
    if let Some(r) = node.get("$ref").and_then(Value::as_str) {
        return resolve(r, root).map(|n| sample(n, root)).unwrap_or(Value::Null);
    }
    if let Some(d) = node.get("default") {
        return d.clone();
    }
    let t = types(node);
    if t.iter().any(|t| t == "integer" || t == "number") {
        return node.get("minimum").cloned().unwrap_or(json!(1));
    }
    if t.iter().any(|t| t == "string") {
        return json!("x");
    }
    Value::Null
}

/// Every numeric leaf under `node`, with the extension keys inherited from
/// the nodes above it (a `ByteSize` field carries `x-max-bytes` next to
/// its `$ref`, or on the `anyOf` of an `Option`).
fn leaves(node: &Value, root: &Value, path: &[Step], inherited: &serde_json::Map<String, Value>, depth: usize, out: &mut Vec<Leaf>) {
    assert!(depth < 32, "schema too deep at {}", path_text(path));
    let Some(obj) = node.as_object() else { return };
    let mut ext = inherited.clone();
    for k in ["x-min-bytes", "x-max-bytes"] {
        if let Some(v) = obj.get(k) {
            ext.insert(k.into(), v.clone());
        }
    }
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        if r == "#/$defs/ByteSize" {
            let get = |k: &str| ext.get(k).and_then(Value::as_u64);
            out.push(Leaf { path: path.to_vec(), bound: Bound::Bytes { min: get("x-min-bytes"), max: get("x-max-bytes") } });
            return;
        }
        let target = resolve(r, root).unwrap_or_else(|| panic!("unresolved {r} at {}", path_text(path)));
        leaves(target, root, path, &ext, depth + 1, out);
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for b in obj.get(key).and_then(Value::as_array).into_iter().flatten() {
            leaves(b, root, path, &ext, depth + 1, out);
        }
    }
    let t = types(node);
    let bound = |k: &str| obj.get(k).cloned();
    let min = bound("minimum").or_else(|| bound("exclusiveMinimum"));
    let max = bound("maximum").or_else(|| bound("exclusiveMaximum"));
    if t.iter().any(|t| t == "integer") {
        out.push(Leaf { path: path.to_vec(), bound: Bound::Int { min, max } });
    } else if t.iter().any(|t| t == "number") {
        out.push(Leaf { path: path.to_vec(), bound: Bound::Number { min, max } });
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (k, p) in props {
            let mut sub = path.to_vec();
            sub.push(Step::Key(k.clone()));
            leaves(p, root, &sub, &ext_none(), depth + 1, out);
        }
    }
    if let Some(items) = obj.get("prefixItems").and_then(Value::as_array) {
        let of: Vec<Value> = items.iter().map(|s| sample(s, root)).collect();
        for (i, s) in items.iter().enumerate() {
            let mut sub = path.to_vec();
            sub.push(Step::Index { i, of: of.clone() });
            leaves(s, root, &sub, &ext_none(), depth + 1, out);
        }
    }
    if let Some(items) = obj.get("items").filter(|s| s.is_object()) {
        let mut sub = path.to_vec();
        sub.push(Step::Index { i: 0, of: vec![Value::Null] });
        leaves(items, root, &sub, &ext_none(), depth + 1, out);
    }
    if let Some(add) = obj.get("additionalProperties").filter(|s| s.is_object()) {
        let mut sub = path.to_vec();
        sub.push(Step::MapValue);
        leaves(add, root, &sub, &ext_none(), depth + 1, out);
    }
}

fn ext_none() -> serde_json::Map<String, Value> {
    serde_json::Map::new()
}

/// `config` with the value at `path` set to `v` (objects, lists and maps
/// on the way are created).
fn with_value(config: &Value, path: &[Step], v: Value) -> Value {
    fn set(target: &mut Value, path: &[Step], v: Value) {
        let Some((first, rest)) = path.split_first() else {
            *target = v;
            return;
        };
        match first {
            Step::Key(k) => {
                if !target.is_object() {
                    *target = json!({});
                }
                let slot = target.as_object_mut().unwrap().entry(k.clone()).or_insert(Value::Null);
                set(slot, rest, v);
            }
            Step::MapValue => {
                if !target.is_object() {
                    *target = json!({});
                }
                let slot = target.as_object_mut().unwrap().entry("x").or_insert(Value::Null);
                set(slot, rest, v);
            }
            Step::Index { i, of } => {
                let ok = target.as_array().is_some_and(|a| a.len() == of.len());
                if !ok {
                    *target = Value::Array(of.clone());
                }
                set(&mut target.as_array_mut().unwrap()[*i], rest, v);
            }
        }
    }
    let mut c = config.clone();
    set(&mut c, path, v);
    c
}

/// A JSON number just past `b` upwards (`up`) or downwards.
fn past(b: &Value, integer: bool, up: bool) -> Value {
    if integer {
        let x = b.as_i64().map(i128::from).or_else(|| b.as_u64().map(i128::from)).expect("integer bound");
        let y = if up { x + 1 } else { x - 1 };
        if let Ok(u) = u64::try_from(y) {
            json!(u)
        } else if let Ok(i) = i64::try_from(y) {
            json!(i)
        } else {
            json!(y as f64)
        }
    } else {
        let x = b.as_f64().expect("number bound");
        let step = x.abs().max(1.0);
        json!(if up { x + step } else { x - step })
    }
}

/// What `validate` must say about an out-of-range value at `at`: a line
/// naming the option with a bound. Values past the largest integer JSON
/// numbers can hold exactly (2^64) are refused by the parser instead.
fn refused(stdout: &str, at: &str) -> bool {
    stdout.lines().any(|l| {
        l.contains(&format!("{at}: "))
            && (l.contains("must be at most")
                || l.contains("must be less than")
                || l.contains("must be at least")
                || l.contains("must be greater than")
                || l.contains("invalid type: floating point")
                || l.contains("invalid value"))
    })
}

#[test]
fn every_kind_refuses_unknown_keys_and_out_of_range_numbers() {
    let out = sluice().args(["kinds", "--json"]).output().unwrap();
    assert!(out.status.success(), "sluice kinds --json: {}", String::from_utf8_lossy(&out.stderr));
    let kinds: Value = serde_json::from_slice(&out.stdout).expect("kinds --json prints JSON");
    let kinds = kinds.as_array().expect("a list of kinds");
    assert!(kinds.len() >= 27, "{} kinds", kinds.len());
    let f = fixtures();
    let dir = tempfile::tempdir().unwrap();
    let mut problems: Vec<String> = Vec::new();
    let mut checked = 0;
    for k in kinds {
        let (role, name, schema) = (k["role"].as_str().unwrap(), k["name"].as_str().unwrap(), &k["schema"]);
        let who = format!("{role} {name}");
        let Some(config) = minimal(role, name, &f) else {
            problems.push(format!("{who}: no minimal configuration in tests/strict.rs; add one"));
            continue;
        };
        let at = format!("{}.x", section(role));
        let (ok, text) = validate(dir.path(), &recipe_for(role, name, &config, &f));
        if !ok {
            problems.push(format!("{who}: its minimal configuration does not validate:\n{text}"));
            continue;
        }
        // (a) an unknown key
        let mut bad = config.clone();
        bad.as_object_mut().unwrap().insert("no_such_option_zz".into(), json!(1));
        let (ok, text) = validate(dir.path(), &recipe_for(role, name, &bad, &f));
        // "unknown key" (parse_config) or serde's "unknown field" (deny_unknown_fields)
        let named = |w: &str| text.contains(&format!("{at}.no_such_option_zz: {w}"));
        if ok || !(named("unknown key") || named("unknown field")) {
            problems.push(format!("{who}: an unknown key is not refused:\n{text}"));
        }
        // (b), (c) numeric ranges
        let mut found = Vec::new();
        leaves(schema, schema, &[], &ext_none(), 0, &mut found);
        let mut seen = std::collections::BTreeSet::new();
        for leaf in found {
            let p = path_text(&leaf.path);
            if !seen.insert(p.clone()) {
                continue;
            }
            let option = format!("{at}.{p}");
            let mut tries: Vec<(Value, &str)> = Vec::new();
            match &leaf.bound {
                Bound::Int { min, max } | Bound::Number { min, max } => {
                    let integer = matches!(leaf.bound, Bound::Int { .. });
                    match max {
                        Some(m) => tries.push((past(m, integer, true), "above its maximum")),
                        None => problems.push(format!("{who}: `{p}` has no `maximum` in its schema")),
                    }
                    match min {
                        Some(m) if !integer || m.as_f64().unwrap_or(0.0) > 0.0 => {
                            tries.push((past(m, integer, false), "below its minimum"))
                        }
                        Some(_) => {}
                        None => problems.push(format!("{who}: `{p}` has no `minimum` in its schema")),
                    }
                }
                Bound::Bytes { min, max } => {
                    match max {
                        Some(m) => tries.push((json!(m + 1), "above its x-max-bytes")),
                        None => problems.push(format!("{who}: byte size `{p}` has no `x-max-bytes` in its schema")),
                    }
                    if let Some(m) = min.filter(|m| *m > 0) {
                        tries.push((json!(m - 1), "below its x-min-bytes"));
                    }
                }
            }
            for (v, what) in tries {
                let c = with_value(&config, &leaf.path, v.clone());
                let (ok, text) = validate(dir.path(), &recipe_for(role, name, &c, &f));
                checked += 1;
                if ok || !refused(&text, &option) {
                    problems.push(format!("{who}: `{p}: {v}` ({what}) is not refused naming `{option}`:\n{text}"));
                }
            }
        }
    }
    println!("{checked} out-of-range values checked over {} kinds", kinds.len());
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}

// ---------------------------------------------------------------------------
// holes 2, 5, 7 and 8 as whole recipes

fn recipe_with_stages(f: &Fixtures, stages: &str, writers: &str) -> String {
    format!(
        "output: {out}\nreaders:\n  in: {{kind: jsonl, paths: [{input}]}}\nstages:\n{stages}writers:\n{writers}",
        out = f.root.join("out").display(),
        input = f.input.display()
    )
}

/// Every file under `dir`, relative.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

/// Hole 2: `exact_dedup.bloom.save: /any/path` overwrote an existing file,
/// and `decontaminate.index:` created files anywhere.
#[test]
fn options_cannot_write_outside_the_output_directory() {
    let f = fixtures();
    let victim_dir = f.root.join("victim");
    std::fs::create_dir_all(&victim_dir).unwrap();
    let victim = victim_dir.join("precious.txt");
    std::fs::write(&victim, "keep me").unwrap();
    let dir = tempfile::tempdir().unwrap();

    let text = recipe_with_stages(
        &f,
        &format!("  x: {{kind: exact_dedup, inputs: [in], bloom: {{save: {}, capacity: 1000}}}}\n", victim.display()),
        "  w: {kind: jsonl, inputs: [x]}\n",
    );
    let (ok, out) = validate(dir.path(), &text);
    assert!(!ok);
    assert!(out.contains("stages.x.bloom.save:") && out.contains("relative path"), "{out}");
    let r = sluice().arg("run").arg(write_recipe(dir.path(), &text)).output().unwrap();
    assert!(!r.status.success());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");

    for save in ["../escape.bloom", "reports/x.bloom", "_sluice/x.bloom", "excluded/x"] {
        let text = recipe_with_stages(
            &f,
            &format!("  x: {{kind: exact_dedup, inputs: [in], bloom: {{save: \"{save}\"}}}}\n"),
            "  w: {kind: jsonl, inputs: [x]}\n",
        );
        let (ok, out) = validate(dir.path(), &text);
        assert!(!ok && out.contains("stages.x.bloom.save:"), "{save}: {out}");
    }

    // decontaminate: `index` is only read; `save_index` is inside OUT
    let index = victim_dir.join("new/decontam.bin");
    let text = recipe_with_stages(
        &f,
        &format!(
            "  x: {{kind: decontaminate, inputs: [in], eval_dir: {}, benchmarks: [piqa], index: {}, save_index: idx/decontam.bin}}\n",
            f.eval.display(),
            index.display()
        ),
        "  w: {kind: jsonl, inputs: [x]}\n",
    );
    let (ok, out) = validate(dir.path(), &text);
    assert!(ok, "{out}");
    let r = sluice().arg("run").arg(write_recipe(dir.path(), &text)).output().unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(files_under(&victim_dir), vec!["precious.txt".to_string()], "nothing written outside OUT");
    assert!(f.root.join("out/idx/decontam.bin").is_file());
    // a later run loads it
    let text2 = recipe_with_stages(
        &f,
        &format!(
            "  x: {{kind: decontaminate, inputs: [in], index: {}, benchmarks: [piqa]}}\n",
            f.root.join("out/idx/decontam.bin").display()
        ),
        "  w: {kind: jsonl, inputs: [x]}\n",
    );
    assert!(validate(dir.path(), &text2).0);
    for bad in [victim.to_str().unwrap(), "../x.bin", "stats.json"] {
        let text = recipe_with_stages(
            &f,
            &format!(
                "  x: {{kind: decontaminate, inputs: [in], eval_dir: {}, benchmarks: [piqa], save_index: \"{bad}\"}}\n",
                f.eval.display()
            ),
            "  w: {kind: jsonl, inputs: [x]}\n",
        );
        let (ok, out) = validate(dir.path(), &text);
        assert!(!ok && out.contains("stages.x.save_index:"), "{bad}: {out}");
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
}

/// Hole 5: two `pack` stages with the same `dir` passed validate; `dir`
/// could also be `excluded`, `reports` or another node's folder.
#[test]
fn pack_directories_that_collide_are_refused() {
    let f = fixtures();
    let dir = tempfile::tempdir().unwrap();
    let tok = f.tokenizer.display().to_string();
    let pack = |name: &str, d: &str| format!("  {name}: {{kind: pack, inputs: [t], tokenizer: {tok}{d}}}\n");
    let tokenize = format!("  t: {{kind: tokenize, inputs: [in], tokenizer: {tok}}}\n");
    // every pack's output is read, so that only the directories are wrong
    let writer_for = |stages: &str| {
        let packs: Vec<&str> = stages.lines().filter(|l| l.contains("kind: pack")).map(|l| l.trim().split(':').next().unwrap()).collect();
        format!("  w: {{kind: jsonl, inputs: [{}]}}\n", packs.join(", "))
    };

    let ok_stages = format!("{tokenize}{}{}", pack("p1", ", dir: shards"), pack("p2", ""));
    let ok_text = recipe_with_stages(&f, &ok_stages, &writer_for(&ok_stages));
    let (ok, out) = validate(dir.path(), &ok_text);
    assert!(ok, "{out}");

    let cases: Vec<(String, &str)> = vec![
        (format!("{tokenize}{}{}", pack("p1", ", dir: shards"), pack("p2", ", dir: shards")), "stages.p2.dir"),
        (format!("{tokenize}{}", pack("p1", ", dir: reports")), "stages.p1.dir"),
        (format!("{tokenize}{}", pack("p1", ", dir: excluded")), "stages.p1.dir"),
        (format!("{tokenize}{}", pack("p1", ", dir: _sluice")), "stages.p1.dir"),
        (format!("{tokenize}{}", pack("p1", ", dir: w")), "stages.p1.dir"),
        (format!("{tokenize}{}{}", pack("p1", ", dir: p2"), pack("p2", "")), "stages.p"),
        (format!("{tokenize}  tt: {{kind: tokenizer_train, inputs: [in]}}\n{}", pack("p1", ", dir: tt")), "stages."),
    ];
    for (stages, at) in cases {
        let text = recipe_with_stages(&f, &stages, &writer_for(&stages));
        let (ok, out) = validate(dir.path(), &text);
        assert!(!ok, "accepted:\n{text}");
        assert!(
            out.lines().any(|l| l.contains(at) && (l.contains("collides") || l.contains("sluice itself writes") || l.contains("plain"))),
            "{text}\n{out}"
        );
    }
}

/// Hole 7: `exact_dedup.bloom.capacity: 18446744073709551615` divided by
/// zero and `1000000000000` aborted allocating 1.2 TB.
#[test]
fn absurd_bloom_sizes_fail_validation() {
    let f = fixtures();
    let dir = tempfile::tempdir().unwrap();
    for cap in ["18446744073709551615", "1000000000000", "100000000000"] {
        let text = recipe_with_stages(
            &f,
            &format!("  x: {{kind: exact_dedup, inputs: [in], bloom: {{capacity: {cap}}}}}\n"),
            "  w: {kind: jsonl, inputs: [x]}\n",
        );
        let (ok, out) = validate(dir.path(), &text);
        assert!(!ok, "{cap}");
        assert!(out.contains("stages.x.bloom.capacity:"), "{cap}: {out}");
        assert!(out.contains("must be at most") || out.contains("limit of 16 GiB"), "{cap}: {out}");
    }
}

/// Hole 8: files named by options are read with a limit: `/dev/zero`
/// fails at once with a clear error.
#[test]
fn option_files_that_are_devices_fail_at_once() {
    let f = fixtures();
    let dir = tempfile::tempdir().unwrap();
    let zero_eval = f.root.join("zero-eval");
    std::fs::create_dir_all(&zero_eval).unwrap();
    std::os::unix::fs::symlink("/dev/zero", zero_eval.join("piqa.jsonl")).unwrap();
    let cases = [
        ("  x: {kind: url_blocklist, inputs: [in], paths: [/dev/zero]}\n".to_string(), "stages.x.paths[0]"),
        ("  x: {kind: toxicity, inputs: [in], word_lists: {fr: /dev/zero}}\n".to_string(), "stages.x.word_lists.fr"),
        ("  x: {kind: toxicity, inputs: [in], blocklist_paths: [/dev/zero]}\n".to_string(), "stages.x.blocklist_paths[0]"),
        ("  x: {kind: decontaminate, inputs: [in], index: /dev/zero}\n".to_string(), "stages.x.index"),
        (
            format!("  x: {{kind: decontaminate, inputs: [in], eval_dir: {}, benchmarks: [piqa]}}\n", zero_eval.display()),
            "stages.x.eval_dir",
        ),
        ("  x: {kind: exact_dedup, inputs: [in], bloom: {load: /dev/zero}}\n".to_string(), "stages.x.bloom.load"),
        (format!("  x: {{kind: perplexity, inputs: [in], model: {}, tokenizer: /dev/zero}}\n", f.model.display()), "stages.x.tokenizer"),
        (format!("  x: {{kind: perplexity, inputs: [in], model: {}, cutoffs: /dev/zero}}\n", f.model.display()), "stages.x.cutoffs"),
    ];
    for (stages, at) in cases {
        let text = recipe_with_stages(&f, &stages, "  w: {kind: jsonl, inputs: [x]}\n");
        let t0 = std::time::Instant::now();
        let (ok, out) = validate(dir.path(), &text);
        assert!(!ok, "{stages}");
        assert!(out.lines().any(|l| l.contains(&format!("{at}:")) && l.contains("not a regular file")), "{stages}{out}");
        assert!(t0.elapsed() < std::time::Duration::from_secs(10), "{stages}: {:?}", t0.elapsed());
    }
}
