//! The `classifier` stage with a model file: attributes, thresholds,
//! labels, annotate-only, numeric labels.

use std::io::Write;

use serde_json::json;
use sluice_pipeline::component::Component;
use sluice_pipeline::{BuildContext, Document, OutputClaims, Verdict};
use sluice_quality::classifier::ClassifierConfig;

/// A small model: `good` documents talk about cats, `bad` about spam.
fn train(dir: &std::path::Path, labels: [&str; 2]) -> std::path::PathBuf {
    let data = dir.join("train.txt");
    let mut f = std::fs::File::create(&data).unwrap();
    for i in 0..200 {
        writeln!(f, "__label__{} the cat sat on the mat and purred {i}", labels[0]).unwrap();
        writeln!(f, "__label__{} buy cheap pills now click here {i}", labels[1]).unwrap();
    }
    drop(f);
    let args = sluice_fasttext::TrainArgs { dim: 8, epoch: 10, lr: 0.5, bucket: 0, ..Default::default() };
    let (model, _) = sluice_fasttext::train(&data, &args).unwrap();
    let p = dir.join("m.bin");
    model.save(&p).unwrap();
    p
}

fn stage(cfg: serde_json::Value) -> Box<dyn sluice_pipeline::DocStage> {
    let cfg: ClassifierConfig = serde_json::from_value(cfg).unwrap();
    assert!(cfg.validate().is_empty(), "{:?}", cfg.validate());
    let claims = OutputClaims::default();
    let cx = BuildContext { name: "q", path: "stages.q", seed: 1, source: "", claims: &claims };
    match cfg.build(&cx).unwrap_or_else(|e| panic!("{e:?}")) {
        sluice_pipeline::component::Built::Stage(sluice_pipeline::StageImpl::Doc(s)) => Box::new(ArcStage(s)),
        _ => panic!("not a document stage"),
    }
}

struct ArcStage(std::sync::Arc<dyn sluice_pipeline::DocStage>);
impl sluice_pipeline::DocStage for ArcStage {
    fn process(&self, doc: &mut Document) -> Verdict {
        self.0.process(doc)
    }
}

fn doc(text: &str) -> Document {
    Document::new("1", text, "s".into())
}

#[test]
fn scores_and_thresholds_with_a_model_file() {
    let d = tempfile::tempdir().unwrap();
    let m = train(d.path(), ["good", "bad"]);
    let s = stage(json!({"model": m, "score_label": "good", "min_score": 0.5}));
    let mut cat = doc("the cat purred\non the mat");
    assert_eq!(s.process(&mut cat), Verdict::Keep);
    let p = cat.attributes["q_score"];
    assert!(p > 0.9, "{:?}", cat.attributes);
    assert_eq!(cat.attributes["q_good"], p);
    assert!((cat.attributes["q_good"] + cat.attributes["q_bad"] - 1.0).abs() < 1e-4);
    let mut spam = doc("cheap pills, click here now");
    assert_eq!(s.process(&mut spam), Verdict::Drop("classifier_low_score".into()));
    assert!(spam.attributes["q_score"] < 0.1);

    // annotate only: the same attributes, nothing dropped
    let s = stage(json!({"model": m, "score_label": "good", "min_score": 0.5, "annotate_only": true, "attribute": "edu"}));
    let mut spam2 = doc("cheap pills, click here now");
    assert_eq!(s.process(&mut spam2), Verdict::Keep);
    assert_eq!(spam2.attributes["edu_score"], spam.attributes["q_score"]);

    // by label
    let s = stage(json!({"model": m, "score_label": "good", "keep_labels": ["bad"], "probabilities": false}));
    let mut cat = doc("the cat sat");
    assert_eq!(s.process(&mut cat), Verdict::Drop("classifier_label_not_kept".into()));
    assert_eq!(cat.attributes.len(), 1, "{:?}", cat.attributes);
}

#[test]
fn numeric_labels_score_the_expected_value_and_bad_options_are_named() {
    let d = tempfile::tempdir().unwrap();
    let m = train(d.path(), ["3", "0"]);
    let s = stage(json!({"model": m}));
    let mut cat = doc("the cat sat on the mat");
    s.process(&mut cat);
    let (p3, score) = (cat.attributes["q_3"], cat.attributes["q_score"]);
    assert!((score - 3.0 * p3).abs() < 1e-4 && score > 2.5, "{:?}", cat.attributes);

    let named = |v: serde_json::Value| -> Vec<String> {
        serde_json::from_value::<ClassifierConfig>(v).unwrap().validate().into_iter().map(|(k, _)| k).collect()
    };
    let m2 = train(&d.path().join("x").tap(), ["good", "bad"]);
    assert_eq!(named(json!({"model": m2})), ["score_label"]);
    assert_eq!(named(json!({"model": m2, "score_label": "nope"})), ["score_label"]);
    assert_eq!(named(json!({"model": m2, "score_label": "good", "keep_labels": ["x"]})), ["keep_labels[0]"]);
    assert_eq!(named(json!({"model_from": "t", "model": m2, "score_label": "good"})), ["model"]);
    assert_eq!(named(json!({"model_from": "t", "preprocess": {"lowercase": true}})), ["preprocess"]);
    assert_eq!(named(json!({"model_from": "t", "top_fraction": 0.0})), ["top_fraction"]);
    let garbage = d.path().join("garbage.bin");
    std::fs::write(&garbage, b"not a model").unwrap();
    let e = serde_json::from_value::<ClassifierConfig>(json!({"model": garbage})).unwrap().validate();
    assert_eq!(e.len(), 1);
    assert!(e[0].1.contains("garbage.bin"), "{e:?}");
    assert!(serde_json::from_value::<ClassifierConfig>(json!({"model_from": "t", "preprocess": {"lowercase": true, "x": 1}})).is_err());
}

trait Tap {
    fn tap(self) -> Self;
}
impl Tap for std::path::PathBuf {
    fn tap(self) -> Self {
        std::fs::create_dir_all(&self).unwrap();
        self
    }
}
