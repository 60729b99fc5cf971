//! `${VAR:-default}` expansion in recipe strings.
//!
//! Supported forms: `$VAR`, `${VAR}`, `${VAR:-default}` (the default is
//! used when VAR is unset *or empty*, as in POSIX shells, and is itself
//! expanded), and `$$` for a literal dollar. An unset variable without a
//! default is an error, because silently expanding it to "" would turn
//! `${DATA}/x` into `/x`.

/// Expand `s` with variables looked up by `lookup`.
pub fn expand(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    expand_depth(s, lookup, 0)
}

/// Expand with the process environment.
pub fn expand_env(s: &str) -> Result<String, String> {
    expand(s, &|k| std::env::var(k).ok())
}

const MAX_DEPTH: usize = 8;

fn expand_depth(s: &str, lookup: &dyn Fn(&str) -> Option<String>, depth: usize) -> Result<String, String> {
    if depth > MAX_DEPTH {
        return Err("defaults nested too deeply".into());
    }
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            // copy up to the next '$' (UTF-8 safe: '$' is ASCII)
            let next = s[i..].find('$').map_or(s.len(), |j| i + j);
            out.push_str(&s[i..next]);
            i = next;
            continue;
        }
        // b[i] == '$'
        match b.get(i + 1) {
            Some(b'$') => {
                out.push('$');
                i += 2;
            }
            Some(b'{') => {
                let close = find_close(s, i + 2).ok_or_else(|| format!("unclosed `${{` at character {i}"))?;
                let inner = &s[i + 2..close];
                let (name, default) = match inner.find(":-") {
                    Some(p) => (&inner[..p], Some(&inner[p + 2..])),
                    None => (inner, None),
                };
                check_name(name)?;
                match (lookup(name).filter(|v| !v.is_empty()), default) {
                    (Some(v), _) => out.push_str(&v),
                    (None, Some(d)) => out.push_str(&expand_depth(d, lookup, depth + 1)?),
                    (None, None) => {
                        return Err(format!("environment variable `{name}` is not set (write `${{{name}:-default}}` to give a default)"))
                    }
                }
                i = close + 1;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                let start = i + 1;
                let mut end = start;
                while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
                    end += 1;
                }
                let name = &s[start..end];
                match lookup(name).filter(|v| !v.is_empty()) {
                    Some(v) => out.push_str(&v),
                    None => return Err(format!("environment variable `{name}` is not set")),
                }
                i = end;
            }
            _ => {
                // a lone '$' (e.g. "costs $5") stays as it is
                out.push('$');
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Index of the `}` closing a `${` whose body starts at `from`, allowing
/// nested `${...}` in the default.
fn find_close(s: &str, from: usize) -> Option<usize> {
    let b = s.as_bytes();
    let mut depth = 0usize;
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b'$' if b.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 2;
                continue;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') && !name.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(format!("`{name}` is not a valid environment variable name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "HOME" => Some("/home/u".into()),
            "EMPTY" => Some(String::new()),
            "N" => Some("3".into()),
            _ => None,
        }
    }

    fn x(s: &str) -> Result<String, String> {
        expand(s, &env)
    }

    #[test]
    fn forms() {
        assert_eq!(x("$HOME/a").unwrap(), "/home/u/a");
        assert_eq!(x("${HOME}/a").unwrap(), "/home/u/a");
        assert_eq!(x("${MISSING:-/d}/a").unwrap(), "/d/a");
        assert_eq!(x("${EMPTY:-dflt}").unwrap(), "dflt");
        assert_eq!(x("${N:-9}").unwrap(), "3");
        assert_eq!(x("$$HOME").unwrap(), "$HOME");
        assert_eq!(x("costs $5").unwrap(), "costs $5");
        assert_eq!(x("plain").unwrap(), "plain");
        assert_eq!(x("中文$HOME").unwrap(), "中文/home/u");
    }

    #[test]
    fn nested_default_is_expanded() {
        assert_eq!(x("${CARGO_HOME:-$HOME/.cargo}/registry/src").unwrap(), "/home/u/.cargo/registry/src");
        assert_eq!(x("${A:-${B:-${HOME}}}").unwrap(), "/home/u");
    }

    #[test]
    fn errors() {
        assert!(x("${MISSING}").unwrap_err().contains("MISSING"));
        assert!(x("$MISSING").unwrap_err().contains("not set"));
        assert!(x("${HOME").unwrap_err().contains("unclosed"));
        assert!(x("${1X:-a}").unwrap_err().contains("not a valid"));
    }
}
