//! The registry: every component kind this build knows, one line per
//! type. A kind is its configuration type, which implements
//! [`sluice_pipeline::Component`] next to its stage (name, one-line doc,
//! schema, signal rules, checks and build); `sluice kinds`, `validate`, the
//! compiler, `--what-if` and the report all read this one list.

use serde_json::Value;
use sluice_pipeline::{Kind, Kinds, Role};

/// Every kind, in the order `sluice kinds` lists them.
pub fn kinds() -> Kinds {
    Kinds::new(vec![
        // readers
        Kind::of::<sluice_readers::JsonlReaderConfig>(),
        Kind::of::<sluice_readers::ParquetReaderConfig>(),
        Kind::of::<sluice_readers::WarcReaderConfig>(),
        Kind::of::<sluice_readers::WetReaderConfig>(),
        Kind::of::<sluice_readers::TextReaderConfig>(),
        // document stages
        Kind::of::<sluice_quality::PassthroughConfig>(),
        Kind::of::<sluice_quality::LengthFilterConfig>(),
        Kind::of::<sluice_quality::LanguageIdConfig>(),
        Kind::of::<sluice_quality::GopherRepetitionConfig>(),
        Kind::of::<sluice_quality::GopherQualityConfig>(),
        Kind::of::<sluice_quality::C4QualityConfig>(),
        Kind::of::<sluice_quality::C4BadWordsConfig>(),
        Kind::of::<sluice_quality::FineWebQualityConfig>(),
        Kind::of::<sluice_quality::UrlBlocklistConfig>(),
        Kind::of::<sluice_quality::regex_filter::RegexFilterConfig>(),
        Kind::of::<sluice_quality::classifier_train::ClassifierTrainConfig>(),
        Kind::of::<sluice_quality::classifier::ClassifierConfig>(),
        Kind::of::<sluice_safety::PiiConfig>(),
        Kind::of::<sluice_safety::ToxicityConfig>(),
        Kind::of::<sluice_safety::DecontamConfig>(),
        // tokens
        Kind::of::<sluice_tokens::TokenizerTrainConfig>(),
        Kind::of::<sluice_tokens::TokenizeConfig>(),
        Kind::of::<sluice_tokens::MixConfig>(),
        Kind::of::<sluice_tokens::PackConfig>(),
        // dedup (global)
        Kind::of::<sluice_dedup::MinHashConfig>(),
        Kind::of::<sluice_dedup::ExactConfig>(),
        Kind::of::<sluice_dedup::LineDedupConfig>(),
        // model-based
        Kind::of::<sluice_perplexity::PerplexityConfig>(),
        // writers
        Kind::of::<sluice_writers::JsonlWriterConfig>(),
        Kind::of::<sluice_writers::ParquetWriterConfig>(),
    ])
    .with_train(|config, recipe| match crate::train_section::parse(config, recipe, &recipe.output) {
        Ok(_) => Vec::new(),
        Err(d) => d,
    })
}

/// Every kind (or those named `name`) as `[{"role", "name", "about",
/// "schema"}]`: the machine-readable reference (`sluice kinds --json`),
/// which the strictness test walks.
pub fn kinds_json(name: Option<&str>) -> Value {
    Value::Array(
        kinds()
            .iter()
            .filter(|k| name.is_none_or(|n| n == k.name))
            .map(|k| serde_json::json!({"role": role_word(k.role), "name": k.name, "about": k.about, "schema": (k.schema)().to_value()}))
            .collect(),
    )
}

/// Render a kind's options from its JSON schema: name, type, default and
/// the `///` doc of each field.
pub fn describe(info: &Kind) -> String {
    let schema = (info.schema)();
    let v = schema.as_value();
    let mut out = format!("{} {}: {}\n", role_word(info.role), info.name, info.about);
    let defs = v.get("$defs").cloned().unwrap_or(Value::Null);
    let required: Vec<&str> =
        v.get("required").and_then(|r| r.as_array()).map(|a| a.iter().filter_map(|x| x.as_str()).collect()).unwrap_or_default();
    match v.get("properties").and_then(|p| p.as_object()) {
        Some(props) if !props.is_empty() => {
            out.push_str("options:\n");
            for (name, p) in props {
                let p = resolve(p, &defs);
                let ty = type_of(&p, &defs);
                let req = if required.contains(&name.as_str()) { " (required)" } else { "" };
                let default = p.get("default").map(|d| format!(" [default: {d}]")).unwrap_or_default();
                out.push_str(&format!("  {name}: {ty}{req}{default}\n"));
                if let Some(d) = p.get("description").and_then(|d| d.as_str()) {
                    for line in d.lines() {
                        out.push_str(&format!("      {line}\n"));
                    }
                }
            }
        }
        _ => out.push_str("options: none\n"),
    }
    out
}

fn resolve(p: &Value, defs: &Value) -> Value {
    // `{"$ref": "#/$defs/X"}` or `{"allOf": [{"$ref"}], "description": ...}`
    let reference = p.get("$ref").or_else(|| p.get("allOf").and_then(|a| a.get(0)).and_then(|x| x.get("$ref")));
    match reference.and_then(|r| r.as_str()).and_then(|r| r.strip_prefix("#/$defs/")) {
        Some(name) => {
            let mut merged = defs.get(name).cloned().unwrap_or(Value::Null);
            if let (Some(m), Some(own)) = (merged.as_object_mut(), p.as_object()) {
                for (k, v) in own {
                    if k != "$ref" && k != "allOf" {
                        m.insert(k.clone(), v.clone());
                    }
                }
            }
            merged
        }
        None => p.clone(),
    }
}

fn type_of(p: &Value, defs: &Value) -> String {
    if let Some(e) = p.get("enum").and_then(|e| e.as_array()) {
        return e.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(" | ");
    }
    if let Some(one) = p.get("oneOf").and_then(|e| e.as_array()) {
        let names: Vec<String> = one
            .iter()
            .map(|x| {
                x.get("const")
                    .or_else(|| x.get("enum").and_then(|e| e.get(0)))
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| type_of(&resolve(x, defs), defs))
            })
            .collect();
        return names.join(" | ");
    }
    match p.get("type") {
        Some(Value::String(t)) if t == "array" => {
            let item = p.get("items").map(|i| type_of(&resolve(i, defs), defs)).unwrap_or_else(|| "value".into());
            format!("list of {item}")
        }
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts.iter().filter_map(|t| t.as_str()).filter(|t| *t != "null").collect::<Vec<_>>().join(" | "),
        _ => "value".into(),
    }
}

fn role_word(r: Role) -> &'static str {
    match r {
        Role::Reader => "reader",
        Role::Stage => "stage",
        Role::Writer => "writer",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_documented_and_buildable_by_name() {
        use sluice_pipeline::Registry;
        let kinds = kinds();
        for k in kinds.iter() {
            let d = describe(k);
            assert!(d.starts_with(&format!("{} {}", role_word(k.role), k.name)), "{d}");
            assert!(kinds.kinds(k.role).contains(&k.name));
        }
        let jsonl = kinds.get(Role::Reader, "jsonl").unwrap();
        let d = describe(jsonl);
        assert!(d.contains("text_key: string"), "{d}");
        assert!(d.contains("paths: list of string (required)"), "{d}");
        assert!(d.contains("Key of the document text"), "{d}");
    }
}
