//! A mergeable quantile summary with bounded memory: exact while a signal
//! has few distinct values, a relative-error log-bucket sketch after.
//!
//! Most quality signals take few distinct values (word and stop-word
//! counts, 0/1 flags, ratios of small integers), so the summary first keeps
//! an exact `value -> count` table. Past [`EXACT_LIMIT`] distinct values it
//! folds the table into logarithmic buckets (DDSketch, Masson et al. 2019):
//! bucket `i` holds values in `(γ^(i-1), γ^i]` with `γ = (1+α)/(1-α)`, so a
//! quantile is returned within a relative error `α` ([`ALPHA`] = 0.5 %) of
//! a value of that rank. Zero and negative values have their own store. The
//! bucket count is bounded by the range of the data (about 2,100 buckets
//! from 1e-9 to 1e9), whatever the number of documents.
//!
//! Summaries of two shards merge exactly (table + table, bucket + bucket),
//! and the result never depends on the order in which values arrived: the
//! same input gives the same figures with any task split.

use std::collections::BTreeMap;

/// Distinct values kept exactly before switching to buckets.
pub const EXACT_LIMIT: usize = 4096;
/// Relative accuracy of the bucketed quantiles.
pub const ALPHA: f64 = 0.005;

/// Quantile summary of one numeric signal. `Summary::default()` is the
/// empty summary (exact mode, no value yet), the same as [`Summary::new`].
#[derive(Debug, Clone)]
pub struct Summary {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    /// exact mode: value bits (total order) -> count
    exact: Option<BTreeMap<OrdF64, u64>>,
    /// bucket mode: positive, negative (by |v|) and zero counts
    pos: BTreeMap<i32, u64>,
    neg: BTreeMap<i32, u64>,
    zero: u64,
}

impl Default for Summary {
    fn default() -> Self {
        Summary::new()
    }
}

/// An f64 with a total order (NaN is never stored).
#[derive(Debug, Clone, Copy, PartialEq)]
struct OrdF64(f64);
impl Eq for OrdF64 {}
impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for OrdF64 {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0)
    }
}

fn gamma_ln() -> f64 {
    ((1.0 + ALPHA) / (1.0 - ALPHA)).ln()
}

fn bucket_of(v: f64) -> i32 {
    (v.ln() / gamma_ln()).ceil() as i32
}

/// The value a bucket stands for: the point with relative error at most
/// `ALPHA` to every value in `(γ^(i-1), γ^i]`.
fn bucket_value(i: i32) -> f64 {
    let g = gamma_ln();
    2.0 * (i as f64 * g).exp() / (1.0 + g.exp())
}

impl Summary {
    pub fn new() -> Summary {
        Summary {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            exact: Some(BTreeMap::new()),
            pos: BTreeMap::new(),
            neg: BTreeMap::new(),
            zero: 0,
        }
    }

    /// Add one value; NaN is ignored.
    pub fn add(&mut self, v: f64) {
        self.add_n(v, 1);
    }

    fn add_n(&mut self, v: f64, n: u64) {
        if v.is_nan() || n == 0 {
            return;
        }
        self.count += n;
        self.sum += v * n as f64;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        match &mut self.exact {
            Some(t) => {
                *t.entry(OrdF64(v)).or_default() += n;
                if t.len() > EXACT_LIMIT {
                    self.switch_to_buckets();
                }
            }
            None => self.add_bucket(v, n),
        }
    }

    fn add_bucket(&mut self, v: f64, n: u64) {
        if v == 0.0 {
            self.zero += n;
        } else if v > 0.0 {
            *self.pos.entry(bucket_of(v)).or_default() += n;
        } else {
            *self.neg.entry(bucket_of(-v)).or_default() += n;
        }
    }

    fn switch_to_buckets(&mut self) {
        if let Some(t) = self.exact.take() {
            for (v, n) in t {
                self.add_bucket(v.0, n);
            }
        }
    }

    /// Whether quantiles are exact (few distinct values so far).
    pub fn is_exact(&self) -> bool {
        self.exact.is_some()
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    pub fn min(&self) -> Option<f64> {
        (self.count > 0).then_some(self.min)
    }

    pub fn max(&self) -> Option<f64> {
        (self.count > 0).then_some(self.max)
    }

    /// Merge another summary into this one.
    pub fn merge(&mut self, other: &Summary) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 && self.exact.as_ref().is_none_or(|t| t.is_empty()) && self.pos.is_empty() && self.neg.is_empty() {
            *self = other.clone();
            return;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        if other.exact.is_none() {
            self.switch_to_buckets();
        }
        match (&mut self.exact, &other.exact) {
            (Some(a), Some(b)) => {
                for (v, n) in b {
                    *a.entry(*v).or_default() += n;
                }
                if a.len() > EXACT_LIMIT {
                    self.switch_to_buckets();
                }
            }
            (None, Some(b)) => {
                for (v, n) in b {
                    self.add_bucket(v.0, *n);
                }
            }
            (_, None) => {
                for (i, n) in &other.pos {
                    *self.pos.entry(*i).or_default() += n;
                }
                for (i, n) in &other.neg {
                    *self.neg.entry(*i).or_default() += n;
                }
                self.zero += other.zero;
            }
        }
    }

    /// The value of rank `ceil(q * count)` (the "lower" quantile, q in
    /// [0, 1]), clamped to the observed min and max.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        if let Some(t) = &self.exact {
            for (v, n) in t {
                seen += n;
                if seen >= rank {
                    return Some(v.0);
                }
            }
            return Some(self.max);
        }
        // negatives from the most negative (largest |v| bucket) up
        for (i, n) in self.neg.iter().rev() {
            seen += n;
            if seen >= rank {
                return Some((-bucket_value(*i)).clamp(self.min, self.max));
            }
        }
        seen += self.zero;
        if seen >= rank {
            return Some(0.0f64.clamp(self.min, self.max));
        }
        for (i, n) in &self.pos {
            seen += n;
            if seen >= rank {
                return Some(bucket_value(*i).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact_quantile(sorted: &[f64], q: f64) -> f64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
        sorted[rank - 1]
    }

    #[test]
    fn few_distinct_values_are_exact() {
        let mut s = Summary::new();
        for v in [3.0, 1.0, 2.0, 2.0, 5.0, 0.0, 2.0] {
            s.add(v);
        }
        assert!(s.is_exact());
        assert_eq!(s.count(), 7);
        assert_eq!(s.quantile(0.5), Some(2.0));
        assert_eq!(s.quantile(0.0), Some(0.0));
        assert_eq!(s.quantile(1.0), Some(5.0));
        assert_eq!(s.quantile(0.99), Some(5.0));
        assert!((s.mean().unwrap() - 15.0 / 7.0).abs() < 1e-12);
        s.add(f64::NAN);
        assert_eq!(s.count(), 7);
    }

    #[test]
    fn many_values_stay_within_the_relative_error() {
        // a skewed mix of positive, zero and negative values, 200k of them
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut vals = Vec::new();
        let mut s = Summary::new();
        for i in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            let v = match i % 10 {
                0 => 0.0,
                1 => -u * 50.0,
                _ => (u * 12.0).exp() / 1000.0,
            };
            vals.push(v);
            s.add(v);
        }
        assert!(!s.is_exact());
        vals.sort_by(f64::total_cmp);
        for q in [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99] {
            let want = exact_quantile(&vals, q);
            let got = s.quantile(q).unwrap();
            assert!((got - want).abs() <= ALPHA * want.abs() + 1e-12, "q={q}: {got} vs {want}");
        }
        assert_eq!(s.quantile(0.0), Some(vals[0]));
        assert_eq!(s.quantile(1.0), Some(*vals.last().unwrap()));
    }

    #[test]
    fn merging_equals_one_pass_whatever_the_split() {
        let vals: Vec<f64> = (0..20_000).map(|i| ((i * 7919) % 10_007) as f64 / 3.0).collect();
        let mut one = Summary::new();
        vals.iter().for_each(|v| one.add(*v));
        let mut a = Summary::new();
        let mut b = Summary::new();
        let mut c = Summary::new();
        for (i, v) in vals.iter().enumerate() {
            [&mut a, &mut b, &mut c][i % 3].add(*v);
        }
        // c stays exact (few values) when merged into bucketed ones
        let mut small = Summary::new();
        small.add(1.5);
        let mut m = Summary::new();
        m.merge(&small);
        m.merge(&c);
        m.merge(&a);
        m.merge(&b);
        one.add(1.5);
        for q in [0.01, 0.25, 0.5, 0.9, 0.99] {
            assert_eq!(m.quantile(q), one.quantile(q), "q={q}");
        }
        assert_eq!(m.count(), one.count());
    }
}
