//! `sluice classifier train|predict|test` end to end.

use std::io::Write;
use std::process::Stdio;

use super::{run_ok, sluice};

const TRAIN: &str = "__label__pos good great fine lovely nice\n\
    __label__neg bad awful poor terrible\n\
    __label__pos great lovely good day\n\
    __label__neg awful bad day poor\n\
    __label__pos nice fine good\n\
    __label__neg terrible poor awful\n";

#[test]
fn classifier_train_predict_test_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.txt");
    std::fs::write(&train, TRAIN.repeat(30)).unwrap();
    let model = dir.path().join("m.bin");
    let args = [
        "classifier",
        "train",
        "--input",
        train.to_str().unwrap(),
        "--output",
        model.to_str().unwrap(),
        "--dim",
        "8",
        "--word-ngrams",
        "2",
        "--bucket",
        "1000",
        "--lr",
        "0.5",
    ];
    let out = run_ok(sluice().args(args));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["labels"], 2);
    assert_eq!(summary["lines"], 180);
    assert_eq!(summary["examples"], 900);
    let first = std::fs::read(&model).unwrap();
    // Deterministic: the same command writes the same bytes.
    run_ok(sluice().args(args));
    assert_eq!(std::fs::read(&model).unwrap(), first);

    // predict from stdin: one line per document, top label and probability.
    let mut child = sluice()
        .args(["classifier", "predict", "--model", model.to_str().unwrap(), "--k", "2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"lovely good day\nawful poor\n\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("__label__pos 0.9"), "{text}");
    assert!(lines[1].starts_with("__label__neg 0.9"), "{text}");
    assert_eq!(lines[0].split(' ').count(), 4);

    // --probs: every label's probability as JSON.
    let probe = dir.path().join("probe.txt");
    std::fs::write(&probe, "lovely good day\n").unwrap();
    let out =
        run_ok(sluice().args(["classifier", "predict", "--model", model.to_str().unwrap(), "--probs", "--input", probe.to_str().unwrap()]));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (p, n) = (v["__label__pos"].as_f64().unwrap(), v["__label__neg"].as_f64().unwrap());
    assert!(p > 0.9 && (p + n - 1.0).abs() < 1e-3, "{v}");

    // test: P@1 and per-label AUC / F1.
    let out = run_ok(sluice().args([
        "classifier",
        "test",
        "--model",
        model.to_str().unwrap(),
        "--input",
        train.to_str().unwrap(),
        "--positive",
        "__label__pos",
    ]));
    let t: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(t["examples"], 180);
    assert_eq!(t["precision_at_1"], 1.0);
    assert_eq!(t["labels"]["__label__pos"]["roc_auc"], 1.0);
    assert_eq!(t["labels"]["__label__pos"]["f1"], 1.0);
}

#[test]
fn classifier_errors_name_the_file_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("not-a-model.bin");
    std::fs::write(&bad, b"hello").unwrap();
    let out = sluice().args(["classifier", "predict", "--model", bad.to_str().unwrap()]).stdin(Stdio::null()).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not-a-model.bin") && err.contains("not a fastText model"), "{err}");

    let train = dir.path().join("nolabels.txt");
    std::fs::write(&train, "no labels here\n").unwrap();
    let out = sluice()
        .args(["classifier", "train", "--input", train.to_str().unwrap(), "--output", dir.path().join("m.bin").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nolabels.txt") && err.contains("no labels"), "{err}");

    let out =
        sluice().args(["classifier", "train", "--input", train.to_str().unwrap(), "--output", "m.bin", "--dim", "0"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("dim 0"));
}
