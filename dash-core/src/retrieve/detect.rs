//! Contradiction and succession detection over a tenant's documents (the rules are in
//! [`crate::graph`]; this is where they meet the catalog).
//!
//! A new document is compared with the documents that were current when it was recorded —
//! `recorded_at(p) ≤ recorded_at(n) < superseded_at(p)` — so detection over the stored history
//! (at open, or [`TenantIndex::rebuild_edges`]) finds the same pairs the incremental path found
//! on ingest, and running it twice gives the same edges.

use std::collections::VecDeque;
use std::sync::Arc;

use roaring::RoaringBitmap;

use super::catalog::{Doc, TenantIndex};
use crate::graph::edges::DetectedEdge;
use crate::graph::{normalize, DetectionConfig};
use crate::index::DocId;
use crate::model::{Claim, Edge, IngestItem, Relation, TenantId, Timestamp};

/// Confidence of a structured contradiction or succession: the rule is exact, but object
/// aliases ("NYC" / "New York City") can still make a false one.
const STRUCTURED_CONFIDENCE: f32 = 0.9;

/// The structured form, when all three parts are given.
fn triple(claim: &Claim) -> Option<(&str, &str, &str)> {
    let (s, p, o) = (
        claim.subject.as_deref()?,
        claim.predicate.as_deref()?,
        claim.object.as_deref()?,
    );
    (!s.trim().is_empty() && !p.trim().is_empty() && !o.trim().is_empty()).then_some((s, p, o))
}

/// True when `[from, to)` intervals (open ends unbounded) share an instant.
fn overlaps(a: &Claim, b: &Claim) -> bool {
    let starts_before_end = |from: Option<Timestamp>, to: Option<Timestamp>| match (from, to) {
        (Some(f), Some(t)) => f < t,
        _ => true,
    };
    starts_before_end(a.valid_from, b.valid_to) && starts_before_end(b.valid_from, a.valid_to)
}

/// Share of the smaller set of terms found in the other (both sorted by term id); stops early
/// (returning 0) once the share cannot reach `at_least`.
fn overlap_coefficient(a: &[(u32, u32)], b: &[(u32, u32)], at_least: f32) -> f32 {
    let smaller = a.len().min(b.len());
    if smaller == 0 {
        return 0.0;
    }
    let needed = (at_least * smaller as f32).ceil() as usize;
    let (mut i, mut j, mut shared) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        // Even if every remaining term of the shorter list matched, too few would be shared.
        if shared + (a.len() - i).min(b.len() - j) < needed {
            return 0.0;
        }
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

/// True when `p` may pair with `n` ([`TenantIndex::eligible`]; a free function so callers can
/// hold other fields of the index mutably).
fn eligible(docs: &[Doc], n: DocId, p: DocId, unprocessed: &RoaringBitmap) -> bool {
    let (Some(nd), Some(pd)) = (docs.get(n as usize), docs.get(p as usize)) else {
        return false;
    };
    p != n
        && pd.claim != nd.claim
        && pd.item.is_some()
        && pd.recorded_at <= nd.recorded_at
        && nd.recorded_at < pd.superseded_at
        && !unprocessed.contains(p)
}

/// Appends `n` to an entity's recent list. A full list first drops the versions retired by
/// `n`'s recorded time (they never pair again: later documents are recorded later), then, if
/// still full, the oldest.
fn push_recent(recent: &mut VecDeque<DocId>, docs: &[Doc], n: DocId, keep: usize) {
    if recent.back() != Some(&n) {
        recent.push_back(n);
    }
    if recent.len() > keep {
        let at = docs
            .get(n as usize)
            .map_or(Timestamp::MIN, |d| d.recorded_at);
        recent.retain(|&p| {
            docs.get(p as usize)
                .is_some_and(|d| d.item.is_some() && at < d.superseded_at)
        });
    }
    while recent.len() > keep {
        recent.pop_front();
    }
}

fn detected(from: &Claim, to: &Claim, relation: Relation, strength: f32, reason: String) -> Edge {
    let mut edge = Edge::new(from.claim_id.clone(), to.claim_id.clone(), relation);
    edge.strength = strength;
    edge.detected = true;
    edge.reason = Some(reason);
    edge
}

impl TenantIndex {
    /// True when `p` may pair with `n`: another claim's document, still holding content, that
    /// was current when `n` was recorded and has been through detection itself.
    fn eligible(&self, n: DocId, p: DocId, unprocessed: &RoaringBitmap) -> bool {
        eligible(&self.docs, n, p, unprocessed)
    }

    /// Detects the edges of the new document `n` and adds them.
    pub(crate) fn detect(
        &mut self,
        n: DocId,
        tenant: &TenantId,
        config: &DetectionConfig,
        unprocessed: &RoaringBitmap,
    ) {
        let Some(item) = self.item(n).map(Arc::clone) else {
            return;
        };
        let structured = triple(&item.claim);
        let proposals = match structured {
            Some(t) => self.detect_structured(n, &item, t, tenant, config, unprocessed),
            None if !item.claim.entities.is_empty() => {
                self.detect_free_text(n, &item, config, unprocessed)
            }
            None => Vec::new(),
        };
        // Degrees count only edges to versions still current when `n` was recorded, so a
        // re-ingested claim does not fill its partner's cap with retired edges.
        let at = self
            .docs
            .get(n as usize)
            .map_or(Timestamp::MIN, |d| d.recorded_at);
        let docs = &self.docs;
        let alive = |d: DocId| docs.get(d as usize).is_some_and(|x| at < x.superseded_at);
        self.detected.add(proposals, config.max_degree, alive);
        // Later claims find this one through its entities (the free-text pass did it already).
        if structured.is_some() {
            let keep = config.max_candidates.saturating_mul(4);
            for entity in &item.claim.entities {
                let Some(recent) = self.detected.recent_mut(entity) else {
                    continue;
                };
                push_recent(recent, &self.docs, n, keep);
            }
        }
    }

    fn detect_structured(
        &mut self,
        n: DocId,
        item: &IngestItem,
        (subject, predicate, object): (&str, &str, &str),
        tenant: &TenantId,
        config: &DetectionConfig,
        unprocessed: &RoaringBitmap,
    ) -> Vec<DetectedEdge> {
        let predicate_n = normalize(predicate);
        if config.is_multi_valued(tenant, &predicate_n) {
            return Vec::new();
        }
        let key = (
            normalize(subject).into_boxed_str(),
            predicate_n.into_boxed_str(),
        );
        let object_n = normalize(object);
        let mut out = Vec::new();
        if let Some(group) = self.detected.groups.get(&key) {
            for &p in group.iter().rev().take(config.max_group_scan) {
                if !self.eligible(n, p, unprocessed) {
                    continue;
                }
                let (Some(other), Some(other_object)) =
                    (self.item(p), self.detected.objects.get(&p))
                else {
                    continue;
                };
                if **other_object == *object_n {
                    continue;
                }
                let (a, b) = (&item.claim, &other.claim);
                let shown = |c: &Claim| c.object.clone().unwrap_or_default();
                if overlaps(a, b) {
                    let reason = format!(
                        "same subject and predicate ({subject} / {predicate}), different objects \
                         ({} / {}), overlapping validity",
                        shown(a),
                        shown(b)
                    );
                    out.push(DetectedEdge {
                        from: n,
                        to: p,
                        edge: detected(a, b, Relation::Contradicts, STRUCTURED_CONFIDENCE, reason),
                        live: true,
                    });
                } else {
                    // Disjoint: the one valid later supersedes the other.
                    let a_later = match (a.valid_from, b.valid_to) {
                        (Some(f), Some(t)) => f >= t,
                        _ => false,
                    };
                    let (from, to, fc, tc) = if a_later { (n, p, a, b) } else { (p, n, b, a) };
                    let reason = format!(
                        "succession: {} follows {} for {subject} / {predicate}",
                        shown(fc),
                        shown(tc)
                    );
                    out.push(DetectedEdge {
                        from,
                        to,
                        edge: detected(fc, tc, Relation::Supersedes, STRUCTURED_CONFIDENCE, reason),
                        live: true,
                    });
                }
            }
        }
        self.detected.groups.entry(key).or_default().push(n);
        self.detected.objects.insert(n, object_n.into_boxed_str());
        out
    }

    fn detect_free_text(
        &mut self,
        n: DocId,
        item: &IngestItem,
        config: &DetectionConfig,
        unprocessed: &RoaringBitmap,
    ) -> Vec<DetectedEdge> {
        // Candidates: the most recently processed documents sharing an entity, newest first,
        // that may pair with `n` (retired versions are skipped). One lookup per entity both
        // reads the entity's list and appends `n` to it, for the claims that come later.
        let keep = config.max_candidates.saturating_mul(4);
        let mut candidates: Vec<DocId> = Vec::new();
        let docs = &self.docs;
        for entity in &item.claim.entities {
            let Some(recent) = self.detected.recent_mut(entity) else {
                continue;
            };
            for &p in recent.iter().rev() {
                if candidates.len() >= config.max_candidates {
                    break;
                }
                if !candidates.contains(&p) && eligible(docs, n, p, unprocessed) {
                    candidates.push(p);
                }
            }
            push_recent(recent, docs, n, keep);
        }
        if candidates.is_empty() {
            return Vec::new();
        }
        let mine = self.lexical.doc_terms(n);
        let mut close: Vec<(f32, DocId)> = candidates
            .into_iter()
            .map(|p| {
                let theirs = self.lexical.doc_terms(p);
                (
                    overlap_coefficient(mine, theirs, config.min_term_overlap),
                    p,
                )
            })
            .filter(|(o, _)| *o >= config.min_term_overlap)
            .collect();
        close.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        close.truncate(config.max_judged);
        let mut out = Vec::new();
        let (mut judged, mut below_floor) = (0, 0);
        for (_, p) in close {
            let Some(other) = self.item(p) else { continue };
            judged += 1;
            let Some(j) = config
                .detector
                .judge(&item.claim.canonical_text, &other.claim.canonical_text)
            else {
                continue;
            };
            // A NaN confidence is below every floor.
            if j.confidence.is_nan() || j.confidence < config.confidence_floor {
                below_floor += 1;
                continue;
            }
            out.push(DetectedEdge {
                from: n,
                to: p,
                edge: detected(
                    &item.claim,
                    &other.claim,
                    Relation::Contradicts,
                    j.confidence.clamp(0.0, 1.0),
                    j.reason,
                ),
                live: true,
            });
        }
        self.detected.stats.judged += judged;
        self.detected.stats.dropped_floor += below_floor;
        out
    }

    /// The order detection processes documents in: recorded time, then claim id (the items of
    /// one batch share a recorded time), then version. Ingest and rebuild both use it, so they
    /// build the same edges.
    fn detection_order(&self, docs: &mut [DocId]) {
        let key = |d: DocId| {
            let doc = self.docs.get(d as usize);
            (
                doc.map(|x| x.recorded_at),
                doc.and_then(|x| self.claims.get(x.claim as usize))
                    .map(|c| c.id.as_str()),
                doc.map(|x| x.version),
            )
        };
        docs.sort_by_cached_key(|d| key(*d));
    }

    /// Runs detection for `docs` (new documents of one commit, or a whole tenant), in
    /// detection order; none pairs with one not processed yet.
    pub(crate) fn detect_all(
        &mut self,
        mut docs: Vec<DocId>,
        tenant: &TenantId,
        config: &DetectionConfig,
    ) {
        self.detection_order(&mut docs);
        let mut unprocessed: RoaringBitmap = docs.iter().copied().collect();
        for doc in docs {
            unprocessed.remove(doc);
            self.detect(doc, tenant, config, &unprocessed);
        }
    }

    /// Recomputes every detected edge of the tenant from its documents; returns how many are
    /// held.
    pub(crate) fn rebuild_edges(&mut self, tenant: &TenantId, config: &DetectionConfig) -> u64 {
        self.detected.clear();
        if !config.is_enabled() {
            return 0;
        }
        let docs: Vec<DocId> = self
            .docs
            .iter()
            .enumerate()
            .filter(|(_, d)| d.item.is_some())
            .filter_map(|(i, _)| DocId::try_from(i).ok())
            .collect();
        self.detect_all(docs, tenant, config);
        self.detected.live_edges()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(from: Option<i32>, to: Option<i32>) -> Claim {
        let mut c = Claim::new("t", "c", "x");
        c.valid_from = from.and_then(Timestamp::from_year);
        c.valid_to = to.and_then(Timestamp::from_year);
        c
    }

    #[test]
    fn interval_overlap_treats_open_ends_as_unbounded_and_ends_as_exclusive() {
        assert!(overlaps(
            &claim(Some(2000), Some(2005)),
            &claim(Some(2004), None)
        ));
        assert!(!overlaps(
            &claim(Some(2000), Some(2005)),
            &claim(Some(2005), None)
        ));
        assert!(overlaps(&claim(None, None), &claim(Some(1990), Some(1991))));
        assert!(!overlaps(
            &claim(None, Some(1990)),
            &claim(Some(1990), None)
        ));
    }

    #[test]
    fn overlap_coefficient_of_sorted_sets() {
        let set = |ids: &[u32]| ids.iter().map(|&t| (t, 1)).collect::<Vec<_>>();
        assert_eq!(
            overlap_coefficient(&set(&[1, 2, 3]), &set(&[2, 3, 4, 5]), 0.0),
            2.0 / 3.0
        );
        assert_eq!(
            overlap_coefficient(&set(&[1, 2, 3]), &set(&[2, 3, 4, 5]), 0.6),
            2.0 / 3.0
        );
        // 2 of 3 shared cannot reach 0.8: the early exit answers 0.
        assert_eq!(
            overlap_coefficient(&set(&[1, 2, 3]), &set(&[2, 3, 4, 5]), 0.8),
            0.0
        );
        assert_eq!(overlap_coefficient(&set(&[]), &set(&[1]), 0.0), 0.0);
        assert_eq!(overlap_coefficient(&set(&[7]), &set(&[7]), 1.0), 1.0);
    }
}
