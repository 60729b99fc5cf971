//! Real-data tests over `../shared/data` (override with `SLUICE_TEST_DATA`):
//! labelled documents are cut from Gutenberg novels (`book`), WikiText
//! (`wiki`), Hong Lou Meng (`zh`, characters as tokens) and a Common Crawl
//! sample (`web`); every fifth document is held out. Run with
//! `--nocapture` to see the measured figures.

use std::io::Read;
use std::path::{Path, PathBuf};

use sluice_fasttext::{metrics, train, Loss, Model, Scratch, TrainArgs};

fn data_dir() -> PathBuf {
    let dir = std::env::var_os("SLUICE_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")));
    assert!(
        dir.join("README.md").is_file(),
        "shared test data not found at {}: set SLUICE_TEST_DATA to the shared/data directory",
        dir.display()
    );
    dir
}

fn read(rel: &str) -> String {
    let p = data_dir().join(rel);
    let b = std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
    String::from_utf8_lossy(&b).into_owned()
}

/// Up to `max` chunks of `n` whitespace-separated words, lowercased.
fn chunks(text: &str, n: usize, max: usize) -> Vec<String> {
    let w: Vec<&str> = text.split_whitespace().collect();
    w.chunks_exact(n).take(max).map(|c| c.join(" ").to_lowercase()).collect()
}

/// (label, text) documents of the four classes, in a fixed order.
fn documents() -> Vec<(&'static str, String)> {
    let per_class = 1200;
    let mut docs = Vec::new();
    let books = ["Moby_Dick.txt", "Pride_and_Prejudice.txt", "Tom_Sawyer.txt", "frankenstein_Gutenberg.txt"];
    for b in books {
        docs.extend(chunks(&read(&format!("reference/en/{b}")), 40, per_class / books.len()).into_iter().map(|c| ("book", c)));
    }
    docs.extend(chunks(&read("reference/en/wiki.test.raw"), 40, per_class).into_iter().map(|c| ("wiki", c)));
    let zh: Vec<char> = read("reference/zh/HongLouMeng_Last40Chapters.txt").chars().filter(|c| !c.is_whitespace()).collect();
    docs.extend(zh.chunks_exact(80).take(per_class).map(|c| ("zh", c.iter().map(|ch| ch.to_string()).collect::<Vec<_>>().join(" "))));
    let p = data_dir().join("web/cc-main-2019-30.sample.jsonl.gz");
    let mut gz = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display())))
        .read_to_string(&mut gz)
        .unwrap();
    let mut web = Vec::new();
    for line in gz.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        web.extend(chunks(v["text"].as_str().unwrap(), 40, 4));
    }
    docs.extend(web.into_iter().take(per_class).map(|c| ("web", c)));
    docs
}

struct Split {
    _dir: tempfile::TempDir,
    train: PathBuf,
    test: Vec<(&'static str, String)>,
}

/// Writes every document but each fifth to a fastText-format training file.
fn split() -> Split {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.txt");
    let mut t = String::new();
    let mut test = Vec::new();
    // Interleave the classes so that SGD does not see them in blocks.
    let docs = documents();
    let mut order: Vec<usize> = (0..docs.len()).collect();
    order.sort_by_key(|&i| (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    for (k, &i) in order.iter().enumerate() {
        let (label, text) = &docs[i];
        if k % 5 == 4 {
            test.push((*label, text.clone()));
        } else {
            t.push_str(&format!("__label__{label} {text}\n"));
        }
    }
    std::fs::write(&train, t).unwrap();
    Split { _dir: dir, train, test }
}

fn args(loss: Loss) -> TrainArgs {
    TrainArgs { dim: 16, epoch: 5, lr: 0.5, word_ngrams: 2, bucket: 200_000, loss, ..Default::default() }
}

fn model_bytes(m: &Model) -> Vec<u8> {
    let mut v = Vec::new();
    m.write(&mut v).unwrap();
    v
}

/// Held-out accuracy, and ROC AUC / F1 of `web` against the rest.
fn evaluate(m: &Model, test: &[(&str, String)]) -> (f64, f64, f64) {
    let web = m.labels().iter().position(|l| l == "__label__web").unwrap();
    let (mut s, mut p) = (Scratch::new(), Vec::new());
    let mut correct = 0;
    let mut scores = Vec::new();
    for (label, text) in test {
        m.predict_into(&format!("{text}\n"), &mut s, &mut p);
        let best = (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
        correct += (m.labels()[best] == format!("__label__{label}")) as usize;
        scores.push((p[web] as f64, *label == "web"));
    }
    (correct as f64 / test.len() as f64, metrics::roc_auc(&scores), metrics::prf(&scores, 0.5).f1)
}

#[test]
fn trains_accurate_models_on_real_text() {
    let s = split();
    for loss in [Loss::Softmax, Loss::OneVsAll, Loss::HierarchicalSoftmax] {
        let (m, r) = train(&s.train, &args(loss)).unwrap();
        assert_eq!(m.labels().len(), 4);
        let (acc, auc, f1) = evaluate(&m, &s.test);
        println!(
            "{loss:?}: {} held-out docs, accuracy {acc:.4}, web-vs-rest ROC AUC {auc:.4} F1 {f1:.4}; {} tokens, {:.0} tokens/s",
            s.test.len(),
            r.tokens,
            r.tokens_per_second()
        );
        assert!(acc > 0.9, "{loss:?} accuracy {acc}");
        assert!(auc > 0.95, "{loss:?} AUC {auc}");
    }
}

#[test]
fn training_on_real_text_is_byte_identical_and_round_trips() {
    let s = split();
    let a = TrainArgs { minn: 2, maxn: 4, ..args(Loss::Softmax) };
    let (m1, _) = train(&s.train, &a).unwrap();
    let (m2, _) = train(&s.train, &a).unwrap();
    let b = model_bytes(&m1);
    assert_eq!(b, model_bytes(&m2), "same file, args and seed must give the same bytes");
    // Save, load, same bytes and same probabilities.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.bin");
    m1.save(&path).unwrap();
    let loaded = Model::load(&path).unwrap();
    assert_eq!(model_bytes(&loaded), b);
    let (mut sc, mut p1, mut p2) = (Scratch::new(), Vec::new(), Vec::new());
    for (_, text) in s.test.iter().take(200) {
        m1.predict_into(text, &mut sc, &mut p1);
        loaded.predict_into(text, &mut sc, &mut p2);
        assert_eq!(p1, p2);
    }
    // A different seed gives a different model.
    let (m3, _) = train(&s.train, &TrainArgs { seed: 1, ..a }).unwrap();
    assert_ne!(model_bytes(&m3), b);
}

#[test]
fn training_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nolabels.txt");
    std::fs::write(&p, "just words\nand more words\n").unwrap();
    let e = train(&p, &TrainArgs::default()).unwrap_err().to_string();
    assert!(e.contains("nolabels.txt") && e.contains("no labels"), "{e}");
    let e = train(Path::new("/nonexistent/train.txt"), &TrainArgs::default()).unwrap_err().to_string();
    assert!(e.contains("/nonexistent/train.txt"), "{e}");
}
