//! Real-data tests over `../shared/data` (override with `SLUICE_TEST_DATA`).
//! Run with `--nocapture` to see the measured figures.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use sluice_pipeline::{DocStage, Document, Verdict};
use sluice_quality::{C4QualityConfig, FineWebQualityConfig, GopherQualityConfig, GopherRepetitionConfig, LanguageIdConfig};

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

fn read(rel: &str) -> Vec<u8> {
    let p = data_dir().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

fn doc(id: impl Into<String>, text: &str) -> Document {
    Document::new(id, text, Arc::from("test"))
}

/// Split text into chunks of about `size` characters at whitespace.
fn chunks(text: &str, size: usize, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for w in text.split_whitespace() {
        cur.push_str(w);
        cur.push(' ');
        if cur.chars().count() >= size {
            out.push(std::mem::take(&mut cur));
            if out.len() == max {
                break;
            }
        }
    }
    out
}

/// Chinese text has no spaces: chunk by characters.
fn char_chunks(text: &str, size: usize, max: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    chars.chunks(size).filter(|c| c.len() == size).take(max).map(|c| c.iter().collect()).collect()
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

fn cmrc_paragraphs() -> Vec<String> {
    let v: Value = serde_json::from_slice(&read("zh/cmrc2018-dev.zh-wikipedia.json")).expect("CMRC JSON");
    let mut out = Vec::new();
    for art in v["data"].as_array().expect("data[]") {
        for p in art["paragraphs"].as_array().expect("paragraphs[]") {
            out.push(p["context"].as_str().expect("context").to_string());
        }
    }
    out
}

fn clue_docs() -> Vec<String> {
    String::from_utf8(read("zh/clue-corpus-small.sample.txt")).expect("UTF-8").lines().map(str::to_string).collect()
}

/// Visible text of an HTML page, crudely: drop script/style, then tags.
fn html_text(html: &str) -> String {
    let mut s = html.to_string();
    for tag in ["script", "style", "noscript"] {
        loop {
            let lower = s.to_ascii_lowercase();
            let Some(a) = lower.find(&format!("<{tag}")) else { break };
            let end = lower[a..].find(&format!("</{tag}>")).map(|e| a + e + tag.len() + 3).unwrap_or(s.len());
            s.replace_range(a..end, " ");
        }
    }
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&nbsp;", " ").replace("&amp;", "&")
}

fn html_lang(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let i = lower.find("<html")?;
    let tag = &lower[i..i + lower[i..].find('>')?];
    let j = tag.find("lang=")?;
    let v = tag[j + 5..].trim_start_matches(['"', '\'']);
    let code: String = v.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    (code.len() == 2).then_some(code)
}

#[test]
fn language_id_accuracy_on_labelled_text() {
    let lid = LanguageIdConfig { annotate_only: true, ..Default::default() }.build();
    let mut sets: Vec<(&str, &str, Vec<String>)> = Vec::new();
    // Chinese: CLUE web/news documents and CMRC Wikipedia paragraphs over 200
    // characters, and 500-character passages of Hong Lou Meng.
    sets.push(("zh", "zh/clue-corpus-small (>200 chars)", clue_docs().into_iter().filter(|d| d.chars().count() > 200).collect()));
    sets.push(("zh", "zh/cmrc2018 paragraphs (>200 chars)", cmrc_paragraphs().into_iter().filter(|d| d.chars().count() > 200).collect()));
    let hlm = String::from_utf8_lossy(&read("reference/zh/HongLouMeng_First80Chapters.txt")).into_owned();
    sets.push(("zh", "reference/zh/HongLouMeng (500-char passages)", char_chunks(&hlm, 500, 300)));
    // English: Gutenberg novels and WikiText, in ~1000-character passages.
    let mut en = Vec::new();
    for f in ["Moby_Dick.txt", "Pride_and_Prejudice.txt", "War_and_Peace.txt", "Les_Miserables.txt", "frankenstein_Gutenberg.txt"] {
        en.extend(chunks(&String::from_utf8_lossy(&read(&format!("reference/en/{f}"))), 1000, 80));
    }
    for f in ["Huckleberry_Finn.txt", "Tom_Sawyer.txt"] {
        en.extend(chunks(&latin1(&read(&format!("reference/en/{f}"))), 1000, 80));
    }
    sets.push(("en", "reference/en Gutenberg (1000-char passages)", en));
    let wiki = String::from_utf8(read("reference/en/wiki.test.raw")).expect("UTF-8");
    sets.push(("en", "reference/en/wiki.test.raw (1000-char passages)", chunks(&wiki, 1000, 300)));

    let mut by_lang: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    println!("| source | language | documents | accuracy |");
    println!("|---|---|---|---|");
    for (lang, name, texts) in &sets {
        assert!(texts.len() >= 50, "too few texts in {name}");
        let mut ok = 0;
        for (i, t) in texts.iter().enumerate() {
            let mut d = doc(i.to_string(), t);
            lid.process(&mut d);
            if d.meta_str("language") == Some(*lang) {
                ok += 1;
            }
        }
        println!("| {name} | {lang} | {} | {:.4} |", texts.len(), ok as f64 / texts.len() as f64);
        let e = by_lang.entry(lang).or_default();
        e.0 += ok;
        e.1 += texts.len();
    }
    // HTML pages with a `lang` attribute (trafilatura evaluation set).
    let dir = data_dir().join("html/trafilatura-eval/pages");
    let mut pages: Vec<PathBuf> =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).map(|e| e.unwrap().path()).collect();
    pages.sort();
    let mut html_by_lang: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for p in pages {
        let mut bytes = Vec::new();
        std::fs::File::open(&p).unwrap().read_to_end(&mut bytes).unwrap();
        let html = String::from_utf8_lossy(&bytes);
        let Some(lang) = html_lang(&html) else { continue };
        let text = html_text(&html);
        if text.split_whitespace().count() < 50 {
            continue;
        }
        let mut d = doc(p.display().to_string(), &text);
        lid.process(&mut d);
        let e = html_by_lang.entry(lang.clone()).or_default();
        e.1 += 1;
        if d.meta_str("language") == Some(lang.as_str()) {
            e.0 += 1;
        }
    }
    let (mut hok, mut hall) = (0, 0);
    for (lang, (ok, all)) in &html_by_lang {
        println!("| html/trafilatura-eval pages (`<html lang>`) | {lang} | {all} | {:.4} |", *ok as f64 / *all as f64);
        hok += ok;
        hall += all;
    }
    println!("| html/trafilatura-eval pages, all | * | {hall} | {:.4} |", hok as f64 / hall as f64);
    for (lang, (ok, all)) in &by_lang {
        let acc = *ok as f64 / *all as f64;
        println!("{lang}: {ok}/{all} = {acc:.4}");
        assert!(acc >= 0.98, "{lang} accuracy {acc:.4} is below 0.98");
    }
    // Page-level labels are noisy (boilerplate in other languages, wrong
    // `lang` attributes), and the text here is a crude tag strip.
    assert!(hall >= 50, "too few labelled pages ({hall})");
    assert!(hok as f64 / hall as f64 >= 0.85, "HTML page accuracy {hok}/{hall} is below 0.85");
}

/// The per-language thresholds of recipes/fineweb.yaml, read from the file.
fn recipe_stage(name: &str) -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../recipes/fineweb.yaml");
    let text = std::fs::read_to_string(path).expect("recipes/fineweb.yaml");
    let v = sluice_pipeline::recipe::load_yaml(&text).unwrap_or_else(|e| panic!("{path}: {e:?}"));
    let mut s = v["stages"][name].clone();
    let m = s.as_object_mut().unwrap_or_else(|| panic!("no stage {name} in {path}"));
    for k in ["kind", "inputs", "exclusions"] {
        m.remove(k);
    }
    s
}

struct Chain {
    stages: Vec<(&'static str, Box<dyn DocStage>)>,
}

impl Chain {
    fn from_recipe() -> Chain {
        let gr: GopherRepetitionConfig = serde_json::from_value(recipe_stage("gopher_repetition")).unwrap();
        let gq: GopherQualityConfig = serde_json::from_value(recipe_stage("gopher_quality")).unwrap();
        let c4: C4QualityConfig = serde_json::from_value(recipe_stage("c4")).unwrap();
        let fw: FineWebQualityConfig = serde_json::from_value(recipe_stage("fineweb")).unwrap();
        let lang: LanguageIdConfig = serde_json::from_value(recipe_stage("language")).unwrap();
        for e in [gr.validate(), gq.validate(), c4.validate(), fw.validate(), lang.validate()] {
            assert!(e.is_empty(), "recipe config errors: {e:?}");
        }
        Chain {
            stages: vec![
                ("gopher_repetition", Box::new(gr.build())),
                ("gopher_quality", Box::new(gq.build())),
                ("c4", Box::new(c4.build())),
                ("fineweb", Box::new(fw.build())),
            ],
        }
    }

    fn defaults() -> Chain {
        Chain {
            stages: vec![
                ("gopher_repetition", Box::new(GopherRepetitionConfig::default().build())),
                ("gopher_quality", Box::new(GopherQualityConfig::default().build())),
                ("c4", Box::new(C4QualityConfig::default().build())),
                ("fineweb", Box::new(FineWebQualityConfig::default().build())),
            ],
        }
    }

    fn run(&self, d: &mut Document) -> Option<String> {
        for (name, s) in &self.stages {
            if let Verdict::Drop(r) = s.process(d) {
                return Some(format!("{name}:{r}"));
            }
        }
        None
    }
}

#[test]
fn good_chinese_text_passes_with_language_overrides() {
    let lid = LanguageIdConfig { annotate_only: true, ..Default::default() }.build();
    let recipe = Chain::from_recipe();
    let english_rules = Chain::defaults();
    // CMRC: Chinese Wikipedia paragraphs, good text by construction. CLUE:
    // web/news/comment documents; keep those long enough to be articles.
    for (name, texts, min_pass) in [
        // Paragraphs cut mid-section (ending in "：" or a heading, 133 of
        // 848) are not complete text, and the terminal-punctuation rule
        // drops them exactly as it drops such English paragraphs.
        (
            "cmrc2018 complete paragraphs",
            cmrc_paragraphs().into_iter().filter(|p| p.trim_end().ends_with(['。', '！', '？'])).collect::<Vec<_>>(),
            0.9,
        ),
        (
            "clue-corpus-small complete documents (>300 chars)",
            clue_docs().into_iter().filter(|t| t.chars().count() > 300 && t.trim_end().ends_with(['。', '！', '？'])).collect::<Vec<_>>(),
            0.9,
        ),
    ] {
        let mut passed = 0;
        let mut passed_en = 0;
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        let mut misdetected = 0;
        for (i, t) in texts.iter().enumerate() {
            let mut d = doc(i.to_string(), t);
            lid.process(&mut d);
            if d.meta_str("language") != Some("zh") {
                misdetected += 1;
            }
            let mut d_en = d.clone();
            d_en.metadata.remove("language");
            match recipe.run(&mut d) {
                None => passed += 1,
                Some(r) => *reasons.entry(r).or_default() += 1,
            }
            if english_rules.run(&mut d_en).is_none() {
                passed_en += 1;
            }
        }
        let n = texts.len() as f64;
        assert!(misdetected as f64 / n < 0.02, "{name}: {misdetected} not detected as Chinese");
        println!("{name}: {} docs, {misdetected} not detected as zh, {:.3} pass with the recipe's zh rules, {:.3} with English rules; drops: {reasons:?}", texts.len(), passed as f64 / n, passed_en as f64 / n);
        assert!(passed as f64 / n >= min_pass, "{name}: only {passed}/{} pass (want {min_pass}); drops: {reasons:?}", texts.len());
        // without language-aware rules, the English thresholds destroy Chinese text
        assert!((passed_en as f64 / n) < 0.2, "{name}: English rules pass {passed_en}: the zh overrides are not what makes it pass");
    }
}

fn cc_sample() -> Vec<Document> {
    let f = std::fs::File::open(data_dir().join("web/cc-main-2019-30.sample.jsonl.gz")).expect("CC sample");
    BufReader::new(flate2::read::MultiGzDecoder::new(f))
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(&l.unwrap()).unwrap();
            doc(v["id"].as_str().unwrap(), v["text"].as_str().unwrap())
        })
        .collect()
}

#[test]
fn cc_sample_filter_report() {
    let docs = cc_sample();
    assert_eq!(docs.len(), 697);
    let chain = Chain::defaults();
    println!("| filter (alone) | kept | fraction kept |");
    println!("|---|---|---|");
    let mut samples: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, stage) in &chain.stages {
        let mut kept = 0;
        for d in &docs {
            let mut c = d.clone();
            match stage.process(&mut c) {
                Verdict::Keep => kept += 1,
                Verdict::Drop(r) => {
                    let s = samples.entry(format!("{name}:{r}")).or_default();
                    if s.len() < 3 {
                        let snippet: String = d.text.chars().take(160).collect::<String>().replace('\n', " | ");
                        s.push(format!("{}: {snippet}", d.id));
                    }
                }
            }
        }
        println!("| {name} | {kept}/{} | {:.3} |", docs.len(), kept as f64 / docs.len() as f64);
    }
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut kept = 0;
    for d in &docs {
        let mut c = d.clone();
        match chain.run(&mut c) {
            None => kept += 1,
            Some(r) => *reasons.entry(r).or_default() += 1,
        }
    }
    println!("chain keeps {kept}/{}; first dropping rule: {reasons:#?}", docs.len());
    for (r, s) in &samples {
        println!("--- {r}");
        for x in s {
            println!("    {x}");
        }
    }
    // datatrove 0.10.1 with the same defaults keeps 109 of these 697
    // (benches/quality/compare_datatrove.py); allow a few disagreements.
    assert!((100..=118).contains(&kept), "chain kept {kept}, datatrove keeps 109");
}
