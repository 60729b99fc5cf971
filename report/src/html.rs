//! HTML escaping and number formatting. Every piece of text that did not
//! come from this crate (document text, URLs, ids, node, source, reason and
//! attribute names, file names) goes through [`esc`] before it reaches the
//! page, in text and in attribute values alike.

/// Escape for HTML text and double- or single-quoted attribute values.
/// Control characters other than tab and newline are shown as U+FFFD so a
/// hostile document cannot smuggle anything the parser treats specially.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The first `max` characters of `s`, with an ellipsis when cut.
pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// `1234567` -> `1,234,567`.
pub fn int(n: u64) -> String {
    sluice_pipeline::stats::group(n)
}

/// Bytes in the largest fitting unit.
pub fn bytes(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// A number with about four significant digits, no exponent for common sizes.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v == v.trunc() && v.abs() < 1e15 {
        return int_signed(v as i64);
    }
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.2}")
    } else if a >= 0.01 {
        format!("{v:.3}")
    } else {
        format!("{v:.2e}")
    }
}

fn int_signed(v: i64) -> String {
    if v < 0 {
        format!("-{}", int(v.unsigned_abs()))
    } else {
        int(v as u64)
    }
}

/// `part / whole` as a percentage, `-` when `whole` is 0.
pub fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.1}%", 100.0 * part as f64 / whole as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<script>document.title='pwned'</script><img src=x onerror="alert(1)">&"#),
            "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;"
        );
        assert_eq!(esc("a\u{0}b\u{1b}c\td"), "a\u{FFFD}b\u{FFFD}c\td");
        assert_eq!(esc("中文 ok"), "中文 ok");
    }

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("中文", 5), "中文");
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(num(3.0), "3");
        assert_eq!(num(0.65), "0.650");
        assert_eq!(num(12345.6), "12346");
        assert_eq!(num(-2.0), "-2");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1_500_000), "1.5 MB");
        assert_eq!(pct(1, 4), "25.0%");
        assert_eq!(pct(1, 0), "-");
    }
}
