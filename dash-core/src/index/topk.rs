//! [`TopK`]: the best `k` scored documents of a stream, ties to the lower doc id — the one
//! ranking rule every index's search shares.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::DocId;

/// A scored document. Its order is the rank order: `a < b` when `a` ranks before `b` (higher
/// score, then lower doc id), so a max-heap of hits keeps the worst one on top.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit {
    score: f32,
    doc: DocId,
}

impl Hit {
    pub(crate) fn new(doc: DocId, score: f32) -> Self {
        // `+ 0.0` turns -0.0 into 0.0, so that equal scores tie (and go to the lower id).
        Self {
            score: score + 0.0,
            doc,
        }
    }
}

impl Ord for Hit {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(self.doc.cmp(&other.doc))
    }
}

impl PartialOrd for Hit {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Hit {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Hit {}

/// The best `k` of a stream of hits, in a bounded heap.
pub(crate) struct TopK {
    k: usize,
    heap: BinaryHeap<Hit>,
}

impl TopK {
    pub(crate) fn new(k: usize) -> Self {
        Self {
            k,
            heap: BinaryHeap::with_capacity(k.min(4096) + 1),
        }
    }

    /// True when `hit` would enter the top `k` as it stands (lets a caller skip a costly check
    /// for hits that cannot).
    #[inline]
    pub(crate) fn admits(&self, hit: &Hit) -> bool {
        self.heap.len() < self.k || self.heap.peek().is_some_and(|worst| hit < worst)
    }

    /// The worst score in the top `k` once it is full (`None` before).
    #[inline]
    pub(crate) fn floor(&self) -> Option<f32> {
        if self.heap.len() < self.k {
            return None;
        }
        self.heap.peek().map(|worst| worst.score)
    }

    #[inline]
    pub(crate) fn push(&mut self, hit: Hit) {
        if self.heap.len() < self.k {
            self.heap.push(hit);
        } else if let Some(mut worst) = self.heap.peek_mut() {
            if hit < *worst {
                *worst = hit;
            }
        }
    }

    pub(crate) fn into_sorted(self) -> Vec<(DocId, f32)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|h| (h.doc, h.score))
            .collect()
    }
}
