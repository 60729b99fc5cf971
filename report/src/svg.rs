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

/// How a histogram's axis maps values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Linear,
    /// Equal-width bins in log10 of the value.
    Log,
    /// Equal-width bins in log10(1 + value): a count that is often 0.
    Log1p,
}

impl Scale {
    /// The axis coordinate of `v`; `None` where the scale cannot show it.
    pub fn fwd(self, v: f64) -> Option<f64> {
        match self {
            Scale::Linear => Some(v),
            Scale::Log => (v > 0.0).then(|| v.log10()),
            Scale::Log1p => (v >= 0.0).then(|| (1.0 + v).log10()),
        }
    }

    /// The value at axis coordinate `x`.
    pub fn back(self, x: f64) -> f64 {
        match self {
            Scale::Linear => x,
            Scale::Log => 10f64.powf(x),
            Scale::Log1p => 10f64.powf(x) - 1.0,
        }
    }

    pub fn is_log(self) -> bool {
        self != Scale::Linear
    }
}

/// A fixed-bin histogram of values.
#[derive(Debug, Clone)]
pub struct Histogram {
    pub lo: f64,
    pub hi: f64,
    pub bins: Vec<u64>,
    pub n: u64,
    /// See [`scale_for`].
    pub scale: Scale,
}

/// The axis a signal is drawn on, from the values alone (their order does
/// not matter, so the page stays deterministic). Log when the signal spans
/// orders of magnitude and is heavy-tailed (linear bins would pile most
/// documents into the first bar or two):
/// - all values positive, max / min >= 100 and the median in the lowest
///   tenth of the range: [`Scale::Log`];
/// - no negative value, some zero, max >= 100 and the median below a
///   tenth of the max (counts such as sentences): [`Scale::Log1p`];
/// - otherwise linear.
pub fn scale_for(values: &[f64]) -> Scale {
    let mut v: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if v.len() < 2 {
        return Scale::Linear;
    }
    let (lo, hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(*x), b.max(*x)));
    let mid = v.len() / 2;
    let (_, median, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    let heavy = *median < lo + (hi - lo) / 10.0;
    if lo > 0.0 && hi / lo >= 100.0 && heavy {
        Scale::Log
    } else if lo == 0.0 && hi >= 100.0 && heavy {
        Scale::Log1p
    } else {
        Scale::Linear
    }
}

impl Histogram {
    /// Bin `values` into `nbins` bins spanning their range, on the axis
    /// [`scale_for`] picks, widened to include `marks` (thresholds) so
    /// those can be drawn, unless that would squash the bars.
    pub fn of(values: &[f64], nbins: usize, marks: &[f64]) -> Histogram {
        let nbins = nbins.max(1);
        let scale = scale_for(values);
        let finite = values.iter().copied().filter(|v| v.is_finite());
        let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
        if !lo.is_finite() {
            return Histogram { lo: 0.0, hi: 1.0, bins: vec![0; nbins], n: 0, scale: Scale::Linear };
        }
        // Every finite value has a coordinate on the scale picked for them.
        let t = |v: f64| scale.fwd(v).unwrap_or(f64::NAN);
        // Widen the axis to show a threshold, unless that would squash the
        // bars into a sliver (a 100,000-word cap on documents of a few
        // hundred words): a threshold that far off is named as off scale.
        let (data_a, data_b) = (t(lo), t(hi));
        let span = data_b - data_a;
        let magnitude = data_a.abs().max(data_b.abs());
        let (mut lo, mut hi) = (lo, hi);
        for m in marks.iter().copied().filter(|m| m.is_finite() && scale.fwd(*m).is_some()) {
            let wide = data_b.max(t(m)) - data_a.min(t(m));
            let ok = if scale.is_log() { wide <= 2.0 * span.max(0.5) } else { wide <= 10.0 * span || wide <= magnitude };
            if ok {
                lo = lo.min(m);
                hi = hi.max(m);
            }
        }
        if hi <= lo {
            hi = lo + 1.0;
        }
        let (a, b) = (t(lo), t(hi));
        let mut bins = vec![0u64; nbins];
        let mut n = 0;
        for v in values.iter().copied().filter(|v| v.is_finite()) {
            let x = ((t(v) - a) / (b - a) * nbins as f64).max(0.0) as usize;
            bins[x.min(nbins - 1)] += 1;
            n += 1;
        }
        Histogram { lo, hi, bins, n, scale }
    }

    /// Where `v` lies along the axis, 0 at `lo` and 1 at `hi`; `None` for
    /// a value a log axis cannot show.
    pub fn frac(&self, v: f64) -> Option<f64> {
        let (a, b) = (self.scale.fwd(self.lo)?, self.scale.fwd(self.hi)?);
        Some((self.scale.fwd(v)? - a) / (b - a))
    }

    /// The lower edge of bin `i` (`i == bins.len()`: the upper edge).
    pub fn edge(&self, i: usize) -> f64 {
        let f = i as f64 / self.bins.len().max(1) as f64;
        match (self.scale.fwd(self.lo), self.scale.fwd(self.hi)) {
            (Some(a), Some(b)) => self.scale.back(a + (b - a) * f),
            _ => self.lo + (self.hi - self.lo) * f,
        }
    }
}

/// Estimated width in px of `s` at the charts' 11 px font, bold or not,
/// on the safe side: 7 px for most characters (Chromium's DejaVu Sans
/// averages 6.7 in bold), 8.5 for capitals, 10.5 for `m`, `w`, `M`, `W`,
/// 12 for wide (CJK) ones.
pub fn text_width(s: &str) -> f64 {
    s.chars()
        .map(|c| match c {
            'm' | 'w' | 'M' | 'W' => 10.5,
            c if (c as u32) >= 0x1100 => 12.0,
            c if c.is_uppercase() => 8.5,
            _ => 7.0,
        })
        .sum()
}

/// The longest prefix of `s` (with an ellipsis when cut) whose estimated
/// width fits `max_px`.
pub fn fit(s: &str, max_px: f64) -> String {
    if text_width(s) <= max_px {
        return s.to_string();
    }
    let mut out = String::new();
    let mut w = 7.0; // the ellipsis
    for c in s.chars() {
        let cw = text_width(c.encode_utf8(&mut [0; 4]));
        if w + cw > max_px {
            break;
        }
        w += cw;
        out.push(c);
    }
    out.push('…');
    out
}

/// A piece of text placed on a chart: its box in the chart's coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub x: f64,
    /// Baseline.
    pub y: f64,
    pub anchor: &'static str,
    pub text: String,
}

impl Placed {
    /// (left, right) of its estimated box.
    pub fn span(&self) -> (f64, f64) {
        let w = text_width(&self.text);
        match self.anchor {
            "start" => (self.x, self.x + w),
            "end" => (self.x - w, self.x),
            _ => (self.x - w / 2.0, self.x + w / 2.0),
        }
    }
}

/// Axis tick labels on one line: candidates in priority order, each kept
/// only if it lies within `[0, width]` and keeps a 6 px gap to those kept.
pub fn place_ticks(candidates: Vec<Placed>, width: f64) -> Vec<Placed> {
    let mut kept: Vec<Placed> = Vec::new();
    for c in candidates {
        let (l, r) = c.span();
        if l < 0.0 || r > width {
            continue;
        }
        if kept.iter().all(|k| {
            let (kl, kr) = k.span();
            r + 6.0 <= kl || l >= kr + 6.0
        }) {
            kept.push(c);
        }
    }
    kept.sort_by(|a, b| a.x.total_cmp(&b.x));
    kept
}

/// Colours and dash patterns of threshold lines, in turn.
const MARK_STYLES: [(&str, &str); 4] = [("#c0392b", "5 3"), ("#7d3c98", "2 2"), ("#b9770e", "8 3 2 3"), ("#1e8449", "1 3")];

/// The geometry of a histogram chart.
#[derive(Debug, Clone, Copy)]
pub struct HistLayout {
    pub width: f64,
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub plot_h: f64,
}

pub const HIST: HistLayout = HistLayout { width: 460.0, left: 68.0, right: 14.0, top: 20.0, plot_h: 130.0 };

impl HistLayout {
    pub fn plot_w(&self) -> f64 {
        self.width - self.left - self.right
    }
    fn axis_y(&self) -> f64 {
        self.top + self.plot_h
    }
    /// Baseline of the x axis title.
    fn title_y(&self) -> f64 {
        self.axis_y() + 32.0
    }
    /// Baseline of legend row `i`.
    fn legend_y(&self, i: usize) -> f64 {
        self.title_y() + 18.0 + 15.0 * i as f64
    }
    /// The chart's height with `rows` legend rows.
    pub fn height(&self, rows: usize) -> f64 {
        if rows == 0 {
            self.title_y() + 8.0
        } else {
            self.legend_y(rows - 1) + 7.0
        }
    }
}

/// The legend of a histogram's thresholds: one row each, below the x axis
/// title, never wider than the chart (labels cut with an ellipsis, the
/// whole label in the row's `<title>`). Rows never overlap: each has its
/// own line.
pub fn legend_rows(lay: &HistLayout, labels: &[String]) -> Vec<Placed> {
    let x = lay.left + 26.0;
    labels.iter().enumerate().map(|(i, l)| Placed { x, y: lay.legend_y(i), anchor: "start", text: fit(l, lay.width - x - 4.0) }).collect()
}

/// A histogram with titled axes (`x_title` names the signal and its unit;
/// the y axis counts documents) and its thresholds (`marks`) drawn as
/// dashed lines and named in a legend below the chart.
pub fn histogram(class: &str, h: &Histogram, x_title: &str, marks: &[(f64, String)]) -> String {
    let lay = HIST;
    let (l, t, pw, ph) = (lay.left, lay.top, lay.plot_w(), lay.plot_h);
    let marks: Vec<&(f64, String)> = marks.iter().filter(|m| m.0.is_finite()).collect();
    let ht = lay.height(marks.len());
    let w = lay.width;
    let max = h.bins.iter().copied().max().unwrap_or(0).max(1) as f64;
    let bw = pw / h.bins.len().max(1) as f64;
    let x_at = |v: f64| h.frac(v).map(|f| l + f * pw);
    let mut s = String::new();
    let _ = write!(s, r#"<svg class="chart {}" role="img" width="{w}" height="{ht}" viewBox="0 0 {w} {ht}">"#, esc(class));
    axes(&mut s, l, t, pw, ph);
    for (i, c) in h.bins.iter().enumerate() {
        if *c == 0 {
            continue;
        }
        let bh = *c as f64 / max * ph;
        let _ = write!(
            s,
            // Filled by the page's CSS (`svg.hist rect`): a histogram's
            // rects are its bars.
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}"><title>{} to {}: {}</title></rect>"#,
            l + i as f64 * bw + 0.5,
            t + ph - bh,
            (bw - 1.0).max(0.5),
            num(h.edge(i)),
            num(h.edge(i + 1)),
            crate::html::int(*c)
        );
    }
    // x ticks: the ends first, then the middle (linear) or the powers of
    // ten (log); any that would overlap or leave the chart are left out.
    let mut cand = vec![
        Placed { x: l, y: t + ph + 14.0, anchor: "start", text: num(h.lo) },
        Placed { x: l + pw, y: t + ph + 14.0, anchor: "end", text: num(h.hi) },
    ];
    if h.scale.is_log() {
        let (a, b) = (if h.lo > 0.0 { h.lo.log10().ceil() as i32 } else { 0 }, h.hi.log10().floor() as i32);
        let step = ((b - a) / 6).max(1) as usize;
        for k in (a..=b).step_by(step) {
            let v = 10f64.powi(k);
            if let Some(x) = x_at(v) {
                cand.push(Placed { x, y: t + ph + 14.0, anchor: "middle", text: num(v) });
            }
        }
    } else {
        cand.push(Placed { x: l + pw / 2.0, y: t + ph + 14.0, anchor: "middle", text: num((h.lo + h.hi) / 2.0) });
    }
    for p in place_ticks(cand, w) {
        let _ = write!(
            s,
            r#"<line class="axis" x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}"/><text x="{x:.1}" y="{}" text-anchor="{}">{}</text>"#,
            t + ph,
            t + ph + 3.0,
            p.y,
            p.anchor,
            esc(&p.text),
            x = p.x
        );
    }
    let title = if h.scale.is_log() { format!("{x_title}, log scale") } else { x_title.to_string() };
    let _ = write!(
        s,
        r#"<text class="xtitle" x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
        l + pw / 2.0,
        lay.title_y(),
        esc(&fit(&title, pw))
    );
    // y: 0 and the largest bin, and the title.
    let _ = write!(s, r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#, l - 4.0, t + 8.0, crate::html::int(max as u64));
    let _ = write!(s, r#"<text x="{}" y="{}" text-anchor="end">0</text>"#, l - 4.0, t + ph);
    let _ = write!(
        s,
        r#"<text class="ytitle" x="{}" y="{}" text-anchor="middle" transform="rotate(-90 {} {})">documents</text>"#,
        12.0,
        t + ph / 2.0,
        12.0,
        t + ph / 2.0
    );
    let _ = write!(s, r#"<text x="{}" y="{}" text-anchor="end" class="small">n = {}</text>"#, l + pw, t - 6.0, crate::html::int(h.n));
    // Thresholds: a dashed line each (an arrow at the edge when off the
    // axis), named in the legend.
    let mut labels = Vec::new();
    for (i, (v, label)) in marks.iter().enumerate() {
        let (color, dash) = MARK_STYLES[i % MARK_STYLES.len()];
        let within = x_at(*v).filter(|x| *x >= l - 0.01 && *x <= l + pw + 0.01);
        match within {
            Some(x) => {
                let _ = write!(
                    s,
                    r#"<line class="mark" x1="{x:.1}" y1="{t}" x2="{x:.1}" y2="{}" stroke="{color}" stroke-dasharray="{dash}"><title>{}</title></line>"#,
                    t + ph,
                    esc(label)
                );
                labels.push(label.clone());
            }
            None => {
                let right = h.frac(*v).is_some_and(|f| f > 1.0);
                let (edge, dx) = if right { (l + pw, -7.0) } else { (l, 7.0) };
                let _ = write!(
                    s,
                    r#"<path class="offmark" d="M{:.1},{} L{edge:.1},{} L{:.1},{}" stroke="{color}"><title>{}</title></path>"#,
                    edge + dx,
                    t + 2.0,
                    t + 6.0,
                    edge + dx,
                    t + 10.0,
                    esc(label)
                );
                labels.push(format!("{label} (off scale, {})", if right { "right →" } else { "← left" }));
            }
        }
    }
    for (i, (p, full)) in legend_rows(&lay, &labels).into_iter().zip(&labels).enumerate() {
        let (color, dash) = MARK_STYLES[i % MARK_STYLES.len()];
        let y = p.y - 4.0;
        let _ = write!(
            s,
            r#"<line class="mark" x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{color}" stroke-dasharray="{dash}"/><text class="marklbl" x="{}" y="{}">{}<title>{}</title></text>"#,
            l,
            l + 20.0,
            p.x,
            p.y,
            esc(&p.text),
            esc(full)
        );
    }
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
    axes(&mut s, l, t, pw, ph);
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

/// The x and y axis lines of a plot area `pw` × `ph` whose top-left corner is (`l`, `t`).
fn axes(s: &mut String, l: f64, t: f64, pw: f64, ph: f64) {
    let _ = write!(
        s,
        r#"<line class="axis" x1="{l}" y1="{}" x2="{}" y2="{}"/><line class="axis" x1="{l}" y1="{t}" x2="{l}" y2="{}"/>"#,
        t + ph,
        l + pw,
        t + ph,
        t + ph
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_bins_cover_range_and_marks() {
        let h = Histogram::of(&[0.0, 0.5, 1.0, f64::NAN], 4, &[2.0]);
        assert_eq!(h.scale, Scale::Linear);
        assert_eq!(h.lo, 0.0);
        assert_eq!(h.hi, 2.0);
        assert_eq!(h.n, 3);
        assert_eq!(h.bins, vec![1, 1, 1, 0]);
        let svg = histogram("hist", &h, "len (chars)", &[(2.0, "max <x>".into())]);
        assert!(svg.contains("max &lt;x&gt;"), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 3);
        // a threshold far from the data is named, not drawn to scale
        let h = Histogram::of(&[0.0, 1.0], 4, &[100.0]);
        assert_eq!(h.hi, 1.0);
        let svg = histogram("hist", &h, "x", &[(100.0, "cap".into())]);
        assert!(svg.contains("cap (off scale, right →)") && svg.contains("class=\"offmark\""), "{svg}");
    }

    /// Heavy-tailed over 2+ orders of magnitude: log (log(1 + x) for a
    /// count with zeros). A bounded fraction, a narrow range, negative
    /// values or a symmetric spread: linear. The order of the values does
    /// not matter.
    #[test]
    fn log_bins_are_decided_by_the_range() {
        // Document lengths: most a few hundred characters, a long tail.
        let mut chars: Vec<f64> = (0..1000).map(|i| 200.0 + (i % 50) as f64 * 20.0).collect();
        chars.extend([50_000.0, 120_000.0, 200_000.0]);
        assert_eq!(scale_for(&chars), Scale::Log);
        let mut rev = chars.clone();
        rev.reverse();
        assert_eq!(scale_for(&rev), Scale::Log);
        let h = Histogram::of(&chars, 40, &[200.0]);
        assert_eq!(h.scale, Scale::Log);
        assert_eq!((h.lo, h.hi, h.n), (200.0, 200_000.0, 1003));
        // equal-width bins in log10: the edges are a geometric series
        let r1 = h.edge(1) / h.edge(0);
        let r2 = h.edge(21) / h.edge(20);
        assert!((r1 - r2).abs() < 1e-9 && r1 > 1.1, "{r1} {r2}");
        // with a log axis the documents spread over many bins
        assert!(h.bins.iter().filter(|c| **c > 0).count() > 10, "{:?}", h.bins);
        let svg = histogram("hist", &h, "chars (characters)", &[]);
        assert!(svg.contains("chars (characters), log scale"), "{svg}");
        assert!(svg.contains(">1,000<") && svg.contains(">10,000<"), "decade ticks: {svg}");

        // a count that is often 0 with a long tail: log(1 + x), 0 at the left
        let mut sentences: Vec<f64> = (0..1000).map(|i| (i % 12) as f64).collect();
        sentences.extend([150.0, 481.0]);
        assert_eq!(scale_for(&sentences), Scale::Log1p);
        let h = Histogram::of(&sentences, 40, &[5.0]);
        assert_eq!((h.lo, h.hi, h.scale), (0.0, 481.0, Scale::Log1p));
        assert!(h.edge(0) == 0.0 && (h.edge(40) - 481.0).abs() < 1e-9);
        assert!(h.bins.iter().filter(|c| **c > 0).count() >= 10, "{:?}", h.bins);
        let svg = histogram("hist", &h, "c4_sentences (sentences)", &[(5.0, "c4.min_num_sentences = 5".into())]);
        assert!(svg.contains(">0<") && svg.contains(">10<") && svg.contains(">100<") && svg.contains(", log scale"), "{svg}");

        // a score near 1 with a few tiny values: 100x span but not heavy-tailed
        let mut score: Vec<f64> = (0..1000).map(|i| 0.8 + (i % 20) as f64 * 0.01).collect();
        score.push(0.005);
        assert_eq!(scale_for(&score), Scale::Linear);
        // a fraction with zeros never reaches 100: linear
        let frac: Vec<f64> = (0..1000).map(|i| if i % 2 == 0 { 0.0 } else { 0.001 * (i % 7) as f64 }).collect();
        assert_eq!(scale_for(&frac), Scale::Linear);
        // a negative value: linear
        let mut neg = chars.clone();
        neg.push(-1.0);
        assert_eq!(scale_for(&neg), Scale::Linear);
        // one order of magnitude only
        assert_eq!(scale_for(&[10.0, 11.0, 12.0, 500.0]), Scale::Linear);
        assert!(scale_for(&[]) == Scale::Linear && scale_for(&[5.0]) == Scale::Linear);
        // a threshold a log axis cannot show (<= 0) is off scale, not a panic
        let h = Histogram::of(&chars, 40, &[0.0, -3.0]);
        assert!(h.scale == Scale::Log && h.lo == 200.0);
        let svg = histogram("hist", &h, "chars", &[(0.0, "zero".into())]);
        assert!(svg.contains("zero (off scale, ← left)"), "{svg}");
    }

    /// Every `<text>` of an SVG (but the rotated y title) as (x, y, anchor,
    /// content).
    fn texts(svg: &str) -> Vec<Placed> {
        let mut out = Vec::new();
        for part in svg.split("<text ").skip(1) {
            if part.contains("rotate(") && part.find("rotate(") < part.find('>') {
                continue;
            }
            let attr = |k: &str| -> Option<String> {
                let head = &part[..part.find('>').unwrap()];
                let at = head.find(&format!(" {k}=\"")).or_else(|| head.starts_with(&format!("{k}=\"")).then_some(0))?;
                let rest = &head[at..];
                let q = rest.find('"').unwrap() + 1;
                Some(rest[q..q + rest[q..].find('"').unwrap()].to_string())
            };
            let body = &part[part.find('>').unwrap() + 1..];
            let content = body[..body.find('<').unwrap()].replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
            let anchor = match attr("text-anchor").as_deref() {
                Some("end") => "end",
                Some("middle") => "middle",
                _ => "start",
            };
            out.push(Placed { x: attr("x").unwrap().parse().unwrap(), y: attr("y").unwrap().parse().unwrap(), anchor, text: content });
        }
        out
    }

    /// Threshold labels never leave the chart and never overlap, however
    /// many, long or close together they are, on linear and log axes; nor
    /// do the tick labels.
    #[test]
    fn labels_stay_inside_and_apart() {
        let long = "a_very_long_stage_name_indeed.some_threshold_option_with_a_long_name = 123,456,789 <x>".to_string();
        let marks: Vec<(f64, String)> = vec![
            (0.30, "gopher.min_alpha = 0.3".into()),
            (0.31, "gopher.min_alpha_again = 0.31".into()),
            (0.32, long.clone()),
            (1e9, "cap = 1,000,000,000".into()),
            (-5.0, "floor = -5".into()),
            (0.5, "中文阶段名称很长很长很长很长很长很长很长很长很长很长很长很长很长.阈值 = 0.5".into()),
        ];
        let linear: Vec<f64> = (0..500).map(|i| i as f64 / 500.0).collect();
        let mut heavy: Vec<f64> = (0..500).map(|i| 1.0 + (i % 7) as f64).collect();
        heavy.push(123_456_789.0);
        for values in [linear, heavy] {
            let h = Histogram::of(&values, 40, &marks.iter().map(|m| m.0).collect::<Vec<_>>());
            let svg = histogram("hist", &h, "some_signal_with_a_long_name (characters per word)", &marks);
            let (w, ht) = (HIST.width, HIST.height(marks.len()));
            assert!(svg.contains(&format!("viewBox=\"0 0 {w} {ht}\"")), "{svg}");
            let ts = texts(&svg);
            assert!(ts.len() >= 6 + 4, "{ts:?}");
            for t in &ts {
                let (l, r) = t.span();
                assert!(l >= 0.0 && r <= w, "{t:?} leaves the chart (0..{w})");
                assert!(t.y > 8.0 && t.y <= ht, "{t:?} leaves the chart (height {ht})");
            }
            for (i, a) in ts.iter().enumerate() {
                for b in &ts[i + 1..] {
                    let ((al, ar), (bl, br)) = (a.span(), b.span());
                    let apart = (a.y - b.y).abs() >= 11.0 || ar <= bl || br <= al;
                    assert!(apart, "{a:?} and {b:?} overlap");
                }
            }
            // every threshold is in the legend, the cut ones whole in a <title>
            assert!(svg.contains(&esc(&long)), "{svg}");
            assert_eq!(svg.matches("class=\"marklbl\"").count(), marks.len());
        }
        // the pieces alone: legend rows fit, ticks that collide are left out
        let rows = legend_rows(&HIST, &[long.clone(), "x".into()]);
        assert!(rows.iter().all(|p| p.span().1 <= HIST.width - 4.0) && rows[0].text.ends_with('…'));
        assert!(rows[1].y - rows[0].y >= 14.0);
        let ticks = place_ticks(
            vec![
                Placed { x: 0.0, y: 0.0, anchor: "start", text: "0".into() },
                Placed { x: 10.0, y: 0.0, anchor: "middle", text: "12345".into() },
                Placed { x: 100.0, y: 0.0, anchor: "end", text: "100".into() },
                Placed { x: 101.0, y: 0.0, anchor: "start", text: "x".into() },
            ],
            100.0,
        );
        assert_eq!(ticks.iter().map(|t| t.text.as_str()).collect::<Vec<_>>(), ["0", "100"]);
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
