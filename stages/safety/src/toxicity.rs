//! Toxicity/NSFW filter: the fraction of flagged words (per-language word
//! lists) and an adult URL/domain blocklist.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use aho_corasick::{AhoCorasick, MatchKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_pipeline::filter::{Filter, FilterConfig, Filtered, Mode, Signals};
use sluice_pipeline::{Document, Reason, Scratch};
use sluice_text::url::UrlSet;
use sluice_text::{split_words, Segmenter, LDNOOBW_EN};

const ZH_LIST: &str = include_str!("../data/zh_badwords.txt");
const ADULT_DOMAINS: &str = include_str!("../data/adult_domains.txt");

fn d_fraction() -> f64 {
    0.005
}
fn d_min_flagged() -> usize {
    2
}
fn d_en() -> String {
    "en".into()
}
fn d_url_key() -> String {
    "url".into()
}
fn d_true() -> bool {
    true
}
fn d_url_words() -> Vec<String> {
    [
        "porn", "porno", "xxx", "xvideos", "hentai", "nsfw", "sexcam", "camgirl", "camgirls", "milf", "pussy", "fetish", "bdsm", "escort",
        "escorts",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Configuration of the `toxicity` stage. A document is dropped
/// (`toxicity_words`) when at least `min_flagged` of its words are on its
/// language's list *and* they make more than `max_flagged_fraction` of its
/// words; or when its URL is on the adult blocklist (`toxicity_url_domain`,
/// `toxicity_url_url`) or has a banned word in its host (`toxicity_url_word`).
/// Lists: English is LDNOOBW (shared with `c4_badwords`), Chinese is
/// LDNOOBW's `zh` list without its ambiguous entries (see `data/README.md`);
/// `word_lists` adds lists for other languages. Languages without a list
/// are only URL-checked.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToxicityConfig {
    /// Drop when flagged words / words exceeds this. Default 0.005 (one
    /// word in 200).
    #[serde(default = "d_fraction")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_flagged_fraction: f64,
    /// ... and at least this many words are flagged. Default 2.
    #[serde(default = "d_min_flagged")]
    #[schemars(range(min = 1, max = 1_000_000_000))]
    pub min_flagged: usize,
    /// Language assumed for documents without `language` metadata. Default "en".
    #[serde(default = "d_en")]
    pub default_language: String,
    /// Extra word-list files by language code (one entry per line, `#`
    /// comments), added to the embedded list of that language if any.
    /// Chinese and Japanese entries match as substrings, others on word
    /// boundaries. Default: none.
    #[serde(default)]
    pub word_lists: BTreeMap<String, PathBuf>,
    /// Extra entries by language code. Default: none.
    #[serde(default)]
    pub extra_words: BTreeMap<String, Vec<String>>,
    /// Check the URL against the embedded adult-domain list (sites and the
    /// `.xxx`, `.porn`, `.sex`, `.adult` TLDs). Default true.
    #[serde(default = "d_true")]
    pub adult_domains: bool,
    /// More blocklist files (domains with subdomains, or URLs), in the
    /// `url_blocklist` stage's format. Default: none.
    #[serde(default)]
    pub blocklist_paths: Vec<PathBuf>,
    /// Words that flag a URL when they appear as a whole token of its host
    /// (split on `.` and `-`): `free-porn-videos.net`, not `essex.ac.uk`.
    /// Default: porn, porno, xxx, xvideos, hentai, nsfw, sexcam, camgirl(s),
    /// milf, pussy, fetish, bdsm, escort(s).
    #[serde(default = "d_url_words")]
    pub url_words: Vec<String>,
    /// Metadata key holding the document's URL. Default "url".
    #[serde(default = "d_url_key")]
    pub url_key: String,
    /// Only annotate: write `toxicity_flagged`, `toxicity_fraction` and
    /// `toxicity_url` (0/1), drop nothing. Default false.
    #[serde(default)]
    pub annotate_only: bool,
}

impl Default for ToxicityConfig {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("defaults deserialise")
    }
}

/// Whether a language's entries match as substrings (no spaces between words).
fn substring_language(lang: &str) -> bool {
    matches!(lang.split(['-', '_']).next().unwrap_or(lang), "zh" | "ja" | "cmn" | "yue" | "wuu" | "th")
}

fn base_lang(lang: &str) -> &str {
    lang.split(['-', '_']).next().unwrap_or(lang)
}

fn entries(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Lower-case alphanumeric tokens joined by single spaces: `G-Spot` -> `g spot`.
fn token_key(s: &str) -> String {
    s.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ")
}

/// A fast, deterministic hasher for short word keys (FxHash's
/// multiply-rotate; the keys are words, not attacker-chosen table sizes).
#[derive(Default, Clone, Copy)]
struct WordHasher(u64);

impl std::hash::Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type WordSet = HashSet<String, std::hash::BuildHasherDefault<WordHasher>>;

/// One language's list.
enum WordList {
    /// Single words in `single`; multi-word entries in `multi`, tried only
    /// where a token is the first word of one (`multi_first`), longest first.
    Tokens { single: WordSet, multi_first: WordSet, multi: WordSet, max_len: usize },
    /// Substrings, leftmost-longest, non-overlapping.
    Substrings(AhoCorasick),
}

impl WordList {
    fn build(lang: &str, words: Vec<String>) -> Result<WordList, String> {
        if substring_language(lang) {
            let words: Vec<String> = words.into_iter().map(|w| w.to_lowercase()).collect();
            // A huge list can exceed the automaton's size limits: an error, not a panic.
            let ac = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&words)
                .map_err(|e| format!("the `{lang}` word list ({} entries) cannot be compiled: {e}", words.len()))?;
            Ok(WordList::Substrings(ac))
        } else {
            let (mut single, mut multi_first, mut multi) = (WordSet::default(), WordSet::default(), WordSet::default());
            let mut max_len = 1;
            for k in words.iter().map(|w| token_key(w)).filter(|k| !k.is_empty()) {
                let n = k.split(' ').count();
                if n == 1 {
                    single.insert(k);
                } else {
                    max_len = max_len.max(n);
                    multi_first.insert(k.split(' ').next().expect("nonempty").to_string());
                    multi.insert(k);
                }
            }
            Ok(WordList::Tokens { single, multi_first, multi, max_len })
        }
    }

    /// Occurrences of list entries in `text`, and its number of words when
    /// the list counted them (letter/digit runs, for word-boundary lists).
    fn count(&self, text: &str) -> (usize, Option<usize>) {
        match self {
            WordList::Substrings(ac) => {
                let lower = text.to_lowercase();
                (ac.find_iter(&lower).count(), None)
            }
            WordList::Tokens { single, multi_first, multi, max_len } => {
                // the text as lower-case tokens joined by single spaces, so
                // a multi-word key is a slice of it
                let mut norm = String::with_capacity(text.len());
                let mut toks: Vec<(usize, usize)> = Vec::with_capacity(text.len() / 5);
                let mut start: Option<usize> = None;
                for c in text.chars() {
                    let word = if c.is_ascii() {
                        c.is_ascii_alphanumeric()
                    } else {
                        // CJK and kana without the slow table search
                        matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF) || c.is_alphanumeric()
                    };
                    if word {
                        if start.is_none() {
                            if !norm.is_empty() {
                                norm.push(' ');
                            }
                            start = Some(norm.len());
                        }
                        if c.is_ascii() {
                            norm.push(c.to_ascii_lowercase());
                        } else {
                            norm.extend(c.to_lowercase());
                        }
                    } else if let Some(st) = start.take() {
                        toks.push((st, norm.len()));
                    }
                }
                if let Some(st) = start {
                    toks.push((st, norm.len()));
                }
                let mut n = 0;
                let mut i = 0;
                while i < toks.len() {
                    let mut hit = 0;
                    let first = &norm[toks[i].0..toks[i].1];
                    if multi_first.contains(first) {
                        for k in 1..*max_len {
                            if i + k >= toks.len() {
                                break;
                            }
                            if multi.contains(&norm[toks[i].0..toks[i + k].1]) {
                                hit = k + 1;
                            }
                        }
                    }
                    if hit == 0 && single.contains(first) {
                        hit = 1;
                    }
                    if hit > 0 {
                        n += 1;
                        i += hit;
                    } else {
                        i += 1;
                    }
                }
                (n, Some(toks.len()))
            }
        }
    }
}

/// The `toxicity` stage.
pub struct Toxicity {
    cfg: ToxicityConfig,
    lists: BTreeMap<String, WordList>,
    blocklist: Option<UrlSet>,
    url_words: HashSet<String>,
}

impl ToxicityConfig {
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if !(0.0..=1.0).contains(&self.max_flagged_fraction) {
            e.push(("max_flagged_fraction".into(), format!("must be between 0 and 1, got {}", self.max_flagged_fraction)));
        }
        if self.min_flagged == 0 {
            e.push(("min_flagged".into(), "must be at least 1".into()));
        }
        for (lang, p) in &self.word_lists {
            if let Some(m) = sluice_text::option_file_problem(p) {
                e.push((format!("word_lists.{lang}"), format!("cannot read the word list {m}")));
            }
        }
        for (i, p) in self.blocklist_paths.iter().enumerate() {
            if let Some(m) = sluice_text::option_file_problem(p) {
                e.push((format!("blocklist_paths[{i}]"), format!("cannot read the blocklist file {m}")));
            }
        }
        e
    }

    /// Read the files and build the stage; errors name the file.
    pub fn build(&self) -> Result<Filtered<Toxicity>, Vec<(String, String)>> {
        Ok(Filtered::single(self.toxicity()?, self.mode()))
    }

    /// The scorer itself.
    pub fn toxicity(&self) -> Result<Toxicity, Vec<(String, String)>> {
        let mut words: BTreeMap<String, Vec<String>> = BTreeMap::new();
        words.insert("en".into(), entries(LDNOOBW_EN).map(String::from).collect());
        words.insert("zh".into(), entries(ZH_LIST).map(String::from).collect());
        let mut errors = Vec::new();
        for (lang, p) in &self.word_lists {
            match sluice_text::read_option_file(p) {
                Ok(s) => words.entry(base_lang(lang).to_string()).or_default().extend(entries(&s).map(String::from)),
                Err(err) => errors.push((format!("word_lists.{lang}"), format!("cannot read the word list {err}"))),
            }
        }
        for (lang, ws) in &self.extra_words {
            words.entry(base_lang(lang).to_string()).or_default().extend(ws.iter().map(|w| w.trim().to_string()).filter(|w| !w.is_empty()));
        }
        let mut lists = BTreeMap::new();
        for (l, ws) in words {
            match WordList::build(&l, ws) {
                Ok(wl) => {
                    lists.insert(l, wl);
                }
                Err(m) => errors.push((format!("word_lists.{l}"), m)),
            }
        }
        let blocklist = if self.adult_domains || !self.blocklist_paths.is_empty() {
            let mut set = UrlSet::default();
            for (i, p) in self.blocklist_paths.iter().enumerate() {
                match sluice_text::read_option_file(p) {
                    Ok(s) => s.lines().for_each(|l| set.add(l)),
                    Err(err) => errors.push((format!("blocklist_paths[{i}]"), format!("cannot read the blocklist file {err}"))),
                }
            }
            if self.adult_domains {
                entries(ADULT_DOMAINS).for_each(|e| set.add(e));
            }
            Some(set)
        } else {
            None
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let url_words = self.url_words.iter().map(|w| w.to_lowercase()).collect();
        Ok(Toxicity { cfg: self.clone(), lists, blocklist, url_words })
    }
}

/// What the stage measured on one document.
#[derive(Debug, Clone, PartialEq)]
pub struct ToxicityScore {
    pub flagged: usize,
    pub words: usize,
    /// Why the URL is blocked, if it is.
    pub url: Option<&'static str>,
    /// The document's language has a list.
    pub has_list: bool,
}

impl Toxicity {
    pub fn score(&self, text: &str, lang: Option<&str>, url: Option<&str>) -> ToxicityScore {
        let lang = lang.unwrap_or(&self.cfg.default_language);
        let list = self.lists.get(base_lang(lang));
        let (flagged, words) = match list {
            Some(l) => {
                let (flagged, counted) = l.count(text);
                let words = match counted {
                    _ if flagged == 0 => 0,
                    Some(w) => w,
                    // no spaces between words: jieba (Chinese) or script runs
                    None => split_words(text, Segmenter::for_language(Some(lang)))
                        .iter()
                        .filter(|w| w.chars().any(char::is_alphanumeric))
                        .count(),
                };
                (flagged, words)
            }
            None => (0, 0),
        };
        let url = url.and_then(|u| self.check_url(u));
        ToxicityScore { flagged, words, url, has_list: list.is_some() }
    }

    fn check_url(&self, url: &str) -> Option<&'static str> {
        if let Some(r) = self.blocklist.as_ref().and_then(|b| b.check(url)) {
            return Some(if r == "url_blocklist_url" { "toxicity_url_url" } else { "toxicity_url_domain" });
        }
        if self.url_words.is_empty() {
            return None;
        }
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
        let host = host.rsplit('@').next().unwrap_or(host).split(':').next().unwrap_or(host).to_ascii_lowercase();
        host.split(['.', '-']).any(|t| self.url_words.contains(t)).then_some("toxicity_url_word")
    }

    fn is_toxic(&self, s: &ToxicityScore) -> bool {
        s.flagged >= self.cfg.min_flagged && s.words > 0 && s.flagged as f64 / s.words as f64 > self.cfg.max_flagged_fraction
    }
}

impl FilterConfig for ToxicityConfig {
    type Filter = Toxicity;

    fn mode(&self) -> Mode {
        Mode::of(self.annotate_only, false)
    }

    fn check(&self) -> Vec<(String, String)> {
        self.validate()
    }

    fn filter(&self) -> Result<Toxicity, Vec<(String, String)>> {
        self.toxicity()
    }
}

impl Filter for Toxicity {
    fn evaluate(&self, doc: &mut Document, _: &mut Scratch, signals: &mut Signals) -> Option<Reason> {
        let s = self.score(&doc.text, doc.meta_str("language"), doc.meta_str(&self.cfg.url_key));
        // A count: written whatever the mode, and totalled in the stats.
        if s.flagged > 0 {
            doc.attributes.insert("toxicity_flagged".into(), s.flagged as f64);
        }
        signals.push("toxicity_fraction", if s.words == 0 { 0.0 } else { s.flagged as f64 / s.words as f64 });
        signals.push("toxicity_url", s.url.is_some() as u8 as f64);
        if !s.has_list {
            signals.push("toxicity_no_list", 1.0);
        }
        if let Some(r) = s.url {
            return Some(r.into());
        }
        self.is_toxic(&s).then_some(Reason::Static("toxicity_words"))
    }

    fn counted_attributes(&self) -> Vec<String> {
        vec!["toxicity_flagged".into()]
    }
}

impl sluice_pipeline::component::Component for ToxicityConfig {
    const KIND: &'static str = "toxicity";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Stage;
    const ABOUT: &'static str =
        "Toxicity/NSFW filter: fraction of flagged words (LDNOOBW English, Chinese list, your lists) and an adult URL/domain blocklist";

    fn validate(&self) -> Vec<(String, String)> {
        ToxicityConfig::validate(self)
    }

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        ToxicityConfig::build(self).map(sluice_pipeline::component::Built::doc).map_err(|e| sluice_pipeline::component::located(cx, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_pipeline::{DocStage, Verdict};

    fn doc(text: &str, lang: Option<&str>, url: Option<&str>) -> Document {
        let mut d = Document::new("d", text, "s".into());
        if let Some(l) = lang {
            d.metadata.insert("language".into(), l.into());
        }
        if let Some(u) = url {
            d.metadata.insert("url".into(), u.into());
        }
        d
    }

    #[test]
    fn english_fraction_threshold() {
        let t = ToxicityConfig::default().build().unwrap();
        let clean = "The committee met on Tuesday to discuss the budget for the coming year. ".repeat(20);
        assert_eq!(t.process(&mut doc(&clean, None, None)), Verdict::Keep);
        // one flagged word in ~260 words: below 2 and below 0.5%
        let one = format!("{clean} What a bitch of a day.");
        assert_eq!(t.process(&mut doc(&one, None, None)), Verdict::Keep);
        let many = "fuck this shit, you asshole. ".repeat(5);
        assert_eq!(t.process(&mut doc(&many, Some("en"), None)), Verdict::Drop("toxicity_words".into()));
        // phrases and punctuated entries
        let s = t.score("watch two girls one cup and a 2 Girls 1 Cup clip, g-spot", None, None);
        assert_eq!(s.flagged, 3, "{s:?}");
    }

    #[test]
    fn chinese_substrings_without_ambiguous_entries() {
        let t = ToxicityConfig::default().build().unwrap();
        let clean = "这款手机的性能很好，逼真的画面让人印象深刻。姑娘的笑容很美。杂种优势是遗传学的概念。";
        let s = t.score(clean, Some("zh"), None);
        assert_eq!(s.flagged, 0, "{s:?}");
        let bad = "你他妈的傻逼，操你妈，王八蛋。";
        let s = t.score(bad, Some("zh"), None);
        assert!(s.flagged >= 3, "{s:?}");
        assert_eq!(t.process(&mut doc(bad, Some("zh"), None)), Verdict::Drop("toxicity_words".into()));
        assert_eq!(t.process(&mut doc(clean, Some("zh-Hant"), None)), Verdict::Keep);
    }

    #[test]
    fn adult_urls() {
        let t = ToxicityConfig::default().build().unwrap();
        let v = |u: &str| t.process(&mut doc("hello", None, Some(u)));
        assert_eq!(v("https://www.pornhub.com/view?x=1"), Verdict::Drop("toxicity_url_domain".into()));
        assert_eq!(v("http://videos.example.xxx/"), Verdict::Drop("toxicity_url_domain".into()));
        assert_eq!(v("http://free-porn-clips.net/a"), Verdict::Drop("toxicity_url_word".into()));
        assert_eq!(v("https://www.essex.ac.uk/"), Verdict::Keep);
        assert_eq!(v("https://www.sussex.gov.uk/"), Verdict::Keep);
        let off = ToxicityConfig { adult_domains: false, url_words: vec![], ..Default::default() }.build().unwrap();
        assert_eq!(off.process(&mut doc("hello", None, Some("https://pornhub.com"))), Verdict::Keep);
    }

    #[test]
    fn annotate_only_and_other_languages() {
        let t = ToxicityConfig {
            annotate_only: true,
            extra_words: [("fr".to_string(), vec!["merde".to_string()])].into(),
            ..Default::default()
        }
        .build()
        .unwrap();
        let mut d = doc("merde, merde et merde", Some("fr"), Some("https://pornhub.com"));
        assert_eq!(t.process(&mut d), Verdict::Keep);
        assert_eq!(d.attributes["toxicity_flagged"], 3.0);
        assert_eq!(d.attributes["toxicity_url"], 1.0);
        assert!(d.attributes["toxicity_fraction"] > 0.5);
        let mut d = doc("ein Text", Some("de"), None);
        t.process(&mut d);
        assert_eq!(d.attributes["toxicity_no_list"], 1.0);
    }

    #[test]
    fn config_checks() {
        let c = ToxicityConfig {
            max_flagged_fraction: 2.0,
            min_flagged: 0,
            word_lists: [("fr".to_string(), PathBuf::from("/nonexistent"))].into(),
            ..Default::default()
        };
        assert_eq!(c.validate().len(), 3);
        assert!(c.build().is_err());
        assert!(serde_json::from_value::<ToxicityConfig>(serde_json::json!({"treshold": 1})).is_err());
    }

    /// Issue 21, hole 8: word lists and blocklists named by options are
    /// read with a limit; `/dev/zero` fails at once, naming the option and file.
    #[test]
    fn device_files_are_refused_at_once() {
        let t0 = std::time::Instant::now();
        let c = ToxicityConfig {
            word_lists: [("fr".to_string(), PathBuf::from("/dev/zero"))].into(),
            blocklist_paths: vec![PathBuf::from("/dev/zero")],
            ..Default::default()
        };
        let e = c.validate();
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!(e[0].0, "word_lists.fr");
        assert_eq!(e[1].0, "blocklist_paths[0]");
        assert!(e.iter().all(|(_, m)| m.contains("/dev/zero: not a regular file")), "{e:?}");
        let e = c.build().err().expect("refused");
        assert!(e.iter().any(|(f, m)| f == "word_lists.fr" && m.contains("not a regular file")), "{e:?}");
        assert!(e.iter().any(|(f, m)| f == "blocklist_paths[0]" && m.contains("not a regular file")), "{e:?}");
        assert!(t0.elapsed() < std::time::Duration::from_secs(5));
    }
}
