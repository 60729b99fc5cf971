//! CCNet-style buckets: per-language percentile cut-offs of a score,
//! computed from a sample (`sluice ppl calibrate`) and stored as JSON.
//!
//! With the default percentiles (30, 60), as in CCNet (Wenzek et al. 2020),
//! `head` holds the 30% of a language's documents the reference LM finds most
//! likely, `middle` the next 30% and `tail` the rest.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub const CUTOFFS_FORMAT: &str = "sluice-ppl-cutoffs/1";
/// The key of the cut-offs used for languages without their own.
pub const ALL_LANGUAGES: &str = "*";

/// Which score the buckets cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Bits per UTF-8 byte (`ppl_bpb`).
    #[default]
    Bpb,
    /// Per-token perplexity (`ppl`).
    Ppl,
}

/// A bucket label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Head,
    Middle,
    Tail,
}

impl Bucket {
    pub fn name(self) -> &'static str {
        match self {
            Bucket::Head => "head",
            Bucket::Middle => "middle",
            Bucket::Tail => "tail",
        }
    }

    /// The drop reason of a document in this bucket.
    pub fn reason(self) -> &'static str {
        match self {
            Bucket::Head => "ppl_bucket_head",
            Bucket::Middle => "ppl_bucket_middle",
            Bucket::Tail => "ppl_bucket_tail",
        }
    }

    /// 0, 1, 2: the `ppl_bucket` attribute.
    pub fn index(self) -> f64 {
        self as u8 as f64
    }
}

/// The cut-offs of one language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LangCutoffs {
    /// Documents of the sample the cut-offs come from.
    pub documents: usize,
    /// A score at or below this is `head`.
    pub head: f64,
    /// A score above this is `tail`.
    pub tail: f64,
}

impl LangCutoffs {
    pub fn bucket(&self, score: f64) -> Bucket {
        if score <= self.head {
            Bucket::Head
        } else if score > self.tail {
            Bucket::Tail
        } else {
            Bucket::Middle
        }
    }
}

/// The cut-offs file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cutoffs {
    /// `sluice-ppl-cutoffs/1`.
    pub format: String,
    /// The score that is cut.
    pub metric: Metric,
    /// The head/middle and middle/tail percentiles.
    pub percentiles: [f64; 2],
    /// The model the sample was scored with (informative).
    pub model: String,
    /// Per language (the `language` metadata), and `*` for all documents
    /// of the sample together, used for languages without their own.
    pub languages: BTreeMap<String, LangCutoffs>,
}

impl Cutoffs {
    pub fn load(path: &Path) -> Result<Cutoffs, String> {
        // A regular file of bounded size: `/dev/zero` fails at once.
        let bytes = sluice_pipeline::limits::read_file_limited(path, sluice_pipeline::limits::MAX_OPTION_FILE).map_err(|e| {
            let reason = std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_default();
            format!("{e}: {reason}")
        })?;
        let c: Cutoffs = serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        if c.format != CUTOFFS_FORMAT {
            return Err(format!("{}: format {:?}, expected {CUTOFFS_FORMAT:?}", path.display(), c.format));
        }
        if !c.languages.contains_key(ALL_LANGUAGES) {
            return Err(format!("{}: no `{ALL_LANGUAGES}` entry", path.display()));
        }
        Ok(c)
    }

    /// The cut-offs that apply to `language`.
    pub fn for_language(&self, language: Option<&str>) -> &LangCutoffs {
        language.and_then(|l| self.languages.get(l)).unwrap_or_else(|| &self.languages[ALL_LANGUAGES])
    }

    /// Cut-offs from (language, score) pairs. Languages with fewer than
    /// `min_documents` scores use the `*` entry. NaN scores (empty texts)
    /// are ignored.
    pub fn compute(samples: &[(String, f64)], metric: Metric, percentiles: [f64; 2], min_documents: usize, model: &str) -> Cutoffs {
        let mut by: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for (l, s) in samples.iter().filter(|(_, s)| s.is_finite()) {
            by.entry(l.clone()).or_default().push(*s);
            by.entry(ALL_LANGUAGES.to_string()).or_default().push(*s);
        }
        by.entry(ALL_LANGUAGES.to_string()).or_default();
        let mut languages = BTreeMap::new();
        for (l, mut v) in by {
            if l != ALL_LANGUAGES && v.len() < min_documents {
                continue;
            }
            v.sort_by(f64::total_cmp);
            languages
                .insert(l, LangCutoffs { documents: v.len(), head: percentile(&v, percentiles[0]), tail: percentile(&v, percentiles[1]) });
        }
        Cutoffs { format: CUTOFFS_FORMAT.into(), metric, percentiles, model: model.into(), languages }
    }
}

/// Linear-interpolation percentile (numpy's default) of sorted values; NaN
/// when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = (p / 100.0).clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// ROC AUC of a score as a separator where *lower* means the positive class:
/// the probability that a random positive scores below a random negative
/// (ties count one half).
pub fn auc_lower_is_positive(positive: &[f64], negative: &[f64]) -> f64 {
    let mut all: Vec<(f64, bool)> = positive.iter().map(|&s| (s, true)).chain(negative.iter().map(|&s| (s, false))).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Mann-Whitney U with average ranks for ties.
    let mut rank_sum_neg = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        let avg = (i + 1 + j) as f64 / 2.0;
        rank_sum_neg += avg * all[i..j].iter().filter(|x| !x.1).count() as f64;
        i = j;
    }
    let (np, nn) = (positive.len() as f64, negative.len() as f64);
    let u = rank_sum_neg - nn * (nn + 1.0) / 2.0;
    u / (np * nn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_match_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0, 10.0];
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 50.0), 3.0);
        assert!((percentile(&v, 30.0) - 2.2).abs() < 1e-12);
        assert!((percentile(&v, 90.0) - 7.6).abs() < 1e-12);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn cutoffs_per_language_with_fallback() {
        let mut s: Vec<(String, f64)> = (0..100).map(|i| ("en".to_string(), i as f64)).collect();
        s.extend((0..5).map(|i| ("xx".to_string(), 1000.0 + i as f64)));
        s.push(("en".into(), f64::NAN));
        let c = Cutoffs::compute(&s, Metric::Bpb, [30.0, 60.0], 10, "m");
        let en = c.for_language(Some("en"));
        assert_eq!(en.documents, 100);
        assert!((en.head - 29.7).abs() < 1e-9 && (en.tail - 59.4).abs() < 1e-9);
        assert_eq!(en.bucket(10.0), Bucket::Head);
        assert_eq!(en.bucket(40.0), Bucket::Middle);
        assert_eq!(en.bucket(60.0), Bucket::Tail);
        // xx has too few documents: it uses the all-languages entry
        assert!(!c.languages.contains_key("xx"));
        assert_eq!(c.for_language(Some("xx")).documents, 105);
        assert_eq!(c.for_language(None).documents, 105);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.json");
        std::fs::write(&p, serde_json::to_vec(&c).unwrap()).unwrap();
        assert_eq!(Cutoffs::load(&p).unwrap(), c);
        std::fs::write(&p, b"{\"format\":\"x\"}").unwrap();
        assert!(Cutoffs::load(&p).unwrap_err().contains("c.json"));
    }

    #[test]
    fn auc_counts_pairs() {
        assert_eq!(auc_lower_is_positive(&[1.0, 2.0], &[3.0, 4.0]), 1.0);
        assert_eq!(auc_lower_is_positive(&[3.0, 4.0], &[1.0, 2.0]), 0.0);
        assert_eq!(auc_lower_is_positive(&[1.0], &[1.0]), 0.5);
        // pairs: (1<2 yes, 1<0.5 no, 3<2 no, 3<0.5 no) = 1/4
        assert_eq!(auc_lower_is_positive(&[1.0, 3.0], &[2.0, 0.5]), 0.25);
    }
}
