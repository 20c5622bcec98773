//! [`MergePolicy`]: which segments a checkpoint merges — size-tiered, as Cassandra's STCS and
//! RocksDB's universal compaction do, so a large store never rewrites everything per checkpoint.
//!
//! Segments are kept oldest first and a merge always takes a *contiguous* run of them: versions
//! of one claim then stay ordered by LSN, and the merged segment's LSN range overlaps no other.
//! A run qualifies when it holds at least [`MergePolicy::width`] segments whose sizes are within
//! [`MergePolicy::size_ratio`] of each other (sizes below [`MergePolicy::floor_bytes`] count as
//! the floor, so small segments always merge together). Of the qualifying runs the cheapest
//! (smallest mean size) is merged: every byte is then rewritten about once per tier, log_width
//! of the store's size over the checkpoint size. When no run qualifies and the store holds more
//! than `max_segments`, the cheapest window that brings the count back to `max_segments` is
//! merged instead.

use std::ops::Range;

/// How checkpoints choose segments to merge (size-tiered). [`crate::Store::compact`] merges
/// everything regardless.
///
/// ```
/// use dash_core::{MergePolicy, Store};
/// let dir = tempfile::tempdir()?;
/// let store = Store::builder(dir.path())
///     .merge_policy(MergePolicy { width: 8, ..MergePolicy::default() })
///     .open()?;
/// # drop(store);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergePolicy {
    /// A run of at least this many similar segments is merged (at least 2). Default: 4.
    pub width: usize,
    /// Segments are similar when the largest of a run is at most this many times its smallest
    /// (at least 1; below `width`, or tiers never separate). Default: 2.
    pub size_ratio: u64,
    /// Segments smaller than this count as this size when comparing. Default: 8 MiB.
    pub floor_bytes: u64,
}

impl Default for MergePolicy {
    fn default() -> Self {
        Self {
            width: 4,
            size_ratio: 2,
            floor_bytes: 8 * 1024 * 1024,
        }
    }
}

impl MergePolicy {
    /// The run of `sizes` (segment bytes, oldest first) to merge now, if any.
    #[must_use]
    pub(crate) fn pick(&self, sizes: &[u64], max_segments: usize) -> Option<Range<usize>> {
        let n = sizes.len();
        let tiered = self.similar_run(sizes);
        if n <= max_segments {
            return tiered;
        }
        // Over the cap: a tiered run will do if it brings the count down far enough.
        let needed = n - max_segments + 1;
        if let Some(run) = tiered.filter(|r| r.len() >= needed) {
            return Some(run);
        }
        // `needed` >= 2: `n` > `max_segments` >= 1.
        cheapest_window(sizes, needed)
    }

    /// The cheapest run of at least `width` adjacent similar segments.
    fn similar_run(&self, sizes: &[u64]) -> Option<Range<usize>> {
        let eff: Vec<u64> = sizes.iter().map(|&s| s.max(self.floor_bytes)).collect();
        let mut best: Option<(Range<usize>, u128)> = None;
        for start in 0..eff.len() {
            let (mut lo, mut hi) = (eff[start], eff[start]);
            let mut end = start + 1;
            while let Some(&s) = eff.get(end) {
                let (l, h) = (lo.min(s), hi.max(s));
                if h > l.saturating_mul(self.size_ratio) {
                    break;
                }
                (lo, hi, end) = (l, h, end + 1);
            }
            if end - start < self.width {
                continue;
            }
            let total: u128 = eff[start..end].iter().map(|&s| u128::from(s)).sum();
            let mean = total / (end - start) as u128;
            // `<=`: of equally cheap runs the newest wins (the older ones are supersets).
            if best.as_ref().is_none_or(|(_, m)| mean <= *m) {
                best = Some((start..end, mean));
            }
        }
        best.map(|(run, _)| run)
    }
}

/// The window of `len` adjacent segments with the fewest bytes (the newest of equals).
fn cheapest_window(sizes: &[u64], len: usize) -> Option<Range<usize>> {
    if len > sizes.len() {
        return None;
    }
    (0..=sizes.len() - len)
        .map(|start| {
            let bytes: u128 = sizes[start..start + len]
                .iter()
                .map(|&s| u128::from(s))
                .sum();
            (start, bytes)
        })
        .min_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(start, _)| start..start + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1024 * 1024;

    fn policy() -> MergePolicy {
        MergePolicy::default()
    }

    #[test]
    fn nothing_to_merge_below_the_width() {
        assert_eq!(policy().pick(&[100 * MB, 100 * MB, 100 * MB], 8), None);
        assert_eq!(policy().pick(&[], 8), None);
    }

    #[test]
    fn four_similar_segments_merge_and_a_larger_one_stays() {
        let sizes = [400 * MB, 100 * MB, 110 * MB, 95 * MB, 120 * MB];
        assert_eq!(policy().pick(&sizes, 8), Some(1..5));
    }

    #[test]
    fn small_segments_count_as_the_floor() {
        let sizes = [400 * MB, 1, 3 * MB, 10, 5 * MB];
        assert_eq!(policy().pick(&sizes, 8), Some(1..5));
    }

    #[test]
    fn the_cheapest_tier_goes_first() {
        let sizes = [
            400 * MB,
            400 * MB,
            400 * MB,
            400 * MB,
            100 * MB,
            100 * MB,
            100 * MB,
            100 * MB,
        ];
        assert_eq!(policy().pick(&sizes, 16), Some(4..8));
    }

    #[test]
    fn over_the_cap_the_cheapest_window_merges() {
        // Tiers that never fill: 1000, 300, 100 (no run of four similar ones).
        let sizes = [1000 * MB, 300 * MB, 100 * MB, 30 * MB];
        assert_eq!(policy().pick(&sizes, 8), None);
        assert_eq!(policy().pick(&sizes, 3), Some(2..4));
        assert_eq!(policy().pick(&sizes, 2), Some(1..4));
        assert_eq!(policy().pick(&sizes, 1), Some(0..4));
    }

    #[test]
    fn over_the_cap_a_tiered_run_that_is_not_enough_gives_way() {
        let sizes = [50 * MB, 900 * MB, 100 * MB, 100 * MB, 100 * MB, 100 * MB];
        assert_eq!(policy().pick(&sizes, 8), Some(2..6));
        // Six over a cap of two: five must go into one.
        assert_eq!(policy().pick(&sizes, 2), Some(0..5));
    }

    /// Equal checkpoints (one merge at most per checkpoint, as the store does): the count stays
    /// logarithmic and each byte is rewritten about once per tier — a full merge per
    /// checkpoint would rewrite each ~128 times here, a binary counter ~6 times.
    #[test]
    fn equal_checkpoints_are_rewritten_about_once_per_tier() {
        let p = MergePolicy {
            floor_bytes: 1,
            ..policy()
        };
        let mut sizes: Vec<u64> = Vec::new();
        let (mut written, mut merged, mut most) = (0u64, 0u64, 0usize);
        for _ in 0..256 {
            sizes.push(100);
            written += 100;
            if let Some(run) = p.pick(&sizes, 64) {
                let total: u64 = sizes[run.clone()].iter().sum();
                merged += total;
                sizes.splice(run, [total]);
            }
            most = most.max(sizes.len());
        }
        assert_eq!(sizes.iter().sum::<u64>(), written);
        assert!(most <= 12, "at most {most} segments");
        // 256 = 4^4 checkpoints: four tiers; the last cascade is still under way.
        assert!(merged <= 3 * written, "rewrote {merged} of {written}");
        assert!(merged >= 2 * written, "rewrote {merged} of {written}");
    }
}
