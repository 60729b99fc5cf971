//! Where each quality signal is cut: the thresholds a recipe's stages apply
//! to the attributes they write in `annotate_only` mode, read from the
//! resolved recipe (`_sluice/recipe.json`). Options a recipe leaves out take
//! the stage's own default: the options are parsed with the stage's config
//! type, so a default here cannot drift from the stage's.

use serde_json::Value;
use sluice_pipeline::component::Test;
use sluice_pipeline::Kinds;

/// One threshold to draw on a histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub attribute: String,
    pub stage: String,
    pub option: String,
    pub value: f64,
    /// The drop reason the stage gives a document that breaks this rule.
    pub reason: String,
    /// Whether documents below (`DropBelow`) or above the value break it.
    pub test: Test,
    /// Whether the stage drops by it (not `annotate_only`): then the
    /// writers hold only the documents that passed.
    pub drops: bool,
}

impl Mark {
    pub fn label(&self) -> String {
        format!("{}.{} = {}", self.stage, self.option, crate::html::num(self.value))
    }

    /// `<` or `>`: how a value compares to the threshold when it breaks it.
    pub fn breaks_as(&self) -> &'static str {
        match self.test {
            Test::DropBelow => "<",
            Test::DropAbove => ">",
        }
    }
}

/// Every threshold of every stage in the resolved recipe: the
/// [`sluice_pipeline::SignalRule`]s its kind declares, at the values the run
/// used (options a recipe leaves out take the kind's default, filled in by
/// the kind's own config type, so they cannot drift from the stage's).
pub fn marks(recipe: &Value, kinds: &Kinds) -> Vec<Mark> {
    let mut out = Vec::new();
    let Some(stages) = recipe.get("stages").and_then(Value::as_object) else { return out };
    for (name, stage) in stages {
        let Some(kind) = stage.get("kind").and_then(Value::as_str).and_then(|k| kinds.stage(k)) else { continue };
        if stage.get("enabled").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        if kind.signal_rules.is_empty() {
            continue;
        }
        let mut opts = stage.as_object().cloned().unwrap_or_default();
        for k in ["kind", "inputs", "exclusions", "enabled"] {
            opts.remove(k);
        }
        let opts = kind.resolve(&Value::Object(opts.clone())).unwrap_or(Value::Object(opts));
        let drops = opts.get("annotate_only").and_then(Value::as_bool) != Some(true);
        for rule in kind.signal_rules {
            let Some(v) = opts.get(rule.option) else { continue };
            if rule.attribute.contains("{n}") {
                for pair in v.as_array().into_iter().flatten() {
                    let (Some(n), Some(f)) = (pair.get(0).and_then(Value::as_u64), pair.get(1).and_then(Value::as_f64)) else { continue };
                    out.push(Mark {
                        attribute: rule.attribute.replace("{n}", &n.to_string()),
                        stage: name.clone(),
                        option: format!("{}[{n}]", rule.option),
                        value: f,
                        reason: rule.reason.replace("{n}", &n.to_string()),
                        test: rule.test,
                        drops,
                    });
                }
            } else if let Some(v) = v.as_f64() {
                out.push(Mark {
                    attribute: rule.attribute_at(name, &opts),
                    stage: name.clone(),
                    option: rule.option.to_string(),
                    value: v,
                    reason: rule.reason.to_string(),
                    test: rule.test,
                    drops,
                });
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
            // a disabled stage draws nothing
            "off": {"kind": "length", "inputs": ["len"], "enabled": false, "max_chars": 7},
        }});
        use sluice_pipeline::Kind;
        let kinds = Kinds::new(vec![
            Kind::of::<sluice_quality::GopherQualityConfig>(),
            Kind::of::<sluice_quality::GopherRepetitionConfig>(),
            Kind::of::<sluice_quality::LanguageIdConfig>(),
            Kind::of::<sluice_quality::LengthFilterConfig>(),
        ]);
        let m = marks(&recipe, &kinds);
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
        assert!(m.iter().all(|x| x.stage != "off"));
        // The reason a rule gives, the direction it cuts and whether the
        // stage drops by it (not annotate-only).
        let top2 = m.iter().find(|x| x.option == "top_n_grams[2]").unwrap();
        assert_eq!((top2.reason.as_str(), top2.test, top2.drops), ("gopher_top_2_gram", Test::DropAbove, true));
        let words = m.iter().find(|x| x.option == "min_doc_words").unwrap();
        assert_eq!((words.reason.as_str(), words.breaks_as(), words.drops), ("gopher_short_doc", "<", false));
    }
}
