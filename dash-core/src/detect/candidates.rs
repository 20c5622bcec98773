//! Candidates: for a new claim version, the tenant's versions it should be judged against.
//!
//! Every candidate `p` of a new document `n` was recorded before it (a smaller document number:
//! documents are numbered in commit order), holds content, belongs to another claim, and was
//! still current when `n` was recorded. Among those:
//!
//! - **lexical**: the versions sharing the most term weight with `n`, each term weighted by its
//!   rarity *among the documents before `n`* (`idf = ln(1 + (N - df + 0.5) / (df + 0.5))` with
//!   `N = n` and `df` counted in the postings before `n`), so the ranking is the same whether the
//!   stage runs at once, lags, replays or rebuilds. Terms are read rarest first; a term's
//!   postings newest first, the rarest term up to the whole work budget and each later one up to
//!   a sixteenth of it; then the best are scored exactly on their own terms;
//! - **dense**: the nearest neighbours of `n`'s vector (approximate once a tenant's vectors are
//!   in HNSW graphs, so a rebuild may differ slightly there);
//! - **entities** and structured groups: kept by the stage (`stage.rs`).

use crate::index::DocId;
use crate::model::Timestamp;
use crate::retrieve::catalog::TenantIndex;

/// What a candidate search did, for the stage's counters.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SearchCost {
    /// Postings read.
    pub(crate) postings: u64,
    /// True when the budget cut a term's postings short.
    pub(crate) budget_hit: bool,
}

/// True when `p` may be judged against `n`: recorded before it, with content, of another claim,
/// current when `n` was recorded.
pub(crate) fn eligible(index: &TenantIndex, n: DocId, p: DocId) -> bool {
    if p >= n {
        return false;
    }
    let (Some(nd), Some(pd)) = (index.docs.get(n as usize), index.docs.get(p as usize)) else {
        return false;
    };
    pd.has_content() && pd.claim != nd.claim && nd.recorded_at < pd.superseded_at
}

/// `n`'s terms (sorted by term id) with their weight as of `n`: `(term, idf, postings before
/// n)`.
fn weighted_terms(index: &TenantIndex, n: DocId) -> Vec<(u32, f32, usize)> {
    let lexical = &index.lexical;
    let docs_before = f64::from(n);
    lexical
        .doc_terms(n)
        .map(|(term, _)| {
            let list = lexical.postings(term);
            let cut = list.partition_point(|&(d, _)| d < n);
            let df = cut as f64;
            let idf = (1.0 + (docs_before - df + 0.5).max(0.0) / (df + 0.5)).ln();
            (term, idf as f32, cut)
        })
        .collect()
}

/// Reusable per-search memory: one score slot per document of the tenant, and the slots
/// touched (so clearing costs what the search read, not the tenant's size).
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    scores: Vec<f32>,
    touched: Vec<DocId>,
    /// The weight of each term of the claim being searched, by term id (0 elsewhere).
    marks: Vec<f32>,
}

impl Scratch {
    /// Marks `n`'s weighted terms (every weight is positive).
    fn mark(&mut self, weighted: &[(u32, f32, usize)]) {
        for &(t, w, _) in weighted {
            let i = t as usize;
            if self.marks.len() <= i {
                self.marks.resize(i + 1, 0.0);
            }
            self.marks[i] = w.max(f32::MIN_POSITIVE);
        }
    }

    /// Clears the marks of [`Scratch::mark`].
    fn unmark(&mut self, weighted: &[(u32, f32, usize)]) {
        for &(t, _, _) in weighted {
            if let Some(m) = self.marks.get_mut(t as usize) {
                *m = 0.0;
            }
        }
    }

    /// The marked weight `theirs` shares, and how many marked terms it holds.
    fn shared(&self, theirs: impl Iterator<Item = (u32, u32)>) -> (f32, usize) {
        let (mut weight, mut count) = (0.0f32, 0usize);
        for (t, _) in theirs {
            let m = self.marks.get(t as usize).copied().unwrap_or(0.0);
            if m > 0.0 {
                weight += m;
                count += 1;
            }
        }
        (weight, count)
    }

    fn add(&mut self, doc: DocId, weight: f32) {
        let i = doc as usize;
        if self.scores.len() <= i {
            self.scores.resize(i + 1, 0.0);
        }
        if self.scores[i] == 0.0 {
            self.touched.push(doc);
        }
        self.scores[i] += weight;
    }

    /// The touched documents with their scores; clears the slots.
    fn drain(&mut self) -> Vec<(f32, DocId)> {
        let scores = &mut self.scores;
        self.touched
            .drain(..)
            .map(|d| {
                let slot = &mut scores[d as usize];
                let s = std::mem::take(slot);
                (s, d)
            })
            .collect()
    }
}

/// Best first, ties to the newer version (the larger document number).
fn best_first(a: &(f32, DocId), b: &(f32, DocId)) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0).then(b.1.cmp(&a.1))
}

/// The lexical candidates of `n`: `(share of n's term weight, doc)`, best first, at most `k`,
/// each sharing at least `min_shared` of the smaller text's terms (unweighted: in a small
/// tenant, rarity weights are too coarse to gate on).
pub(crate) fn lexical(
    index: &TenantIndex,
    n: DocId,
    limits: (usize, f32, usize),
    scratch: &mut Scratch,
    cost: &mut SearchCost,
) -> Vec<(f32, DocId)> {
    let (k, min_shared, budget) = limits;
    let weighted = weighted_terms(index, n);
    let total: f32 = weighted.iter().map(|t| t.1).sum();
    if total <= 0.0 {
        return Vec::new();
    }
    // Rarest first: they discriminate, and their postings are short.
    let mut order: Vec<usize> = (0..weighted.len()).collect();
    order.sort_unstable_by_key(|&i| (weighted[i].2, weighted[i].0));
    let mut left = budget;
    // After the rarest term, a common one is read only newest first, a sixteenth of the budget
    // at most: its postings are long and each shares little with the claim.
    let per_common_term = (budget / 16).max(1);
    for (rank, i) in order.into_iter().enumerate() {
        let (term, weight, cut) = weighted[i];
        if left == 0 {
            cost.budget_hit = true;
            break;
        }
        let cap = if rank == 0 {
            left
        } else {
            left.min(per_common_term)
        };
        let take = cut.min(cap);
        if take < cut {
            cost.budget_hit = true;
        }
        left -= take;
        cost.postings += take as u64;
        let list = index.lexical.postings(term);
        for &(p, _) in list[cut - take..cut].iter().rev() {
            if eligible(index, n, p) {
                scratch.add(p, weight);
            }
        }
    }
    // The approximate scores miss the common terms read only in part: rescore the best few
    // exactly on their own terms.
    let mut best = scratch.drain();
    let keep = k.saturating_mul(2).max(k);
    if best.len() > keep {
        best.select_nth_unstable_by(keep, best_first);
        best.truncate(keep);
    }
    let mine = weighted.len();
    scratch.mark(&weighted);
    let mut exact: Vec<(f32, DocId)> = best
        .into_iter()
        .filter_map(|(_, p)| {
            let theirs = index.lexical.doc_terms(p);
            let smaller = mine.min(theirs.len()).max(1);
            let (weight, count) = scratch.shared(theirs);
            (count as f32 / smaller as f32 >= min_shared).then_some(((weight / total).min(1.0), p))
        })
        .collect();
    scratch.unmark(&weighted);
    exact.sort_unstable_by(best_first);
    exact.truncate(k);
    exact
}

/// How each of `others` relates to `n` lexically: `(share of n's term weight, share of the
/// smaller text's distinct terms)`.
pub(crate) fn score_others(
    index: &TenantIndex,
    n: DocId,
    others: &[DocId],
    scratch: &mut Scratch,
) -> Vec<(f32, f32)> {
    let weighted = weighted_terms(index, n);
    let total: f32 = weighted.iter().map(|t| t.1).sum();
    let mine = weighted.len();
    scratch.mark(&weighted);
    let out = others
        .iter()
        .map(|&p| {
            let theirs = index.lexical.doc_terms(p);
            let smaller = mine.min(theirs.len()).max(1);
            let (weight, count) = scratch.shared(theirs);
            let share = if total > 0.0 {
                (weight / total).min(1.0)
            } else {
                0.0
            };
            (share, count as f32 / smaller as f32)
        })
        .collect();
    scratch.unmark(&weighted);
    out
}

/// The dense candidates of `n` (when it has a vector): `(cosine, doc)`, best first, at most `k`.
pub(crate) fn dense(index: &TenantIndex, n: DocId, k: usize) -> Vec<(f32, DocId)> {
    if k == 0 {
        return Vec::new();
    }
    // The vector the dense index holds for `n` (the caller's or the store's embedder's).
    let Some(dense) = &index.dense else {
        return Vec::new();
    };
    let Some(vector) = dense.vector(n) else {
        return Vec::new();
    };
    let accept = |p: DocId| eligible(index, n, p);
    dense
        .search_below(&vector, k, super::DENSE_CANDIDATE_EF, n, &accept)
        .unwrap_or_default()
        .into_iter()
        .map(|(d, s)| (s, d))
        .collect()
}

/// The recorded time of `doc` (`Timestamp::MIN` if unknown).
pub(crate) fn recorded_at(index: &TenantIndex, doc: DocId) -> Timestamp {
    index
        .docs
        .get(doc as usize)
        .map_or(Timestamp::MIN, |d| d.recorded_at)
}
