//! The figures every bench reports: latency percentiles and the IR metrics, computed exactly as
//! the peer scripts compute them (so a ratio compares like with like).

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;

/// Latency percentiles of one series, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Lat {
    /// How many samples.
    pub count: usize,
    /// Their mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// The slowest.
    pub max_ms: f64,
}

impl Lat {
    /// The percentiles of `samples`: the sample at index `⌊p·n⌋` of the sorted series (capped at
    /// the last), the peers' rule.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lat = dash_bench::stats::Lat::of((1..=100).map(Duration::from_millis));
    /// assert_eq!((lat.p50_ms, lat.p95_ms, lat.max_ms), (51.0, 96.0, 100.0));
    /// ```
    pub fn of(samples: impl IntoIterator<Item = Duration>) -> Self {
        let mut ms: Vec<f64> = samples.into_iter().map(|d| d.as_secs_f64() * 1e3).collect();
        if ms.is_empty() {
            return Self::default();
        }
        ms.sort_by(f64::total_cmp);
        let n = ms.len();
        let at = |p: f64| ms[((p * n as f64) as usize).min(n - 1)];
        Self {
            count: n,
            mean_ms: ms.iter().sum::<f64>() / n as f64,
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: ms[n - 1],
        }
    }
}

/// The sample at quantile `p` (0..=1) of an ascending series (`⌊p·n⌋`, capped), 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((p * sorted.len() as f64) as usize).min(sorted.len() - 1)]
}

/// hit@k, recall@k and nDCG@k (binary gains) of one ranked answer.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct IrScores {
    /// 1 when any relevant document is in the top k.
    pub hit: f64,
    /// Relevant documents found in the top k over all relevant documents.
    pub recall: f64,
    /// DCG of the top k over the ideal DCG (`min(k, |gold|)` relevant documents first).
    pub ndcg: f64,
}

impl IrScores {
    /// Scores the first `k` of `ranked` against `gold`.
    ///
    /// ```
    /// let s = dash_bench::stats::IrScores::of(&["a", "x", "b"], &["a", "b"], 10);
    /// assert_eq!((s.hit, s.recall), (1.0, 1.0));
    /// assert!(s.ndcg < 1.0 && s.ndcg > 0.9);
    /// ```
    pub fn of<S: AsRef<str>, G: AsRef<str>>(ranked: &[S], gold: &[G], k: usize) -> Self {
        let gold: HashSet<&str> = gold.iter().map(AsRef::as_ref).collect();
        if gold.is_empty() {
            return Self::default();
        }
        let gain = |i: usize| 1.0 / ((i + 2) as f64).log2();
        let mut found = 0usize;
        let mut dcg = 0.0;
        for (i, id) in ranked.iter().take(k).enumerate() {
            if gold.contains(id.as_ref()) {
                found += 1;
                dcg += gain(i);
            }
        }
        let ideal: f64 = (0..k.min(gold.len())).map(gain).sum();
        Self {
            hit: if found > 0 { 1.0 } else { 0.0 },
            recall: found as f64 / gold.len() as f64,
            ndcg: dcg / ideal,
        }
    }

    /// The mean of a series of scores.
    pub fn mean(all: &[Self]) -> Self {
        let n = all.len().max(1) as f64;
        Self {
            hit: all.iter().map(|s| s.hit).sum::<f64>() / n,
            recall: all.iter().map(|s| s.recall).sum::<f64>() / n,
            ndcg: all.iter().map(|s| s.ndcg).sum::<f64>() / n,
        }
    }
}

/// The share of `truth` found in `found` (recall of an approximate search against exact search).
pub fn overlap<T: Eq + std::hash::Hash>(found: &[T], truth: &[T]) -> f64 {
    if truth.is_empty() {
        return 1.0;
    }
    let truth: HashSet<&T> = truth.iter().collect();
    found.iter().filter(|x| truth.contains(x)).count() as f64 / truth.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndcg_is_one_for_the_ideal_order_and_zero_without_hits() {
        assert_eq!(IrScores::of(&["a", "b", "c"], &["a", "b"], 10).ndcg, 1.0);
        let none = IrScores::of(&["x", "y"], &["a"], 10);
        assert_eq!((none.hit, none.recall, none.ndcg), (0.0, 0.0, 0.0));
        // Only the first k count.
        assert_eq!(IrScores::of(&["x", "a"], &["a"], 1).hit, 0.0);
    }

    #[test]
    fn percentiles_follow_the_peers_rule() {
        let lat = Lat::of([3, 1, 2, 4].map(Duration::from_millis));
        assert_eq!((lat.p50_ms, lat.p99_ms, lat.count), (3.0, 4.0, 4));
        assert_eq!(Lat::of([]), Lat::default());
        assert_eq!(percentile(&[1.0, 2.0], 0.5), 2.0);
        assert_eq!(overlap(&[1, 2, 9], &[1, 2, 3, 4]), 0.5);
    }
}
