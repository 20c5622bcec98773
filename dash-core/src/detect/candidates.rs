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
//!   postings are read newest first while the work budget lasts, then the best are scored
//!   exactly on their own terms;
//! - **dense**: the nearest neighbours of `n`'s vector (approximate once a tenant's vectors are
//!   in HNSW graphs, so a rebuild may differ slightly there);
//! - **entities** and structured groups: kept by the stage (`stage.rs`).

use std::collections::HashMap;

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
    pd.item.is_some() && pd.claim != nd.claim && nd.recorded_at < pd.superseded_at
}

/// `n`'s terms with their weight as of `n`: `(term, idf, postings before n)`.
fn weighted_terms(index: &TenantIndex, n: DocId) -> Vec<(u32, f32, usize)> {
    let lexical = &index.lexical;
    let docs_before = f64::from(n);
    lexical
        .doc_terms(n)
        .iter()
        .map(|&(term, _)| {
            let list = lexical.postings(term);
            let cut = list.partition_point(|&(d, _)| d < n);
            let df = cut as f64;
            let idf = (1.0 + (docs_before - df + 0.5).max(0.0) / (df + 0.5)).ln();
            (term, idf as f32, cut)
        })
        .collect()
}

/// The share of `n`'s term weight that `p` shares (0..=1), from the sorted term lists.
fn shared_weight(index: &TenantIndex, weights: &HashMap<u32, f32>, total: f32, p: DocId) -> f32 {
    if total <= 0.0 {
        return 0.0;
    }
    let shared: f32 = index
        .lexical
        .doc_terms(p)
        .iter()
        .filter_map(|(t, _)| weights.get(t))
        .sum();
    (shared / total).min(1.0)
}

/// Share of the smaller term set found in the other (distinct terms; both lists sorted).
fn overlap(a: &[(u32, u32)], b: &[(u32, u32)]) -> f32 {
    let smaller = a.len().min(b.len());
    if smaller == 0 {
        return 0.0;
    }
    let (mut i, mut j, mut shared) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    shared as f32 / smaller as f32
}

/// The lexical candidates of `n`: `(share of n's term weight, doc)`, best first, at most `k`,
/// each sharing at least `min_shared` of the smaller text's terms (unweighted: in a small
/// tenant, rarity weights are too coarse to gate on).
pub(crate) fn lexical(
    index: &TenantIndex,
    n: DocId,
    k: usize,
    min_shared: f32,
    budget: usize,
    cost: &mut SearchCost,
) -> Vec<(f32, DocId)> {
    let mut terms = weighted_terms(index, n);
    let weights: HashMap<u32, f32> = terms.iter().map(|&(t, w, _)| (t, w)).collect();
    let total: f32 = weights.values().sum();
    // Rarest first: they discriminate, and their postings are short.
    terms.sort_by(|a, b| a.2.cmp(&b.2).then(a.0.cmp(&b.0)));
    let mut approx: HashMap<DocId, f32> = HashMap::new();
    let mut left = budget;
    for &(term, weight, cut) in &terms {
        if left == 0 {
            cost.budget_hit = true;
            break;
        }
        let list = index.lexical.postings(term);
        let take = cut.min(left);
        if take < cut {
            cost.budget_hit = true;
        }
        left -= take;
        cost.postings += take as u64;
        for &(p, _) in list[cut - take..cut].iter().rev() {
            if eligible(index, n, p) {
                *approx.entry(p).or_insert(0.0) += weight;
            }
        }
    }
    // The approximate scores miss the common terms read only in part: rescore the best few
    // exactly on their own terms.
    let mut best: Vec<(f32, DocId)> = approx.into_iter().map(|(d, s)| (s, d)).collect();
    best.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
    best.truncate(k.saturating_mul(4).max(k));
    let mine = index.lexical.doc_terms(n);
    let mut exact: Vec<(f32, DocId)> = best
        .into_iter()
        .filter(|&(_, p)| overlap(mine, index.lexical.doc_terms(p)) >= min_shared)
        .map(|(_, p)| (shared_weight(index, &weights, total, p), p))
        .collect();
    // Best first; ties to the newer version.
    exact.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
    exact.truncate(k);
    exact
}

/// Share of the smaller text's distinct terms the two documents share.
pub(crate) fn overlap_with(index: &TenantIndex, n: DocId, p: DocId) -> f32 {
    overlap(index.lexical.doc_terms(n), index.lexical.doc_terms(p))
}

/// The share of `n`'s term weight (as of `n`) that each of `others` shares.
pub(crate) fn shared_with(index: &TenantIndex, n: DocId, others: &[DocId]) -> Vec<f32> {
    let terms = weighted_terms(index, n);
    let weights: HashMap<u32, f32> = terms.iter().map(|&(t, w, _)| (t, w)).collect();
    let total: f32 = weights.values().sum();
    others
        .iter()
        .map(|&p| shared_weight(index, &weights, total, p))
        .collect()
}

/// The dense candidates of `n` (when it has a vector): `(cosine, doc)`, best first, at most `k`.
pub(crate) fn dense(index: &TenantIndex, n: DocId, k: usize) -> Vec<(f32, DocId)> {
    if k == 0 {
        return Vec::new();
    }
    let (Some(dense), Some(item)) = (&index.dense, index.item(n)) else {
        return Vec::new();
    };
    let Some(vector) = item.claim.embedding.as_deref() else {
        return Vec::new();
    };
    if vector.len() != dense.dim() {
        return Vec::new();
    }
    let accept = |p: DocId| eligible(index, n, p);
    dense
        .search(vector, k, &accept, None)
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
