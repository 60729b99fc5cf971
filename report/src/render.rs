//! The page. Sections appear when the run has something for them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;
use sluice_pipeline::Role;

use crate::html::{bytes, esc, int, num, pct, truncate};
use crate::load::{Budget, RunData, WriterSample};
use crate::svg::{self, BarRow, Histogram, Series};
use crate::thresholds::{self, Mark};

const CSS: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1100px;padding:16px 24px;color:#222;background:#fff}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px;display:block;max-width:100%;overflow-x:auto}td,th{border:1px solid #ddd;padding:3px 8px;vertical-align:top}th{background:#f4f4f4;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.chart{display:block;margin:6px 0 10px;font-size:11px;background:#fcfcfc;border:1px solid #eee}
.chart text{fill:#333}.chart .lbl{font-size:12px}.chart .small{fill:#666}
.chart .axis{stroke:#999;stroke-width:1}.chart .mark{stroke-width:2}.chart .offmark{fill:none;stroke-width:2}.chart .marklbl{font-weight:600}.chart .xtitle,.chart .ytitle{fill:#444;font-size:11px}
svg.chart{max-width:100%;height:auto}svg.hist rect,svg.classifier rect{fill:#3b6ea8}
.chart .line{fill:none;stroke-width:1.5}
.hists{display:flex;flex-wrap:wrap;gap:4px 18px}.hist h4{margin:6px 0 0;font-size:13px;font-family:monospace}
pre.snippet{white-space:pre-wrap;word-break:break-word;background:#f7f7f7;border-left:3px solid #ccc;padding:6px 8px;margin:4px 0 10px;max-height:16em;overflow:auto;font-size:12px}
.meta{color:#555;font-size:12px}.keptonly{margin:2px 0;font-size:12px;color:#7a4a00;max-width:460px}.dropval{margin:2px 0;font-size:13px}.warn{color:#a04000}nav a{margin-right:10px}code{font-size:12px}
td,th,li,h3,h4,pre,code,bdi,.chart text{unicode-bidi:isolate}
"#;

pub fn page(d: &RunData, b: &Budget, kinds: &sluice_pipeline::Kinds) -> String {
    let mut body = String::new();
    let mut nav: Vec<(&str, &str)> = Vec::new();
    let marks = thresholds::marks(&d.recipe, kinds);

    section(&mut body, &mut nav, "funnel", "Funnel", funnel(d));
    section(&mut body, &mut nav, "signals", "Quality signals", signals(d, &marks));
    section(&mut body, &mut nav, "mix", "Language and source mix", mix(d));
    section(&mut body, &mut nav, "counts", "Counts per kind (PII and other counted attributes)", counts(d));
    section(&mut body, &mut nav, "dedup", "Deduplication", reports_of(d, "dedup_clusters", dedup));
    section(&mut body, &mut nav, "tokens", "Tokens per source", reports_of(d, "mix", token_mix));
    section(&mut body, &mut nav, "decontamination", "Decontamination", reports_of(d, "decontamination", decontamination));
    let mut classifiers = reports_of(d, "classifier_train", classifier_train);
    classifiers.push_str(&reports_of(d, "classifier", classifier));
    section(&mut body, &mut nav, "classifiers", "Classifiers", classifiers);
    section(&mut body, &mut nav, "other-reports", "Other reports", other_reports(d));
    section(&mut body, &mut nav, "shards", "Token shards", shards(d));
    section(&mut body, &mut nav, "training", "Training", training(d));
    section(&mut body, &mut nav, "dropped", "Dropped documents, by reason", dropped(d, b, &marks));
    if !d.warnings.is_empty() {
        let mut s = String::from("<ul>");
        for w in d.warnings.iter().take(50) {
            let _ = write!(s, r#"<li class="warn">{}</li>"#, esc(&truncate(w, 500)));
        }
        if d.warnings.len() > 50 {
            let _ = write!(s, "<li>… and {} more</li>", d.warnings.len() - 50);
        }
        s.push_str("</ul>");
        section(&mut body, &mut nav, "warnings", "Unreadable files", s);
    }

    let title = "sluice run report";
    let mut head = String::new();
    let desc = d.recipe.get("description").and_then(Value::as_str);
    let _ = write!(
        head,
        r#"<h1>{title}</h1><p class="meta">Output <code>{}</code>{} · tasks reported {} of {} · task wall time {:.1} s</p>"#,
        esc(&d.root.display().to_string()),
        desc.map(|x| format!(" · <bdi>{}</bdi>", esc(x))).unwrap_or_default(),
        d.stats.tasks_reported,
        d.stats.tasks,
        d.stats.task_wall_secs
    );
    head.push_str("<nav>");
    for (id, name) in &nav {
        let _ = write!(head, r##"<a href="#{id}">{name}</a>"##);
    }
    head.push_str("</nav>");

    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title}</title><style>{CSS}</style></head><body>{head}{body}</body></html>\n"
    )
}

/// Append a section when it has content. `id` and `title` are constants.
fn section(body: &mut String, nav: &mut Vec<(&'static str, &'static str)>, id: &'static str, title: &'static str, content: String) {
    if content.is_empty() {
        return;
    }
    let _ = write!(body, r#"<section id="{id}"><h2>{title}</h2>{content}</section>"#);
    nav.push((id, title));
}

fn role_name(r: Option<Role>) -> &'static str {
    match r {
        Some(Role::Reader) => "reader",
        Some(Role::Stage) => "stage",
        Some(Role::Writer) => "writer",
        None => "",
    }
}

fn funnel(d: &RunData) -> String {
    let nodes = &d.stats.nodes;
    if nodes.is_empty() {
        return "<p>No stats found.</p>".into();
    }
    let mut s = String::new();
    s.push_str("<h3>Documents after each node</h3>");
    let rows: Vec<BarRow> = nodes
        .iter()
        .map(|n| BarRow {
            label: n.name.clone(),
            values: vec![n.docs_in as f64, n.docs_out as f64],
            note: format!("{} of {} kept ({})", int(n.docs_out), int(n.docs_in), pct(n.docs_out, n.docs_in)),
        })
        .collect();
    s.push_str(&svg::hbars("funnel funnel-docs", &rows, &["docs in", "docs out"]));
    s.push_str("<h3>Bytes after each node</h3>");
    let rows: Vec<BarRow> = nodes
        .iter()
        .map(|n| BarRow {
            label: n.name.clone(),
            values: vec![n.bytes_in as f64, n.bytes_out as f64],
            note: format!("{} of {} ({})", bytes(n.bytes_out), bytes(n.bytes_in), pct(n.bytes_out, n.bytes_in)),
        })
        .collect();
    s.push_str(&svg::hbars("funnel funnel-bytes", &rows, &["bytes in", "bytes out"]));
    s.push_str("<table><tr><th>node</th><th>role</th><th>kind</th><th>docs in</th><th>docs out</th><th>kept</th><th>bytes in</th><th>bytes out</th><th>files</th><th>wall s</th><th>cpu s</th></tr>");
    for n in nodes {
        let _ = write!(
            s,
            r#"<tr><td>{}</td><td>{}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{:.2}</td><td class="n">{:.2}</td></tr>"#,
            esc(&n.name),
            role_name(n.role),
            esc(&n.kind),
            int(n.docs_in),
            int(n.docs_out),
            pct(n.docs_out, n.docs_in),
            bytes(n.bytes_in),
            bytes(n.bytes_out),
            int(n.files),
            n.wall_secs,
            n.cpu_secs
        );
    }
    s.push_str("</table>");

    let mut reasons: Vec<BarRow> = Vec::new();
    let mut table = String::new();
    for n in nodes {
        for (what, map) in [("dropped", &n.dropped), ("malformed", &n.malformed), ("skipped", &n.skipped)] {
            for (k, v) in map {
                reasons.push(BarRow {
                    label: format!("{}: {k}", n.name),
                    values: vec![*v as f64],
                    note: format!("{} ({} of its input)", int(*v), pct(*v, n.docs_in)),
                });
                let _ = write!(
                    table,
                    r#"<tr><td>{}</td><td>{what}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
                    esc(&n.name),
                    esc(k),
                    int(*v),
                    pct(*v, n.docs_in)
                );
            }
        }
    }
    if !reasons.is_empty() {
        s.push_str("<h3>Drop reasons per stage</h3>");
        s.push_str(&svg::hbars("reasons", &reasons, &["documents"]));
        let _ =
            write!(s, "<table><tr><th>node</th><th>what</th><th>reason</th><th>documents</th><th>of node input</th></tr>{table}</table>");
    }
    s
}

/// The writers a sample stands for, and how many documents it read.
fn sample_note(w: &WriterSample, d: &RunData) -> String {
    let total = d.stats.nodes.iter().find(|n| n.name == w.name && n.role == Some(Role::Writer)).map(|n| n.docs_in);
    let covers = if w.covers.len() > 1 {
        format!(
            "Writers {} hold the same documents (all fed by {}); sampled from <code>{}</code> ({})",
            code_list(&w.covers),
            code_list(&w.inputs),
            esc(&w.name),
            esc(&w.kind)
        )
    } else {
        format!("Writer <code>{}</code> ({})", esc(&w.name), esc(&w.kind))
    };
    format!(
        r#"<p class="meta">{covers}: {} documents read from {} of {} files{}.</p>"#,
        int(w.docs_read),
        w.files_read,
        w.files,
        total.map(|t| format!(", of {} written", int(t))).unwrap_or_default()
    )
}

/// `a`, `b` and `c`, each escaped in `<code>`.
fn code_list(names: &[String]) -> String {
    let v: Vec<String> = names.iter().map(|n| format!("<code>{}</code>", esc(&truncate(n, 100)))).collect();
    match v.len() {
        0 => "-".into(),
        1 => v[0].clone(),
        n => format!("{} and {}", v[..n - 1].join(", "), v[n - 1]),
    }
}

/// The heading of a document set: its writer, or its writers.
fn set_title(w: &WriterSample) -> String {
    if w.covers.len() > 1 {
        let names: Vec<String> = w.covers.iter().map(|n| esc(&truncate(n, 100))).collect();
        format!("Writers {}", names.join(", "))
    } else {
        format!("Writer {}", esc(&w.name))
    }
}

/// The unit a signal is measured in, for its axis title; "" when the name
/// says nothing about it.
pub(crate) fn unit_of(attribute: &str) -> &'static str {
    let a = attribute;
    match a {
        "chars" => return "characters",
        "lines" => return "non-blank lines",
        "gopher_word_count" => return "words",
        "gopher_mean_word_length" => return "characters per word",
        "gopher_stop_words" => return "stop words",
        "c4_sentences" => return "sentences",
        "c4_lorem_ipsum" | "c4_curly_bracket" | "c4_badwords_no_list" | "url_blocked" => return "0 = no, 1 = yes",
        "ppl" => return "perplexity",
        "ppl_bpb" => return "bits per byte",
        "ppl_nll" => return "nats per token",
        _ => {}
    }
    if a.ends_with("_ratio") || a.ends_with("_frac") {
        "fraction"
    } else if a.ends_with("_score") || a.ends_with("_prob") {
        "score"
    } else if a.ends_with("_count") || a.ends_with("_matches") || a.starts_with("pii_") {
        "count"
    } else if a.ends_with("_lines") {
        "lines"
    } else if a.ends_with("_words") {
        "words"
    } else if a.ends_with("_chars") {
        "characters"
    } else if a.ends_with("_tokens") {
        "tokens"
    } else {
        ""
    }
}

/// The x axis title of a signal: its name and unit.
fn axis_title(attribute: &str) -> String {
    match unit_of(attribute) {
        "" => attribute.to_string(),
        u => format!("{attribute} ({u})"),
    }
}

const MAX_HISTOGRAMS: usize = 80;

/// One set of signal histograms per distinct document set: writers fed by
/// the same nodes hold the same documents and share one set.
fn signals(d: &RunData, marks: &[Mark]) -> String {
    let mut s = String::new();
    for w in &d.writers {
        if w.attributes.is_empty() {
            continue;
        }
        let _ = write!(s, "<h3>{}</h3>", set_title(w));
        s.push_str(&sample_note(w, d));
        s.push_str(
            r#"<p class="meta">Each histogram counts the sampled documents of this set: those every stage kept. Signals that spread over orders of magnitude get log-spaced bins.</p>"#,
        );
        s.push_str(r#"<div class="hists">"#);
        // Attributes with a threshold first, then the rest, by name.
        let mut attrs: Vec<(&String, &Vec<f64>)> = w.attributes.iter().collect();
        attrs.sort_by_key(|(a, _)| (!marks.iter().any(|m| &m.attribute == *a), (*a).clone()));
        for (a, values) in attrs.iter().take(MAX_HISTOGRAMS) {
            let mine: Vec<&Mark> = marks.iter().filter(|m| &m.attribute == *a).collect();
            let ms: Vec<(f64, String)> = mine.iter().map(|m| (m.value, m.label())).collect();
            let h = Histogram::of(values, 40, &ms.iter().map(|m| m.0).collect::<Vec<_>>());
            let _ = write!(
                s,
                r#"<div class="hist"><h4>{}</h4>{}{}</div>"#,
                esc(a),
                kept_only_note(d, &mine),
                svg::histogram("hist", &h, &axis_title(a), &ms)
            );
        }
        s.push_str("</div>");
        if attrs.len() > MAX_HISTOGRAMS {
            let _ = write!(s, "<p>{} more attributes not shown.</p>", attrs.len() - MAX_HISTOGRAMS);
        }
    }
    if s.is_empty() && !d.writers.is_empty() {
        s.push_str("<p>The written documents carry no attributes. Stages write their signals with <code>annotate_only: true</code>.</p>");
    }
    s
}

/// "Kept documents only" when a stage drops by this signal's thresholds:
/// the documents it dropped are not among the writers', so the histogram
/// shows the survivors only. Names the stages and how many they dropped.
fn kept_only_note(d: &RunData, marks: &[&Mark]) -> String {
    let mut stages: Vec<(&str, u64)> = Vec::new();
    for m in marks.iter().filter(|m| m.drops) {
        let n = d.stats.nodes.iter().find(|n| n.name == m.stage).and_then(|n| n.dropped.get(&m.reason)).copied().unwrap_or(0);
        match stages.iter_mut().find(|(s, _)| *s == m.stage) {
            Some(e) => e.1 += n,
            None => stages.push((&m.stage, n)),
        }
    }
    if stages.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = stages
        .iter()
        .map(|(st, n)| {
            let excl = d.drops.iter().any(|x| x.stage == *st);
            format!(
                "<code>{}</code> dropped {} documents by it{}",
                esc(st),
                int(*n),
                if excl { " (see the dropped examples, with their values)" } else { "" }
            )
        })
        .collect();
    format!(r#"<p class="keptonly"><b>Kept documents only</b>: {}.</p>"#, parts.join("; "))
}

/// Bars for the `top` largest entries of `counts`, the rest summed as "other".
fn top_bars(counts: &BTreeMap<String, u64>, top: usize) -> Vec<BarRow> {
    let total: u64 = counts.values().sum();
    let mut v: Vec<(&String, &u64)> = counts.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut rows: Vec<BarRow> = v
        .iter()
        .take(top)
        .map(|(k, n)| BarRow { label: (*k).clone(), values: vec![**n as f64], note: format!("{} ({})", int(**n), pct(**n, total)) })
        .collect();
    let rest: u64 = v.iter().skip(top).map(|(_, n)| **n).sum();
    if rest > 0 {
        rows.push(BarRow {
            label: format!("other ({} values)", v.len() - top),
            values: vec![rest as f64],
            note: format!("{} ({})", int(rest), pct(rest, total)),
        });
    }
    rows
}

fn mix(d: &RunData) -> String {
    let mut s = String::new();
    let readers: BTreeMap<String, u64> =
        d.stats.nodes.iter().filter(|n| n.role == Some(Role::Reader)).map(|n| (n.name.clone(), n.docs_out)).collect();
    if !readers.is_empty() {
        s.push_str("<h3>Documents read, by reader</h3>");
        s.push_str(&svg::hbars("mix sources-in", &top_bars(&readers, 30), &["documents"]));
    }
    for w in &d.writers {
        if w.docs_read == 0 {
            continue;
        }
        let _ = write!(s, "<h3>{}: sources</h3>", set_title(w));
        s.push_str(&sample_note(w, d));
        s.push_str(&svg::hbars("mix sources", &top_bars(&w.sources, 30), &["documents"]));
        if !w.languages.is_empty() {
            let _ = write!(s, "<h3>{}: languages</h3>", set_title(w));
            s.push_str(&svg::hbars("mix languages", &top_bars(&w.languages, 30), &["documents"]));
        }
    }
    s
}

fn counts(d: &RunData) -> String {
    let mut s = String::new();
    for n in d.stats.nodes.iter().filter(|n| !n.sums.is_empty()) {
        let _ = write!(s, "<h3>{} ({})</h3>", esc(&n.name), esc(&n.kind));
        let rows: Vec<BarRow> = n.sums.iter().map(|(k, v)| BarRow { label: k.clone(), values: vec![*v], note: num(*v) }).collect();
        s.push_str(&svg::hbars("counts", &rows, &["total"]));
    }
    s
}

/// Render every report of `kind` with `f`.
fn reports_of(d: &RunData, kind: &str, f: fn(&str, &Value) -> String) -> String {
    let mut s = String::new();
    for (node, file, v) in &d.reports {
        if v.get("kind").and_then(Value::as_str) == Some(kind) {
            let _ = write!(s, r#"<h3>{} <span class="meta">reports/{}/{}</span></h3>"#, esc(node), esc(node), esc(file));
            s.push_str(&f(node, v));
        }
    }
    s
}

fn u(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

fn st<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// A document reference of the report contract: id, source, url, text.
fn doc_ref(v: &Value) -> String {
    format!(
        r#"<p class="meta">id <code>{}</code> · source {} · url {}</p><pre class="snippet">{}</pre>"#,
        esc(&truncate(st(v, "id"), 200)),
        esc(&truncate(st(v, "source"), 100)),
        v.get("url").and_then(Value::as_str).map(|x| esc(&truncate(x, 300))).unwrap_or_else(|| "-".into()),
        esc(&truncate(st(v, "text"), 500))
    )
}

fn dedup(_node: &str, v: &Value) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<p>Method <b>{}</b>: {} documents, {} removed ({}), {} clusters.</p>",
        esc(st(v, "method")),
        int(u(v, "documents")),
        int(u(v, "removed")),
        pct(u(v, "removed"), u(v, "documents")),
        int(u(v, "clusters"))
    );
    let hist: Vec<(u64, u64)> = v
        .get("size_histogram")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|p| Some((p.get(0)?.as_u64()?, p.get(1)?.as_u64()?))).collect())
        .unwrap_or_default();
    if !hist.is_empty() {
        s.push_str("<h4>Cluster sizes</h4>");
        // Log-spaced buckets beyond 10 keep the chart short whatever the sizes.
        let mut buckets: BTreeMap<u64, (String, u64)> = BTreeMap::new();
        for (size, count) in hist {
            let (key, label) = size_bucket(size);
            let e = buckets.entry(key).or_insert((label, 0));
            e.1 += count;
        }
        let rows: Vec<BarRow> = buckets
            .into_values()
            .map(|(l, c)| BarRow { label: format!("size {l}"), values: vec![c as f64], note: format!("{} clusters", int(c)) })
            .collect();
        s.push_str(&svg::hbars("dedup-sizes", &rows, &["clusters"]));
    }
    if let Some(largest) = v.get("largest").and_then(Value::as_array) {
        s.push_str("<h4>Largest clusters</h4>");
        for (i, c) in largest.iter().take(10).enumerate() {
            let _ = write!(
                s,
                "<details{}><summary>cluster {} · {} documents</summary><p>Kept:</p>",
                if i == 0 { " open" } else { "" },
                i + 1,
                int(u(c, "size"))
            );
            if let Some(k) = c.get("kept") {
                s.push_str(&doc_ref(k));
            }
            if let Some(ex) = c.get("examples").and_then(Value::as_array) {
                if !ex.is_empty() {
                    s.push_str("<p>Removed, for example:</p>");
                }
                for e in ex.iter().take(3) {
                    s.push_str(&doc_ref(e));
                }
            }
            s.push_str("</details>");
        }
    }
    s
}

/// Cluster sizes 1-10 each alone, then 11-100, 101-1,000, ...: (sort key, label).
fn size_bucket(size: u64) -> (u64, String) {
    if size <= 10 {
        return (size, size.to_string());
    }
    let mut lo = 10u64;
    while size > lo * 10 {
        lo *= 10;
    }
    (lo * 10, format!("{}–{}", int(lo + 1), int(lo * 10)))
}

fn token_mix(_node: &str, v: &Value) -> String {
    let mut s = String::new();
    let _ = write!(s, "<p>Target {} tokens.</p>", int(u(v, "target_tokens")));
    let sources = v.get("sources").and_then(Value::as_array).cloned().unwrap_or_default();
    let rows: Vec<BarRow> = sources
        .iter()
        .take(50)
        .map(|x| {
            let (r, a) = (u(x, "requested_tokens"), u(x, "achieved_tokens"));
            BarRow {
                label: st(x, "source").to_string(),
                values: vec![r as f64, a as f64],
                note: format!("{} of {} ({})", int(a), int(r), pct(a, r)),
            }
        })
        .collect();
    s.push_str(&svg::hbars("tokens", &rows, &["requested", "achieved"]));
    s.push_str("<table><tr><th>source</th><th>weight</th><th>available</th><th>requested</th><th>achieved</th><th>epochs</th></tr>");
    for x in sources.iter().take(50) {
        let _ = write!(
            s,
            r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            esc(st(x, "source")),
            num(x.get("weight").and_then(Value::as_f64).unwrap_or(f64::NAN)),
            int(u(x, "available_tokens")),
            int(u(x, "requested_tokens")),
            int(u(x, "achieved_tokens")),
            num(x.get("epochs").and_then(Value::as_f64).unwrap_or(f64::NAN))
        );
    }
    s.push_str("</table>");
    s
}

fn decontamination(_node: &str, v: &Value) -> String {
    let mut s = String::from("<table><tr><th>benchmark</th><th>documents flagged</th><th>n-grams matched</th></tr>");
    for b in v.get("benchmarks").and_then(Value::as_array).into_iter().flatten().take(100) {
        let _ = write!(
            s,
            r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            esc(st(b, "name")),
            int(u(b, "docs_flagged")),
            int(u(b, "ngrams_matched"))
        );
    }
    s.push_str("</table>");
    s
}

fn f(v: &Value, k: &str) -> f64 {
    v.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

/// A `classifier_train` report: the training set and the held-out metrics.
fn classifier_train(_node: &str, v: &Value) -> String {
    let mut s = String::new();
    let h = v.get("heldout").unwrap_or(&Value::Null);
    let _ = write!(
        s,
        "<p>Trained in {} s; held-out documents: {}, accuracy {}.</p>",
        num(f(v, "train_seconds")),
        int(u(h, "documents")),
        num(f(h, "accuracy"))
    );
    s.push_str("<table><tr><th>label</th><th>train</th><th>held out</th><th>precision</th><th>recall</th><th>F1</th><th>ROC AUC</th></tr>");
    let docs = v.get("documents").and_then(Value::as_object);
    for (label, m) in h.get("labels").and_then(Value::as_object).into_iter().flatten().take(200) {
        let c = docs.and_then(|d| d.get(label)).unwrap_or(&Value::Null);
        let _ = write!(
            s,
            r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            esc(&truncate(label, 200)),
            int(u(c, "train")),
            int(u(c, "heldout")),
            num(f(m, "precision")),
            num(f(m, "recall")),
            num(f(m, "f1")),
            num(f(m, "roc_auc"))
        );
    }
    s.push_str("</table>");
    s
}

/// A `classifier` report (top fraction): the score histogram with the
/// threshold, and documents kept and dropped by the score.
fn classifier(_node: &str, v: &Value) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<p>Score <code>{}</code>: kept {} of {} documents ({}; asked for the top {}), threshold {}.</p>",
        esc(&truncate(st(v, "attribute"), 200)),
        int(u(v, "kept")),
        int(u(v, "documents")),
        pct(u(v, "kept"), u(v, "documents")),
        num(f(v, "top_fraction")),
        num(f(v, "threshold"))
    );
    let hist = v.get("histogram").unwrap_or(&Value::Null);
    let bins: Vec<u64> = hist.get("counts").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_u64).take(1000).collect();
    let (lo, hi) = (f(hist, "lo"), f(hist, "hi"));
    if !bins.is_empty() && lo.is_finite() && hi.is_finite() && hi > lo {
        let h = Histogram { lo, hi, n: bins.iter().sum(), bins, scale: svg::Scale::Linear };
        let title = format!("{} (score)", truncate(st(v, "attribute"), 60));
        s.push_str(&svg::histogram("classifier", &h, &title, &[(f(v, "threshold"), "threshold".to_string())]));
    }
    for (side, title) in [("kept", "Kept by the score"), ("dropped", "Dropped by the score")] {
        let ex = v.get("examples").and_then(|e| e.get(side)).and_then(Value::as_array);
        let _ = write!(s, "<h4>{title}</h4>");
        for e in ex.into_iter().flatten().take(50) {
            let _ = write!(
                s,
                r#"<p class="meta">score {} · most probable label {}</p>"#,
                num(f(e, "score")),
                esc(&truncate(st(e, "label"), 200))
            );
            s.push_str(&doc_ref(e));
        }
    }
    s
}

fn other_reports(d: &RunData) -> String {
    let mut s = String::new();
    for (node, file, v) in &d.reports {
        let k = v.get("kind").and_then(Value::as_str).unwrap_or("");
        if ["dedup_clusters", "mix", "decontamination", "classifier", "classifier_train"].contains(&k) {
            continue;
        }
        let text = serde_json::to_string_pretty(v).unwrap_or_default();
        let _ = write!(s, r#"<h3>reports/{}/{}</h3><pre class="snippet">{}</pre>"#, esc(node), esc(file), esc(&truncate(&text, 3000)));
    }
    s
}

const MAX_SHARD_ROWS: usize = 100;

fn shards(d: &RunData) -> String {
    let mut s = String::new();
    for (dir, m) in &d.shards {
        let list = &m.shards;
        let mut per_split: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for x in list {
            let e = per_split.entry(x.split.clone()).or_default();
            e.0 += 1;
            e.1 += x.tokens;
        }
        let dtype = serde_json::to_value(m.dtype).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
        let _ = write!(
            s,
            "<h3>{}</h3><p>Vocabulary {}, eos {}, dtype {}{}. ",
            esc(dir),
            int(m.vocab_size as u64),
            m.eos_id,
            esc(&dtype),
            m.seq_len.map(|l| format!(", sequence length {}", int(l as u64))).unwrap_or_default()
        );
        for (split, (n, t)) in &per_split {
            let _ = write!(s, "{}: {} shards, {} tokens. ", esc(split), int(*n), int(*t));
        }
        s.push_str("</p><table><tr><th>file</th><th>split</th><th>tokens</th></tr>");
        for x in list.iter().take(MAX_SHARD_ROWS) {
            let _ = write!(
                s,
                r#"<tr><td><code>{}</code></td><td>{}</td><td class="n">{}</td></tr>"#,
                esc(&x.file),
                esc(&x.split),
                int(x.tokens)
            );
        }
        if list.len() > MAX_SHARD_ROWS {
            let _ = write!(s, "<tr><td colspan=\"3\">… {} more shards</td></tr>", int((list.len() - MAX_SHARD_ROWS) as u64));
        }
        s.push_str("</table>");
    }
    s
}

fn training(d: &RunData) -> String {
    let mut s = String::new();
    for t in &d.training {
        let _ = write!(s, "<h3>{}</h3>", esc(&t.dir));
        let last = t.train.last();
        let _ = write!(
            s,
            "<p>{} training steps logged{}{}.</p>",
            int(t.train.len() as u64),
            last.map(|l| format!(", last loss {} at step {}", num(l.1), num(l.0))).unwrap_or_default(),
            t.val.last().map(|v| format!(", last validation loss {}", num(v.1))).unwrap_or_default()
        );
        let train: Vec<(f64, f64)> = t.train.iter().map(|x| (x.0, x.1)).collect();
        let series = [
            Series { name: "train loss", points: svg::downsample(&train, 500), dots: false },
            Series { name: "val loss", points: svg::downsample(&t.val, 200), dots: true },
        ];
        s.push_str(&svg::lines("curve loss", &series, "step", "loss"));
        let lr: Vec<(f64, f64)> = t.train.iter().filter_map(|x| Some((x.0, x.2?))).collect();
        if !lr.is_empty() {
            s.push_str(&svg::lines(
                "curve lr",
                &[Series { name: "learning rate", points: svg::downsample(&lr, 500), dots: false }],
                "step",
                "lr",
            ));
        }
        if let Some(ev) = &t.eval {
            let results = ev.get("results").and_then(Value::as_array).cloned().unwrap_or_default();
            let mut names: Vec<String> = Vec::new();
            for r in &results {
                for k in r.get("metrics").and_then(Value::as_object).into_iter().flat_map(|m| m.keys()) {
                    if !names.contains(k) {
                        names.push(k.clone());
                    }
                }
            }
            let _ = write!(
                s,
                "<h4>Evaluation</h4><p class=\"meta\">checkpoint <code>{}</code></p><table><tr><th>task</th><th>items</th>",
                esc(&ev.get("checkpoint").map(|c| c.as_str().map(String::from).unwrap_or_else(|| c.to_string())).unwrap_or_default())
            );
            for n in &names {
                let _ = write!(s, "<th>{}</th>", esc(n));
            }
            s.push_str("</tr>");
            for r in results.iter().take(100) {
                let _ = write!(s, r#"<tr><td>{}</td><td class="n">{}</td>"#, esc(st(r, "task")), int(u(r, "n")));
                for n in &names {
                    let v = r.get("metrics").and_then(|m| m.get(n)).and_then(Value::as_f64);
                    let _ = write!(s, r#"<td class="n">{}</td>"#, v.map(|x| format!("{x:.4}")).unwrap_or_default());
                }
                s.push_str("</tr>");
            }
            s.push_str("</table>");
        }
    }
    s
}

fn dropped(d: &RunData, b: &Budget, marks: &[Mark]) -> String {
    let mut s = String::new();
    for st in &d.drops {
        let node = d.stats.nodes.iter().find(|n| n.name == st.stage);
        let _ = write!(
            s,
            r#"<h3>{}</h3><p class="meta">{} dropped documents read from excluded/{}.</p>"#,
            esc(&st.stage),
            int(st.rows_read),
            esc(&st.stage)
        );
        let overrides = d
            .recipe
            .get("stages")
            .and_then(|x| x.get(&st.stage))
            .and_then(|x| x.get("languages"))
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty());
        for (reason, examples) in &st.by_reason {
            let total = node.and_then(|n| n.dropped.get(reason)).copied();
            let _ = write!(s, "<h4>{}{}</h4>", esc(reason), total.map(|t| format!(" · {} documents", int(t))).unwrap_or_default());
            // The rule behind the reason: its signal and threshold.
            let rule = marks.iter().find(|m| m.stage == st.stage && m.reason == *reason);
            for e in examples.iter().take(b.examples_per_reason) {
                let _ = write!(
                    s,
                    r#"<p class="meta">id <code>{}</code> · source {} · url {} · {} characters</p>{}<pre class="snippet">{}</pre>"#,
                    esc(&truncate(&e.id, 200)),
                    esc(&truncate(&e.source, 100)),
                    e.url.as_deref().map(|x| esc(&truncate(x, 300))).unwrap_or_else(|| "-".into()),
                    int(e.chars as u64),
                    rule.map(|m| drop_value(m, &e.attributes, overrides)).unwrap_or_default(),
                    esc(&e.text)
                );
            }
        }
    }
    s
}

/// The value that dropped an example, next to the threshold it broke:
/// "`chars` = 57, below `length.min_chars` = 200". Everything from the run
/// is escaped.
fn drop_value(m: &Mark, attributes: &[(String, f64)], overrides: bool) -> String {
    let value = attributes.iter().find(|(k, _)| *k == m.attribute).map(|(_, v)| *v);
    let side = match m.test {
        sluice_pipeline::Test::DropBelow => "below",
        sluice_pipeline::Test::DropAbove => "above",
    };
    let threshold = format!(
        "<code>{}.{}</code> = {}{}",
        esc(&m.stage),
        esc(&m.option),
        num(m.value),
        if overrides { " (default; this stage has per-language overrides)" } else { "" }
    );
    match value {
        Some(v) => {
            format!(r#"<p class="dropval">Dropped by <code>{}</code> = <b>{}</b>, {side} {threshold}</p>"#, esc(&m.attribute), num(v))
        }
        None => format!(
            r#"<p class="dropval">Dropped by <code>{}</code> {} {threshold}; its value was not recorded</p>"#,
            esc(&m.attribute),
            m.breaks_as().replace('<', "&lt;").replace('>', "&gt;")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(stage: &str, attribute: &str, option: &str, value: f64, test: sluice_pipeline::Test) -> Mark {
        Mark { attribute: attribute.into(), stage: stage.into(), option: option.into(), value, reason: "r".into(), test, drops: true }
    }

    /// The dropped example's value and threshold: every name from the run
    /// escaped, numbers formatted, the side of the threshold said; a value
    /// not recorded is said so.
    #[test]
    fn drop_value_is_shown_and_escaped() {
        use sluice_pipeline::Test;
        let m = mark("len<script>", "chars\"<img src=x>", "min_chars", 200.0, Test::DropBelow);
        let attrs = vec![("other".to_string(), 1.0), ("chars\"<img src=x>".to_string(), 57.0)];
        let html = drop_value(&m, &attrs, false);
        assert_eq!(
            html,
            "<p class=\"dropval\">Dropped by <code>chars&quot;&lt;img src=x&gt;</code> = <b>57</b>, below \
             <code>len&lt;script&gt;.min_chars</code> = 200</p>"
        );
        let m = mark("rep", "gopher_rep_dup_line_frac", "dup_line_frac", 0.3, Test::DropAbove);
        let html = drop_value(&m, &[("gopher_rep_dup_line_frac".into(), 0.5)], true);
        assert!(
            html.contains("<b>0.500</b>, above <code>rep.dup_line_frac</code> = 0.300 (default; this stage has per-language overrides)")
        );
        let html = drop_value(&m, &[], false);
        assert!(html.contains("&gt; <code>rep.dup_line_frac</code> = 0.300; its value was not recorded"), "{html}");
        assert!(!html.contains(" > "));
    }

    #[test]
    fn units_name_the_axis() {
        assert_eq!(axis_title("chars"), "chars (characters)");
        assert_eq!(axis_title("gopher_rep_dup_line_frac"), "gopher_rep_dup_line_frac (fraction)");
        assert_eq!(axis_title("language_score"), "language_score (score)");
        assert_eq!(axis_title("gopher_word_count"), "gopher_word_count (words)");
        assert_eq!(axis_title("mystery"), "mystery");
    }

    #[test]
    fn cluster_size_buckets() {
        assert_eq!(size_bucket(2), (2, "2".to_string()));
        assert_eq!(size_bucket(10), (10, "10".to_string()));
        assert_eq!(size_bucket(11), (100, "11–100".to_string()));
        assert_eq!(size_bucket(100), (100, "11–100".to_string()));
        assert_eq!(size_bucket(101), (1000, "101–1,000".to_string()));
        assert_eq!(size_bucket(123_456), (1_000_000, "100,001–1,000,000".to_string()));
    }
}
