//! A URL/domain blocklist.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_pipeline::filter::{Filter, FilterConfig, Filtered, Mode, Signals};
use sluice_pipeline::{Document, Reason, Scratch};
use sluice_text::url::UrlSet;

fn d_key() -> String {
    "url".to_string()
}

/// Configuration of the `url_blocklist` filter. A blocklist entry is a
/// domain (`example.com` blocks it and every subdomain, `www.example.com`
/// and `a.b.example.com`) or an exact URL (anything with a `/`: scheme,
/// `www.`, case of the host, trailing `/` and `#fragment` are ignored when
/// comparing). Files hold one entry per line; blank lines and `#` comments
/// are skipped.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UrlBlocklistConfig {
    /// Blocklist files (read once, when the recipe is compiled; regular
    /// files of at most 256 MiB). Default: none.
    #[serde(default)]
    pub paths: Vec<PathBuf>,
    /// Entries given inline, in addition to the files. Default: none.
    #[serde(default)]
    pub entries: Vec<String>,
    /// Metadata key holding the document's URL. Default "url".
    #[serde(default = "d_key")]
    pub url_key: String,
    /// Drop documents without a URL (`url_missing`). Default false.
    #[serde(default)]
    pub drop_missing: bool,
    /// Only annotate: write `url_blocked` (0/1), drop nothing. Default false.
    #[serde(default)]
    pub annotate_only: bool,
}

impl Default for UrlBlocklistConfig {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("defaults deserialise")
    }
}

impl UrlBlocklistConfig {
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if self.paths.is_empty() && self.entries.is_empty() {
            e.push(("paths".into(), "give at least one blocklist file in `paths` or an entry in `entries`".into()));
        }
        for (i, p) in self.paths.iter().enumerate() {
            if let Some(m) = crate::option_file_problem(p) {
                e.push((format!("paths[{i}]"), format!("cannot read the blocklist file {m}")));
            }
        }
        e
    }

    /// Read the files and build the filter; errors name the file.
    pub fn build(&self) -> Result<Filtered<UrlBlocklist>, Vec<(String, String)>> {
        Ok(Filtered::single(self.blocklist()?, self.mode()))
    }

    /// The blocklist itself (what other stages check URLs against).
    pub fn blocklist(&self) -> Result<UrlBlocklist, Vec<(String, String)>> {
        let mut set = UrlSet::default();
        let mut errors = Vec::new();
        let mut add = |entry: &str| set.add(entry);
        for (i, p) in self.paths.iter().enumerate() {
            match crate::read_option_file(p) {
                Ok(s) => s.lines().for_each(&mut add),
                Err(err) => errors.push((format!("paths[{i}]"), format!("cannot read the blocklist file {err}"))),
            }
        }
        self.entries.iter().for_each(|e| add(e));
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(UrlBlocklist { cfg: self.clone(), set })
    }
}

/// The `url_blocklist` filter.
#[derive(Debug, Clone)]
pub struct UrlBlocklist {
    cfg: UrlBlocklistConfig,
    set: UrlSet,
}

impl UrlBlocklist {
    /// Why a URL is blocked, if it is ([`UrlSet::check`]).
    pub fn check(&self, url: &str) -> Option<&'static str> {
        self.set.check(url)
    }
}

impl FilterConfig for UrlBlocklistConfig {
    type Filter = UrlBlocklist;

    fn mode(&self) -> Mode {
        Mode::of(self.annotate_only, false)
    }

    fn check(&self) -> Vec<(String, String)> {
        self.validate()
    }

    fn filter(&self) -> Result<UrlBlocklist, Vec<(String, String)>> {
        self.blocklist()
    }
}

impl Filter for UrlBlocklist {
    fn evaluate(&self, doc: &mut Document, _: &mut Scratch, signals: &mut Signals) -> Option<Reason> {
        let Some(url) = doc.meta_str(&self.cfg.url_key) else {
            return self.cfg.drop_missing.then_some(Reason::Static("url_missing"));
        };
        let r = self.check(url);
        signals.push("url_blocked", r.is_some() as u8 as f64);
        r.map(Reason::Static)
    }
}

impl sluice_pipeline::component::Component for UrlBlocklistConfig {
    const KIND: &'static str = "url_blocklist";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Stage;
    const ABOUT: &'static str = "Drops documents whose `url` is on a blocklist of domains (with subdomains) and URLs read from files";

    fn validate(&self) -> Vec<(String, String)> {
        UrlBlocklistConfig::validate(self)
    }

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        UrlBlocklistConfig::build(self).map(sluice_pipeline::component::Built::doc).map_err(|e| sluice_pipeline::component::located(cx, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_pipeline::{DocStage, Verdict};
    use std::sync::Arc;

    fn doc(url: Option<&str>) -> Document {
        let mut d = Document::new("d", "text", Arc::from("s"));
        if let Some(u) = url {
            d.metadata.insert("url".into(), u.into());
        }
        d
    }

    #[test]
    fn domains_subdomains_and_exact_urls() {
        let dir = tempfile_dir();
        let path = dir.join("block.txt");
        std::fs::write(&path, "# comment\nbad.example\n\nhttps://good.org/private/page/\n").unwrap();
        let cfg = UrlBlocklistConfig { paths: vec![path], entries: vec!["*.spam.net".into()], ..Default::default() };
        assert!(cfg.validate().is_empty());
        let f = cfg.build().unwrap();
        let v = |u: &str| f.process(&mut doc(Some(u)));
        assert_eq!(v("http://bad.example/x"), Verdict::Drop("url_blocklist_domain".into()));
        assert_eq!(v("https://WWW.Bad.Example:8080/"), Verdict::Drop("url_blocklist_domain".into()));
        assert_eq!(v("https://a.b.bad.example/"), Verdict::Drop("url_blocklist_domain".into()));
        assert_eq!(v("https://notbad.example/"), Verdict::Keep);
        assert_eq!(v("https://bad.example.com/"), Verdict::Keep);
        assert_eq!(v("http://x.spam.net"), Verdict::Drop("url_blocklist_domain".into()));
        assert_eq!(v("http://www.good.org/private/page#top"), Verdict::Drop("url_blocklist_url".into()));
        assert_eq!(v("http://good.org/private/page/other"), Verdict::Keep);
        assert_eq!(v("http://good.org/"), Verdict::Keep);
        assert_eq!(f.process(&mut doc(None)), Verdict::Keep);
        let strict = UrlBlocklistConfig { entries: vec!["x.y".into()], drop_missing: true, ..Default::default() }.build().unwrap();
        assert_eq!(strict.process(&mut doc(None)), Verdict::Drop("url_missing".into()));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn missing_files_are_config_errors() {
        let cfg = UrlBlocklistConfig { paths: vec!["/nonexistent/block.txt".into()], ..Default::default() };
        assert_eq!(cfg.validate().len(), 1);
        assert!(cfg.build().is_err());
        assert_eq!(UrlBlocklistConfig::default().validate().len(), 1);
    }

    /// Issue 21, hole 8: files named by options are read with a limit;
    /// `/dev/zero` (or a link to it) fails at once, naming the file.
    #[test]
    fn devices_are_refused_at_once() {
        let t0 = std::time::Instant::now();
        let cfg = UrlBlocklistConfig { paths: vec!["/dev/zero".into()], ..Default::default() };
        let e = cfg.validate();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, "paths[0]");
        assert!(e[0].1.contains("/dev/zero: not a regular file"), "{e:?}");
        let e = cfg.build().unwrap_err();
        assert!(e[0].1.contains("/dev/zero") && e[0].1.contains("not a regular file"), "{e:?}");
        assert!(t0.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn annotate_only() {
        let f = UrlBlocklistConfig { entries: vec!["x.y".into()], annotate_only: true, ..Default::default() }.build().unwrap();
        let mut d = doc(Some("http://x.y/"));
        assert_eq!(f.process(&mut d), Verdict::Keep);
        assert_eq!(d.attributes["url_blocked"], 1.0);
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("sluice-quality-url-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
