//! Precision and recall of the `pii` stage per kind on the labelled set
//! built from real English and Chinese text (`sluice_safety::testset`),
//! and the property tests: scrubbing changes nothing outside the matched
//! spans, and scrubbing scrubbed text changes nothing.

use sluice_pipeline::{DocStage, Document};
use sluice_safety::testset::{self, Rng};
use sluice_safety::{Action, PiiConfig, PiiKind};

fn data() -> std::path::PathBuf {
    let d = testset::data_dir();
    assert!(d.join("reference/en/wiki.test.raw").is_file(), "shared data missing at {} (set SLUICE_TEST_DATA)", d.display());
    d
}

#[test]
fn precision_and_recall_per_kind_on_real_text() {
    let set = testset::build(&data(), 1, 600, 3).unwrap();
    let pii = PiiConfig::default().scrubber(0);
    let ev = testset::evaluate(&pii, &set);
    let table = testset::table(&ev);
    println!("{table}");
    for (k, s) in &ev.by_kind {
        assert!(s.tp + s.fn_ >= 300, "{}: only {} labelled", k.name(), s.tp + s.fn_);
        assert!(
            s.precision() >= 0.97 && s.recall() >= 0.97,
            "{}: precision {:.4} recall {:.4}\n{table}",
            k.name(),
            s.precision(),
            s.recall()
        );
    }
    let (neg, scrubbed) = ev.negatives.values().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    assert!(neg >= 1000, "{neg} hard negatives");
    assert!(scrubbed * 100 <= neg, "{scrubbed} of {neg} hard negatives scrubbed\n{table}");
    // a second seed: other documents, other values
    let ev2 = testset::evaluate(&pii, &testset::build(&data(), 2, 300, 3).unwrap());
    for (k, s) in &ev2.by_kind {
        assert!(s.precision() >= 0.97 && s.recall() >= 0.97, "seed 2, {}: {s:?}", k.name());
    }
}

/// Random strings built to provoke the patterns: digits (ASCII and
/// full-width), separators, `@`, `:`, `+`, brackets, letters, CJK, and
/// generated PII values glued to each other and to noise.
fn adversarial(r: &mut Rng) -> String {
    const BITS: &[&str] = &[
        "0",
        "1",
        "4",
        "7",
        "9",
        "８",
        "６",
        "１",
        " ",
        "-",
        ".",
        ":",
        "::",
        "@",
        "＠",
        "+",
        "(",
        ")",
        "/",
        "\n",
        "a",
        "Z",
        "x",
        "中",
        "号",
        "，",
        "_",
        "=",
        "AKIA",
        "ghp_",
        "-----BEGIN RSA PRIVATE KEY-----",
        "-----END RSA PRIVATE KEY-----",
        "https://",
        "version ",
        "<EMAIL>",
        "*",
    ];
    let mut s = String::new();
    for _ in 0..r.range(1, 40) {
        match r.below(4) {
            0 => {
                let kind = *r.pick(&PiiKind::ALL);
                let zh = r.chance(0.5);
                s.push_str(&match kind {
                    PiiKind::Email => testset::gen_email(r, zh).value,
                    PiiKind::Phone => testset::gen_phone(r, zh).value,
                    PiiKind::Ip => testset::gen_ip(r).value,
                    PiiKind::CreditCard => testset::gen_card(r).value,
                    PiiKind::Iban => testset::gen_iban(r).value,
                    PiiKind::UsSsn => testset::gen_ssn(r).value,
                    PiiKind::CnId => testset::gen_cn_id(r).value,
                    PiiKind::Secret => testset::gen_secret(r).value,
                    PiiKind::UrlCredentials => testset::gen_url_credentials(r).value,
                });
            }
            1 => {
                let zh = r.chance(0.5);
                s.push_str(&testset::gen_negative(r, zh).0)
            }
            _ => {
                for _ in 0..r.range(1, 12) {
                    s.push_str(r.pick::<&str>(BITS));
                }
            }
        }
    }
    s
}

fn cases() -> Vec<String> {
    // SLUICE_PROPTEST_SEED explores other cases (the default is fixed so CI is reproducible)
    let seed = std::env::var("SLUICE_PROPTEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(99);
    let mut r = Rng::new(seed);
    let mut out: Vec<String> = (0..3000).map(|_| adversarial(&mut r)).collect();
    out.extend(testset::build(&data(), 3, 150, 4).unwrap().into_iter().map(|d| d.text));
    out
}

#[test]
fn masking_changes_only_letters_and_digits_inside_matches() {
    // With `mask`, output and input align character by character, so the
    // property can be checked without trusting the stage's own spans.
    let all_mask = PiiConfig {
        email: Action::Mask,
        phone: Action::Mask,
        ip: Action::Mask,
        credit_card: Action::Mask,
        iban: Action::Mask,
        us_ssn: Action::Mask,
        cn_id: Action::Mask,
        secret: Action::Mask,
        url_credentials: Action::Mask,
        mask_char: '#',
        ..Default::default()
    };
    let (all_mask, all_mask_stage) = (all_mask.scrubber(5), all_mask.build(5));
    let mut changed_docs = 0;
    for text in cases() {
        let spans: Vec<_> = all_mask.find(&text).into_iter().map(|m| m.span).collect();
        for w in spans.windows(2) {
            assert!(w[0].end <= w[1].start, "overlapping spans in {text:?}");
        }
        let mut d = Document::new("d", text.clone(), "s".into());
        all_mask_stage.process(&mut d);
        let a: Vec<(usize, char)> = text.char_indices().collect();
        let b: Vec<char> = d.text.chars().collect();
        assert_eq!(a.len(), b.len(), "mask changed the length of {text:?}");
        for (&(i, x), &y) in a.iter().zip(&b) {
            if x != y {
                assert!(spans.iter().any(|s| s.contains(&i)), "changed {x:?} at {i} outside every match in {text:?} -> {:?}", d.text);
                assert!(x.is_alphanumeric() && y == '#', "{x:?} -> {y:?}");
            }
        }
        changed_docs += (d.text != text) as usize;
        // idempotent
        let mut again = Document::new("d", d.text.clone(), "s".into());
        all_mask_stage.process(&mut again);
        assert_eq!(again.text, d.text, "masking is not idempotent on {text:?}");
    }
    assert!(changed_docs > 1000, "only {changed_docs} cases had PII");
}

#[test]
fn placeholders_and_hashes_keep_the_rest_and_are_idempotent() {
    let re = regex::Regex::new(r"<(?:EMAIL|PHONE|IP_ADDRESS|CREDIT_CARD|IBAN|US_SSN|CN_ID|SECRET|CREDENTIALS)(?:#[0-9a-f]{16})?>").unwrap();
    for action in [Action::Placeholder, Action::Hash] {
        let cfg = PiiConfig {
            email: action,
            phone: action,
            ip: action,
            credit_card: action,
            iban: action,
            us_ssn: action,
            cn_id: action,
            secret: action,
            url_credentials: action,
            ..Default::default()
        };
        let (pii, stage) = (cfg.scrubber(11), cfg.build(11));
        for text in cases() {
            if re.is_match(&text) {
                continue; // the input already holds a placeholder: pieces would not align
            }
            let matches = pii.find(&text);
            let mut d = Document::new("d", text.clone(), "s".into());
            stage.process(&mut d);
            // the pieces between replacements are exactly the text between matches
            let pieces: Vec<&str> = re.split(&d.text).collect();
            let mut expected = Vec::new();
            let mut at = 0;
            for m in &matches {
                expected.push(&text[at..m.span.start]);
                at = m.span.end;
            }
            expected.push(&text[at..]);
            assert_eq!(pieces, expected, "{action:?} on {text:?}");
            let mut again = Document::new("d", d.text.clone(), "s".into());
            stage.process(&mut again);
            assert_eq!(again.text, d.text, "{action:?} is not idempotent on {text:?}");
        }
    }
}
