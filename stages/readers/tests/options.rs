//! Every reader's options are checked as the registry checks them
//! (`sluice_pipeline::parse_config`): a misspelt key, common (`max_filez`)
//! or reader-specific (`text_kee`), is an error naming its path, never
//! silently ignored. Numeric options carry schema ranges.

use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use sluice_pipeline::parse_config;
use sluice_readers::{JsonlReaderConfig, ParquetReaderConfig, TextReaderConfig, WarcReaderConfig};

fn diagnostics<T: DeserializeOwned>(v: &Value) -> Vec<String> {
    match parse_config::<T>(v, "readers.x") {
        Ok(_) => Vec::new(),
        Err(d) => d.iter().map(|d| d.to_string()).collect(),
    }
}

/// `opts` plus `paths`, with each misspelt key on its own and both together.
fn assert_unknown_keys_rejected<T: DeserializeOwned>(kind: &str, specific: (&str, Value)) {
    let base = json!({"paths": ["/data"]});
    assert!(diagnostics::<T>(&base).is_empty(), "{kind}: a plain config parses");
    let with = |extra: &[(&str, Value)]| {
        let mut v = base.clone();
        for (k, x) in extra {
            v[*k] = x.clone();
        }
        v
    };
    // the common file option, misspelt
    let d = diagnostics::<T>(&with(&[("max_filez", json!(3))]));
    assert_eq!(d, vec!["readers.x.max_filez: unknown key".to_string()], "{kind}");
    // the reader's own option, misspelt
    let d = diagnostics::<T>(&with(&[(specific.0, specific.1.clone())]));
    assert_eq!(d, vec![format!("readers.x.{}: unknown key", specific.0)], "{kind}");
    // both at once: every unknown key is reported, not only the first
    let d = diagnostics::<T>(&with(&[("max_filez", json!(3)), ("hiddn", json!(true)), (specific.0, specific.1)]));
    assert_eq!(d.len(), 3, "{kind}: {d:?}");
    assert!(d.iter().all(|m| m.ends_with(": unknown key")), "{kind}: {d:?}");
}

#[test]
fn every_reader_rejects_misspelt_common_and_specific_options() {
    assert_unknown_keys_rejected::<JsonlReaderConfig>("jsonl", ("text_keyz", json!("body")));
    assert_unknown_keys_rejected::<ParquetReaderConfig>("parquet", ("batch_rowz", json!(10)));
    // warc and wet share one configuration
    assert_unknown_keys_rejected::<WarcReaderConfig>("warc/wet", ("max_record_bytez", json!("1MB")));
    assert_unknown_keys_rejected::<TextReaderConfig>("text", ("extract_htmlz", json!(false)));
    // nested: the text reader's `split`
    let d = diagnostics::<TextReaderConfig>(&json!({"paths": ["/d"], "split": {"target_bytes": 100, "targt": 1}}));
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].starts_with("readers.x.split") && d[0].contains("targt"), "{d:?}");
}

#[test]
fn the_common_options_still_parse_flat() {
    let c: JsonlReaderConfig = parse_config(
        &json!({"paths": ["a", "b"], "include": ["**/*.x"], "exclude": ["skip/**"], "max_files": 4, "max_file_bytes": "1MB", "hidden": true, "text_key": "body"}),
        "readers.x",
    )
    .unwrap();
    let f = c.files();
    assert_eq!(f.paths, ["a", "b"]);
    assert_eq!(f.include.as_deref(), Some(&["**/*.x".to_string()][..]));
    assert_eq!(f.exclude, ["skip/**"]);
    assert_eq!(f.max_files, Some(4));
    assert_eq!(f.max_file_bytes.map(|b| b.0), Some(1_000_000));
    assert!(f.hidden);
    assert_eq!(c.text_key, "body");
}

/// Every integer property of every reader schema has a `maximum`, every
/// byte size an `x-max-bytes` (what the registry's range check enforces).
#[test]
fn every_numeric_reader_option_has_a_range() {
    for (kind, schema) in [
        ("jsonl", schemars::schema_for!(JsonlReaderConfig)),
        ("parquet", schemars::schema_for!(ParquetReaderConfig)),
        ("warc", schemars::schema_for!(WarcReaderConfig)),
        ("text", schemars::schema_for!(TextReaderConfig)),
    ] {
        let v = serde_json::to_value(&schema).unwrap();
        let mut missing = Vec::new();
        check_ranges(&v, &v, kind.to_string(), &mut missing);
        assert!(missing.is_empty(), "options without a range: {missing:?}");
    }
}

fn resolve<'a>(root: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => root.pointer(r.trim_start_matches('#')).unwrap_or(v),
        None => v,
    }
}

fn check_ranges(root: &Value, schema: &Value, at: String, missing: &mut Vec<String>) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else { return };
    for (name, p) in props {
        let path = format!("{at}.{name}");
        let byte_size = p.get("$ref").and_then(Value::as_str).is_some_and(|r| r.ends_with("ByteSize"))
            || p.get("anyOf")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|x| x.get("$ref").and_then(Value::as_str).is_some_and(|r| r.ends_with("ByteSize"))));
        if byte_size {
            if p.get("x-max-bytes").is_none() {
                missing.push(path);
            }
            continue;
        }
        let types: Vec<&str> = match p.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if types.iter().any(|t| *t == "integer" || *t == "number") && p.get("maximum").is_none() {
            missing.push(path.clone());
        }
        let inner = resolve(root, p);
        check_ranges(root, inner, path.clone(), missing);
        for alt in inner.get("anyOf").and_then(Value::as_array).into_iter().flatten() {
            check_ranges(root, resolve(root, alt), path.clone(), missing);
        }
    }
}
