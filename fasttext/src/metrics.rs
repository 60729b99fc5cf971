//! Binary-classification metrics: ROC AUC and precision/recall/F1.

/// Area under the ROC curve of `(score, is_positive)` pairs: the probability
/// that a random positive scores above a random negative, ties counting one
/// half (the Mann–Whitney statistic with tied scores given their average
/// rank). NaN when either class is absent; NaN scores are ignored.
pub fn roc_auc(scores: &[(f64, bool)]) -> f64 {
    let mut v: Vec<(f64, bool)> = scores.iter().copied().filter(|(s, _)| !s.is_nan()).collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let npos = v.iter().filter(|x| x.1).count() as f64;
    let nneg = v.len() as f64 - npos;
    if npos == 0.0 || nneg == 0.0 {
        return f64::NAN;
    }
    // Sum of the (1-based, tie-averaged) ranks of the positives.
    let mut rank_sum = 0.0f64;
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1].0 == v[i].0 {
            j += 1;
        }
        let avg_rank = (i + 1 + j + 1) as f64 / 2.0;
        let pos = v[i..=j].iter().filter(|x| x.1).count() as f64;
        rank_sum += avg_rank * pos;
        i = j + 1;
    }
    (rank_sum - npos * (npos + 1.0) / 2.0) / (npos * nneg)
}

/// Precision, recall and F1 of "positive when score >= threshold".
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prf {
    pub threshold: f64,
    pub true_pos: u64,
    pub false_pos: u64,
    pub false_neg: u64,
    pub true_neg: u64,
    /// tp / (tp + fp); 0 when nothing is predicted positive.
    pub precision: f64,
    /// tp / (tp + fn); 0 when there is no positive.
    pub recall: f64,
    /// Harmonic mean of precision and recall; 0 when both are 0.
    pub f1: f64,
    /// (tp + tn) / all.
    pub accuracy: f64,
}

/// Precision, recall and F1 of `(score, is_positive)` pairs at `threshold`.
pub fn prf(scores: &[(f64, bool)], threshold: f64) -> Prf {
    let (mut tp, mut fp, mut fneg, mut tn) = (0u64, 0u64, 0u64, 0u64);
    for &(s, p) in scores {
        match (s >= threshold, p) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fneg += 1,
            (false, false) => tn += 1,
        }
    }
    let div = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let precision = div(tp, tp + fp);
    let recall = div(tp, tp + fneg);
    let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
    Prf {
        threshold,
        true_pos: tp,
        false_pos: fp,
        false_neg: fneg,
        true_neg: tn,
        precision,
        recall,
        f1,
        accuracy: div(tp + tn, tp + fp + fneg + tn),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_perfect_reversed_and_tied_rankings() {
        let perfect = [(0.9, true), (0.8, true), (0.2, false), (0.1, false)];
        assert_eq!(roc_auc(&perfect), 1.0);
        let reversed = [(0.1, true), (0.9, false)];
        assert_eq!(roc_auc(&reversed), 0.0);
        // All tied: 0.5.
        let tied = [(0.5, true), (0.5, false), (0.5, true), (0.5, false)];
        assert_eq!(roc_auc(&tied), 0.5);
        // One tie between a positive and a negative counts one half:
        // pairs (p1=0.9 vs n 0.5, 0.1) = 2 wins, (p2=0.5 vs n 0.5) = 0.5, (p2 vs 0.1) = 1 -> 3.5/4.
        let some = [(0.9, true), (0.5, true), (0.5, false), (0.1, false)];
        assert_eq!(roc_auc(&some), 3.5 / 4.0);
        assert!(roc_auc(&[(0.3, true)]).is_nan());
    }

    #[test]
    fn auc_equals_pair_counting() {
        // Brute-force check on a pseudo-random set with many ties.
        let mut x = 12345u64;
        let v: Vec<(f64, bool)> = (0..300)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (((x >> 33) % 20) as f64 / 20.0, (x >> 20) & 3 == 0)
            })
            .collect();
        let (mut num, mut den) = (0.0, 0.0);
        for a in v.iter().filter(|a| a.1) {
            for b in v.iter().filter(|b| !b.1) {
                den += 1.0;
                num += if a.0 > b.0 {
                    1.0
                } else if a.0 == b.0 {
                    0.5
                } else {
                    0.0
                };
            }
        }
        assert!((roc_auc(&v) - num / den).abs() < 1e-12);
    }

    #[test]
    fn prf_counts() {
        let v = [(0.9, true), (0.6, false), (0.4, true), (0.1, false)];
        let p = prf(&v, 0.5);
        assert_eq!((p.true_pos, p.false_pos, p.false_neg, p.true_neg), (1, 1, 1, 1));
        assert_eq!((p.precision, p.recall, p.f1, p.accuracy), (0.5, 0.5, 0.5, 0.5));
        let none = prf(&v, 2.0);
        assert_eq!((none.precision, none.recall, none.f1), (0.0, 0.0, 0.0));
    }
}
