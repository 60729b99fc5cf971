//! URL and domain matching for blocklists.
//!
//! An entry is a domain (`example.com` matches it and every subdomain,
//! `www.example.com` and `a.b.example.com`; a leading `*.` or `.` is
//! ignored) or an exact URL (anything with a `/`). Scheme, user info,
//! `www.`, the case of the host, a trailing `/` or `.` and a `#fragment`
//! are ignored when comparing.
//!
//! ```
//! use sluice_text::url::UrlSet;
//!
//! let mut set = UrlSet::default();
//! for entry in ["# a comment", "bad.example", "https://good.org/private/"] {
//!     set.add(entry);
//! }
//! assert_eq!(set.check("https://WWW.a.Bad.Example:8080/x"), Some("url_blocklist_domain"));
//! assert_eq!(set.check("http://good.org/private#top"), Some("url_blocklist_url"));
//! assert_eq!(set.check("http://good.org/"), None);
//! ```

use std::collections::HashSet;

/// A set of blocked domains and URLs.
#[derive(Debug, Clone, Default)]
pub struct UrlSet {
    domains: HashSet<String>,
    urls: HashSet<String>,
}

impl UrlSet {
    /// Add one entry (a line of a blocklist file): blank lines and `#`
    /// comments are skipped, surrounding whitespace is trimmed.
    pub fn add(&mut self, entry: &str) {
        let e = entry.trim();
        if e.is_empty() || e.starts_with('#') {
            return;
        }
        let n = normalize_url(e);
        if n.contains('/') {
            self.urls.insert(n);
        } else {
            self.domains.insert(n.trim_start_matches("*.").trim_start_matches('.').to_string());
        }
    }

    /// Why a URL is blocked, if it is: `url_blocklist_url` (an exact URL
    /// entry) or `url_blocklist_domain` (its host or a parent domain).
    pub fn check(&self, url: &str) -> Option<&'static str> {
        let n = normalize_url(url);
        if self.urls.contains(&n) {
            return Some("url_blocklist_url");
        }
        let mut host = host_of(&n);
        loop {
            if self.domains.contains(host) {
                return Some("url_blocklist_domain");
            }
            match host.find('.') {
                Some(i) => host = &host[i + 1..],
                None => return None,
            }
        }
    }
}

/// `HTTPS://WWW.Example.com:443/a/b/#x` -> `example.com:443/a/b`.
pub fn normalize_url(u: &str) -> String {
    let u = u.trim();
    let rest = match u.find("://") {
        Some(i) => &u[i + 3..],
        None => u.strip_prefix("//").unwrap_or(u),
    };
    let rest = rest.split('#').next().unwrap_or(rest);
    let (host, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let host = host.rsplit('@').next().unwrap_or(host).to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host).trim_end_matches('.');
    let path = path.trim_end_matches('/');
    format!("{host}{path}")
}

/// The host of a normalized URL, without port.
fn host_of(n: &str) -> &str {
    let h = n.split(['/', '?']).next().unwrap_or(n);
    h.split(':').next().unwrap_or(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalised() {
        assert_eq!(normalize_url("HTTPS://WWW.Example.com:443/a/b/#x"), "example.com:443/a/b");
        assert_eq!(normalize_url("//user@Host.Org./p?q=1"), "host.org/p?q=1");
        assert_eq!(normalize_url("  example.com  "), "example.com");
    }

    #[test]
    fn domains_subdomains_and_exact_urls() {
        let mut set = UrlSet::default();
        for e in ["# comment", "", "bad.example", "https://good.org/private/page/", "*.spam.net", ".dot.org"] {
            set.add(e);
        }
        assert_eq!(set.check("http://bad.example/x"), Some("url_blocklist_domain"));
        assert_eq!(set.check("https://a.b.bad.example/"), Some("url_blocklist_domain"));
        assert_eq!(set.check("https://notbad.example/"), None);
        assert_eq!(set.check("https://bad.example.com/"), None);
        assert_eq!(set.check("http://x.spam.net"), Some("url_blocklist_domain"));
        assert_eq!(set.check("http://dot.org"), Some("url_blocklist_domain"));
        assert_eq!(set.check("http://www.good.org/private/page#top"), Some("url_blocklist_url"));
        assert_eq!(set.check("http://good.org/private/page/other"), None);
        assert_eq!(set.check(""), None);
    }
}
