//! `language` with `backend: fasttext`: a small GlotLID-style LID model
//! trained here with sluice's own fastText trainer on real text from
//! `../shared/data` (override with `SLUICE_TEST_DATA`), loaded by the stage,
//! its labels mapped to the stage's codes.

use std::path::PathBuf;
use std::sync::Arc;

use sluice_pipeline::{DocStage, Document, Verdict};
use sluice_quality::langid::Backend;
use sluice_quality::LanguageIdConfig;

fn data_dir() -> PathBuf {
    let dir = std::env::var_os("SLUICE_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")));
    assert!(
        dir.join("README.md").is_file(),
        "shared test data not found at {}: set SLUICE_TEST_DATA to the shared/data directory",
        dir.display()
    );
    dir
}

fn read(rel: &str) -> String {
    let p = data_dir().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// (label, text) pairs.
type Labelled = Vec<(&'static str, String)>;

/// English WikiText paragraphs and Chinese CLUE documents: (train, held out).
fn texts() -> (Labelled, Labelled) {
    let para = |f: &str| -> Vec<String> {
        read(f).lines().map(str::trim).filter(|l| l.len() > 200 && !l.starts_with('=')).map(|l| l.chars().take(600).collect()).collect()
    };
    let en_train = para("reference/en/wiki.validation.raw");
    let en_test = para("reference/en/wiki.test.raw");
    let zh: Vec<String> =
        read("zh/clue-corpus-small.sample.txt").lines().filter(|l| l.chars().count() > 50).map(|l| l.chars().take(300).collect()).collect();
    let (zh_train, zh_test) = zh.split_at(zh.len() * 2 / 3);
    let mut train: Vec<(&str, String)> = en_train.into_iter().take(800).map(|t| ("eng_Latn", t)).collect();
    train.extend(zh_train.iter().take(800).map(|t| ("cmn_Hani", t.clone())));
    let mut test: Vec<(&str, String)> = en_test.into_iter().take(200).map(|t| ("en", t)).collect();
    test.extend(zh_test.iter().take(200).map(|t| ("zh", t.clone())));
    (train, test)
}

fn train_model(dir: &std::path::Path) -> PathBuf {
    let (train, _) = texts();
    let input = dir.join("train.txt");
    let mut lines = String::new();
    // interleave the languages: SGD sees both from the start
    let (en, zh): (Vec<_>, Vec<_>) = train.iter().partition(|(l, _)| *l == "eng_Latn");
    for (a, b) in en.iter().zip(zh.iter()) {
        for (label, text) in [a, b] {
            lines.push_str(&format!("__label__{label} {}\n", text.replace('\n', " ")));
        }
    }
    std::fs::write(&input, lines).unwrap();
    let args = sluice_fasttext::TrainArgs { dim: 16, epoch: 5, lr: 0.5, minn: 1, maxn: 3, bucket: 50_000, ..Default::default() };
    let (model, _) = sluice_fasttext::train(&input, &args).expect("train");
    let path = dir.join("lid.bin");
    model.save(&path).unwrap();
    path
}

#[test]
fn fasttext_lid_backend_maps_glotlid_labels_and_scores() {
    let dir = tempfile::tempdir().unwrap();
    let model = train_model(dir.path());
    let cfg = LanguageIdConfig {
        backend: Backend::Fasttext,
        model: Some(model.to_string_lossy().into_owned()),
        annotate_only: true,
        ..Default::default()
    };
    assert!(cfg.validate().is_empty(), "{:?}", cfg.validate());
    let stage = cfg.try_build().expect("model loads");
    let (_, test) = texts();
    let loaded = sluice_fasttext::Model::load(&model).unwrap();
    let mut ok = 0;
    for (i, (lang, text)) in test.iter().enumerate() {
        let mut d = Document::new(i.to_string(), text, Arc::from("t"));
        assert_eq!(stage.process(&mut d), Verdict::Keep);
        let got = d.meta_str("language").unwrap().to_string();
        ok += (got == *lang) as usize;
        // the score is the model's own probability of its top label, on
        // the text as one line with the `</s>` Python's predict appends
        let line = format!("{}\n", text.replace('\n', " "));
        let top = loaded.predict(&line, 1, 0.0);
        assert!((d.attributes["language_score"] - top[0].1 as f64).abs() < 1e-6, "{} vs {}", d.attributes["language_score"], top[0].1);
        if got == "zh" {
            assert!(matches!(d.meta_str("zh_script"), Some("hans" | "hant")), "cmn_Hani leaves the script to the text");
        } else {
            assert_eq!(d.meta_str("zh_script"), None);
        }
    }
    let acc = ok as f64 / test.len() as f64;
    println!("fastText LID (trained here, en/zh): held-out accuracy {acc:.3} on {} texts", test.len());
    assert!(acc >= 0.97, "held-out accuracy {acc}");

    // a keep-list in the stage's codes selects by the mapped label
    let keep_en =
        LanguageIdConfig { languages: vec!["en".into()], min_score: 0.0, annotate_only: false, ..cfg.clone() }.try_build().unwrap();
    let mut en = Document::new("en", &test[0].1, Arc::from("t"));
    let mut zh = Document::new("zh", &test[test.len() - 1].1, Arc::from("t"));
    assert_eq!(keep_en.process(&mut en), Verdict::Keep);
    assert_eq!(keep_en.process(&mut zh), Verdict::Drop("language_not_kept".into()));
}

#[test]
fn a_bad_model_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("garbage.bin");
    std::fs::write(&bad, b"not a fastText model at all").unwrap();
    let cfg = LanguageIdConfig { backend: Backend::Fasttext, model: Some(bad.to_string_lossy().into_owned()), ..Default::default() };
    assert!(cfg.validate().is_empty(), "the file exists; loading it is what fails");
    let e = cfg.try_build().expect_err("garbage does not load");
    assert_eq!(e[0].0, "model");
    assert!(e[0].1.contains("garbage.bin"), "{e:?}");
    let missing = LanguageIdConfig { model: Some(dir.path().join("nope.bin").to_string_lossy().into_owned()), ..cfg };
    assert_eq!(missing.validate()[0].0, "model");
}
