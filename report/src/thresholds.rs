//! Where each quality signal is cut: the thresholds a recipe's stages apply
//! to the attributes they write in `annotate_only` mode, read from the
//! resolved recipe (`_sluice/recipe.json`). Options a recipe leaves out take
//! the stage's own default: the options are parsed with the stage's config
//! type, so a default here cannot drift from the stage's.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// One threshold to draw on a histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub attribute: String,
    pub stage: String,
    pub option: String,
    pub value: f64,
}

impl Mark {
    pub fn label(&self) -> String {
        format!("{}.{} = {}", self.stage, self.option, crate::html::num(self.value))
    }
}

/// (stage kind, attribute, option): the option's value is the attribute's threshold.
const RULES: &[(&str, &str, &str)] = &[
    ("length", "chars", "min_chars"),
    ("length", "chars", "max_chars"),
    ("length", "lines", "min_lines"),
    ("length", "lines", "max_lines"),
    ("language", "language_score", "min_score"),
    ("gopher_quality", "gopher_word_count", "min_doc_words"),
    ("gopher_quality", "gopher_word_count", "max_doc_words"),
    ("gopher_quality", "gopher_mean_word_length", "min_avg_word_length"),
    ("gopher_quality", "gopher_mean_word_length", "max_avg_word_length"),
    ("gopher_quality", "gopher_hash_ratio", "max_symbol_word_ratio"),
    ("gopher_quality", "gopher_ellipsis_ratio", "max_symbol_word_ratio"),
    ("gopher_quality", "gopher_bullet_lines_ratio", "max_bullet_lines_ratio"),
    ("gopher_quality", "gopher_ellipsis_lines_ratio", "max_ellipsis_lines_ratio"),
    ("gopher_quality", "gopher_alpha_words_ratio", "min_alpha_words_ratio"),
    ("gopher_quality", "gopher_stop_words", "min_stop_words"),
    ("gopher_repetition", "gopher_rep_dup_para_frac", "dup_para_frac"),
    ("gopher_repetition", "gopher_rep_dup_para_char_frac", "dup_para_char_frac"),
    ("gopher_repetition", "gopher_rep_dup_line_frac", "dup_line_frac"),
    ("gopher_repetition", "gopher_rep_dup_line_char_frac", "dup_line_char_frac"),
    ("fineweb", "fineweb_line_punct_ratio", "line_punct_thr"),
    ("fineweb", "fineweb_short_line_ratio", "short_line_thr"),
    ("fineweb", "fineweb_char_dup_ratio", "char_duplicates_ratio"),
    ("fineweb", "fineweb_list_ratio", "new_line_ratio"),
    ("c4", "c4_sentences", "min_num_sentences"),
];

/// The stage's options with its defaults filled in, where the kind is one
/// whose config type this crate knows; otherwise the options as written.
pub fn resolved_options(kind: &str, stage: &Value) -> Value {
    let mut opts = stage.as_object().cloned().unwrap_or_default();
    for k in ["kind", "inputs", "exclusions"] {
        opts.remove(k);
    }
    let opts = Value::Object(opts);
    fn fill<C: DeserializeOwned + Serialize>(v: &Value) -> Option<Value> {
        serde_json::from_value::<C>(v.clone()).ok().and_then(|c| serde_json::to_value(c).ok())
    }
    let filled = match kind {
        "language" => fill::<sluice_quality::LanguageIdConfig>(&opts),
        "gopher_quality" => fill::<sluice_quality::GopherQualityConfig>(&opts),
        "gopher_repetition" => fill::<sluice_quality::GopherRepetitionConfig>(&opts),
        "fineweb" => fill::<sluice_quality::FineWebQualityConfig>(&opts),
        "c4" => fill::<sluice_quality::C4QualityConfig>(&opts),
        _ => None, // `length` has no defaults: its bounds are off unless set
    };
    filled.unwrap_or(opts)
}

/// Every threshold of every stage in the resolved recipe.
pub fn marks(recipe: &Value) -> Vec<Mark> {
    let mut out = Vec::new();
    let Some(stages) = recipe.get("stages").and_then(Value::as_object) else { return out };
    for (name, stage) in stages {
        let Some(kind) = stage.get("kind").and_then(Value::as_str) else { continue };
        let opts = resolved_options(kind, stage);
        for (k, attr, opt) in RULES {
            if *k != kind {
                continue;
            }
            if let Some(v) = opts.get(*opt).and_then(Value::as_f64) {
                out.push(Mark { attribute: attr.to_string(), stage: name.clone(), option: opt.to_string(), value: v });
            }
        }
        if kind == "gopher_repetition" {
            for (opt, attr) in [("top_n_grams", "top_{}_gram_frac"), ("dup_n_grams", "dup_{}_gram_frac")] {
                for pair in opts.get(opt).and_then(Value::as_array).into_iter().flatten() {
                    let (Some(n), Some(f)) = (pair.get(0).and_then(Value::as_u64), pair.get(1).and_then(Value::as_f64)) else { continue };
                    out.push(Mark {
                        attribute: format!("gopher_rep_{}", attr.replace("{}", &n.to_string())),
                        stage: name.clone(),
                        option: format!("{opt}[{n}]"),
                        value: f,
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_come_from_the_stage_config() {
        let recipe = serde_json::json!({"stages": {
            "gq": {"kind": "gopher_quality", "inputs": ["r"], "annotate_only": true, "min_doc_words": 70},
            "rep": {"kind": "gopher_repetition", "inputs": ["gq"], "top_n_grams": [[2, 0.25]]},
            "lang": {"kind": "language", "inputs": ["rep"], "min_score": 0.5},
            "len": {"kind": "length", "inputs": ["lang"], "min_chars": 100},
        }});
        let m = marks(&recipe);
        let find = |a: &str, o: &str| m.iter().find(|x| x.attribute == a && x.option == o).map(|x| x.value);
        assert_eq!(find("gopher_word_count", "min_doc_words"), Some(70.0));
        // not in the recipe: gopher_quality's default
        assert_eq!(find("gopher_word_count", "max_doc_words"), Some(100000.0));
        assert_eq!(find("gopher_alpha_words_ratio", "min_alpha_words_ratio"), Some(0.8));
        assert_eq!(find("gopher_rep_top_2_gram_frac", "top_n_grams[2]"), Some(0.25));
        assert_eq!(find("gopher_rep_dup_line_frac", "dup_line_frac"), Some(0.3));
        assert_eq!(find("language_score", "min_score"), Some(0.5));
        assert_eq!(find("chars", "min_chars"), Some(100.0));
        assert_eq!(find("chars", "max_chars"), None);
    }
}
