//! `sluice report OUT_DIR`: one self-contained HTML page about a run.
//!
//! The page is inline HTML, CSS and SVG: no script, no external resource,
//! and a Content-Security-Policy that forbids both, so opening it makes no
//! network request. Everything taken from the run (document text, URLs,
//! ids, names) is escaped by [`html::esc`]. Its size is bounded whatever the
//! run's size: documents are sampled within [`Budget`] and only aggregates
//! (histogram bins, counts, a few truncated examples) reach the page.
//!
//! ```no_run
//! let path = sluice_report::write_report(std::path::Path::new("out/run"), None, &Default::default()).unwrap();
//! println!("{}", path.display());
//! ```

pub mod html;
pub mod load;
mod render;
pub mod svg;
pub mod thresholds;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
pub use load::Budget;

/// Options of `sluice report`.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    pub budget: Budget,
    /// Training run directories outside the output directory to show too.
    pub training: Vec<PathBuf>,
    /// The kinds whose thresholds ([`sluice_pipeline::SignalRule`]) are
    /// drawn on the signal histograms: the build's registry.
    pub kinds: sluice_pipeline::Kinds,
}

/// `sluice report` arguments.
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The run's output directory.
    pub out_dir: PathBuf,
    /// Where to write the page [default: OUT_DIR/report.html].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Documents sampled per writer for the signal histograms and mixes.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub sample: usize,
    /// Examples shown per drop reason.
    #[arg(long, value_name = "K", default_value_t = 3)]
    pub examples: usize,
    /// A training run directory (metrics.jsonl, eval.json) to include; run
    /// directories inside OUT_DIR are found without it. Repeatable.
    #[arg(long, value_name = "DIR")]
    pub train: Vec<PathBuf>,
}

/// Render the page of the run in `out_dir`.
pub fn render(out_dir: &Path, opts: &ReportOptions) -> Result<String> {
    let data = load::load(out_dir, &opts.budget, &opts.training)?;
    Ok(render::page(&data, &opts.budget, &opts.kinds))
}

/// Render and write the page (atomically) to `out`, by default
/// `OUT_DIR/report.html`; returns where it went.
pub fn write_report(out_dir: &Path, out: Option<&Path>, opts: &ReportOptions) -> Result<PathBuf> {
    let page = render(out_dir, opts)?;
    let path = out.map(Path::to_path_buf).unwrap_or_else(|| out_dir.join("report.html"));
    let mut f = sluice_pipeline::output::AtomicFile::create(&path)?;
    f.write_all(page.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    f.commit()?;
    Ok(path)
}

/// `sluice report`: write the page and return its path.
pub fn run_cli(a: &ReportArgs, kinds: &sluice_pipeline::Kinds) -> Result<PathBuf> {
    let opts = ReportOptions {
        kinds: kinds.clone(),
        budget: Budget { docs_per_writer: a.sample.max(1), examples_per_reason: a.examples, ..Default::default() },
        training: a.train.clone(),
    };
    write_report(&a.out_dir, a.out.as_deref(), &opts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sluice_pipeline::stats::{NodeStats, TaskStats};
    use sluice_pipeline::Role;

    /// A hand-made output directory with every kind of input the page shows.
    fn fixture(root: &Path) {
        let w = |p: &str, s: String| {
            let p = root.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, s).unwrap();
        };
        w("_sluice/run.json", json!({"recipe_hash": "h", "tasks": 1, "plan_hash": "p"}).to_string());
        w(
            "_sluice/recipe.json",
            json!({"readers": {"web": {"kind": "jsonl"}},
                   "stages": {"pii": {"kind": "pii", "inputs": ["web"]},
                              "len": {"kind": "length", "inputs": ["pii"], "min_chars": 10, "exclusions": true}},
                   "writers": {"kept": {"kind": "jsonl", "inputs": ["len"]},
                               "copy": {"kind": "jsonl", "inputs": ["len"]},
                               "early": {"kind": "jsonl", "inputs": ["pii"]}}})
            .to_string(),
        );
        let mut r = NodeStats::new("web", "jsonl", Role::Reader);
        (r.docs_out, r.bytes_out) = (5, 500);
        let mut p = NodeStats::new("pii", "pii", Role::Stage);
        (p.docs_in, p.docs_out) = (5, 5);
        p.sums.insert("pii_email".into(), 7.0);
        p.sums.insert("pii_ip<v4>".into(), 2.0);
        let mut l = NodeStats::new("len", "length", Role::Stage);
        (l.docs_in, l.docs_out) = (5, 3);
        l.dropped.insert("too_few_chars".into(), 2);
        let mut k = NodeStats::new("kept", "jsonl", Role::Writer);
        k.docs_in = 3;
        let mut c = NodeStats::new("copy", "jsonl", Role::Writer);
        c.docs_in = 3;
        let mut e = NodeStats::new("early", "jsonl", Role::Writer);
        e.docs_in = 5;
        let t = TaskStats { task: 0, tasks: 1, nodes: vec![r, p, l, k, c, e], ..Default::default() };
        w("_sluice/stats/00000-stats.json", serde_json::to_string(&t).unwrap());
        let kept: String = (0..3)
            .map(|i| json!({"id": i.to_string(), "text": "long enough text", "source": "web", "metadata": {"language": "en"}, "attributes": {"chars": 16 + i}}).to_string() + "\n")
            .collect();
        w("kept/00000-00000.jsonl", kept.clone());
        w("copy/00000-00000.jsonl", kept);
        let early: String = (0..5)
            .map(|i| json!({"id": i.to_string(), "text": "t", "source": "web", "attributes": {"pii_email": i}}).to_string() + "\n")
            .collect();
        w("early/00000-00000.jsonl", early);
        w(
            "excluded/len/00000-00000.jsonl",
            json!({"id": "x<1>", "text": "<script>alert(1)</script>", "source": "web", "attributes": {"chars": 7},
                   "metadata": {"url": "http://a/\"b", "drop_reason": "too_few_chars", "dropped_by": "len"}})
            .to_string()
                + "\n",
        );
        w(
            "reports/decon/summary.json",
            json!({"kind": "decontamination", "benchmarks": [{"name": "mmlu<x>", "docs_flagged": 3, "ngrams_matched": 11}]}).to_string(),
        );
        w("reports/other/x.json", json!({"kind": "something_new", "note": "</pre><script>"}).to_string());
    }

    #[test]
    fn renders_every_section_escaped() {
        let d = tempfile::tempdir().unwrap();
        fixture(d.path());
        // The length kind's rules give the `len.min_chars` mark.
        let kinds = sluice_pipeline::Kinds::new(vec![sluice_pipeline::Kind::of::<sluice_quality::LengthFilterConfig>()]);
        let page = render(d.path(), &ReportOptions { kinds, ..Default::default() }).unwrap();
        for needle in [
            "funnel-docs",
            "too_few_chars",
            "<h4>chars</h4>",
            "len.min_chars = 10",
            // titled axes
            "chars (characters)</text>",
            ">documents</text>",
            // the length filter drops by `chars`: its histogram says so
            "<b>Kept documents only</b>: <code>len</code> dropped 2 documents by it",
            // the value that dropped the example, and the threshold
            "Dropped by <code>chars</code> = <b>7</b>, below <code>len.min_chars</code> = 10",
            "pii_email",
            "pii_ip&lt;v4&gt;",
            "mmlu&lt;x&gt;",
            "&lt;/pre&gt;&lt;script&gt;",
            "x&lt;1&gt;",
            "http://a/&quot;b",
            "&lt;script&gt;alert(1)&lt;/script&gt;",
            "id=\"counts\"",
            "id=\"decontamination\"",
        ] {
            assert!(page.contains(needle), "page lacks {needle:?}");
        }
        assert!(!page.contains("<script"), "unescaped script");
        // No training run, shards or dedup report in the fixture: no section.
        assert!(!page.contains("id=\"training\"") && !page.contains("id=\"shards\"") && !page.contains("id=\"dedup\""));
    }

    /// Writers fed by the same node hold the same documents: one set of
    /// histograms (and one mix) covers them, naming both; a writer fed by
    /// another node gets its own.
    #[test]
    fn one_set_of_histograms_per_document_set() {
        let d = tempfile::tempdir().unwrap();
        fixture(d.path());
        let page = render(d.path(), &ReportOptions::default()).unwrap();
        let signals = &page[page.find("id=\"signals\"").unwrap()..page.find("id=\"mix\"").unwrap()];
        assert_eq!(signals.matches("<h4>chars</h4>").count(), 1, "{signals}");
        assert_eq!(signals.matches("<h4>pii_email</h4>").count(), 1, "{signals}");
        assert_eq!(signals.matches("<h3>").count(), 2, "{signals}");
        assert!(signals.contains("<h3>Writers kept, copy</h3>"), "{signals}");
        assert!(signals.contains("Writers <code>kept</code> and <code>copy</code> hold the same documents (all fed by <code>len</code>)"));
        assert!(signals.contains("<h3>Writer early</h3>"), "{signals}");
        let mix = &page[page.find("id=\"mix\"").unwrap()..];
        assert_eq!(mix.matches(": sources</h3>").count(), 2);
    }

    #[test]
    fn planted_bidi_controls_are_neutralised_everywhere() {
        let d = tempfile::tempdir().unwrap();
        fixture(d.path());
        // Every kind of data string the page shows, with every bidi control
        // character planted in it.
        let evil = "gpl\u{202E}txt.exe\u{202A}\u{202B}\u{202C}\u{202D}\u{2066}\u{2067}\u{2068}\u{2069}\u{200E}\u{200F}\u{061C}";
        let w = |p: &str, s: String| std::fs::write(d.path().join(p), s).unwrap();
        let mut recipe: serde_json::Value = serde_json::from_slice(&std::fs::read(d.path().join("_sluice/recipe.json")).unwrap()).unwrap();
        recipe["description"] = json!(format!("run {evil}"));
        w("_sluice/recipe.json", recipe.to_string());
        w(
            "excluded/len/00000-00000.jsonl",
            json!({"id": evil, "text": format!("text {evil}"), "source": evil,
                   "metadata": {"url": format!("http://{evil}/"), "drop_reason": "too_few_chars", "dropped_by": "len"}})
            .to_string()
                + "\n",
        );
        let kept: String = (0..3)
            .map(|i| json!({"id": i.to_string(), "text": "long enough text", "source": evil, "metadata": {"language": evil}, "attributes": {"chars": 16 + i}}).to_string() + "\n")
            .collect();
        w("kept/00000-00000.jsonl", kept);
        w(
            "reports/decon/summary.json",
            json!({"kind": "decontamination", "benchmarks": [{"name": evil, "docs_flagged": 3, "ngrams_matched": 11}]}).to_string(),
        );
        w("reports/other/x.json", json!({"kind": "something_new", "note": evil}).to_string());
        let page = render(d.path(), &ReportOptions::default()).unwrap();
        let left: Vec<String> = page.chars().filter(|&c| html::is_bidi_control(c)).map(|c| format!("U+{:04X}", c as u32)).collect();
        assert!(left.is_empty(), "bidi controls reached the page: {left:?}");
        // They are shown, not dropped: the reader sees what was planted.
        assert!(page.contains(r"gpl\u{202E}txt.exe\u{202A}"), "planted override not shown");
        assert!(page.contains("run gpl\\u{202E}"), "description not shown");
        assert!(page.contains("unicode-bidi:isolate"), "cells are not isolated");
    }

    #[test]
    fn a_directory_that_is_not_a_run_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let e = render(d.path(), &ReportOptions::default()).unwrap_err();
        assert!(format!("{e:#}").contains("not a sluice output directory"), "{e:#}");
    }
}
