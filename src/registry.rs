//! The closed set of component kinds: one `match` per role, so adding a
//! kind is one arm here plus its config type in its own crate.

use std::sync::Arc;

use schemars::Schema;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sluice_pipeline::{parse_checked, BuildContext, Diagnostic, Reader, Registry, Role, SinkFactory, StageImpl};

use sluice_dedup::{ExactConfig, LineDedupConfig, MinHashConfig};
use sluice_perplexity::PerplexityConfig;
use sluice_quality::{
    C4BadWordsConfig, C4QualityConfig, FineWebQualityConfig, GopherQualityConfig, GopherRepetitionConfig, LanguageIdConfig,
    LengthFilterConfig, Passthrough, UrlBlocklistConfig,
};
use sluice_readers::{Flavor, JsonlReaderConfig, ParquetReaderConfig, TextReaderConfig, WarcReaderConfig};
use sluice_safety::{DecontamConfig, PiiConfig, ToxicityConfig};
use sluice_tokens::{MixConfig, PackConfig, TokenizeConfig, TokenizerTrainConfig};
use sluice_writers::{JsonlWriterConfig, ParquetWriterConfig};

/// One kind's entry in the reference (`sluice kinds`).
pub struct KindInfo {
    pub role: Role,
    pub name: &'static str,
    pub about: &'static str,
    pub schema: fn() -> Schema,
}

/// An empty configuration (kinds that take no options).
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct NoOptions {}

pub const KINDS: &[KindInfo] = &[
    KindInfo { role: Role::Reader, name: "jsonl", about: "JSON Lines (.jsonl, .jsonl.gz, .jsonl.zst): one JSON object per line", schema: || schemars::schema_for!(JsonlReaderConfig) },
    KindInfo { role: Role::Reader, name: "parquet", about: "Parquet files, one document per row", schema: || schemars::schema_for!(ParquetReaderConfig) },
    KindInfo { role: Role::Reader, name: "warc", about: "WARC (.warc, .warc.gz) HTTP responses, with charset decoding and HTML main-text extraction", schema: || schemars::schema_for!(WarcReaderConfig) },
    KindInfo { role: Role::Reader, name: "wet", about: "Common Crawl WET (.wet, .wet.gz) plain-text conversion records", schema: || schemars::schema_for!(WarcReaderConfig) },
    KindInfo { role: Role::Reader, name: "text", about: "A directory of text/markdown/HTML/compressed files, one document per file or (`split`) per paragraph-aligned piece", schema: || schemars::schema_for!(TextReaderConfig) },
    KindInfo { role: Role::Stage, name: "passthrough", about: "Keeps every document unchanged (measures the bare engine)", schema: || schemars::schema_for!(NoOptions) },
    KindInfo { role: Role::Stage, name: "length", about: "Drops documents outside character/line bounds, or annotates their lengths", schema: || schemars::schema_for!(LengthFilterConfig) },
    KindInfo { role: Role::Stage, name: "language", about: "Language ID (whatlang; zh with hans/hant script): writes `language` and `language_score`, can keep a list above a threshold", schema: || schemars::schema_for!(LanguageIdConfig) },
    KindInfo { role: Role::Stage, name: "gopher_repetition", about: "Gopher repetition filter: duplicate lines/paragraphs, top and duplicated n-gram fractions (datatrove defaults)", schema: || schemars::schema_for!(GopherRepetitionConfig) },
    KindInfo { role: Role::Stage, name: "gopher_quality", about: "Gopher quality filter: word counts and lengths, symbol ratios, bullets/ellipses, alphabetic words, stop words", schema: || schemars::schema_for!(GopherQualityConfig) },
    KindInfo { role: Role::Stage, name: "c4", about: "C4 line-level cleaning (punctuation, javascript, policy, citations, lorem ipsum, braces, sentences); rewrites the text", schema: || schemars::schema_for!(C4QualityConfig) },
    KindInfo { role: Role::Stage, name: "c4_badwords", about: "C4 bad-words filter (LDNOOBW English list)", schema: || schemars::schema_for!(C4BadWordsConfig) },
    KindInfo { role: Role::Stage, name: "fineweb", about: "FineWeb filter: terminal-punctuation lines, short lines, duplicated-line characters, newline/word ratio", schema: || schemars::schema_for!(FineWebQualityConfig) },
    KindInfo { role: Role::Stage, name: "url_blocklist", about: "Drops documents whose `url` is on a blocklist of domains (with subdomains) and URLs read from files", schema: || schemars::schema_for!(UrlBlocklistConfig) },
    KindInfo { role: Role::Stage, name: "pii", about: "Scrubs PII and secrets (emails, phones, public IPs, cards, IBANs, US SSNs, Chinese IDs, keys/tokens, URL credentials): placeholder, mask or keyed hash per kind; `pii_<kind>` counts", schema: || schemars::schema_for!(PiiConfig) },
    KindInfo { role: Role::Stage, name: "toxicity", about: "Toxicity/NSFW filter: fraction of flagged words (LDNOOBW English, Chinese list, your lists) and an adult URL/domain blocklist", schema: || schemars::schema_for!(ToxicityConfig) },
    KindInfo { role: Role::Stage, name: "decontaminate", about: "Drops or marks documents sharing 13-grams with HellaSwag, LAMBADA, PIQA, ARC, Winogrande, MMLU, C-Eval (index built from the eval sets, or loaded; `save_index` keeps it in the output for later runs)", schema: || schemars::schema_for!(DecontamConfig) },
    KindInfo { role: Role::Stage, name: "tokenizer_train", about: "Global: trains a byte-level BPE tokenizer on a per-source byte-budget sample of the stream (OUT/<node>/tokenizer.json); can tokenize what passes on", schema: || schemars::schema_for!(TokenizerTrainConfig) },
    KindInfo { role: Role::Stage, name: "tokenize", about: "Encodes each document with a tokenizer.json: ids in metadata.tokens, count in attributes.tokens", schema: || schemars::schema_for!(TokenizeConfig) },
    KindInfo { role: Role::Stage, name: "mix", about: "Global: samples sources to token weights under a token budget with per-source epoch caps; writes reports/<node>/mix.json", schema: || schemars::schema_for!(MixConfig) },
    KindInfo { role: Role::Stage, name: "pack", about: "Global: packs tokenized documents into seq_len sequences, shuffles, splits train/val by document, writes llm.c or Megatron shards + manifest.json", schema: || schemars::schema_for!(PackConfig) },
    KindInfo { role: Role::Stage, name: "minhash_dedup", about: "MinHash LSH fuzzy dedup (global): word 5-gram shingles, 14 bands x 8 rows, keeps the first seen of each cluster; cluster report", schema: || schemars::schema_for!(MinHashConfig) },
    KindInfo { role: Role::Stage, name: "exact_dedup", about: "Exact dedup on a normalised-text hash (global): keep first/longest/by source priority; Bloom filter saved/loaded across dumps", schema: || schemars::schema_for!(ExactConfig) },
    KindInfo { role: Role::Stage, name: "line_dedup", about: "Line/paragraph dedup across the corpus (global, CCNet/C4): removes lines seen more than N times, optionally per source", schema: || schemars::schema_for!(LineDedupConfig) },
    KindInfo { role: Role::Stage, name: "perplexity", about: "Scores documents with a reference LM from `sluice train`: ppl, ppl_nll, bits per byte; CCNet head/middle/tail buckets (`sluice ppl calibrate`)", schema: || schemars::schema_for!(PerplexityConfig) },
    KindInfo { role: Role::Writer, name: "jsonl", about: "Sharded JSON Lines, zstd (default) or gzip compressed", schema: || schemars::schema_for!(JsonlWriterConfig) },
    KindInfo { role: Role::Writer, name: "parquet", about: "Sharded Parquet (id, text, source, metadata JSON, attributes map)", schema: || schemars::schema_for!(ParquetWriterConfig) },
];

/// The built-in registry.
pub struct Builtins;

/// Parse a kind's options: unknown keys, types, and the ranges its schema
/// declares are all checked here, for every kind.
fn parse<T: DeserializeOwned + schemars::JsonSchema>(v: &Value, cx: &BuildContext) -> Result<T, Vec<Diagnostic>> {
    parse_checked(v, cx.path)
}

/// Turn a config's own `(field, message)` checks into located diagnostics.
fn located<T>(cx: &BuildContext, r: Result<T, Vec<(String, String)>>) -> Result<T, Vec<Diagnostic>> {
    r.map_err(|errs| errs.into_iter().map(|(f, m)| Diagnostic::new(format!("{}.{f}", cx.path), m)).collect())
}

fn checked<T>(cx: &BuildContext, errs: Vec<(String, String)>, ok: impl FnOnce() -> T) -> Result<T, Vec<Diagnostic>> {
    if errs.is_empty() {
        Ok(ok())
    } else {
        located(cx, Err(errs))
    }
}

/// Record a path under the output directory that an option writes
/// ([`BuildContext::claim_output`]).
fn claim(cx: &BuildContext, option: &str, rel: &str) -> Result<(), Vec<Diagnostic>> {
    cx.claim_output(option, rel).map(|_| ()).map_err(|d| vec![d])
}

/// Parse, check and build a document-wise stage.
fn doc_stage<C: DeserializeOwned + schemars::JsonSchema, S: sluice_pipeline::DocStage + 'static>(
    v: &Value,
    cx: &BuildContext,
    validate: impl FnOnce(&C) -> Vec<(String, String)>,
    build: impl FnOnce(&C) -> S,
) -> Result<StageImpl, Vec<Diagnostic>> {
    let c: C = parse(v, cx)?;
    let errs = validate(&c);
    Ok(StageImpl::Doc(Arc::new(checked(cx, errs, || build(&c))?)))
}

impl Registry for Builtins {
    fn kinds(&self, role: Role) -> Vec<&'static str> {
        KINDS.iter().filter(|k| k.role == role).map(|k| k.name).collect()
    }

    fn check_train(&self, config: &Value, recipe: &sluice_pipeline::Recipe) -> Vec<Diagnostic> {
        match crate::train_section::parse(config, recipe, &recipe.output) {
            Ok(_) => Vec::new(),
            Err(d) => d,
        }
    }

    fn build_reader(&self, kind: &str, v: &Value, cx: &BuildContext) -> Result<Arc<dyn Reader>, Vec<Diagnostic>> {
        Ok(match kind {
            "jsonl" => Arc::new(located(cx, parse::<JsonlReaderConfig>(v, cx)?.build(cx.source, cx.seed))?),
            "parquet" => Arc::new(located(cx, parse::<ParquetReaderConfig>(v, cx)?.build(cx.source, cx.seed))?),
            "warc" => Arc::new(located(cx, parse::<WarcReaderConfig>(v, cx)?.build(Flavor::Warc, cx.source, cx.seed))?),
            "wet" => Arc::new(located(cx, parse::<WarcReaderConfig>(v, cx)?.build(Flavor::Wet, cx.source, cx.seed))?),
            "text" => Arc::new(located(cx, parse::<TextReaderConfig>(v, cx)?.build(cx.source, cx.seed))?),
            other => return Err(vec![Diagnostic::new(cx.path, format!("internal: unhandled reader kind `{other}`"))]),
        })
    }

    fn build_stage(&self, kind: &str, v: &Value, cx: &BuildContext) -> Result<StageImpl, Vec<Diagnostic>> {
        Ok(match kind {
            "passthrough" => {
                parse::<NoOptions>(v, cx)?;
                StageImpl::Doc(Arc::new(Passthrough))
            }
            "length" => doc_stage::<LengthFilterConfig, _>(v, cx, |c| c.validate(), |c| c.build())?,
            "language" => doc_stage::<LanguageIdConfig, _>(v, cx, |c| c.validate(), |c| c.build())?,
            "gopher_repetition" => doc_stage::<GopherRepetitionConfig, _>(v, cx, |c| c.validate(), |c| c.build())?,
            "gopher_quality" => doc_stage::<GopherQualityConfig, _>(v, cx, |c| c.validate(), |c| c.build())?,
            "c4" => doc_stage::<C4QualityConfig, _>(v, cx, |c| c.validate(), |c| c.build())?,
            "c4_badwords" => doc_stage::<C4BadWordsConfig, _>(v, cx, |c| c.validate(), |c| c.build())?,
            "fineweb" => doc_stage::<FineWebQualityConfig, _>(v, cx, |c| c.validate(), |c| c.build())?,
            "url_blocklist" => {
                let c: UrlBlocklistConfig = parse(v, cx)?;
                checked(cx, c.validate(), || ())?;
                StageImpl::Doc(Arc::new(located(cx, c.build())?))
            }
            "pii" => doc_stage::<PiiConfig, _>(v, cx, |c| c.validate(), |c| c.build(cx.seed))?,
            "toxicity" => {
                let c: ToxicityConfig = parse(v, cx)?;
                checked(cx, c.validate(), || ())?;
                StageImpl::Doc(Arc::new(located(cx, c.build())?))
            }
            "decontaminate" => {
                let c: DecontamConfig = parse(v, cx)?;
                checked(cx, c.validate(), || ())?;
                if let Some(rel) = &c.save_index {
                    claim(cx, "save_index", rel)?;
                }
                StageImpl::Doc(Arc::new(located(cx, c.build())?))
            }
            "tokenize" => {
                let c: TokenizeConfig = parse(v, cx)?;
                checked(cx, c.validate(), || ())?;
                StageImpl::Doc(Arc::new(located(cx, c.build())?))
            }
            "tokenizer_train" => {
                let c: TokenizerTrainConfig = parse(v, cx)?;
                let stage = checked(cx, c.validate(), || c.build(cx.name))?;
                // It writes OUT/<node>/tokenizer.json.
                claim(cx, "folder", cx.name)?;
                StageImpl::Global(Arc::new(stage))
            }
            "mix" => {
                let c: MixConfig = parse(v, cx)?;
                StageImpl::Global(Arc::new(checked(cx, c.validate(), || c.build(cx.name))?))
            }
            "pack" => {
                let c: PackConfig = parse(v, cx)?;
                let stage = checked(cx, c.validate(), || c.build(cx.name))?;
                // Shards go to OUT/<dir>, by default OUT/<node>: another
                // pack, a writer, another node's folder or sluice's own
                // folders must not share it (`compile` reports collisions).
                claim(cx, "dir", c.dir.as_deref().unwrap_or(cx.name))?;
                StageImpl::Global(Arc::new(stage))
            }
            "minhash_dedup" => {
                let c: MinHashConfig = parse(v, cx)?;
                StageImpl::Global(Arc::new(checked(cx, c.validate(), || c.build())?))
            }
            "exact_dedup" => {
                let c: ExactConfig = parse(v, cx)?;
                let stage = checked(cx, c.validate(), || c.build())?;
                if let Some(save) = c.bloom.as_ref().and_then(|b| b.save.as_ref()) {
                    claim(cx, "bloom.save", save)?;
                }
                StageImpl::Global(Arc::new(stage))
            }
            "line_dedup" => {
                let c: LineDedupConfig = parse(v, cx)?;
                StageImpl::Global(Arc::new(checked(cx, c.validate(), || c.build())?))
            }
            "perplexity" => {
                let c: PerplexityConfig = parse(v, cx)?;
                checked(cx, c.validate(), || ())?;
                StageImpl::Stream(Arc::new(located(cx, c.build())?))
            }
            other => return Err(vec![Diagnostic::new(cx.path, format!("internal: unhandled stage kind `{other}`"))]),
        })
    }

    fn build_writer(&self, kind: &str, v: &Value, cx: &BuildContext) -> Result<Arc<dyn SinkFactory>, Vec<Diagnostic>> {
        Ok(match kind {
            "jsonl" => {
                let c: JsonlWriterConfig = parse(v, cx)?;
                Arc::new(checked(cx, c.validate(), || c.build())?)
            }
            "parquet" => {
                let c: ParquetWriterConfig = parse(v, cx)?;
                Arc::new(checked(cx, c.validate(), || c.build())?)
            }
            other => return Err(vec![Diagnostic::new(cx.path, format!("internal: unhandled writer kind `{other}`"))]),
        })
    }
}

/// Every kind (or those named `name`) as `[{"role", "name", "about",
/// "schema"}]`: the machine-readable reference (`sluice kinds --json`),
/// which the strictness test walks.
pub fn kinds_json(name: Option<&str>) -> Value {
    Value::Array(
        KINDS
            .iter()
            .filter(|k| name.is_none_or(|n| n == k.name))
            .map(|k| serde_json::json!({"role": role_word(k.role), "name": k.name, "about": k.about, "schema": (k.schema)().to_value()}))
            .collect(),
    )
}

/// Render a kind's options from its JSON schema: name, type, default and
/// the `///` doc of each field.
pub fn describe(info: &KindInfo) -> String {
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
        for k in KINDS {
            let d = describe(k);
            assert!(d.starts_with(&format!("{} {}", role_word(k.role), k.name)), "{d}");
            assert!(Builtins.kinds(k.role).contains(&k.name));
        }
        let jsonl = KINDS.iter().find(|k| k.name == "jsonl" && k.role == Role::Reader).unwrap();
        let d = describe(jsonl);
        assert!(d.contains("text_key: string"), "{d}");
        assert!(d.contains("paths: list of string (required)"), "{d}");
        assert!(d.contains("Key of the document text"), "{d}");
    }
}
