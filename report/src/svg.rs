//! Inline SVG charts. Every label is escaped with [`esc`]; coordinates are
//! numbers this module computes. Each chart is a fixed number of elements
//! whatever the run's size (bars per category, bins per histogram, points
//! per curve after downsampling), so the page stays small.

use std::fmt::Write as _;

use crate::html::{esc, num};

const PALETTE: [&str; 6] = ["#3b6ea8", "#d9822b", "#4a9b5f", "#b04a5a", "#7a5ea8", "#5a8f9b"];

/// One row of a horizontal bar chart: a label, values (one bar each, drawn
/// in the palette's colours) and the text printed after the bars.
pub struct BarRow {
    pub label: String,
    pub values: Vec<f64>,
    pub note: String,
}

/// Horizontal bars, one row per category, `series` names the values.
pub fn hbars(class: &str, rows: &[BarRow], series: &[&str]) -> String {
    let label_w = 280.0;
    let bar_w = 380.0;
    let note_w = 240.0;
    let per = series.len().max(1);
    let bar_h = if per == 1 { 16.0 } else { 11.0 };
    let row_h = bar_h * per as f64 + 8.0;
    let legend_h = if series.len() > 1 { 20.0 } else { 0.0 };
    let h = legend_h + row_h * rows.len() as f64 + 4.0;
    let w = label_w + bar_w + note_w;
    let max = rows.iter().flat_map(|r| r.values.iter().copied()).fold(0.0f64, f64::max);
    let mut s = String::new();
    let _ = write!(s, r#"<svg class="chart {}" role="img" width="{w}" height="{h}" viewBox="0 0 {w} {h}">"#, esc(class));
    if series.len() > 1 {
        for (i, name) in series.iter().enumerate() {
            let x = label_w + i as f64 * 150.0;
            let _ = write!(
                s,
                r#"<rect x="{x}" y="4" width="12" height="12" fill="{}"/><text x="{}" y="14">{}</text>"#,
                PALETTE[i % PALETTE.len()],
                x + 16.0,
                esc(name)
            );
        }
    }
    for (i, r) in rows.iter().enumerate() {
        let y0 = legend_h + i as f64 * row_h;
        let _ = write!(
            s,
            r#"<text class="lbl" x="{}" y="{}" text-anchor="end">{}</text>"#,
            label_w - 6.0,
            y0 + row_h / 2.0 + 4.0,
            esc(&crate::html::truncate(&r.label, 30))
        );
        for (j, v) in r.values.iter().enumerate() {
            let bw = if max > 0.0 { (v / max * bar_w).max(if *v > 0.0 { 1.0 } else { 0.0 }) } else { 0.0 };
            let _ = write!(
                s,
                r#"<rect class="bar" x="{label_w}" y="{:.1}" width="{bw:.1}" height="{bar_h}" fill="{}"><title>{}: {}</title></rect>"#,
                y0 + 4.0 + j as f64 * bar_h,
                PALETTE[j % PALETTE.len()],
                esc(series.get(j).copied().unwrap_or("")),
                num(*v)
            );
        }
        let _ = write!(s, r#"<text x="{}" y="{}">{}</text>"#, label_w + bar_w + 6.0, y0 + row_h / 2.0 + 4.0, esc(&r.note));
    }
    s.push_str("</svg>");
    s
}

/// A fixed-bin histogram of values.
#[derive(Debug, Clone)]
pub struct Histogram {
    pub lo: f64,
    pub hi: f64,
    pub bins: Vec<u64>,
    pub n: u64,
}

impl Histogram {
    /// Bin `values` into `nbins` equal bins spanning their range, widened to
    /// include `marks` (thresholds) so those can be drawn.
    pub fn of(values: &[f64], nbins: usize, marks: &[f64]) -> Histogram {
        let finite = values.iter().copied().filter(|v| v.is_finite());
        let (mut lo, mut hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
        if !lo.is_finite() {
            return Histogram { lo: 0.0, hi: 1.0, bins: vec![0; nbins], n: 0 };
        }
        // Widen the axis to show a threshold, unless that would squash the
        // bars into a sliver (a 100,000-word cap on documents of a few
        // hundred words): a threshold that far off is named at the edge.
        let span = hi - lo;
        let magnitude = lo.abs().max(hi.abs());
        let (data_lo, data_hi) = (lo, hi);
        for m in marks.iter().filter(|m| m.is_finite()) {
            let wide = data_hi.max(*m) - data_lo.min(*m);
            if wide <= 10.0 * span || wide <= magnitude {
                lo = lo.min(*m);
                hi = hi.max(*m);
            }
        }
        if hi <= lo {
            hi = lo + 1.0;
        }
        let mut bins = vec![0u64; nbins];
        let mut n = 0;
        for v in values.iter().copied().filter(|v| v.is_finite()) {
            let b = (((v - lo) / (hi - lo)) * nbins as f64) as usize;
            bins[b.min(nbins - 1)] += 1;
            n += 1;
        }
        Histogram { lo, hi, bins, n }
    }
}

/// A histogram with vertical marks (thresholds) labelled.
pub fn histogram(class: &str, h: &Histogram, marks: &[(f64, String)]) -> String {
    let (w, ht) = (460.0, 190.0);
    let (l, r, t, b) = (46.0, 10.0, 22.0, 34.0);
    let pw = w - l - r;
    let ph = ht - t - b;
    let max = h.bins.iter().copied().max().unwrap_or(0).max(1) as f64;
    let bw = pw / h.bins.len().max(1) as f64;
    let x_of = |v: f64| l + (v - h.lo) / (h.hi - h.lo) * pw;
    let mut s = String::new();
    let _ = write!(s, r#"<svg class="chart {}" role="img" width="{w}" height="{ht}" viewBox="0 0 {w} {ht}">"#, esc(class));
    let _ = write!(s, r#"<line class="axis" x1="{l}" y1="{}" x2="{}" y2="{}"/>"#, t + ph, l + pw, t + ph);
    for (i, c) in h.bins.iter().enumerate() {
        if *c == 0 {
            continue;
        }
        let bh = *c as f64 / max * ph;
        let lo = h.lo + (h.hi - h.lo) * i as f64 / h.bins.len() as f64;
        let hi = h.lo + (h.hi - h.lo) * (i + 1) as f64 / h.bins.len() as f64;
        let _ = write!(
            s,
            r#"<rect class="bar" x="{:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}" fill="{}"><title>{} to {}: {}</title></rect>"#,
            l + i as f64 * bw + 0.5,
            t + ph - bh,
            (bw - 1.0).max(0.5),
            PALETTE[0],
            num(lo),
            num(hi),
            crate::html::int(*c)
        );
    }
    // axis labels: min, middle, max; y: max count
    for (v, anchor) in [(h.lo, "start"), ((h.lo + h.hi) / 2.0, "middle"), (h.hi, "end")] {
        let _ = write!(s, r#"<text x="{:.1}" y="{}" text-anchor="{anchor}">{}</text>"#, x_of(v), t + ph + 14.0, num(v));
    }
    let _ = write!(s, r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#, l - 4.0, t + 8.0, crate::html::int(max as u64));
    let _ = write!(s, r#"<text x="{}" y="{}" text-anchor="end">0</text>"#, l - 4.0, t + ph);
    for (i, (v, label)) in marks.iter().enumerate() {
        if !v.is_finite() {
            continue;
        }
        if *v < h.lo || *v > h.hi {
            let (x, anchor, pre, post) = if *v < h.lo { (l, "start", "← ", "") } else { (l + pw, "end", "", " →") };
            let _ = write!(
                s,
                r#"<text class="marklbl" x="{x:.1}" y="{}" text-anchor="{anchor}">{pre}{} (off scale){post}</text>"#,
                t - 8.0 + 10.0 * (i % 2) as f64,
                esc(label)
            );
            continue;
        }
        let x = x_of(*v);
        let _ = write!(
            s,
            r#"<line class="mark" x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}"><title>{}</title></line>"#,
            t - 4.0,
            t + ph,
            esc(label)
        );
        let anchor = if x > l + pw * 0.6 { "end" } else { "start" };
        let dx = if anchor == "end" { -3.0 } else { 3.0 };
        let _ = write!(
            s,
            r#"<text class="marklbl" x="{:.1}" y="{}" text-anchor="{anchor}">{}</text>"#,
            x + dx,
            t - 8.0 + 10.0 * (i % 2) as f64,
            esc(label)
        );
    }
    let _ = write!(s, r#"<text x="{}" y="{}" text-anchor="end" class="small">n = {}</text>"#, l + pw, ht - 4.0, crate::html::int(h.n));
    s.push_str("</svg>");
    s
}

/// One curve of a line chart.
pub struct Series<'a> {
    pub name: &'a str,
    pub points: Vec<(f64, f64)>,
    /// Draw dots (few points, e.g. validation) rather than a line.
    pub dots: bool,
}

/// Keep at most `max` points, evenly spaced, always the first and last.
pub fn downsample(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max || max < 2 {
        return points.to_vec();
    }
    (0..max).map(|i| points[i * (points.len() - 1) / (max - 1)]).collect()
}

/// A line chart with a shared x axis (`xlabel`).
pub fn lines(class: &str, series: &[Series], xlabel: &str, ylabel: &str) -> String {
    let (w, ht) = (620.0, 240.0);
    let (l, r, t, b) = (56.0, 12.0, 24.0, 36.0);
    let pw = w - l - r;
    let ph = ht - t - b;
    let all = series.iter().flat_map(|s| s.points.iter()).filter(|p| p.0.is_finite() && p.1.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for (x, y) in all {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
        y0 = y0.min(*y);
        y1 = y1.max(*y);
    }
    let mut s = String::new();
    let _ = write!(s, r#"<svg class="chart {}" role="img" width="{w}" height="{ht}" viewBox="0 0 {w} {ht}">"#, esc(class));
    if !x0.is_finite() {
        s.push_str(r#"<text x="10" y="20">no points</text></svg>"#);
        return s;
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        y1 = y0 + y0.abs().max(1e-9);
    }
    let pad = (y1 - y0) * 0.05;
    let (y0, y1) = (y0 - pad, y1 + pad);
    let px = |x: f64| l + (x - x0) / (x1 - x0) * pw;
    let py = |y: f64| t + ph - (y - y0) / (y1 - y0) * ph;
    let _ = write!(
        s,
        r#"<line class="axis" x1="{l}" y1="{}" x2="{}" y2="{}"/><line class="axis" x1="{l}" y1="{t}" x2="{l}" y2="{}"/>"#,
        t + ph,
        l + pw,
        t + ph,
        t + ph
    );
    for (v, anchor) in [(x0, "start"), ((x0 + x1) / 2.0, "middle"), (x1, "end")] {
        let _ = write!(s, r#"<text x="{:.1}" y="{}" text-anchor="{anchor}">{}</text>"#, px(v), t + ph + 14.0, num(v));
    }
    for v in [y0, (y0 + y1) / 2.0, y1] {
        let _ = write!(s, r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#, l - 4.0, py(v) + 4.0, num(v));
    }
    let _ = write!(s, r#"<text x="{}" y="{}" text-anchor="middle" class="small">{}</text>"#, l + pw / 2.0, ht - 4.0, esc(xlabel));
    let _ = write!(s, r#"<text x="4" y="12" class="small">{}</text>"#, esc(ylabel));
    for (i, se) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let pts: Vec<_> = se.points.iter().filter(|p| p.0.is_finite() && p.1.is_finite()).collect();
        if se.dots {
            for (x, y) in &pts {
                let _ = write!(
                    s,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"><title>{}: {} at {}</title></circle>"#,
                    px(*x),
                    py(*y),
                    esc(se.name),
                    num(*y),
                    num(*x)
                );
            }
        } else if !pts.is_empty() {
            let mut d = String::new();
            for (k, (x, y)) in pts.iter().enumerate() {
                let _ = write!(d, "{}{:.1},{:.1}", if k == 0 { "M" } else { " L" }, px(*x), py(*y));
            }
            let _ = write!(s, r#"<path class="line" d="{d}" stroke="{color}"/>"#);
        }
        let lx = l + pw - 150.0 + 0.0 * i as f64;
        let _ = write!(
            s,
            r#"<rect x="{lx}" y="{}" width="10" height="10" fill="{color}"/><text x="{}" y="{}">{}</text>"#,
            t + 2.0 + 14.0 * i as f64,
            lx + 14.0,
            t + 11.0 + 14.0 * i as f64,
            esc(se.name)
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_bins_cover_range_and_marks() {
        let h = Histogram::of(&[0.0, 0.5, 1.0, f64::NAN], 4, &[2.0]);
        assert_eq!(h.lo, 0.0);
        assert_eq!(h.hi, 2.0);
        assert_eq!(h.n, 3);
        assert_eq!(h.bins, vec![1, 1, 1, 0]);
        let svg = histogram("hist", &h, &[(2.0, "max <x>".into())]);
        assert!(svg.contains("max &lt;x&gt;"), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 3);
        // a threshold far from the data is named, not drawn to scale
        let h = Histogram::of(&[0.0, 1.0], 4, &[100.0]);
        assert_eq!(h.hi, 1.0);
        let svg = histogram("hist", &h, &[(100.0, "cap".into())]);
        assert!(svg.contains("cap (off scale) →") && !svg.contains("class=\"mark\""), "{svg}");
    }

    #[test]
    fn labels_are_escaped() {
        let svg = hbars("b", &[BarRow { label: "<b>".into(), values: vec![1.0], note: "\"q\"".into() }], &["docs"]);
        assert!(svg.contains("&lt;b&gt;") && svg.contains("&quot;q&quot;") && !svg.contains("<b>"));
    }

    #[test]
    fn downsample_keeps_ends() {
        let p: Vec<(f64, f64)> = (0..1000).map(|i| (i as f64, 0.0)).collect();
        let d = downsample(&p, 10);
        assert_eq!(d.len(), 10);
        assert_eq!(d[0].0, 0.0);
        assert_eq!(d[9].0, 999.0);
    }
}
