//! HTML escaping and number formatting. Every piece of text that did not
//! come from this crate (document text, URLs, ids, node, source, reason and
//! attribute names, file names) goes through [`esc`] before it reaches the
//! page, in text and in attribute values alike.
//!
//! Bidirectional text is neutralised twice: [`esc`] shows every bidi
//! control character as visible text (`\u{202E}`), so a planted
//! right-to-left override cannot reorder what the reader sees, and the
//! page's style isolates every cell, heading, list item and snippet
//! (`unicode-bidi: isolate`), so right-to-left *text* stays inside its box.

use std::fmt::Write as _;

/// The Unicode bidirectional formatting characters: embeddings and
/// overrides (U+202A to U+202E), isolates (U+2066 to U+2069) and marks
/// (U+200E, U+200F, U+061C).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Escape for HTML text and double- or single-quoted attribute values.
/// Control characters other than tab and newline are shown as U+FFFD so a
/// hostile document cannot smuggle anything the parser treats specially;
/// bidi controls are shown as `\u{XXXX}`, so they cannot reorder the page.
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
            c if is_bidi_control(c) => {
                let _ = write!(out, "\\u{{{:04X}}}", c as u32);
            }
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
    fn bidi_controls_are_shown_not_obeyed() {
        // "exe.txt" shown as "txt.exe" by a right-to-left override.
        assert_eq!(esc("invoice\u{202E}txt.exe"), r"invoice\u{202E}txt.exe");
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{200E}',
            '\u{200F}', '\u{061C}',
        ] {
            let e = esc(&format!("a{c}b"));
            assert!(!e.contains(c), "{c:?} survived: {e:?}");
            assert_eq!(e, format!("a\\u{{{:04X}}}b", c as u32));
        }
        // Right-to-left text itself is kept.
        assert_eq!(esc("שלום مرحبا"), "שלום مرحبا");
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
