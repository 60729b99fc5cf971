//! The run report (`sluice report`, issue 10) in a real browser.
//!
//! A run over the shared Common Crawl sample with planted hostile documents
//! is rendered in headless Chromium (Debian's `chromium` package) with the
//! network blocked. The tests check that the funnel and histogram SVGs are
//! there and drawn, that the page logs no console error, that the planted
//! `<script>` and `<img onerror>` show as text and run nothing, that the page
//! makes no network request, and that the report of a 10^6-document run
//! stays under 5 MB.
//!
//! Without Chromium the browser tests print a notice and pass, unless
//! `SLUICE_REQUIRE_CHROMIUM=1` is set (CI sets it): then they fail.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

fn sluice() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
}

fn data_dir() -> PathBuf {
    let p = std::env::var_os("SLUICE_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    assert!(
        p.join("README.md").is_file(),
        "real test data not found at {} (set SLUICE_TEST_DATA to the shared data directory)",
        p.display()
    );
    p
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("command starts");
    assert!(
        out.status.success(),
        "command failed: {:?}\nstdout:\n{}\nstderr:\n{}",
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The Chromium binary, or `None` (with a notice) when it is not installed
/// and not required.
fn chromium() -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = match std::env::var_os("SLUICE_CHROMIUM") {
        Some(p) => vec![PathBuf::from(p)],
        None => {
            let path = std::env::var_os("PATH").unwrap_or_default();
            std::env::split_paths(&path).flat_map(|d| ["chromium", "chromium-browser", "google-chrome"].map(|n| d.join(n))).collect()
        }
    };
    if let Some(p) = candidates.into_iter().find(|p| p.is_file()) {
        return Some(p);
    }
    if std::env::var("SLUICE_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1") {
        panic!("SLUICE_REQUIRE_CHROMIUM=1 but no chromium found on PATH (apt-get install -y chromium, or set SLUICE_CHROMIUM)");
    }
    eprintln!("NOTICE: chromium not found; skipping the browser test (set SLUICE_REQUIRE_CHROMIUM=1 to make this a failure)");
    None
}

/// Run headless Chromium on a local file with the network blocked: every
/// host resolves to nothing and every request goes to a dead proxy, and
/// Chromium's own background traffic is off. `extra` picks the output
/// (`--dump-dom`, `--screenshot=...`). Returns (stdout, stderr, net log).
fn browse(chrome: &Path, page: &Path, work: &Path, extra: &[String]) -> (String, String, String) {
    let profile = tempfile::tempdir_in(work).unwrap();
    let netlog = work.join(format!("netlog-{}.json", extra.len()));
    let _ = std::fs::remove_file(&netlog);
    let mut cmd = Command::new(chrome);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--metrics-recording-only",
        "--proxy-server=127.0.0.1:9",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=3000",
    ]);
    cmd.arg(format!("--user-data-dir={}", profile.path().display()));
    cmd.arg(format!("--log-net-log={}", netlog.display()));
    cmd.args(extra);
    cmd.arg(format!("file://{}", page.display()));
    let out = cmd.output().expect("chromium starts");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "chromium failed ({}):\n{stderr}", out.status);
    let log = std::fs::read_to_string(&netlog).unwrap_or_default();
    (stdout, stderr, log)
}

/// Console messages Chromium logged (`--enable-logging=stderr` writes each
/// as a `CONSOLE` line).
fn console_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(":CONSOLE") || l.contains("CONSOLE(")).collect()
}

/// URLs the page requested, from a Chromium net log. Chromium's own
/// background traffic (initiator "not an origin", not isolated under the
/// page's file:// site) is not the page's and is left out.
fn requested_urls(netlog: &str) -> Vec<String> {
    let log: serde_json::Value =
        serde_json::from_str(netlog).unwrap_or_else(|e| panic!("unreadable net log ({e}): {}", &netlog[..netlog.len().min(300)]));
    let mut urls = Vec::new();
    for e in log["events"].as_array().expect("net log events") {
        let p = &e["params"];
        let Some(url) = p["url"].as_str() else { continue };
        if ["file:", "chrome", "data:", "about:", "devtools:"].iter().any(|s| url.starts_with(s)) {
            continue;
        }
        let initiator = p["initiator"].as_str().unwrap_or("");
        let nik = p["network_isolation_key"].as_str().unwrap_or("");
        if initiator == "null" || initiator.starts_with("file:") || nik.contains("file://") {
            urls.push(url.to_string());
        }
    }
    urls.sort();
    urls.dedup();
    urls
}

/// Every tag of an HTML text as (name, attributes). The report escapes every
/// `<` it did not write itself, so each `<` in it opens one of its own tags.
fn tags(html: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    let b = html.as_bytes();
    let mut i = 0;
    while let Some(off) = html[i..].find('<') {
        i += off + 1;
        if html[i..].starts_with("!--") || html[i..].starts_with('!') || html[i..].starts_with('/') {
            continue;
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-' || b[i] == b':') {
            i += 1;
        }
        let name = html[start..i].to_ascii_lowercase();
        let mut attrs = Vec::new();
        loop {
            while i < b.len() && (b[i] as char).is_ascii_whitespace() {
                i += 1;
            }
            if i >= b.len() || b[i] == b'>' || b[i] == b'/' {
                break;
            }
            let s = i;
            while i < b.len() && !matches!(b[i], b'=' | b'>' | b' ' | b'\n' | b'\t' | b'/') {
                i += 1;
            }
            let an = html[s..i].to_ascii_lowercase();
            let mut val = String::new();
            if i < b.len() && b[i] == b'=' {
                i += 1;
                let q = b[i];
                if q == b'"' || q == b'\'' {
                    let e = html[i + 1..].find(q as char).unwrap() + i + 1;
                    val = html[i + 1..e].to_string();
                    i = e + 1;
                } else {
                    let s = i;
                    while i < b.len() && !matches!(b[i], b'>' | b' ') {
                        i += 1;
                    }
                    val = html[s..i].to_string();
                }
            }
            attrs.push((an, val));
        }
        out.push((name, attrs));
    }
    out
}

const ALLOWED_TAGS: &[&str] = &[
    "html", "head", "meta", "title", "style", "body", "nav", "a", "h1", "h2", "h3", "h4", "p", "b", "code", "section", "table", "tr", "th",
    "td", "tbody", "pre", "div", "span", "ul", "li", "details", "summary", "svg", "rect", "line", "text", "title", "path", "circle", "br",
    "bdi",
];

/// What makes a page other than inert and self-contained: tags other than
/// the report's own kinds, event handlers, scripts, links or sources other
/// than in-page anchors, CSS that loads anything.
fn inert_violations(html: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for (name, attrs) in tags(html) {
        if !ALLOWED_TAGS.contains(&name.as_str()) {
            bad.push(format!("element <{name}>"));
        }
        for (a, v) in attrs {
            if a.starts_with("on") {
                bad.push(format!("event handler {a}={v:?} on <{name}>"));
            }
            if matches!(a.as_str(), "src" | "href" | "xlink:href" | "action" | "srcset" | "poster" | "data") && !v.starts_with('#') {
                bad.push(format!("external reference {a}={v:?} on <{name}>"));
            }
            if v.to_ascii_lowercase().contains("url(") {
                bad.push(format!("url() in {a}={v:?} on <{name}>"));
            }
        }
    }
    if let Some(css_start) = html.find("<style>") {
        let css = &html[css_start..html[css_start..].find("</style>").map_or(html.len(), |e| e + css_start)];
        if css.contains("url(") || css.contains("@import") {
            bad.push("the CSS loads something".into());
        }
    }
    bad
}

fn assert_inert_and_self_contained(html: &str) {
    let n = tags(html).len();
    assert!(n > 50, "too few tags parsed: {n}");
    let bad = inert_violations(html);
    assert!(bad.is_empty(), "the page is not inert and self-contained: {bad:?}");
}

const PLANTED_SCRIPT: &str = "<script>document.title='pwned'</script>";
const PLANTED_IMG: &str = "<img src=x onerror=\"document.title='pwned-img'\">";

/// Write the planted documents: a short one (dropped by its own length
/// filter, so it shows among that filter's dropped examples) and a long one (kept), with
/// markup in the text, the id and the URL.
fn plant(dir: &Path) -> PathBuf {
    let p = dir.join("planted");
    std::fs::create_dir_all(&p).unwrap();
    let short = serde_json::json!({
        "id": "planted-<b>short</b>",
        "text": format!("Planted {PLANTED_SCRIPT} and {PLANTED_IMG} here."),
        "metadata": {"url": "javascript:alert(1)//\"><script>document.title='pwned-url'</script>"},
    });
    let long_text = format!(
        "{PLANTED_SCRIPT} {PLANTED_IMG}\nThe weather was fine and the people of the town walked to the market with their baskets. {}",
        "They bought bread, fruit and fish, and they talked with the traders about the harvest of the year. ".repeat(8)
    );
    let long = serde_json::json!({"id": "planted-long", "text": long_text, "metadata": {"url": "https://example.com/<img src=x onerror=alert(1)>"}});
    let mut f = std::fs::File::create(p.join("planted.jsonl")).unwrap();
    writeln!(f, "{short}\n{long}").unwrap();
    p
}

/// Report-contract files of the stages built in parallel (dedup, mix,
/// shards) and a training run, as fixtures with hostile strings in them.
fn write_fixtures(out: &Path) {
    let hostile = format!("cluster text {PLANTED_SCRIPT}");
    let dedup = serde_json::json!({
        "kind": "dedup_clusters", "method": "minhash", "documents": 700, "removed": 40, "clusters": 25,
        "size_histogram": [[2, 20], [3, 4], [17, 1]],
        "largest": [{"size": 17,
            "kept": {"id": "k1", "source": "cc<i>", "url": "https://a.example/x?\"'<>", "text": hostile},
            "examples": [{"id": "e1", "source": "cc", "url": null, "text": PLANTED_IMG}]}]
    });
    let mix = serde_json::json!({"kind": "mix", "target_tokens": 1000000, "sources": [
        {"source": "cc", "weight": 0.7, "available_tokens": 900000, "requested_tokens": 700000, "achieved_tokens": 700000, "epochs": 0.78},
        {"source": "wiki<script>", "weight": 0.3, "available_tokens": 100000, "requested_tokens": 300000, "achieved_tokens": 200000, "epochs": 2.0}]});
    for (node, name, v) in [("dedup", "clusters.json", dedup), ("mix", "mix.json", mix)] {
        std::fs::create_dir_all(out.join("reports").join(node)).unwrap();
        std::fs::write(out.join("reports").join(node).join(name), serde_json::to_vec(&v).unwrap()).unwrap();
    }
    std::fs::create_dir_all(out.join("tokens")).unwrap();
    let manifest = serde_json::json!({"format": "sluice-shards/1", "vocab_size": 50257, "eos_id": 50256, "bos_id": null, "dtype": "uint16",
        "seq_len": 1024, "shards": [{"file": "train_000000.bin", "split": "train", "tokens": 123456}, {"file": "val_000000.bin", "split": "val", "tokens": 4567}]});
    std::fs::write(out.join("tokens/manifest.json"), serde_json::to_vec(&manifest).unwrap()).unwrap();
    let run = out.join("train-run");
    std::fs::create_dir_all(&run).unwrap();
    let mut m = String::new();
    for step in 1..=200u32 {
        let loss = 10.0 * (-(step as f64) / 60.0).exp() + 3.0;
        let lr = 6e-4 * (step as f64 / 20.0).min(1.0);
        m.push_str(&format!("{{\"step\":{step},\"kind\":\"train\",\"loss\":{loss},\"lr\":{lr},\"tokens\":{}}}\n", step * 4096));
        if step % 50 == 0 {
            m.push_str(&format!("{{\"step\":{step},\"kind\":\"val\",\"loss\":{}}}\n", loss + 0.1));
        }
    }
    std::fs::write(run.join("metrics.jsonl"), m).unwrap();
    let eval = serde_json::json!({"checkpoint": "train-run/checkpoints/step_000200", "results": [
        {"task": "hellaswag", "n": 100, "metrics": {"acc": 0.27, "acc_norm": 0.29}},
        {"task": "lambada", "n": 100, "metrics": {"acc": 0.05, "perplexity": 812.5}}]});
    std::fs::write(run.join("eval.json"), serde_json::to_vec(&eval).unwrap()).unwrap();
}

/// A run over the CC sample plus the planted documents: length filter and
/// Gopher repetition filter (exclusions in JSONL and in Parquet), language, Gopher quality and
/// FineWeb signals annotated, Parquet out. Returns the output directory.
fn shared_data_run(work: &Path) -> (PathBuf, String) {
    let data = data_dir();
    let planted = plant(work);
    let out = work.join("out");
    let recipe = format!(
        r#"
description: CC sample with quality signals (report test)
seed: 3
output: {out}
readers:
  cc:
    kind: jsonl
    paths: ["{data}/web"]
  planted:
    kind: jsonl
    paths: ["{planted}"]
stages:
  length:
    kind: length
    inputs: [cc]
    min_chars: 200
    exclusions: true
  planted_length:
    kind: length
    inputs: [planted]
    min_chars: 200
    exclusions: true
  language:
    kind: language
    inputs: [length, planted_length]
    annotate_only: true
  repetition:
    kind: gopher_repetition
    inputs: [language]
    exclusions: {{kind: parquet}}
  gopher:
    kind: gopher_quality
    inputs: [repetition]
    annotate_only: true
  fineweb:
    kind: fineweb
    inputs: [gopher]
    annotate_only: true
writers:
  kept:
    kind: parquet
    inputs: [fineweb]
"#,
        out = out.display(),
        data = data.display(),
        planted = planted.display()
    );
    let rp = work.join("recipe.yaml");
    std::fs::write(&rp, recipe).unwrap();
    let o = run_ok(sluice().arg("run").arg(&rp).args(["--progress", "off"]));
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    (out, stdout)
}

#[test]
fn report_of_shared_data_run_in_headless_chromium() {
    let work = tempfile::tempdir().unwrap();
    let (out, stdout) = shared_data_run(work.path());
    // `sluice run` writes the report and prints its path.
    let printed = stdout.lines().find_map(|l| l.strip_prefix("report: ")).unwrap_or_else(|| panic!("no report path printed:\n{stdout}"));
    assert_eq!(Path::new(printed), out.join("report.html"));
    assert!(out.join("report.html").is_file());

    write_fixtures(&out);
    let page = work.path().join("report.html");
    let o = run_ok(sluice().arg("report").arg(&out).arg("--out").arg(&page));
    assert!(String::from_utf8_lossy(&o.stdout).contains("report.html"));
    let html = std::fs::read_to_string(&page).unwrap();

    // Static checks: inert, self-contained, every section there.
    assert_inert_and_self_contained(&html);
    for needle in [
        r#"<svg class="chart funnel funnel-docs""#,
        r#"<svg class="chart hist""#,
        "<h4>gopher_word_count</h4>",
        "<h4>language_score</h4>",
        "gopher.min_doc_words = 50",
        // titled axes
        r#"class="xtitle""#,
        "gopher_word_count (words)",
        r#"class="ytitle""#,
        // the dropped examples show the value that dropped them, from a
        // JSONL and from a Parquet exclusion sink
        "Dropped by <code>chars</code> = <b>",
        ", below <code>length.min_chars</code> = 200</p>",
        "Dropped by <code>gopher_rep_dup_line_frac</code> = <b>",
        "id=\"mix\"",
        "id=\"dedup\"",
        "id=\"tokens\"",
        "id=\"shards\"",
        "id=\"training\"",
        "id=\"dropped\"",
        "too_few_chars",
        // examples of drops read back from a JSONL and from a Parquet exclusion sink
        "<h4>too_few_chars · 111 documents</h4>",
        "<h4>gopher_dup_line_frac · 19 documents</h4>",
        "train_000000.bin",
        "hellaswag",
    ] {
        assert!(html.contains(needle), "report lacks {needle:?}");
    }
    // The planted markup is in the page as escaped text, in text and in the
    // places ids and URLs go.
    assert!(html.contains("&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;"));
    assert!(html.contains("&lt;img src=x onerror=&quot;document.title=&#39;pwned-img&#39;&quot;&gt;"));
    assert!(html.contains("planted-&lt;b&gt;short&lt;/b&gt;"));
    assert!(html.contains("javascript:alert(1)//&quot;&gt;&lt;script&gt;"));
    assert!(html.contains("wiki&lt;script&gt;"));

    let Some(chrome) = chromium() else { return };
    let t = Instant::now();
    let (dom, stderr, netlog) = browse(&chrome, &page, work.path(), &["--dump-dom".to_string()]);
    eprintln!("chromium --dump-dom: {:.1} s", t.elapsed().as_secs_f64());
    assert!(console_lines(&stderr).is_empty(), "console messages:\n{}", console_lines(&stderr).join("\n"));
    assert!(requested_urls(&netlog).is_empty(), "the page made requests: {:?}", requested_urls(&netlog));

    // The rendered DOM: the title is unchanged, nothing but the report's own
    // elements exist (no <script>, no <img>), the planted markup is text.
    assert!(dom.contains("<title>sluice run report</title>"), "title changed:\n{}", &dom[..dom.len().min(600)]);
    assert!(!dom.contains("pwned</title>") && !dom.contains("<title>pwned"));
    assert_inert_and_self_contained(&dom);
    assert!(dom.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;"), "planted script not shown as text");
    assert!(dom.contains("&lt;img src=x onerror=\"document.title='pwned-img'\"&gt;"), "planted img not shown as text");
    // Every histogram has both axis titles.
    let hists = dom.matches(r#"<svg class="chart hist""#).count();
    assert!(hists > 5, "{hists} histograms");
    assert_eq!(dom.matches(r#"class="ytitle""#).count(), hists, "a histogram without a y axis title");
    assert_eq!(dom.matches(r#"class="xtitle""#).count(), hists, "a histogram without an x axis title");
    // Funnel and histogram SVGs are present and drawn: their bars have a
    // positive size after layout.
    for class in ["chart funnel funnel-docs", "chart hist"] {
        let at = dom.find(&format!("<svg class=\"{class}\"")).unwrap_or_else(|| panic!("no {class} svg in the DOM"));
        let end = dom[at..].find("</svg>").unwrap() + at;
        let svg = &dom[at..end];
        let drawn = tags(svg)
            .iter()
            .filter(|(n, a)| n == "rect" && a.iter().any(|(k, v)| k == "width" && v.parse::<f64>().unwrap_or(0.0) > 0.0))
            .count();
        assert!(drawn > 0, "{class} svg has no drawn bars");
    }

    let shot = std::env::var_os("SLUICE_REPORT_SCREENSHOT").map(PathBuf::from).unwrap_or_else(|| work.path().join("report.png"));
    let (_, stderr, netlog) =
        browse(&chrome, &page, work.path(), &[format!("--screenshot={}", shot.display()), "--window-size=1200,3000".into()]);
    assert!(console_lines(&stderr).is_empty(), "console messages:\n{}", console_lines(&stderr).join("\n"));
    assert!(requested_urls(&netlog).is_empty(), "the page made requests: {:?}", requested_urls(&netlog));
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "screenshot is {} bytes", png.len());
    eprintln!("screenshot: {} ({} bytes); report {} bytes", shot.display(), png.len(), html.len());
}

/// The checks above can fail: a page that logs to the console and loads a
/// remote image is caught by the same console and net-log checks.
#[test]
fn browser_checks_catch_console_errors_and_requests() {
    let Some(chrome) = chromium() else { return };
    let work = tempfile::tempdir().unwrap();
    let page = work.path().join("bad.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><head><title>t</title></head><body><img src=\"http://sluice-test.invalid/x.png\">\
<script>console.error('planted error'); document.title='ran';</script></body></html>",
    )
    .unwrap();
    let (dom, stderr, netlog) = browse(&chrome, &page, work.path(), &["--dump-dom".to_string()]);
    assert!(dom.contains("<title>ran</title>"), "the control page's script did not run:\n{dom}");
    assert!(console_lines(&stderr).iter().any(|l| l.contains("planted error")), "console error not seen in:\n{stderr}");
    assert!(requested_urls(&netlog).iter().any(|u| u.contains("sluice-test.invalid")), "request not seen in the net log");
    let bad = inert_violations(&std::fs::read_to_string(&page).unwrap());
    assert!(bad.iter().any(|b| b.contains("<script>")) && bad.iter().any(|b| b.contains("src=")), "{bad:?}");
}

/// A run over 10^6 generated documents: the report samples and aggregates,
/// so it stays under 5 MB. Ignored by default: the run takes about 2.5 min
/// in a debug build on 2 cores. Run it with
/// `cargo test --test report_browser -- --ignored --nocapture million`.
#[test]
#[ignore = "slow: a 10^6-document run (about 2.5 min in debug)"]
fn report_of_a_million_documents_is_under_5_mb() {
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let n = 1_000_000u64;
    let words = ["alpha", "beta", "gamma", "delta", "<script>x</script>", "epsilon", "zeta", "\"eta\"", "theta", "iota"];
    for part in 0..4u64 {
        let f = std::fs::File::create(input.join(format!("part-{part}.jsonl"))).unwrap();
        let mut w = std::io::BufWriter::new(f);
        for i in (part * n / 4)..((part + 1) * n / 4) {
            let len = 3 + (i * 7919 % 97) as usize;
            let text: Vec<&str> = (0..len).map(|k| words[(i as usize + k * 31) % words.len()]).collect();
            writeln!(w, "{}", serde_json::json!({"id": format!("d{i}"), "text": text.join(" "), "metadata": {"url": format!("https://site{}.example/{i}", i % 1000)}})).unwrap();
        }
    }
    let out = work.path().join("out");
    let recipe = format!(
        r#"
seed: 1
output: {}
readers:
  gen:
    kind: jsonl
    paths: ["{}"]
stages:
  length:
    kind: length
    inputs: [gen]
    min_chars: 60
    exclusions: true
  signals:
    kind: length
    inputs: [length]
    annotate_only: true
writers:
  kept:
    kind: jsonl
    inputs: [signals]
"#,
        out.display(),
        input.display()
    );
    let rp = work.path().join("recipe.yaml");
    std::fs::write(&rp, recipe).unwrap();
    let t = Instant::now();
    let o = run_ok(sluice().arg("run").arg(&rp).args(["--progress", "off", "--tasks", "4"]));
    let run_s = t.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("report: "), "{stdout}");
    let t = Instant::now();
    run_ok(sluice().arg("report").arg(&out));
    let report_s = t.elapsed().as_secs_f64();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let stats: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("stats.json")).unwrap()).unwrap();
    let read = stats["nodes"][0]["docs_out"].as_u64().unwrap();
    assert_eq!(read, n);
    eprintln!("10^6 documents: run {run_s:.1} s, report {report_s:.1} s, report {} bytes", html.len());
    assert!(html.len() < 5_000_000, "report is {} bytes", html.len());
    assert!(html.contains("<h4>chars</h4>") && html.contains("too_few_chars"));
    assert_inert_and_self_contained(&html);
}
